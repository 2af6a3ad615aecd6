/* test_sinkhorn_symmetric.c — OPTK_SINKHORN_SYMMETRIC on every backend: a self problem's
 * answer as the alternating solver gives it (balanced and unbalanced), with g = f, in a
 * small fraction of the iterations at small eps; zero-weight padding changes nothing; any
 * problem that is not a self problem is refused with nothing written; CUDA bit-equal to the
 * CPU. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "sinkhorn_fixture.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Problem p's cloud against itself: the same arrays on both sides. */
static host_problem self_of(int64_t batch, int64_t n, optk_ot_cost cost, int64_t dim,
                            uint64_t seed) {
    host_problem h = random_problem(batch, n, n, cost, dim, 0.0f, seed);
    free(h.b), free(h.y);
    h.b = h.a, h.y = h.x;
    return h;
}

static void free_self(host_problem *h) {
    free(h->a), free(h->x);
}

/* The symmetric solver against the alternating one on the same self problems, cheaply enough
 * for CUDA's sanitizers (an alternating solve to tol 1e-6 from zero took 7,700-19,500
 * iterations at the small eps below): its answer is the problem's solution — alternating
 * updates started from it (f, g = f) stop within 10 iterations, at its objective and cost, its
 * potentials within 1e-4 eps (the pair's f + g over 2, which removes their free constant) —
 * and g is f bit for bit. At small eps it needs at most 20 iterations where alternating
 * updates from zero are still short of tol after 100; at a large eps, where the average
 * settles more slowly than alternating updates, the cold start's first step f = T(0) lands
 * close (11-13 iterations; averaging from 0 took 19 on the first problem: at most 14). */
BACKEND_TEST(sinkhorn_symmetric, gives_the_alternating_answer_in_few_iterations) {
    optk_context *ctx = test_context(backend);
    const struct {
        optk_ot_cost cost;
        double eps, rho;
        uint64_t seed;
        int most;      /* symmetric iterations at the most */
        bool crawling; /* alternating updates from zero short of tol after 100 */
    } sets[] = {{OPTK_COST_SQEUCLIDEAN, 0.02, 0.0, 801, 20, true},
                {OPTK_COST_EUCLIDEAN, 0.05, 0.0, 802, 20, true},
                {OPTK_COST_SQEUCLIDEAN, 0.02, 1.0, 803, 20, false},
                {OPTK_COST_SQEUCLIDEAN, 20.0, 0.0, 804, 14, false}};
    for (size_t k = 0; k < sizeof sets / sizeof sets[0]; ++k) {
        host_problem h = self_of(4, 48, sets[k].cost, 3, sets[k].seed);
        optk_sinkhorn_options o = optk_sinkhorn_default_options(sets[k].eps);
        o.tol = 1e-6;
        o.check_every = 1;
        o.rho = sets[k].rho;
        optk_sinkhorn_options sym = o;
        sym.solver = OPTK_SINKHORN_SYMMETRIC;
        host_result mine, cold, warm;
        cr_assert_eq(solve(ctx, &h, &sym, NULL, NULL, &mine), OPTK_OK, "%s",
                     optk_context_last_error(ctx));
        test_assert_bits_equal(mine.g, mine.f, (size_t)(h.batch * h.n), 4, "g against f");
        o.max_iter = 100;
        cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &cold), OPTK_OK);
        o.max_iter = 10;
        o.warm_start = true;
        cr_assert_eq(solve(ctx, &h, &o, mine.f, mine.g, &warm), OPTK_OK);
        for (int64_t p = 0; p < h.batch; ++p) {
            cr_assert(mine.converged[p] && warm.converged[p],
                      "set %zu problem %lld: converged %d, alternating from it %d", k, (long long)p,
                      mine.converged[p], warm.converged[p]);
            cr_log_info("set %zu problem %lld: %d symmetric iterations, then %d alternating", k,
                        (long long)p, mine.iterations[p], warm.iterations[p]);
            cr_assert(mine.iterations[p] <= sets[k].most, "set %zu problem %lld: %d iterations", k,
                      (long long)p, mine.iterations[p]);
            if (sets[k].crawling) {
                cr_assert(!cold.converged[p], "set %zu problem %lld: alternating from zero", k,
                          (long long)p);
            }
            cr_assert(
                fabsf(mine.objective[p] - warm.objective[p]) <= 1e-6f * fabsf(warm.objective[p]),
                "objective %g against %g", (double)mine.objective[p], (double)warm.objective[p]);
            cr_assert(fabsf(mine.cost[p] - warm.cost[p]) <= 1e-4f * fabsf(warm.cost[p]),
                      "cost %g against %g", (double)mine.cost[p], (double)warm.cost[p]);
            double worst = 0.0;
            for (int64_t i = 0; i < h.n; ++i) {
                const int64_t e = p * h.n + i;
                worst = fmax(worst, fabs(mine.f[e] - 0.5 * ((double)warm.f[e] + warm.g[e])));
            }
            cr_assert(worst <= 1e-4 * sets[k].eps, "set %zu problem %lld: potentials %g apart", k,
                      (long long)p, worst);
        }
        result_free(&mine);
        result_free(&cold);
        result_free(&warm);
        free_self(&h);
    }
    optk_context_free(ctx);
}

/* The kernel-domain blocks (between checks) give the log domain's answer up to rounding:
 * where they are safe from the start (a cold start: K u >= K_jj u_j), unbalanced (the
 * scalings' power form), with a padded point, with epsilon-scaling, and from a warm start so
 * far below the solution (f = g = -1 at eps 0.005) that the first block's kernel underflows to
 * 0 and the block runs again in the log domain. Their bits differ from the log domain's
 * somewhere, which shows that they ran; g is f bit for bit either way, and a warm start's g
 * is not read (NaN there changes no bit). */
BACKEND_TEST(sinkhorn_symmetric, kernel_domain_blocks_match_the_log_domain) {
    optk_context *ctx = test_context(backend);
    const struct {
        optk_ot_cost cost;
        double eps, rho, eps_start;
        float warm; /* 0: a cold start */
    } cases[] = {{OPTK_COST_SQEUCLIDEAN, 0.05, 0.0, 0.0, 0.0f},
                 {OPTK_COST_EUCLIDEAN, 0.02, 1.0, 0.0, 0.0f},
                 {OPTK_COST_SQEUCLIDEAN, 0.01, 0.0, 1.0, 0.0f},
                 {OPTK_COST_SQEUCLIDEAN, 0.005, 0.0, 0.0, -1.0f}};
    for (int k = 0; k < 4; ++k) {
        host_problem h = self_of(3, 45, cases[k].cost, 3, 841 + (uint64_t)k);
        h.a[6] = 0.0f; /* a padded point in problem 0 */
        optk_sinkhorn_options fast = optk_sinkhorn_default_options(cases[k].eps);
        fast.solver = OPTK_SINKHORN_SYMMETRIC;
        fast.max_iter = 150;
        fast.tol = 0.0; /* every iteration, no early stop */
        fast.rho = cases[k].rho;
        fast.epsilon_start = cases[k].eps_start;
        optk_sinkhorn_options slow = fast;
        slow.solver = OPTK_SINKHORN_SYMMETRIC_LOG_DOMAIN;
        const size_t count = (size_t)(h.batch * h.n);
        float *start = malloc(count * 4);
        for (size_t e = 0; e < count; ++e)
            start[e] = cases[k].warm;
        fast.warm_start = slow.warm_start = cases[k].warm != 0.0f;
        host_result rf, rs;
        cr_assert_eq(solve(ctx, &h, &fast, start, start, &rf), OPTK_OK, "%s",
                     optk_context_last_error(ctx));
        cr_assert_eq(solve(ctx, &h, &slow, start, start, &rs), OPTK_OK, "%s",
                     optk_context_last_error(ctx));
        test_assert_bits_equal(rf.g, rf.f, count, 4, "g against f");
        { /* a warm start (here from the answer: kernel-domain blocks at once) reads f only */
            float *nans = malloc(count * 4);
            for (size_t e = 0; e < count; ++e)
                nans[e] = NAN;
            optk_sinkhorn_options again = fast;
            again.warm_start = true;
            again.max_iter = 20;
            host_result rg, rn;
            cr_assert_eq(solve(ctx, &h, &again, rf.f, rf.f, &rg), OPTK_OK);
            cr_assert_eq(solve(ctx, &h, &again, rf.f, nans, &rn), OPTK_OK);
            test_assert_bits_equal(rn.f, rg.f, count, 4, "f from a NaN g");
            test_assert_bits_equal(rn.objective, rg.objective, (size_t)h.batch, 4, "objective");
            result_free(&rg);
            result_free(&rn);
            free(nans);
        }
        double worst = 0.0;
        bool differ = false;
        for (size_t e = 0; e < count; ++e) {
            const bool padded = e == 6;
            cr_assert(padded ? rf.f[e] == -INFINITY && rs.f[e] == -INFINITY : isfinite(rf.f[e]),
                      "case %d: f[%zu] = %g (log domain %g)", k, e, (double)rf.f[e],
                      (double)rs.f[e]);
            if (!padded) worst = fmax(worst, fabs(rf.f[e] - rs.f[e]));
            differ |= memcmp(&rf.f[e], &rs.f[e], 4) != 0;
        }
        for (int64_t p = 0; p < h.batch; ++p) {
            cr_assert(fabs(rf.cost[p] - rs.cost[p]) <= 1e-5 * fabs(rs.cost[p]), "case %d", k);
            cr_assert(fabs(rf.objective[p] - rs.objective[p]) <= 1e-5 * fabs(rs.objective[p]),
                      "case %d", k);
            cr_assert(rf.error[p] <= 1e-5f && rs.error[p] <= 1e-5f, "case %d: errors %g, %g", k,
                      (double)rf.error[p], (double)rs.error[p]);
        }
        cr_log_info("%s case %d: potentials within %.3g of the log domain",
                    optk_backend_name(backend), k, worst);
        cr_assert(worst <= 1e-5, "case %d: %g from the log domain", k, worst);
        cr_assert(differ, "case %d: the fast path never ran (bits equal to the log domain)", k);
        free(start);
        result_free(&rf);
        result_free(&rs);
        free_self(&h);
    }
    optk_context_free(ctx);
}

/* Points of weight 0 appended to every cloud: the real points' potentials and the statistics
 * are the unpadded problem's bit for bit, the plan's sums up to rounding, the padded points'
 * potentials -Inf. */
BACKEND_TEST(sinkhorn_symmetric, zero_weight_padding_changes_nothing) {
    optk_context *ctx = test_context(backend);
    enum { B = 3, N = 40, PAD = 7, D = 2 };
    host_problem h = self_of(B, N, OPTK_COST_SQEUCLIDEAN, D, 811);
    host_problem padded = self_of(B, N + PAD, OPTK_COST_SQEUCLIDEAN, D, 812);
    for (int64_t p = 0; p < B; ++p) {
        for (int64_t i = 0; i < N + PAD; ++i) {
            padded.a[p * (N + PAD) + i] = i < N ? h.a[p * N + i] : 0.0f;
            for (int64_t d = 0; d < D; ++d) {
                padded.x[(p * (N + PAD) + i) * D + d] = i < N ? h.x[(p * N + i) * D + d] : 5.0f;
            }
        }
    }
    optk_sinkhorn_options o = optk_sinkhorn_default_options(0.03);
    o.solver = OPTK_SINKHORN_SYMMETRIC;
    host_result want, got;
    cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &want), OPTK_OK);
    cr_assert_eq(solve(ctx, &padded, &o, NULL, NULL, &got), OPTK_OK);
    for (int64_t p = 0; p < B; ++p) {
        test_assert_bits_equal(got.f + p * (N + PAD), want.f + p * N, N, 4, "real points' f");
        for (int64_t i = N; i < N + PAD; ++i) {
            cr_assert(got.f[p * (N + PAD) + i] == -INFINITY, "padded point %lld: %g", (long long)i,
                      (double)got.f[p * (N + PAD) + i]);
        }
    }
    test_assert_bits_equal(got.iterations, want.iterations, B, 4, "iterations");
    test_assert_bits_equal(got.error, want.error, B, 4, "errors");
    for (int64_t p = 0; p < B; ++p) { /* the plan's sums group the entries by position */
        cr_assert(fabsf(got.objective[p] - want.objective[p]) <= 1e-6f * fabsf(want.objective[p]));
        cr_assert(fabsf(got.cost[p] - want.cost[p]) <= 1e-6f * fabsf(want.cost[p]));
    }
    result_free(&want);
    result_free(&got);
    free_self(&h);
    free_self(&padded);
    optk_context_free(ctx);
}

/* Anything but a point cloud against itself (y the same pointer as x, b as a) is refused,
 * with a message, before anything is written. */
BACKEND_TEST(sinkhorn_symmetric, other_problems_are_refused_with_nothing_written) {
    optk_context *ctx = test_context(backend);
    enum { B = 2, N = 6, D = 2 };
    host_problem h = self_of(B, N, OPTK_COST_SQEUCLIDEAN, D, 821);
    float poison[B * N * N];
    for (int k = 0; k < B * N * N; ++k)
        poison[k] = -7.0f;
    test_buffer a = test_buffer_new(ctx, B * N, 4, h.a), a2 = test_buffer_new(ctx, B * N, 4, h.a);
    test_buffer x = test_buffer_new(ctx, B * N * D, 4, h.x),
                x2 = test_buffer_new(ctx, B * N * D, 4, h.x);
    test_buffer c = test_buffer_new(ctx, B * N * N, 4, poison);
    test_buffer f = test_buffer_new(ctx, B * N, 4, poison),
                g = test_buffer_new(ctx, B * N, 4, poison);
    const optk_ot_problem self = {B,    N,      N,      a.data, a.data, OPTK_COST_SQEUCLIDEAN,
                                  NULL, x.data, x.data, D};
    optk_sinkhorn_options o = optk_sinkhorn_default_options(0.1);
    o.solver = OPTK_SINKHORN_SYMMETRIC;
    const optk_sinkhorn_outputs out = {.f = f.data, .g = g.data};
    optk_ot_problem cases[4] = {self, self, self, self};
    cases[0].y = x2.data;                                 /* equal values, other buffer */
    cases[1].b = a2.data;                                 /* the same */
    cases[2].m = N - 1;                                   /* a smaller y side */
    cases[3].cost = OPTK_COST_DENSE, cases[3].c = c.data; /* a dense cost */
    cases[3].x = cases[3].y = NULL, cases[3].dim = 0;
    for (int k = 0; k < 4; ++k) {
        cr_assert_eq(optk_sinkhorn(ctx, &cases[k], &o, &out), OPTK_ERR_INVALID_ARGUMENT,
                     "case %d accepted", k);
        cr_assert(strstr(optk_context_last_error(ctx), "self problem"), "case %d: \"%s\"", k,
                  optk_context_last_error(ctx));
    }
    float got[B * N];
    test_buffer_read(&f, got);
    test_assert_bits_equal(got, poison, B * N, 4, "f after refused calls");
    test_buffer_read(&g, got);
    test_assert_bits_equal(got, poison, B * N, 4, "g after refused calls");
    cr_assert_eq(optk_sinkhorn(ctx, &self, &o, &out), OPTK_OK, "%s", optk_context_last_error(ctx));
    test_buffer *all[] = {&a, &a2, &x, &x2, &c, &f, &g};
    for (int k = 0; k < 7; ++k) {
        test_buffer_check_guards(all[k], "buffer");
        test_buffer_free(all[k]);
    }
    free_self(&h);
    optk_context_free(ctx);
}

/* The backend against the CPU, bit for bit (on the CPU: two threads against one), with
 * epsilon-scaling and padding, in one block's size and past the on-chip limit (CUDA runs
 * the symmetric update streaming in every placement). */
BACKEND_TEST(sinkhorn_symmetric, backends_agree_with_the_cpu) {
    optk_context *ctx = test_context(backend);
    optk_context *cpu = test_context(OPTK_BACKEND_CPU);
    host_problem sets[2] = {self_of(5, 33, OPTK_COST_EUCLIDEAN, 3, 831),
                            self_of(2, 300, OPTK_COST_SQEUCLIDEAN, 4, 832)};
    sets[0].a[7] = 0.0f; /* a padded point in problem 0 */
    for (int k = 0; k < 2; ++k) {
        optk_sinkhorn_options o = optk_sinkhorn_default_options(0.01);
        o.solver = OPTK_SINKHORN_SYMMETRIC;
        o.epsilon_start = 1.0;
        host_result ref, mine;
        setenv("OPTKERN_CPU_THREADS", "1", 1);
        cr_assert_eq(solve(cpu, &sets[k], &o, NULL, NULL, &ref), OPTK_OK);
        setenv("OPTKERN_CPU_THREADS", "2", 1);
        cr_assert_eq(solve(ctx, &sets[k], &o, NULL, NULL, &mine), OPTK_OK, "%s",
                     optk_context_last_error(ctx));
        unsetenv("OPTKERN_CPU_THREADS");
        char what[64];
        snprintf(what, sizeof what, "set %d on %s", k, optk_backend_name(backend));
        assert_same_bits(&sets[k], &mine, &ref, what);
        result_free(&ref);
        result_free(&mine);
    }
    for (int k = 0; k < 2; ++k)
        free_self(&sets[k]);
    optk_context_free(cpu);
    optk_context_free(ctx);
}
