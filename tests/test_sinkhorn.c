/* test_sinkhorn.c — batched Sinkhorn on every backend: POT's answers (potentials up to the
 * additive constant, plans, costs) for dense, squared-Euclidean, Euclidean, small-epsilon and
 * unbalanced problems; marginals within tol at convergence; tiny epsilon stays finite;
 * zero-weight padding changes nothing; rho -> Inf approaches the balanced answer;
 * epsilon-scaling and warm starts; per-problem convergence; bad input refused with nothing
 * written; CUDA bit-equal to the CPU. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "harness.h"
#include "common/sinkhorn.h"
#include "cpu/row_lse.h"
#include "reference_data.h"
#include "sinkhorn_fixture.h"

#include <math.h>
#include <stdlib.h>

/* ---- POT's answers ----------------------------------------------------------------------- */

typedef struct pot_case {
    host_problem h;
    double eps, rho;
    float *f, *g, *plan, *cost; /* POT's */
} pot_case;

static pot_case read_case(const char *text, const char *name) {
    char header[64];
    snprintf(header, sizeof header, "\ncase %s ", name);
    const char *at = strstr(text, header);
    cr_assert_not_null(at, "no case %s", name);
    pot_case k;
    memset(&k, 0, sizeof k);
    char kind[32];
    long long batch, n, m, dim;
    cr_assert_eq(sscanf(at + strlen(header), "%31s %lld %lld %lld %lld %lf %lf", kind, &batch, &n,
                        &m, &dim, &k.eps, &k.rho),
                 7);
    k.h.batch = batch, k.h.n = n, k.h.m = m, k.h.dim = dim;
    k.h.cost = strcmp(kind, "dense") == 0         ? OPTK_COST_DENSE
               : strcmp(kind, "sqeuclidean") == 0 ? OPTK_COST_SQEUCLIDEAN
                                                  : OPTK_COST_EUCLIDEAN;
    const size_t B = (size_t)batch, N = (size_t)n, M = (size_t)m, D = (size_t)dim;
    k.h.a = malloc(B * N * 4), k.h.b = malloc(B * M * 4);
    k.f = malloc(B * N * 4), k.g = malloc(B * M * 4), k.plan = malloc(B * N * M * 4);
    k.cost = malloc(B * 4);
    if (k.h.cost == OPTK_COST_DENSE) {
        k.h.c = malloc(B * N * M * 4);
    } else {
        k.h.x = malloc(B * N * D * 4), k.h.y = malloc(B * M * D * 4);
    }
    for (int64_t p = 0; p < batch; ++p) {
        fixture_read_floats(at, "a", p, k.h.a + p * n, N);
        fixture_read_floats(at, "b", p, k.h.b + p * m, M);
        if (k.h.c) fixture_read_floats(at, "c", p, k.h.c + p * n * m, N * M);
        if (k.h.x) fixture_read_floats(at, "x", p, k.h.x + p * n * dim, N * D);
        if (k.h.y) fixture_read_floats(at, "y", p, k.h.y + p * m * dim, M * D);
        fixture_read_floats(at, "f", p, k.f + p * n, N);
        fixture_read_floats(at, "g", p, k.g + p * m, M);
        fixture_read_floats(at, "plan", p, k.plan + p * n * m, N * M);
        fixture_read_floats(at, "cost", p, k.cost + p, 1);
    }
    return k;
}

static void free_case(pot_case *k) {
    free(k->h.a), free(k->h.b), free(k->h.c), free(k->h.x), free(k->h.y);
    free(k->f), free(k->g), free(k->plan), free(k->cost);
}

static void check_against_pot(optk_backend backend, const char *name) {
    optk_context *ctx = test_context(backend);
    char *text = ref_read_data_file("sinkhorn_pot.txt");
    pot_case k = read_case(text, name);
    optk_sinkhorn_options o = optk_sinkhorn_default_options(k.eps);
    o.tol = 1e-6;
    o.max_iter = 20000;
    o.rho = k.rho;
    host_result r;
    cr_assert_eq(solve(ctx, &k.h, &o, NULL, NULL, &r), OPTK_OK, "%s", optk_context_last_error(ctx));
    const int64_t n = k.h.n, m = k.h.m;
    double worst_f = 0.0, worst_plan = 0.0, worst_cost = 0.0;
    for (int64_t p = 0; p < k.h.batch; ++p) {
        cr_assert_eq(r.converged[p], 1, "%s problem %lld: error %g after %d iterations", name,
                     (long long)p, (double)r.error[p], r.iterations[p]);
        cr_assert(r.error[p] <= o.tol);
        /* Balanced potentials are defined up to f + k, g - k: remove the mean shift. */
        double shift = 0.0;
        if (k.rho == 0.0) {
            for (int64_t i = 0; i < n; ++i)
                shift += ((double)r.f[p * n + i] - k.f[p * n + i]) / (double)n;
        }
        for (int64_t i = 0; i < n; ++i)
            worst_f = fmax(worst_f, fabs(r.f[p * n + i] - shift - k.f[p * n + i]));
        for (int64_t j = 0; j < m; ++j)
            worst_f = fmax(worst_f, fabs(r.g[p * m + j] + shift - k.g[p * m + j]));
        for (int64_t e = 0; e < n * m; ++e) {
            const double want = k.plan[p * n * m + e];
            worst_plan = fmax(worst_plan, fabs(r.plan[p * n * m + e] - want) / (1e-3 + want));
        }
        worst_cost = fmax(worst_cost, fabs(r.cost[p] - k.cost[p]) / k.cost[p]);
    }
    cr_log_info("%s on %s: potentials within %.3g, plan within %.3g relative, cost %.3g", name,
                optk_backend_name(backend), worst_f, worst_plan, worst_cost);
    cr_assert(worst_f <= 1e-5, "%s: potentials off by %g", name, worst_f);
    cr_assert(worst_plan <= 5e-4, "%s: plan off by %g (relative to 1e-3 + P)", name, worst_plan);
    cr_assert(worst_cost <= 2e-5, "%s: cost off by %g relative", name, worst_cost);
    result_free(&r);
    free_case(&k);
    free(text);
    optk_context_free(ctx);
}

BACKEND_TEST(sinkhorn, dense_matches_pot) {
    check_against_pot(backend, "dense");
}

BACKEND_TEST(sinkhorn, sqeuclidean_points_match_pot) {
    check_against_pot(backend, "sqeuclidean");
}

BACKEND_TEST(sinkhorn, euclidean_points_match_pot) {
    check_against_pot(backend, "euclidean");
}

BACKEND_TEST(sinkhorn, small_epsilon_matches_pot) {
    check_against_pot(backend, "small_eps");
}

BACKEND_TEST(sinkhorn, unbalanced_matches_pot) {
    check_against_pot(backend, "unbalanced");
}

/* ---- Properties on random problems ------------------------------------------------------ */

BACKEND_TEST(sinkhorn, marginals_are_within_tol_at_convergence) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(4, 33, 17, OPTK_COST_SQEUCLIDEAN, 5, 0.0f, 11);
    optk_sinkhorn_options o = optk_sinkhorn_default_options(0.05);
    o.tol = 1e-5;
    o.max_iter = 20000;
    host_result r;
    cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &r), OPTK_OK, "%s", optk_context_last_error(ctx));
    for (int64_t p = 0; p < h.batch; ++p) {
        cr_assert_eq(r.converged[p], 1, "problem %lld", (long long)p);
        cr_assert_eq(r.iterations[p] % o.check_every, 0);
        double rows = 0.0, cols = 0.0;
        for (int64_t i = 0; i < h.n; ++i) {
            double s = 0.0;
            for (int64_t j = 0; j < h.m; ++j)
                s += r.plan[(p * h.n + i) * h.m + j];
            rows += fabs(s - h.a[p * h.n + i]);
        }
        for (int64_t j = 0; j < h.m; ++j) {
            double s = 0.0;
            for (int64_t i = 0; i < h.n; ++i)
                s += r.plan[(p * h.n + i) * h.m + j];
            cols += fabs(s - h.b[p * h.m + j]);
        }
        cr_assert(rows <= 1e-5 && cols <= o.tol + 1e-6, "problem %lld: rows %g, columns %g",
                  (long long)p, rows, cols);
        cr_assert(fabs(cols - r.error[p]) <= 1e-6, "reported error %g, measured %g",
                  (double)r.error[p], cols);
    }
    result_free(&r);
    free_problem(&h);
    optk_context_free(ctx);
}

/* Non-finite costs, every solver: a +Inf cost forbids its pair (its plan entry is exactly 0,
 * the problem converges, <P, C> and the objective stay finite); a NaN cost makes its problem's
 * error, <P, C> and objective NaN and converged 0, and the other problems of the batch get the
 * bits they get without it. */
BACKEND_TEST(sinkhorn, non_finite_costs) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(3, 20, 24, OPTK_COST_DENSE, 0, 1.0f, 91);
    const int64_t n = h.n, m = h.m;
    h.c[3 * m + 5] = INFINITY;           /* problem 0 */
    h.c[(n + 7) * m + 2] = NAN;          /* problem 1 */
    h.c[(2 * n + 4) * m + 9] = INFINITY; /* problem 2 */
    const host_problem first = problems_of(&h, 0, 1), last = problems_of(&h, 2, 1);
    const optk_sinkhorn_solver solvers[] = {OPTK_SINKHORN_PLAIN, OPTK_SINKHORN_LOG_DOMAIN,
                                            OPTK_SINKHORN_SNS};
    for (int k = 0; k < 3; ++k) {
        optk_sinkhorn_options o = optk_sinkhorn_default_options(0.05);
        o.tol = 1e-6;
        o.max_iter = 400;
        o.solver = solvers[k];
        host_result all, r0, r2;
        cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &all), OPTK_OK, "%s",
                     optk_context_last_error(ctx));
        cr_assert_eq(solve(ctx, &first, &o, NULL, NULL, &r0), OPTK_OK);
        cr_assert_eq(solve(ctx, &last, &o, NULL, NULL, &r2), OPTK_OK);
        cr_assert(all.converged[0] && all.converged[2], "solver %d: the +Inf problems converge", k);
        cr_assert_eq(all.plan[3 * m + 5], 0.0f, "solver %d: a forbidden pair carries nothing", k);
        cr_assert_eq(all.plan[(2 * n + 4) * m + 9], 0.0f, "solver %d", k);
        for (int p = 0; p < 3; p += 2)
            cr_assert(isfinite(all.cost[p]) && isfinite(all.objective[p]),
                      "solver %d, problem %d: cost %g, objective %g", k, p, (double)all.cost[p],
                      (double)all.objective[p]);
        cr_assert(!all.converged[1] && isnan(all.error[1]) && isnan(all.cost[1]) &&
                      isnan(all.objective[1]),
                  "solver %d: NaN cost: error %g, cost %g, objective %g", k, (double)all.error[1],
                  (double)all.cost[1], (double)all.objective[1]);
        const host_result *alone[] = {&r0, &r2};
        for (int t = 0; t < 2; ++t) {
            const int64_t p = 2 * (int64_t)t;
            const host_result part = result_of(&h, &all, p);
            assert_same_bits(t == 0 ? &first : &last, &part, alone[t],
                             "a problem beside a NaN one vs alone");
        }
        result_free(&all), result_free(&r0), result_free(&r2);
    }
    free_problem(&h);
    optk_context_free(ctx);
}

/* Costs in [0, 2]: eps = 1e-4 puts C / eps near 2e4, far past exp's range in fp32. */
BACKEND_TEST(sinkhorn, tiny_epsilon_stays_finite) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(2, 32, 32, OPTK_COST_DENSE, 0, 2.0f, 5);
    const double epsilons[] = {1e-4, 1e-30, 1e-45};
    for (int k = 0; k < 3; ++k) {
        optk_sinkhorn_options o = optk_sinkhorn_default_options(epsilons[k]);
        o.max_iter = 300;
        host_result r;
        cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &r), OPTK_OK, "%s",
                     optk_context_last_error(ctx));
        for (int64_t e = 0; e < h.batch * h.n; ++e)
            cr_assert(isfinite(r.f[e]), "eps %g: f[%lld] = %g", epsilons[k], (long long)e,
                      (double)r.f[e]);
        for (int64_t e = 0; e < h.batch * h.m; ++e)
            cr_assert(isfinite(r.g[e]), "eps %g: g[%lld] = %g", epsilons[k], (long long)e,
                      (double)r.g[e]);
        for (int64_t e = 0; e < h.batch * h.n * h.m; ++e)
            cr_assert(r.plan[e] >= 0.0f && r.plan[e] <= 1.0f, "eps %g: plan %g", epsilons[k],
                      (double)r.plan[e]);
        for (int64_t p = 0; p < h.batch; ++p)
            cr_assert(isfinite(r.cost[p]) && isfinite(r.objective[p]) && isfinite(r.error[p]),
                      "eps %g: cost %g objective %g error %g", epsilons[k], (double)r.cost[p],
                      (double)r.objective[p], (double)r.error[p]);
        if (k == 0)
            cr_log_info("eps 1e-4: error %g after %d iterations", (double)r.error[0],
                        r.iterations[0]);
        result_free(&r);
    }
    free_problem(&h);
    optk_context_free(ctx);
}

/* Rows and columns of zero weight (with arbitrary costs) change nothing: the same bits for the
 * real entries, -Inf potentials and zero plan entries for the padding. */
BACKEND_TEST(sinkhorn, zero_weight_padding_changes_nothing) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(2, 7, 5, OPTK_COST_DENSE, 0, 1.0f, 21);
    enum { PN = 9, PM = 8 };
    host_problem padded = random_problem(2, PN, PM, OPTK_COST_DENSE, 0, 1.0f, 99);
    for (int64_t p = 0; p < 2; ++p) {
        for (int64_t i = 0; i < PN; ++i)
            padded.a[p * PN + i] = i < h.n ? h.a[p * h.n + i] : 0.0f;
        for (int64_t j = 0; j < PM; ++j)
            padded.b[p * PM + j] = j < h.m ? h.b[p * h.m + j] : 0.0f;
        for (int64_t i = 0; i < h.n; ++i)
            for (int64_t j = 0; j < h.m; ++j)
                padded.c[(p * PN + i) * PM + j] = h.c[(p * h.n + i) * h.m + j];
    }
    optk_sinkhorn_options o = optk_sinkhorn_default_options(0.1);
    host_result r, q;
    cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &r), OPTK_OK);
    cr_assert_eq(solve(ctx, &padded, &o, NULL, NULL, &q), OPTK_OK, "%s",
                 optk_context_last_error(ctx));
    for (int64_t p = 0; p < 2; ++p) {
        cr_assert_eq(q.iterations[p], r.iterations[p]);
        test_assert_bits_equal(&q.cost[p], &r.cost[p], 1, 4, "cost");
        for (int64_t i = 0; i < PN; ++i) {
            if (i < h.n) {
                test_assert_bits_equal(&q.f[p * PN + i], &r.f[p * h.n + i], 1, 4, "f");
            } else {
                cr_assert(q.f[p * PN + i] == -INFINITY, "padded f = %g", (double)q.f[p * PN + i]);
            }
            for (int64_t j = 0; j < PM; ++j) {
                const float got = q.plan[(p * PN + i) * PM + j];
                if (i < h.n && j < h.m) {
                    test_assert_bits_equal(&got, &r.plan[(p * h.n + i) * h.m + j], 1, 4, "plan");
                } else {
                    cr_assert_eq(got, 0.0f, "padded plan entry %g", (double)got);
                }
            }
        }
        for (int64_t j = 0; j < PM; ++j) {
            if (j < h.m) test_assert_bits_equal(&q.g[p * PM + j], &r.g[p * h.m + j], 1, 4, "g");
        }
    }
    result_free(&r);
    result_free(&q);
    free_problem(&h);
    free_problem(&padded);
    optk_context_free(ctx);
}

BACKEND_TEST(sinkhorn, unbalanced_approaches_balanced_as_rho_grows) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(1, 12, 10, OPTK_COST_DENSE, 0, 1.0f, 31);
    optk_sinkhorn_options o = optk_sinkhorn_default_options(0.1);
    o.tol = 1e-6;
    o.max_iter = 100000;
    host_result balanced;
    cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &balanced), OPTK_OK);
    double previous = INFINITY;
    const double rhos[] = {1.0, 100.0, 1e4};
    for (int k = 0; k < 3; ++k) {
        o.rho = rhos[k];
        host_result r;
        cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &r), OPTK_OK);
        double gap = 0.0;
        for (int64_t e = 0; e < h.n * h.m; ++e)
            gap += fabs(r.plan[e] - balanced.plan[e]);
        cr_log_info("rho %g: L1 distance of the plans %g", rhos[k], gap);
        cr_assert(gap < previous, "rho %g: %g, not below %g", rhos[k], gap, previous);
        previous = gap;
        result_free(&r);
    }
    cr_assert(previous < 1e-3, "rho 1e4: plans still %g apart", previous);
    o.rho = INFINITY; /* +Inf is the balanced problem itself */
    host_result r;
    cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &r), OPTK_OK);
    test_assert_bits_equal(r.f, balanced.f, (size_t)h.n, 4, "rho = Inf");
    result_free(&r);
    result_free(&balanced);
    free_problem(&h);
    optk_context_free(ctx);
}

BACKEND_TEST(sinkhorn, epsilon_scaling_and_warm_starts_reach_the_same_answer) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(3, 40, 30, OPTK_COST_SQEUCLIDEAN, 2, 0.0f, 41);
    optk_sinkhorn_options o = optk_sinkhorn_default_options(0.005);
    o.max_iter = 20000;
    host_result plain, scaled, warm;
    cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &plain), OPTK_OK);
    o.epsilon_start = 1.0;
    o.epsilon_decay = 0.5;
    cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &scaled), OPTK_OK);
    o.epsilon_start = 0.0;
    o.warm_start = true;
    cr_assert_eq(solve(ctx, &h, &o, plain.f, plain.g, &warm), OPTK_OK);
    for (int64_t p = 0; p < h.batch; ++p) {
        cr_assert(plain.converged[p] && scaled.converged[p] && warm.converged[p]);
        cr_log_info("problem %lld: %d iterations plain, %d with epsilon-scaling", (long long)p,
                    plain.iterations[p], scaled.iterations[p]);
        /* From the answer: a check or two (the error is not monotone at fp32's last digits). */
        cr_assert(warm.iterations[p] <= 3 * o.check_every,
                  "a warm start from the answer: %d iterations, error %g (it ended at %g)",
                  warm.iterations[p], (double)warm.error[p], (double)plain.error[p]);
        cr_assert(fabs(scaled.cost[p] - plain.cost[p]) <= 1e-4 * plain.cost[p]);
    }
    double worst = 0.0;
    for (int64_t e = 0; e < h.batch * h.n * h.m; ++e)
        worst = fmax(worst, fabs(scaled.plan[e] - plain.plan[e]));
    cr_assert(worst <= 1e-4, "epsilon-scaling: plans differ by %g", worst);
    result_free(&plain);
    result_free(&scaled);
    result_free(&warm);
    free_problem(&h);
    optk_context_free(ctx);
}

/* Each problem stops on its own: the batch gives each problem what it gives alone. */
BACKEND_TEST(sinkhorn, each_problem_converges_on_its_own) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(5, 20, 25, OPTK_COST_DENSE, 0, 1.0f, 51);
    for (int64_t e = 0; e < 2 * h.n * h.m; ++e)
        h.c[e] *= 8.0f; /* problems 0 and 1: harder (larger C / eps) */
    optk_sinkhorn_options o = optk_sinkhorn_default_options(0.05);
    host_result all;
    cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &all), OPTK_OK);
    cr_assert(all.iterations[0] != all.iterations[4], "iterations %d and %d", all.iterations[0],
              all.iterations[4]);
    for (int64_t p = 0; p < h.batch; ++p) {
        const host_problem one = problems_of(&h, p, 1);
        host_result r;
        cr_assert_eq(solve(ctx, &one, &o, NULL, NULL, &r), OPTK_OK);
        cr_assert_eq(r.iterations[0], all.iterations[p]);
        test_assert_bits_equal(r.f, all.f + p * h.n, (size_t)h.n, 4, "f of a problem alone");
        test_assert_bits_equal(r.g, all.g + p * h.m, (size_t)h.m, 4, "g of a problem alone");
        result_free(&r);
    }
    result_free(&all);
    free_problem(&h);
    optk_context_free(ctx);
}

BACKEND_TEST(sinkhorn, bad_arguments_are_refused_and_nothing_is_written) {
    optk_context *ctx = test_context(backend);
    enum { B = 2, N = 4, M = 3 };
    float a[B * N], b[B * M], c[B * N * M], poison[B * N * M];
    for (int k = 0; k < B * N; ++k)
        a[k] = 0.25f;
    for (int k = 0; k < B * M; ++k)
        b[k] = 1.0f / 3.0f;
    test_fill_uniform(c, B * N * M, 0.0f, 1.0f, 3);
    for (int k = 0; k < B * N * M; ++k)
        poison[k] = -7.0f;
    test_buffer ba = test_buffer_new(ctx, B * N, 4, a), bb = test_buffer_new(ctx, B * M, 4, b),
                bc = test_buffer_new(ctx, B * N * M, 4, c);
    test_buffer bf = test_buffer_new(ctx, B * N, 4, poison),
                bg = test_buffer_new(ctx, B * M, 4, poison),
                bp = test_buffer_new(ctx, B * N * M, 4, poison),
                bi = test_buffer_new(ctx, B, 4, poison);
    const optk_ot_problem good = {B,       N,    M,    ba.data, bb.data, OPTK_COST_DENSE,
                                  bc.data, NULL, NULL, 0};
    const optk_sinkhorn_options ok = optk_sinkhorn_default_options(0.1);
    const optk_sinkhorn_outputs out = {bf.data, bg.data, (int32_t *)bi.data, NULL, NULL, NULL,
                                       NULL,    bp.data};
    typedef struct bad_case {
        const char *what, *message;
        optk_ot_problem p;
        optk_sinkhorn_options o;
        optk_sinkhorn_outputs out;
    } bad_case;
    bad_case cases[24];
    int n = 0;
#define BAD(what_, message_, field, value)                                                         \
    do {                                                                                           \
        bad_case k = {what_, message_, good, ok, out};                                             \
        k.field = value;                                                                           \
        cases[n++] = k;                                                                            \
    } while (0)
    BAD("batch 0", "must be >= 1", p.batch, 0);
    BAD("n 0", "must be >= 1", p.n, 0);
    BAD("unknown cost", "unknown cost", p.cost, (optk_ot_cost)9);
    BAD("points without dim", "dim must be >= 1", p.cost, OPTK_COST_SQEUCLIDEAN);
    BAD("NULL a", "a is NULL", p.a, NULL);
    BAD("NULL c", "c is NULL", p.c, NULL);
    BAD("misaligned b", "b is not 4-byte aligned", p.b,
        (const float *)(const void *)((const char *)bb.data + 2));
    BAD("eps 0", "epsilon", o.epsilon, 0.0);
    BAD("eps below float", "epsilon", o.epsilon, 1e-50);
    BAD("eps NaN", "epsilon", o.epsilon, NAN);
    BAD("max_iter 0", "max_iter", o.max_iter, 0);
    BAD("check_every 0", "check_every", o.check_every, 0);
    BAD("tol negative", "tol", o.tol, -1.0);
    BAD("epsilon_start below eps", "epsilon_start", o.epsilon_start, 0.05);
    BAD("rho negative", "rho", o.rho, -1.0);
    BAD("unknown placement", "unknown placement", o.placement, (optk_sinkhorn_placement)7);
    BAD("NULL f", "f is NULL", out.f, NULL);
    BAD("g overlaps f", "overlaps", out.g, (float *)bf.data + 1);
    BAD("plan overlaps c", "overlaps", out.plan, (float *)bc.data);
#undef BAD
    {
        bad_case k = {"epsilon_decay 1", "epsilon_decay", good, ok, out};
        k.o.epsilon_start = 1.0, k.o.epsilon_decay = 1.0;
        cases[n++] = k;
    }
    for (int k = 0; k < n; ++k) {
        cr_assert_eq(optk_sinkhorn(ctx, &cases[k].p, &cases[k].o, &cases[k].out),
                     OPTK_ERR_INVALID_ARGUMENT, "%s: accepted", cases[k].what);
        cr_assert(strstr(optk_context_last_error(ctx), cases[k].message), "%s: message \"%s\"",
                  cases[k].what, optk_context_last_error(ctx));
    }
    /* Weights are checked on the backend: a negative one, a NaN, a problem with no mass. */
    const float bad_weights[3][B * N] = {{0.25f, 0.25f, 0.25f, 0.25f, 0.5f, -0.5f, 0.5f, 0.5f},
                                         {0.25f, 0.25f, NAN, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f},
                                         {0.25f, 0.25f, 0.25f, 0.25f, 0.0f, 0.0f, 0.0f, 0.0f}};
    const char *messages[3] = {"a of problem 1 has a negative", "a of problem 0 has a negative",
                               "a of problem 1 sums to 0"};
    for (int k = 0; k < 3; ++k) {
        cr_assert_eq(optk_mem_upload(ctx, ba.data, bad_weights[k], sizeof bad_weights[k]), OPTK_OK);
        cr_assert_eq(optk_sinkhorn(ctx, &good, &ok, &out), OPTK_ERR_INVALID_ARGUMENT);
        cr_assert(strstr(optk_context_last_error(ctx), messages[k]), "message \"%s\"",
                  optk_context_last_error(ctx));
    }
    cr_assert_eq(optk_sinkhorn(ctx, NULL, &ok, &out), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_sinkhorn(NULL, &good, &ok, &out), OPTK_ERR_INVALID_ARGUMENT);
    float got[B * N * M];
    test_buffer *outputs[] = {&bf, &bg, &bp, &bi};
    for (int k = 0; k < 4; ++k) {
        test_buffer_read(outputs[k], got);
        test_assert_bits_equal(got, poison, outputs[k]->bytes / 4, 4,
                               "an output after refused calls");
    }
    test_buffer *all[] = {&ba, &bb, &bc, &bf, &bg, &bp, &bi};
    for (int k = 0; k < 7; ++k) {
        test_buffer_check_guards(all[k], "buffer");
        test_buffer_free(all[k]);
    }
    optk_context_free(ctx);
}

/* The backend against the CPU: the same bits, in every placement. On CUDA by default: a small
 * batch (the on-chip solver, one block per problem), problems past its size limit (the
 * streaming solver), and problems on-chip but too big for one block's shared memory (a
 * thread-block cluster per problem on sm_90, else the streaming solver): 256^2 dense costs in
 * two blocks, and 128 + 128 points in 600 dimensions in four, whose first blocks underflow in
 * the kernel domain and fall back to the log domain; then each set again with clusters off
 * (ONE_BLOCK) and all streaming (STREAMING). The CPU ignores the placement. */
BACKEND_TEST(sinkhorn, backends_agree_with_the_cpu) {
    optk_context *ctx = test_context(backend);
    optk_context *cpu = test_context(OPTK_BACKEND_CPU);
    enum { SETS = 5 };
    host_problem problems[SETS] = {
        random_problem(6, 30, 20, OPTK_COST_SQEUCLIDEAN, 3, 0.0f, 61),
        random_problem(1, 300, 260, OPTK_COST_DENSE, 0, 1.0f, 62),
        random_problem(2, 270, 250, OPTK_COST_EUCLIDEAN, 4, 0.0f, 63),
        random_problem(3, 256, 256, OPTK_COST_DENSE, 0, 1.0f, 64),
        random_problem(2, 128, 128, OPTK_COST_SQEUCLIDEAN, 600, 0.0f, 65)};
    const int max_iter[SETS] = {3000, 3000, 3000, 3000, 40};
    const double eps[SETS] = {0.05, 0.05, 0.05, 0.005, 0.05};
    const optk_sinkhorn_placement placements[] = {
        OPTK_SINKHORN_PLACE_AUTO, OPTK_SINKHORN_PLACE_ONE_BLOCK, OPTK_SINKHORN_PLACE_STREAMING};
    for (int k = 0; k < SETS; ++k) {
        const host_problem *h = &problems[k];
        optk_sinkhorn_options o = optk_sinkhorn_default_options(eps[k]);
        o.max_iter = max_iter[k];
        host_result ref;
        cr_assert_eq(solve(cpu, h, &o, NULL, NULL, &ref), OPTK_OK);
        for (int place = 0; place < 3; ++place) {
            o.placement = placements[place];
            host_result mine;
            cr_assert_eq(solve(ctx, h, &o, NULL, NULL, &mine), OPTK_OK, "%s",
                         optk_context_last_error(ctx));
            char what[64];
            snprintf(what, sizeof what, "set %d, placement %d, on %s", k, (int)o.placement,
                     optk_backend_name(backend));
            assert_same_bits(h, &mine, &ref, what);
            result_free(&mine);
        }
        result_free(&ref);
    }
    for (int k = 0; k < SETS; ++k)
        free_problem(&problems[k]);
    optk_context_free(cpu);
    optk_context_free(ctx);
}

/* The kernel-domain fast path (between checks) gives the log domain's answer up to rounding:
 * on problems where it is safe from the start (eps 0.1), where the kernel underflows at first
 * and blocks fall back to the log domain (eps 0.005 on costs in [1, 3]), with padding, point
 * clouds, and unbalanced marginals (rho 1 and 0.5: the scalings' power form). Its bits differ
 * from the log domain's somewhere, which shows that it ran. */
BACKEND_TEST(sinkhorn, kernel_domain_blocks_match_the_log_domain) {
    optk_context *ctx = test_context(backend);
    const struct {
        double eps;
        optk_ot_cost cost;
        float range;
        double rho;
    } cases[] = {{0.1, OPTK_COST_DENSE, 1.0f, 0.0},
                 {0.005, OPTK_COST_DENSE, 2.0f, 0.0},
                 {0.02, OPTK_COST_SQEUCLIDEAN, 0.0f, 0.0},
                 {0.1, OPTK_COST_DENSE, 1.0f, 1.0},
                 {0.01, OPTK_COST_SQEUCLIDEAN, 0.0f, 0.5}};
    for (int k = 0; k < 5; ++k) {
        host_problem h = random_problem(3, 70, 45, cases[k].cost, 2, cases[k].range, 81 + k);
        h.a[5] = 0.0f; /* padding in the first problem (weights need not sum alike here) */
        h.b[7] = 0.0f;
        if (k == 1) { /* costs in [1, 3]: exp(-C / eps) underflows, the first blocks fall back */
            for (int64_t e = 0; e < h.batch * h.n * h.m; ++e)
                h.c[e] += 1.0f;
        }
        optk_sinkhorn_options fast = optk_sinkhorn_default_options(cases[k].eps);
        fast.max_iter = 400;
        fast.tol = 0.0; /* every iteration, no early stop */
        fast.rho = cases[k].rho;
        optk_sinkhorn_options slow = fast;
        slow.solver = OPTK_SINKHORN_LOG_DOMAIN;
        host_result rf, rs;
        cr_assert_eq(solve(ctx, &h, &fast, NULL, NULL, &rf), OPTK_OK, "%s",
                     optk_context_last_error(ctx));
        cr_assert_eq(solve(ctx, &h, &slow, NULL, NULL, &rs), OPTK_OK);
        double worst = 0.0;
        bool differ = false;
        for (int64_t e = 0; e < h.batch * h.n; ++e) {
            cr_assert(isfinite(rf.f[e]) || (rf.f[e] == -INFINITY && rs.f[e] == -INFINITY),
                      "case %d: f[%lld] = %g", k, (long long)e, (double)rf.f[e]);
            if (isfinite(rs.f[e])) worst = fmax(worst, fabs(rf.f[e] - rs.f[e]));
            differ |= memcmp(&rf.f[e], &rs.f[e], 4) != 0;
        }
        for (int64_t e = 0; e < h.batch * h.m; ++e) {
            cr_assert(isfinite(rf.g[e]) || (rf.g[e] == -INFINITY && rs.g[e] == -INFINITY),
                      "case %d: g[%lld] = %g", k, (long long)e, (double)rf.g[e]);
            if (isfinite(rs.g[e])) worst = fmax(worst, fabs(rf.g[e] - rs.g[e]));
        }
        for (int64_t p = 0; p < h.batch; ++p) {
            cr_assert(fabs(rf.cost[p] - rs.cost[p]) <= 1e-5 * fabs(rs.cost[p]), "case %d", k);
            cr_assert(fabs(rf.error[p] - rs.error[p]) <= 1e-4 + 0.1 * rs.error[p], "case %d", k);
        }
        cr_log_info("%s case %d: potentials within %.3g of the log domain",
                    optk_backend_name(backend), k, worst);
        cr_assert(worst <= 2e-5 * (1.0 + cases[k].range), "case %d: %g from the log domain", k,
                  worst);
        cr_assert(differ, "case %d: the fast path never ran (bits equal to the log domain)", k);
        result_free(&rf);
        result_free(&rs);
        free_problem(&h);
    }
    optk_context_free(ctx);
}

/* The CPU splits the problems over threads: 1, 3 and 8 threads give the same bits (each
 * problem is solved whole by one thread, with its own scratch). */
Test(sinkhorn, cpu_thread_count_changes_no_bit) {
    optk_context *cpu = test_context(OPTK_BACKEND_CPU);
    host_problem h = random_problem(7, 40, 33, OPTK_COST_SQEUCLIDEAN, 3, 0.0f, 71);
    optk_sinkhorn_options o = optk_sinkhorn_default_options(0.03);
    o.max_iter = 500;
    const char *counts[] = {"1", "3", "8"};
    host_result r[3];
    for (int k = 0; k < 3; ++k) {
        setenv("OPTKERN_CPU_THREADS", counts[k], 1);
        cr_assert_eq(solve(cpu, &h, &o, NULL, NULL, &r[k]), OPTK_OK);
    }
    unsetenv("OPTKERN_CPU_THREADS");
    for (int k = 1; k < 3; ++k) {
        test_assert_bits_equal(r[k].f, r[0].f, (size_t)(h.batch * h.n), 4, "f");
        test_assert_bits_equal(r[k].g, r[0].g, (size_t)(h.batch * h.m), 4, "g");
        test_assert_bits_equal(r[k].plan, r[0].plan, (size_t)(h.batch * h.n * h.m), 4, "plan");
        test_assert_bits_equal(r[k].objective, r[0].objective, (size_t)h.batch, 4, "objective");
        test_assert_bits_equal(r[k].iterations, r[0].iterations, (size_t)h.batch, 4, "iters");
    }
    for (int k = 0; k < 3; ++k)
        result_free(&r[k]);
    free_problem(&h);
    optk_context_free(cpu);
}

/* P v and P^T v without P equal the materialised plan times v (and padding rows give 0). A NaN
 * in v spoils the outputs whose plan entry on its row is not 0: one in a padded point's row
 * (P^T v) changes nothing, one in a real row makes its column NaN. */
BACKEND_TEST(sinkhorn, plan_applied_without_materialising_it) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(2, 19, 13, OPTK_COST_SQEUCLIDEAN, 3, 0.0f, 71);
    h.a[3] = 0.0f; /* a padded row: f = -Inf, its row of P is 0 */
    optk_sinkhorn_options o = optk_sinkhorn_default_options(0.1);
    o.max_iter = 50; /* any potentials do */
    host_result r;
    cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &r), OPTK_OK, "%s", optk_context_last_error(ctx));
    enum { K = 11 };
    const int64_t B = h.batch, n = h.n, m = h.m;
    for (int transpose = 0; transpose < 2; ++transpose) {
        const int64_t rows = transpose ? m : n, others = transpose ? n : m;
        float *v = malloc((size_t)(B * others * K) * 4), *got = malloc((size_t)(B * rows * K) * 4);
        test_fill_uniform(v, (size_t)(B * others * K), -1.0f, 1.0f, 72 + (uint64_t)transpose);
        if (transpose) {
            for (int64_t c = 0; c < K; ++c)
                v[3 * K + c] = NAN; /* problem 0's padded row 3 */
        }
        v[(1 * others + 5) * K + 2] = NAN; /* problem 1, a real point, column 2 */
        test_buffer bx = test_buffer_new(ctx, (size_t)(B * n * h.dim), 4, h.x),
                    by = test_buffer_new(ctx, (size_t)(B * m * h.dim), 4, h.y),
                    bf = test_buffer_new(ctx, (size_t)(B * n), 4, r.f),
                    bg = test_buffer_new(ctx, (size_t)(B * m), 4, r.g),
                    bv = test_buffer_new(ctx, (size_t)(B * others * K), 4, v),
                    bo = test_buffer_new(ctx, (size_t)(B * rows * K), 4, NULL);
        const optk_ot_problem p = {B,    n,       m,       NULL, NULL, OPTK_COST_SQEUCLIDEAN,
                                   NULL, bx.data, by.data, h.dim};
        cr_assert_eq(optk_sinkhorn_apply(ctx, &p, o.epsilon, bf.data, bg.data, transpose, bv.data,
                                         K, bo.data),
                     OPTK_OK, "%s", optk_context_last_error(ctx));
        test_buffer_read(&bo, got);
        test_buffer_check_guards(&bo, "out");
        for (int64_t q = 0; q < B; ++q) {
            for (int64_t row = 0; row < rows; ++row) {
                for (int64_t c = 0; c < K; ++c) {
                    double want = 0.0;
                    for (int64_t s = 0; s < others; ++s) {
                        const int64_t i = transpose ? s : row, j = transpose ? row : s;
                        const float pij = r.plan[(q * n + i) * m + j];
                        if (pij != 0.0f) want += (double)pij * v[(q * others + s) * K + c];
                    }
                    const float g1 = got[(q * rows + row) * K + c];
                    cr_assert(isnan(g1) == (q == 1 && c == 2), "NaN where it should not be");
                    cr_assert(isnan(g1) ? isnan(want)
                                        : fabs(g1 - want) <= 1e-6 * (1.0 + fabs(want)),
                              "transpose %d problem %lld row %lld col %lld: %g, want %g", transpose,
                              (long long)q, (long long)row, (long long)c, (double)g1, want);
                    if (!transpose && row == 3 && q == 0) cr_assert_eq(g1, 0.0f);
                }
            }
        }
        /* Refused: k 0, eps 0, out overlapping v; nothing written. */
        float *poison = malloc((size_t)(B * rows * K) * 4);
        for (int64_t e = 0; e < B * rows * K; ++e)
            poison[e] = -7.0f;
        cr_assert_eq(optk_mem_upload(ctx, bo.data, poison, (size_t)(B * rows * K) * 4), OPTK_OK);
        cr_assert_eq(optk_sinkhorn_apply(ctx, &p, o.epsilon, bf.data, bg.data, transpose, bv.data,
                                         0, bo.data),
                     OPTK_ERR_INVALID_ARGUMENT);
        cr_assert_eq(
            optk_sinkhorn_apply(ctx, &p, 0.0, bf.data, bg.data, transpose, bv.data, K, bo.data),
            OPTK_ERR_INVALID_ARGUMENT);
        cr_assert_eq(optk_sinkhorn_apply(ctx, &p, o.epsilon, bf.data, bg.data, transpose, bv.data,
                                         K, bv.data),
                     OPTK_ERR_INVALID_ARGUMENT);
        cr_assert(strstr(optk_context_last_error(ctx), "out overlaps v"));
        test_buffer_read(&bo, got);
        test_assert_bits_equal(got, poison, (size_t)(B * rows * K), 4, "out after refused calls");
        test_buffer *all[] = {&bx, &by, &bf, &bg, &bv, &bo};
        for (int k = 0; k < 6; ++k)
            test_buffer_free(all[k]);
        free(v), free(got), free(poison);
    }
    result_free(&r);
    free_problem(&h);
    optk_context_free(ctx);
}

/* Sinkhorn-Newton-Sparse: POT's answer, both marginals within tol, and far fewer iterations
 * than plain Sinkhorn where epsilon is small. */
BACKEND_TEST(sinkhorn, newton_sparse_matches_pot_and_needs_fewer_iterations) {
    optk_context *ctx = test_context(backend);
    char *text = ref_read_data_file("sinkhorn_pot.txt");
    pot_case k = read_case(text, "small_eps"); /* eps = 0.01 on costs in [0, 2] */
    optk_sinkhorn_options o = optk_sinkhorn_default_options(k.eps);
    o.tol = 1e-6;
    o.max_iter = 20000;
    host_result plain, sns;
    cr_assert_eq(solve(ctx, &k.h, &o, NULL, NULL, &plain), OPTK_OK);
    o.solver = OPTK_SINKHORN_SNS;
    cr_assert_eq(solve(ctx, &k.h, &o, NULL, NULL, &sns), OPTK_OK, "%s",
                 optk_context_last_error(ctx));
    cr_assert_eq(sns.converged[0], 1, "SNS error %g after %d iterations", (double)sns.error[0],
                 sns.iterations[0]);
    cr_log_info("eps %g, n = m = %lld: plain Sinkhorn %d iterations, SNS %d (20 of them Sinkhorn)",
                k.eps, (long long)k.h.n, plain.iterations[0], sns.iterations[0]);
    cr_assert(sns.iterations[0] < plain.iterations[0] / 10, "SNS %d vs plain %d", sns.iterations[0],
              plain.iterations[0]);
    double rows = 0.0, cols = 0.0, worst = 0.0;
    const int64_t n = k.h.n, m = k.h.m;
    for (int64_t i = 0; i < n; ++i) {
        double s = 0.0;
        for (int64_t j = 0; j < m; ++j) {
            s += sns.plan[i * m + j];
            worst = fmax(worst, fabs(sns.plan[i * m + j] - k.plan[i * m + j]) /
                                    (1e-3 + k.plan[i * m + j]));
        }
        rows += fabs(s - k.h.a[i]);
    }
    for (int64_t j = 0; j < m; ++j) {
        double s = 0.0;
        for (int64_t i = 0; i < n; ++i)
            s += sns.plan[i * m + j];
        cols += fabs(s - k.h.b[j]);
    }
    cr_assert(rows + cols <= 2e-6, "marginal errors %g + %g", rows, cols);
    cr_assert(worst <= 5e-4, "plan %g from POT's", worst);
    cr_assert(fabs(sns.cost[0] - k.cost[0]) <= 2e-5 * k.cost[0], "cost %g vs %g",
              (double)sns.cost[0], (double)k.cost[0]);
    /* Unbalanced problems are refused. */
    o.rho = 1.0;
    host_result refused;
    cr_assert_eq(solve(ctx, &k.h, &o, NULL, NULL, &refused), OPTK_ERR_INVALID_ARGUMENT);
    result_free(&refused);
    result_free(&plain);
    result_free(&sns);
    free_case(&k);
    free(text);
    optk_context_free(ctx);
}

/* The inputs of the P V tests: AB problems of AN x AM, as dense costs and as AD-dimensional
 * points, potentials in [-0.2, 0.2] with a padded row (problem 1, row 4: f = -Inf), and V of
 * up to APPLY_MOST columns (AM rows a problem: room for either side). */
enum { AB = 2, AN = 37, AM = 45, AD = 5, APPLY_MOST = 300 };
typedef struct apply_inputs {
    float x[AB * AN * AD], y[AB * AM * AD], c[AB * AN * AM], f[AB * AN], g[AB * AM];
    float v[AB * AM * APPLY_MOST];
} apply_inputs;

/* Fills in from seeds seed .. seed + 5, V as k columns. */
static void apply_inputs_fill(apply_inputs *in, int64_t k, uint64_t seed) {
    test_fill_uniform(in->x, AB * AN * AD, -1.0f, 1.0f, seed);
    test_fill_uniform(in->y, AB * AM * AD, -1.0f, 1.0f, seed + 1);
    test_fill_uniform(in->c, AB * AN * AM, 0.0f, 1.0f, seed + 2);
    test_fill_uniform(in->f, AB * AN, -0.2f, 0.2f, seed + 3);
    test_fill_uniform(in->g, AB * AM, -0.2f, 0.2f, seed + 4);
    in->f[AN + 4] = -INFINITY;
    test_fill_uniform(in->v, (size_t)(AB * AM * k), -1.0f, 1.0f, seed + 5);
}

/* Their problem: the dense cost c, or the points x and y under point_cost. */
static optk_ot_problem apply_problem(bool dense, optk_ot_cost point_cost, const float *x,
                                     const float *y, const float *c) {
    const optk_ot_problem p = {AB,
                               AN,
                               AM,
                               NULL,
                               NULL,
                               dense ? OPTK_COST_DENSE : point_cost,
                               dense ? c : NULL,
                               dense ? NULL : x,
                               dense ? NULL : y,
                               dense ? 0 : AD};
    return p;
}

/* The CPU's P V builds each plan row once (vectorised costs and entries) and splits the rows
 * over its cores; the result is optk_plan_apply_row's arithmetic — CUDA's — bit for bit: dense
 * and point-cloud costs, both directions, two chunks of V's columns, a padded row (f = -Inf),
 * 1 and 2 threads. */
Test(sinkhorn, cpu_apply_is_the_shared_row_arithmetic) {
    optk_context *ctx = test_context(OPTK_BACKEND_CPU);
    enum { B = AB, N = AN, M = AM, D = AD, K = APPLY_MOST };
    static apply_inputs in;
    static float got[B * M * K], want[B * M * K];
    apply_inputs_fill(&in, K, 91);
    const float *f = in.f, *g = in.g, *v = in.v;
    const float eps = 0.05f;
    static const char *threads[2] = {"1", "2"};
    for (int run = 0; run < 8; ++run) {
        const bool dense = run & 1, transpose = run & 2;
        setenv("OPTKERN_CPU_THREADS", threads[(run >> 2) & 1], 1);
        const optk_ot_problem p = apply_problem(dense, OPTK_COST_EUCLIDEAN, in.x, in.y, in.c);
        cr_assert_eq(optk_sinkhorn_apply(ctx, &p, eps, f, g, transpose, v, K, got), OPTK_OK, "%s",
                     optk_context_last_error(ctx));
        const optk_ot_view view = {N, M, dense ? 0 : D, (int)p.cost, NULL, NULL, p.c, p.x, p.y};
        const int64_t rows = transpose ? M : N;
        double acc[K];
        for (int64_t q = 0; q < B; ++q) {
            for (int64_t r = 0; r < rows; ++r) {
                optk_plan_apply_row(&view, q, eps, f, g, transpose, v, K, r, acc, 0, K);
                for (int k = 0; k < K; ++k)
                    want[(q * rows + r) * K + k] = (float)acc[k];
            }
        }
        char what[64];
        snprintf(what, sizeof what, "%s, %s, %s threads", dense ? "dense" : "points",
                 transpose ? "P^T V" : "P V", threads[(run >> 2) & 1]);
        test_assert_bits_equal(got, want, (size_t)(B * rows * K), 4, what);
    }
    unsetenv("OPTKERN_CPU_THREADS");
    optk_context_free(ctx);
}

/* The backend against the CPU, bit for bit (on the CPU: two threads against one): P V and
 * P^T V for V of 3 columns (CUDA: a thread per row), 11 and 200 (a block per row and 128
 * columns, two such for 200), dense and point-cloud costs, a padded row. */
BACKEND_TEST(sinkhorn, apply_backends_agree_with_the_cpu) {
    optk_context *ctx = test_context(backend);
    optk_context *cpu = test_context(OPTK_BACKEND_CPU);
    enum { B = AB, N = AN, M = AM, D = AD, MOST = 200 };
    static apply_inputs in;
    static float want[B * M * MOST], got[B * M * MOST];
    apply_inputs_fill(&in, MOST, 191);
    const int64_t widths[] = {3, 11, MOST};
    for (int run = 0; run < 12; ++run) {
        const bool dense = run & 1, transpose = run & 2;
        const int64_t k = widths[run / 4];
        const int64_t rows = transpose ? M : N, others = transpose ? N : M;
        const size_t outputs = (size_t)(B * rows * k);
        optk_context *on[2] = {cpu, ctx};
        float *into[2] = {want, got};
        for (int side = 0; side < 2; ++side) {
            test_buffer bx = test_buffer_new(on[side], B * N * D, 4, in.x),
                        by = test_buffer_new(on[side], B * M * D, 4, in.y),
                        bc = test_buffer_new(on[side], B * N * M, 4, in.c),
                        bf = test_buffer_new(on[side], B * N, 4, in.f),
                        bg = test_buffer_new(on[side], B * M, 4, in.g),
                        bv = test_buffer_new(on[side], (size_t)(B * others * k), 4, in.v),
                        bo = test_buffer_new(on[side], outputs, 4, NULL);
            const optk_ot_problem p =
                apply_problem(dense, OPTK_COST_SQEUCLIDEAN, bx.data, by.data, bc.data);
            setenv("OPTKERN_CPU_THREADS", side == 0 ? "1" : "2", 1);
            cr_assert_eq(optk_sinkhorn_apply(on[side], &p, 0.05, bf.data, bg.data, transpose,
                                             bv.data, k, bo.data),
                         OPTK_OK, "%s", optk_context_last_error(on[side]));
            unsetenv("OPTKERN_CPU_THREADS");
            test_buffer_read(&bo, into[side]);
            test_buffer_check_guards(&bo, "out");
            test_buffer *all[] = {&bx, &by, &bc, &bf, &bg, &bv, &bo};
            for (int t = 0; t < 7; ++t)
                test_buffer_free(all[t]);
        }
        char what[80];
        snprintf(what, sizeof what, "%s, %s, %lld columns on %s", dense ? "dense" : "points",
                 transpose ? "P^T V" : "P V", (long long)k, optk_backend_name(backend));
        test_assert_bits_equal(got, want, outputs, 4, what);
    }
    optk_context_free(cpu);
    optk_context_free(ctx);
}

/* The shared log-sum-exp merge (common/sinkhorn.h), branch-free so the CPU's lane tree
 * vectorises, against its definition written with branches: an empty side gives the other
 * unchanged, else the larger max is kept and the other sum rescaled — ties, empties, infinite
 * and NaN maxima included, bit for bit; and the lane tree against merges in its order. */
static optk_lse merge_by_definition(optk_lse x, optk_lse y, float eps) {
    if (y.max == -INFINITY) return x;
    if (x.max == -INFINITY) return y;
    const optk_lse hi = x.max >= y.max ? x : y, lo = x.max >= y.max ? y : x;
    const optk_lse r = {hi.max, hi.sum + lo.sum * (double)optk_expf((lo.max - hi.max) / eps)};
    return r;
}

Test(sinkhorn, lse_merge_is_its_definition) {
    const float maxima[] = {-INFINITY, -3.5f, 0.0f, 0.25f, 0.25f, 7.0f, INFINITY, NAN};
    const double sums[] = {0.0, 1.0, 2.5, 1e-300, 3.0, 1.0, 1.0, 1.0};
    const int count = (int)(sizeof maxima / sizeof maxima[0]);
    for (int a = 0; a < count; ++a) {
        for (int b = 0; b < count; ++b) {
            const optk_lse x = {maxima[a], sums[a]}, y = {maxima[b], sums[b]};
            const optk_lse want = merge_by_definition(x, y, 0.05f);
            const optk_lse got = optk_lse_merge(x, y, 0.05f);
            test_assert_bits_equal(&got.max, &want.max, 1, 4, "merged max");
            test_assert_bits_equal(&got.sum, &want.sum, 1, 8, "merged sum");
        }
    }
    float max[OPTK_SINKHORN_LSE_LANES];
    double sum[OPTK_SINKHORN_LSE_LANES];
    optk_lse lanes[OPTK_SINKHORN_LSE_LANES];
    uint64_t state = 99;
    for (int l = 0; l < OPTK_SINKHORN_LSE_LANES; ++l) {
        max[l] = l % 7 == 3 ? -INFINITY : (float)(test_rand_u64(&state) % 1000) * 1e-3f;
        sum[l] = max[l] == -INFINITY ? 0.0 : 1.0 + (double)(test_rand_u64(&state) % 100);
        lanes[l] = (optk_lse){max[l], sum[l]};
    }
    for (int offset = OPTK_SINKHORN_LSE_LANES / 2; offset > 0; offset /= 2) {
        for (int k = 0; k < offset; ++k)
            lanes[k] = merge_by_definition(lanes[k], lanes[k + offset], 0.01f);
    }
    const optk_lse got = optk_lse_tree(max, sum, 0.01f);
    test_assert_bits_equal(&got.max, &lanes[0].max, 1, 4, "tree max");
    test_assert_bits_equal(&got.sum, &lanes[0].sum, 1, 8, "tree sum");
}

/* The CPU's side-by-side row trees (cpu/row_lse.h: its f update and c-transform) give each
 * row optk_lse_tree's (max, sum) over OPTK_SINKHORN_LSE_LANES lanes bit for bit, the double
 * sum included. The float potentials hide an order's last bits: with the CPU's trees on 32
 * lanes the order test below still passed. Rows of 1 to 200 columns, a block partly filled,
 * zero weights. */
Test(sinkhorn, cpu_row_trees_take_the_lane_order) {
    enum { ROWS = 11, M = 200 };
    static float c[ROWS][M];
    float g[M], b[M];
    uint64_t state = 7;
    for (int j = 0; j < M; ++j) {
        g[j] = (float)(test_rand_u64(&state) % 2000) * 1e-3f - 1.0f;
        b[j] = j % 9 == 4 ? 0.0f : 1.0f;
        for (int r = 0; r < ROWS; ++r)
            c[r][j] = (float)(test_rand_u64(&state) % 2000) * 1e-3f;
    }
    const float eps = 0.05f;
    const int64_t widths[] = {1, 15, 16, 17, 45, 200};
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; ++w) {
        const int64_t m = widths[w];
        optk_cpu_tree_block t;
        for (int r = 0; r < ROWS; ++r)
            optk_cpu_tree_block_row(&t, r, c[r], g, b, eps, m);
        optk_cpu_tree_block_merge(&t, ROWS, eps);
        for (int r = 0; r < ROWS; ++r) {
            float max[OPTK_SINKHORN_LSE_LANES];
            double sum[OPTK_SINKHORN_LSE_LANES];
            for (int l = 0; l < OPTK_SINKHORN_LSE_LANES; ++l)
                max[l] = -INFINITY, sum[l] = 0.0;
            for (int64_t j = 0; j < m; ++j) {
                if (b[j] != 0.0f) {
                    const int l = (int)(j % OPTK_SINKHORN_LSE_LANES);
                    optk_lse_add(&max[l], &sum[l], g[j] - c[r][j], eps);
                }
            }
            const optk_lse want = optk_lse_tree(max, sum, eps);
            const optk_lse got = optk_cpu_tree_block_lse(&t, r);
            test_assert_bits_equal(&got.max, &want.max, 1, 4, "a row's max");
            test_assert_bits_equal(&got.sum, &want.sum, 1, 8, "a row's sum");
        }
    }
}

/* The f update's order, which the CPU keeps so that CUDA's half-warp per row gives its bits:
 * column j in lane j % 16, each lane in index order, the lanes merged by optk_lse_tree. One
 * log-domain iteration (g from f = 0, then f from g) of problems whose rows (37) fill no whole
 * block of the CPU's side-by-side trees and whose 45 columns leave lanes short, a padded column, a
 * dense cost and KL-relaxed marginals: f is that order's, bit for bit, from the returned g. */
BACKEND_TEST(sinkhorn, the_f_update_takes_the_warp_order) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(2, 37, 45, OPTK_COST_DENSE, 0, 2.0f, 1401);
    pad_point(&h, 1, 1, 44);
    optk_sinkhorn_options o = optk_sinkhorn_default_options(0.03);
    o.solver = OPTK_SINKHORN_LOG_DOMAIN;
    o.max_iter = 1, o.check_every = 1, o.tol = 0.0, o.rho = 2.0;
    host_result r;
    cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &r), OPTK_OK, "%s", optk_context_last_error(ctx));
    const float eps = (float)o.epsilon, tau = optk_sinkhorn_tau(o.rho, eps);
    for (int64_t p = 0; p < h.batch; ++p) {
        for (int64_t i = 0; i < h.n; ++i) {
            float max[OPTK_SINKHORN_LSE_LANES];
            double sum[OPTK_SINKHORN_LSE_LANES];
            for (int l = 0; l < OPTK_SINKHORN_LSE_LANES; ++l)
                max[l] = -INFINITY, sum[l] = 0.0;
            for (int64_t j = 0; j < h.m; ++j) {
                if (h.b[p * h.m + j] == 0.0f) continue;
                const float v = r.g[p * h.m + j] - h.c[(p * h.n + i) * h.m + j];
                optk_lse_add(&max[j % OPTK_SINKHORN_LSE_LANES], &sum[j % OPTK_SINKHORN_LSE_LANES],
                             v, eps);
            }
            const float want =
                optk_potential(h.a[p * h.n + i], optk_lse_tree(max, sum, eps), eps, tau);
            test_assert_bits_equal(&r.f[p * h.n + i], &want, 1, 4, "f");
        }
    }
    result_free(&r);
    free_problem(&h);
    optk_context_free(ctx);
}
