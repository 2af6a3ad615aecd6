/* test_sinkhorn_divergence.c — the Sinkhorn divergence on every backend: POT's (its linear
 * version, and the entropic one from POT's plans), the combination of the three solves it
 * stands for (its self problems by the symmetric solver), bit for bit; about 0 for identical
 * clouds, positive for distinct ones and shrinking as they meet, symmetric; a NaN point spoils
 * only its problem; CUDA equal to the CPU; bad calls refused with nothing written. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "reference_data.h"
#include "sinkhorn_fixture.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct divergence {
    float divergence[8], linear[8];
    int32_t converged[8];
} divergence;

/* Uploads h, runs the divergence, downloads the three outputs (poisoned first). */
static optk_status run(optk_context *ctx, const host_problem *h, const optk_sinkhorn_options *o,
                       divergence *d) {
    const size_t B = (size_t)h->batch, n = (size_t)h->n, m = (size_t)h->m, dim = (size_t)h->dim;
    test_buffer a = test_buffer_new(ctx, B * n, 4, h->a), b = test_buffer_new(ctx, B * m, 4, h->b);
    test_buffer x = test_buffer_new(ctx, B * n * dim, 4, h->x),
                y = test_buffer_new(ctx, B * m * dim, 4, h->y);
    float poison[8];
    for (int k = 0; k < 8; ++k)
        poison[k] = -7.0f;
    test_buffer dv = test_buffer_new(ctx, B, 4, poison), ln = test_buffer_new(ctx, B, 4, poison),
                cv = test_buffer_new(ctx, B, 4, poison);
    const optk_ot_problem p = {h->batch, h->n, h->m,   a.data, b.data,
                               h->cost,  NULL, x.data, y.data, h->dim};
    const optk_divergence_outputs out = {
        .divergence = dv.data, .linear = ln.data, .converged = cv.data};
    const optk_status s = optk_sinkhorn_divergence(ctx, &p, o, &out);
    test_buffer_read(&dv, d->divergence);
    test_buffer_read(&ln, d->linear);
    test_buffer_read(&cv, d->converged);
    test_buffer *all[] = {&a, &b, &x, &y, &dv, &ln, &cv};
    for (int k = 0; k < 7; ++k) {
        test_buffer_check_guards(all[k], "divergence buffers");
        test_buffer_free(all[k]);
    }
    return s;
}

static optk_sinkhorn_options options(void) {
    optk_sinkhorn_options o = optk_sinkhorn_default_options(0.1);
    o.max_iter = 3000;
    return o;
}

/* x against itself, as a problem of its own: n x n with weights a on both sides. */
static host_problem self_problem(const host_problem *h, bool second) {
    host_problem s = *h;
    s.n = s.m = second ? h->m : h->n;
    s.a = s.b = second ? h->b : h->a;
    s.x = s.y = second ? h->y : h->x;
    return s;
}

/* Options under which the self problems converge (the symmetric update settles in a few
 * iterations at small eps) and x against y does not. */
static optk_sinkhorn_options short_options(void) {
    optk_sinkhorn_options o = optk_sinkhorn_default_options(0.05);
    o.max_iter = 20;
    return o;
}

/* Options under which x against y converges and the self problems do not: at large eps the
 * alternating updates settle in a couple of iterations, the symmetric one halves its error
 * an iteration. */
static optk_sinkhorn_options wide_options(void) {
    optk_sinkhorn_options o = optk_sinkhorn_default_options(20.0);
    o.max_iter = 4;
    o.check_every = 1;
    return o;
}

/* Options with epsilon-scaling, which x against y takes and the self problems do not (at an
 * epsilon large enough that the symmetric update stops short of its exact float fixed point,
 * so where it started shows in the bits). */
static optk_sinkhorn_options scaled_options(void) {
    optk_sinkhorn_options o = optk_sinkhorn_default_options(2.0);
    o.epsilon_start = 50.0;
    o.check_every = 3;
    return o;
}

/* The divergence is optk_sinkhorn's x against y and its symmetric solves of the self problems
 * (at the target epsilon: no epsilon-scaling; in the log domain only under
 * OPTK_SINKHORN_LOG_DOMAIN), combined in double; `converged` is 1 exactly where all three
 * converged (options where only the self problems converge, and where only x against y does,
 * included). */
BACKEND_TEST(sinkhorn_divergence, is_the_combination_of_its_three_solves) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(3, 20, 14, OPTK_COST_SQEUCLIDEAN, 3, 0.0f, 501);
    const host_problem aa = self_problem(&h, false), bb = self_problem(&h, true);
    for (int set = 0; set < 5; ++set) {
        optk_sinkhorn_options o = set == 0 || set == 4 ? options()
                                  : set == 1           ? short_options()
                                  : set == 2           ? wide_options()
                                                       : scaled_options();
        if (set == 4) o.solver = OPTK_SINKHORN_LOG_DOMAIN;
        optk_sinkhorn_options self = o;
        self.solver = set == 4 ? OPTK_SINKHORN_SYMMETRIC_LOG_DOMAIN : OPTK_SINKHORN_SYMMETRIC;
        self.epsilon_start = 0.0;
        divergence d;
        cr_assert_eq(run(ctx, &h, &o, &d), OPTK_OK, "%s", optk_context_last_error(ctx));
        host_result r[3];
        cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &r[0]), OPTK_OK);
        cr_assert_eq(solve(ctx, &aa, &self, NULL, NULL, &r[1]), OPTK_OK);
        cr_assert_eq(solve(ctx, &bb, &self, NULL, NULL, &r[2]), OPTK_OK);
        int only_self = 0, only_ab = 0;
        for (int64_t p = 0; p < h.batch; ++p) {
            const float want =
                (float)((double)r[0].objective[p] -
                        0.5 * ((double)r[1].objective[p] + (double)r[2].objective[p]));
            const float want_linear =
                (float)((double)r[0].cost[p] - 0.5 * ((double)r[1].cost[p] + (double)r[2].cost[p]));
            test_assert_bits_equal(&d.divergence[p], &want, 1, 4, "the divergence");
            test_assert_bits_equal(&d.linear[p], &want_linear, 1, 4, "the linear divergence");
            const int selves = r[1].converged[p] && r[2].converged[p];
            cr_assert_eq(d.converged[p], r[0].converged[p] && selves, "set %d problem %lld", set,
                         (long long)p);
            only_self += selves && !r[0].converged[p];
            only_ab += r[0].converged[p] && !selves;
            if (set == 0 || set == 3) {
                cr_assert(d.converged[p], "problem %lld converged", (long long)p);
                cr_assert(d.divergence[p] > 0.0f && d.linear[p] > 0.0f, "problem %lld: %g, %g",
                          (long long)p, (double)d.divergence[p], (double)d.linear[p]);
            }
        }
        if (set == 1) cr_assert(only_self > 0, "short options: x against y left unsolved");
        if (set == 2) cr_assert(only_ab > 0, "wide options: a self problem left unsolved");
        for (int k = 0; k < 3; ++k)
            result_free(&r[k]);
    }
    free_problem(&h);
    optk_context_free(ctx);
}

/* A case of a reference data file: after "case <name> ", the metric, batch, n, m and dim, then
 * `count` numbers into params; then each problem's a, b, x and y. *at: where the case starts. */
static host_problem read_clouds(const char *text, const char *name, double *params, int count,
                                const char **at) {
    char header[64];
    snprintf(header, sizeof header, "\ncase %s ", name);
    *at = strstr(text, header);
    cr_assert_not_null(*at, "no case %s", name);
    char metric[32];
    long long batch, n, m, dim;
    int used = 0;
    cr_assert_eq(sscanf(*at + strlen(header), "%31s %lld %lld %lld %lld%n", metric, &batch, &n, &m,
                        &dim, &used),
                 5);
    const char *next = *at + strlen(header) + used;
    for (int k = 0; k < count; ++k) {
        char *end = NULL;
        params[k] = strtod(next, &end);
        next = end;
    }
    host_problem h = {batch,
                      n,
                      m,
                      dim,
                      strcmp(metric, "sqeuclidean") == 0 ? OPTK_COST_SQEUCLIDEAN
                                                         : OPTK_COST_EUCLIDEAN,
                      malloc((size_t)(batch * n) * 4),
                      malloc((size_t)(batch * m) * 4),
                      NULL,
                      malloc((size_t)(batch * n * dim) * 4),
                      malloc((size_t)(batch * m * dim) * 4)};
    for (int64_t p = 0; p < batch; ++p) {
        fixture_read_floats(*at, "a", p, h.a + p * n, (size_t)n);
        fixture_read_floats(*at, "b", p, h.b + p * m, (size_t)m);
        fixture_read_floats(*at, "x", p, h.x + p * n * dim, (size_t)(n * dim));
        fixture_read_floats(*at, "y", p, h.y + p * m * dim, (size_t)(m * dim));
    }
    return h;
}

/* Against tests/data/sinkhorn_divergence_pot.txt (tests/reference/
 * sinkhorn_divergence_pot_reference.py, POT 0.8.2 in float64): `linear` is POT's
 * empirical_sinkhorn_divergence before its clamp at 0, `divergence` the same combination of
 * entropic objectives from POT's plans. */
static void check_against_pot(optk_backend backend, const char *name) {
    optk_context *ctx = test_context(backend);
    char *text = ref_read_data_file("sinkhorn_divergence_pot.txt");
    const char *at = NULL;
    double eps = 0.0;
    host_problem h = read_clouds(text, name, &eps, 1, &at);
    const int64_t batch = h.batch;
    float linear[8], entropic[8];
    for (int64_t p = 0; p < batch; ++p) {
        fixture_read_floats(at, "linear", p, &linear[p], 1);
        fixture_read_floats(at, "entropic", p, &entropic[p], 1);
    }
    optk_sinkhorn_options o = optk_sinkhorn_default_options(eps);
    o.max_iter = 20000;
    divergence d;
    cr_assert_eq(run(ctx, &h, &o, &d), OPTK_OK, "%s", optk_context_last_error(ctx));
    double worst = 0.0;
    for (int64_t p = 0; p < batch; ++p) {
        cr_assert(d.converged[p], "%s problem %lld converged", name, (long long)p);
        worst = fmax(worst, fabs(d.linear[p] - linear[p]));
        worst = fmax(worst, fabs(d.divergence[p] - entropic[p]));
    }
    cr_log_info("%s on %s: within %.3g of POT's divergences", name, optk_backend_name(backend),
                worst);
    cr_assert(worst <= 2e-5, "%s: %g from POT's divergences", name, worst);
    free_problem(&h);
    free(text);
    optk_context_free(ctx);
}

BACKEND_TEST(sinkhorn_divergence, sqeuclidean_matches_pot) {
    check_against_pot(backend, "sqeuclidean");
}

BACKEND_TEST(sinkhorn_divergence, euclidean_matches_pot) {
    check_against_pot(backend, "euclidean");
}

/* KL-relaxed marginals against tests/data/sinkhorn_divergence_unbalanced.txt (tests/reference/
 * sinkhorn_divergence_unbalanced_reference.py: Séjourné et al.'s definition, each OT solved
 * in float64 and evaluated in its primal form), clouds of different masses, with and without
 * epsilon-scaling (whose early stages run at the target's weights a^(1 + eps / rho)). */
static void check_unbalanced(optk_backend backend, const char *name) {
    optk_context *ctx = test_context(backend);
    char *text = ref_read_data_file("sinkhorn_divergence_unbalanced.txt");
    const char *at = NULL;
    double params[2] = {0.0, 0.0};
    host_problem h = read_clouds(text, name, params, 2, &at);
    const int64_t batch = h.batch;
    const double eps = params[0], rho = params[1];
    double want[8];
    for (int64_t p = 0; p < batch; ++p) {
        char key[48];
        snprintf(key, sizeof key, "\ndivergence %lld ", (long long)p);
        const char *v = strstr(at, key);
        cr_assert_not_null(v);
        want[p] = strtod(v + strlen(key), NULL);
    }
    optk_sinkhorn_options o = optk_sinkhorn_default_options(eps);
    o.rho = rho;
    o.tol = 1e-6;
    o.max_iter = 20000;
    double worst = 0.0;
    for (int scaled = 0; scaled < 2; ++scaled) { /* and with epsilon-scaling from 1 */
        o.epsilon_start = scaled ? 1.0 : 0.0;
        divergence d;
        cr_assert_eq(run(ctx, &h, &o, &d), OPTK_OK, "%s", optk_context_last_error(ctx));
        for (int64_t p = 0; p < batch; ++p) {
            cr_assert(d.converged[p], "%s problem %lld converged", name, (long long)p);
            worst = fmax(worst, fabs(d.divergence[p] - want[p]));
        }
    }
    cr_log_info("%s on %s: within %.3g of the float64 divergences", name,
                optk_backend_name(backend), worst);
    cr_assert(worst <= 1e-6, "%s: %g from the float64 divergences", name, worst);
    free_problem(&h);
    free(text);
    optk_context_free(ctx);
}

BACKEND_TEST(sinkhorn_divergence, unbalanced_sqeuclidean_matches_its_definition) {
    check_unbalanced(backend, "sqeuclidean");
}

BACKEND_TEST(sinkhorn_divergence, unbalanced_euclidean_matches_its_definition) {
    check_unbalanced(backend, "euclidean");
}

/* KL-relaxed marginals: identical clouds give about 0, and as rho grows the divergence
 * approaches the balanced one (rho 1e6 at eps 0.1: within 1e-4 relative; 1e4 is 1.2e-4 off). */
BACKEND_TEST(sinkhorn_divergence, unbalanced_vanishes_and_approaches_balanced) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(2, 12, 12, OPTK_COST_SQEUCLIDEAN, 2, 0.0f, 551);
    optk_sinkhorn_options o = options();
    o.tol = 1e-6;
    divergence balanced, relaxed, same;
    cr_assert_eq(run(ctx, &h, &o, &balanced), OPTK_OK);
    o.rho = 1e6;
    cr_assert_eq(run(ctx, &h, &o, &relaxed), OPTK_OK, "%s", optk_context_last_error(ctx));
    for (int p = 0; p < 2; ++p) {
        cr_assert(fabsf(relaxed.divergence[p] - balanced.divergence[p]) <=
                      1e-4f * balanced.divergence[p],
                  "problem %d: rho 1e6 %g, balanced %g", p, (double)relaxed.divergence[p],
                  (double)balanced.divergence[p]);
    }
    o.rho = 1.0;
    memcpy(h.y, h.x, (size_t)(h.batch * h.n * h.dim) * 4);
    memcpy(h.b, h.a, (size_t)(h.batch * h.n) * 4);
    cr_assert_eq(run(ctx, &h, &o, &same), OPTK_OK);
    for (int p = 0; p < 2; ++p)
        cr_assert(fabsf(same.divergence[p]) <= 1e-6f, "identical clouds: %g",
                  (double)same.divergence[p]);
    free_problem(&h);
    optk_context_free(ctx);
}

/* Identical clouds give 0 up to the solves' tolerance (x against y runs the alternating
 * updates, the self problems the symmetric one: two roads to one fixed point); y moved
 * towards x makes it shrink; swapping the clouds changes it only by rounding. */
BACKEND_TEST(sinkhorn_divergence, vanishes_on_identical_clouds_and_is_symmetric) {
    optk_context *ctx = test_context(backend);
    const optk_sinkhorn_options o = options();
    for (int k = 0; k < 2; ++k) {
        const optk_ot_cost cost = k == 0 ? OPTK_COST_SQEUCLIDEAN : OPTK_COST_EUCLIDEAN;
        host_problem h = random_problem(2, 16, 16, cost, 2, 0.0f, 511 + (uint64_t)k);
        memcpy(h.b, h.a, (size_t)(h.batch * h.n) * 4);
        const float *target = h.x;
        float *y0 = malloc((size_t)(h.batch * h.m * h.dim) * 4);
        memcpy(y0, h.y, (size_t)(h.batch * h.m * h.dim) * 4);
        double previous[2] = {INFINITY, INFINITY};
        const float steps[] = {1.0f, 0.5f, 0.1f, 0.0f};
        for (int t = 0; t < 4; ++t) { /* y = x + s (y0 - x) */
            for (int64_t e = 0; e < h.batch * h.m * h.dim; ++e)
                h.y[e] = target[e] + steps[t] * (y0[e] - target[e]);
            divergence d;
            cr_assert_eq(run(ctx, &h, &o, &d), OPTK_OK, "%s", optk_context_last_error(ctx));
            for (int64_t p = 0; p < h.batch; ++p) {
                if (steps[t] == 0.0f) { /* 1.5e-7 and 1.8e-7 seen */
                    cr_assert(fabsf(d.divergence[p]) <= 1e-6f && fabsf(d.linear[p]) <= 1e-6f,
                              "identical clouds: %g, %g", (double)d.divergence[p],
                              (double)d.linear[p]);
                } else {
                    cr_assert(d.divergence[p] > 0.0f && d.divergence[p] < previous[p],
                              "cost %d step %g problem %lld: %g after %g", (int)cost,
                              (double)steps[t], (long long)p, (double)d.divergence[p], previous[p]);
                }
                previous[p] = d.divergence[p];
            }
        }
        /* Symmetry: the clouds swapped. */
        memcpy(h.y, y0, (size_t)(h.batch * h.m * h.dim) * 4);
        divergence d, swapped;
        cr_assert_eq(run(ctx, &h, &o, &d), OPTK_OK);
        host_problem s = h;
        s.x = h.y, s.y = h.x, s.a = h.b, s.b = h.a;
        cr_assert_eq(run(ctx, &s, &o, &swapped), OPTK_OK);
        for (int64_t p = 0; p < h.batch; ++p) {
            cr_assert(fabsf(d.divergence[p] - swapped.divergence[p]) <=
                          1e-5f * fabsf(d.divergence[p]) + 1e-6f,
                      "symmetric: %g vs %g", (double)d.divergence[p],
                      (double)swapped.divergence[p]);
        }
        free(y0);
        free_problem(&h);
    }
    optk_context_free(ctx);
}

/* A NaN coordinate in one problem's y (a self problem's point too): that problem's divergence
 * and linear divergence are NaN and its converged flag 0; every other problem gets the bits
 * it gets without it. */
BACKEND_TEST(sinkhorn_divergence, a_nan_point_spoils_only_its_problem) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(3, 12, 9, OPTK_COST_SQEUCLIDEAN, 2, 0.0f, 541);
    optk_sinkhorn_options o = options();
    o.max_iter = 200;
    divergence clean, spoiled;
    cr_assert_eq(run(ctx, &h, &o, &clean), OPTK_OK);
    h.y[(1 * 9 + 4) * 2] = NAN; /* problem 1, point 4 of y */
    cr_assert_eq(run(ctx, &h, &o, &spoiled), OPTK_OK);
    cr_assert(isnan(spoiled.divergence[1]) && isnan(spoiled.linear[1]) && !spoiled.converged[1],
              "problem 1: %g, %g, converged %d", (double)spoiled.divergence[1],
              (double)spoiled.linear[1], spoiled.converged[1]);
    for (int p = 0; p < 3; p += 2) {
        test_assert_bits_equal(&spoiled.divergence[p], &clean.divergence[p], 1, 4, "divergence");
        test_assert_bits_equal(&spoiled.linear[p], &clean.linear[p], 1, 4, "linear");
        cr_assert(spoiled.converged[p] && clean.converged[p]);
    }
    free_problem(&h);
    optk_context_free(ctx);
}

/* The backend against the CPU, bit for bit (on the CPU: two threads against one). */
BACKEND_TEST(sinkhorn_divergence, backends_agree_with_the_cpu) {
    optk_context *ctx = test_context(backend);
    optk_context *cpu = test_context(OPTK_BACKEND_CPU);
    host_problem h = random_problem(4, 30, 22, OPTK_COST_EUCLIDEAN, 4, 0.0f, 521);
    optk_sinkhorn_options o = options();
    for (int solver = 0; solver < 2; ++solver) {
        o.solver = solver == 0 ? OPTK_SINKHORN_PLAIN : OPTK_SINKHORN_SNS;
        divergence ref, mine;
        setenv("OPTKERN_CPU_THREADS", "1", 1);
        cr_assert_eq(run(cpu, &h, &o, &ref), OPTK_OK);
        setenv("OPTKERN_CPU_THREADS", "2", 1);
        cr_assert_eq(run(ctx, &h, &o, &mine), OPTK_OK, "%s", optk_context_last_error(ctx));
        unsetenv("OPTKERN_CPU_THREADS");
        test_assert_bits_equal(mine.divergence, ref.divergence, (size_t)h.batch, 4, "divergence");
        test_assert_bits_equal(mine.linear, ref.linear, (size_t)h.batch, 4, "linear");
        test_assert_bits_equal(mine.converged, ref.converged, (size_t)h.batch, 4, "converged");
    }
    free_problem(&h);
    optk_context_free(cpu);
    optk_context_free(ctx);
}

BACKEND_TEST(sinkhorn_divergence, bad_calls_are_refused_with_nothing_written) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(2, 10, 12, OPTK_COST_SQEUCLIDEAN, 2, 0.0f, 531);
    optk_sinkhorn_options o = options();
    divergence d;
    struct {
        const char *what, *message;
        optk_status status;
    } cases[] = {
        /* rho 1e-3 at eps 0.1: weights near 1/12 to the power 101 underflow */
        {"rho", "leaves the float range", OPTK_ERR_UNSUPPORTED},
        {"warm", "warm_start", OPTK_ERR_INVALID_ARGUMENT},
        {"tol", "sinkhorn_divergence: tol must be finite", OPTK_ERR_INVALID_ARGUMENT},
        {"weights", "sinkhorn_divergence: b of problem 1 has a negative",
         OPTK_ERR_INVALID_ARGUMENT},
        /* x against y is no self problem (taken as one before: a wrong divergence) */
        {"symmetric", "is for self problems", OPTK_ERR_INVALID_ARGUMENT},
        {"symmetric log", "is for self problems", OPTK_ERR_INVALID_ARGUMENT},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; ++k) {
        optk_sinkhorn_options q = o;
        if (k == 0) q.rho = 1e-3;
        if (k == 1) q.warm_start = true;
        if (k == 2) q.tol = NAN;
        const float kept = h.b[h.m + 3];
        if (k == 3) h.b[h.m + 3] = -1.0f;
        if (k == 4) q.solver = OPTK_SINKHORN_SYMMETRIC;
        if (k == 5) q.solver = OPTK_SINKHORN_SYMMETRIC_LOG_DOMAIN;
        cr_assert_eq(run(ctx, &h, &q, &d), cases[k].status, "%s", cases[k].what);
        h.b[h.m + 3] = kept;
        cr_assert(strstr(optk_context_last_error(ctx), cases[k].message), "%s: %s", cases[k].what,
                  optk_context_last_error(ctx));
        for (int64_t e = 0; e < h.batch; ++e)
            cr_assert(d.divergence[e] == -7.0f && d.linear[e] == -7.0f && d.converged[e] != 1,
                      "%s: written", cases[k].what);
    }
    /* A dense cost, and outputs all NULL or overlapping an input, through the API. */
    test_buffer a = test_buffer_new(ctx, 2 * 10, 4, h.a), b = test_buffer_new(ctx, 2 * 12, 4, h.b);
    test_buffer x = test_buffer_new(ctx, 2 * 10 * 2, 4, h.x),
                y = test_buffer_new(ctx, 2 * 12 * 2, 4, h.y);
    test_buffer c = test_buffer_new(ctx, 2 * 10 * 12, 4, NULL),
                out = test_buffer_new(ctx, 2, 4, NULL);
    const optk_ot_problem dense = {2,      10,   12,   a.data, b.data, OPTK_COST_DENSE,
                                   c.data, NULL, NULL, 0};
    const optk_ot_problem points = {2,    10,     12,     a.data, b.data, OPTK_COST_SQEUCLIDEAN,
                                    NULL, x.data, y.data, 2};
    const optk_divergence_outputs some = {.divergence = out.data}, none = {.divergence = NULL};
    const optk_divergence_outputs onto_x = {.divergence = x.data};
    cr_assert_eq(optk_sinkhorn_divergence(ctx, &dense, &o, &some), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "needs point clouds"));
    cr_assert_eq(optk_sinkhorn_divergence(ctx, &points, &o, &none), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "every output is NULL"));
    cr_assert_eq(optk_sinkhorn_divergence(ctx, &points, &o, &onto_x), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "overlaps"), "%s", optk_context_last_error(ctx));
    cr_assert_eq(optk_sinkhorn_divergence(ctx, &points, NULL, &some), OPTK_ERR_INVALID_ARGUMENT);
    /* x against y fits, x against itself (2^30 x 2^30) does not: refused before any read. */
    const optk_ot_problem lopsided = {
        1, (int64_t)1 << 30, 1, a.data, b.data, OPTK_COST_SQEUCLIDEAN, NULL, x.data, y.data, 1};
    cr_assert_eq(optk_sinkhorn_divergence(ctx, &lopsided, &o, &some), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "is too large"), "%s",
              optk_context_last_error(ctx));
    test_buffer *all[] = {&a, &b, &x, &y, &c, &out};
    for (int k = 0; k < 6; ++k)
        test_buffer_free(all[k]);
    free_problem(&h);
    optk_context_free(ctx);
}
