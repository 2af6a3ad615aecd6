/* test_sinkhorn_newton.c — the Newton phase of Sinkhorn-Newton-Sparse on every backend
 * (POT's answer and the iteration count are in test_sinkhorn.c): the CPU's row threshold is
 * CUDA's bisection; the step rules (bursts, first step, CG's stop); a batch gives each
 * problem's answer alone; zero-weight padding changes the plan only by rounding and keeps the
 * objective finite; point clouds give the bits of their materialised cost; the CPU's thread
 * count changes nothing; CUDA gives the CPU's bits; problems too large are refused with
 * nothing written. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "harness.h"
#include "sinkhorn_fixture.h"

#include "common/sinkhorn_newton.h"
#include "cpu/sns_threshold.h"

#include <math.h>
#include <stdlib.h>

/* ---- The row threshold ------------------------------------------------------------------ */

/* The definition, as CUDA computes it: the largest t (by bisection on its bits) whose entries
 * >= t hold enough, their mass summed in lane order. */
static double threshold_by_bisection(const double *row, int64_t m, double r, int64_t keep) {
    double top = 0.0;
    for (int64_t j = 0; j < m; ++j)
        top = fmax(top, row[j]);
    uint64_t lo = 0, hi = optk_f64_bits(top);
    while (lo < hi) {
        const uint64_t mid = lo + (hi - lo + 1) / 2;
        const double t = optk_f64_from_bits(mid);
        double lane[OPTK_SINKHORN_LANES] = {0};
        int64_t count = 0;
        for (int64_t j = 0; j < m; ++j) {
            count += row[j] >= t;
            lane[j % OPTK_SINKHORN_LANES] += row[j] >= t ? row[j] : 0.0;
        }
        if (optk_sns_threshold_ok(count, optk_sum_lanes(lane), keep, r))
            lo = mid;
        else
            hi = mid - 1;
    }
    return optk_f64_from_bits(lo);
}

/* Rows of every kind the plan has: concentrated (a plan at small eps), flat, ties, zeros
 * (padding), one dominant entry, all zero; several lengths and keeps. */
Test(sinkhorn_newton, cpu_row_threshold_is_the_bisection) {
    const int64_t lengths[] = {1, 2, 3, 7, 32, 33, 64, 100, 257};
    uint64_t state = 2024;
    int rows = 0, interior = 0;
    for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; ++li) {
        const int64_t m = lengths[li];
        double *row = malloc((size_t)m * sizeof *row), *scratch = malloc((size_t)(3 * m) * 8);
        for (int kind = 0; kind < 6; ++kind) {
            for (int rep = 0; rep < 20; ++rep) {
                for (int64_t j = 0; j < m; ++j) {
                    const double u = (double)(test_rand_u64(&state) >> 11) * 0x1p-53;
                    const double ties[] = {0.0, 0.25, 0.5, 1.0};
                    row[j] = kind == 0   ? exp(-40.0 * u)
                             : kind == 1 ? 0.125
                             : kind == 2 ? ties[test_rand_u64(&state) % 4]
                             : kind == 3 ? (u < 0.3 ? 0.0 : u)
                             : kind == 4 ? (j == rep % m ? 1.0 : 1e-9 * u)
                                         : 0.0;
                }
                double lane[OPTK_SINKHORN_LANES] = {0};
                for (int64_t j = 0; j < m; ++j)
                    lane[j % OPTK_SINKHORN_LANES] += row[j];
                const double r = optk_sum_lanes(lane);
                const int64_t keeps[] = {optk_sns_row_keep(m, m), optk_sns_row_keep(1, m), m};
                for (int k = 0; k < 3; ++k) {
                    const double want = threshold_by_bisection(row, m, r, keeps[k]);
                    const double got = optk_cpu_sns_threshold(row, m, r, keeps[k], scratch);
                    cr_assert_eq(optk_f64_bits(got), optk_f64_bits(want),
                                 "m %lld, kind %d, rep %d, keep %lld: %.17g, the bisection %.17g",
                                 (long long)m, kind, rep, (long long)keeps[k], got, want);
                    double top = 0.0, low = INFINITY;
                    for (int64_t j = 0; j < m; ++j)
                        top = fmax(top, row[j]), low = fmin(low, row[j]);
                    interior += want > low && want < top;
                    ++rows;
                }
            }
        }
        free(row), free(scratch);
    }
    cr_log_info("%d rows, %d thresholds strictly inside their row's range", rows, interior);
    cr_assert(interior >= rows / 8, "too few rows exercise the search: %d of %d", interior, rows);
}

/* The step rules: the fallback bursts double to their cap and stop at the budget; the first
 * step length caps a potential's move at MAX_MOVE eps; CG's stop follows the forcing term. */
Test(sinkhorn_newton, step_rules) {
    int fallback = 1;
    const int want[] = {1, 2, 4, 8, 16, 32, 64, 64};
    for (int k = 0; k < 8; ++k) {
        cr_assert_eq(optk_sns_burst(fallback, 1000), want[k], "failure %d", k);
        fallback = optk_sns_next_fallback(fallback);
    }
    cr_assert_eq(optk_sns_burst(64, 5), 5, "the budget ends a burst");
    const double eps = 0.01;
    cr_assert_eq(optk_sns_first_step(0.05, eps), 1.0, "a step within 10 eps is taken whole");
    cr_assert_eq(optk_sns_first_step(1.0, eps), 0.1, "a potential moves 10 eps at most");
    cr_assert_eq(optk_sns_cg_stop(1e-12), sqrt(1e-12) * 1e-12, "eta^2 = |grad| near the solution");
    cr_assert_eq(optk_sns_cg_stop(4.0), (0.1 * 0.1) * 4.0, "eta = 0.1 far from it");
}

/* ---- Solves -------------------------------------------------------------------------------- */

static optk_sinkhorn_options sns_options(double eps) {
    optk_sinkhorn_options o = optk_sinkhorn_default_options(eps);
    o.solver = OPTK_SINKHORN_SNS;
    o.tol = 1e-6;
    o.max_iter = 2000;
    return o;
}

/* Each problem of a batch alone gives the batch's bits: problems do not interact. */
BACKEND_TEST(sinkhorn_newton, a_batch_is_its_problems_alone) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(3, 24, 30, OPTK_COST_DENSE, 0, 2.0f, 301);
    const optk_sinkhorn_options o = sns_options(0.01);
    host_result all;
    cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &all), OPTK_OK, "%s", optk_context_last_error(ctx));
    for (int64_t p = 0; p < h.batch; ++p) {
        const host_problem q = problems_of(&h, p, 1);
        host_result alone;
        cr_assert_eq(solve(ctx, &q, &o, NULL, NULL, &alone), OPTK_OK);
        cr_assert_eq(alone.converged[0], 1, "problem %lld: error %g", (long long)p,
                     (double)alone.error[0]);
        cr_assert_gt(alone.iterations[0], 20, "the Newton phase ran");
        const host_result part = result_of(&h, &all, p);
        assert_same_bits(&q, &alone, &part, "alone vs in the batch");
        result_free(&alone);
    }
    result_free(&all);
    free_problem(&h);
    optk_context_free(ctx);
}

/* Zero-weight rows and columns inserted into a problem: the plan on the real entries and the
 * cost agree with the unpadded problem's up to rounding (the sums' lanes shift), the padded
 * entries are 0, their potentials -Inf, and the objective is finite. */
BACKEND_TEST(sinkhorn_newton, zero_weight_padding_changes_only_rounding) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(1, 20, 26, OPTK_COST_DENSE, 0, 2.0f, 311);
    const int64_t n = h.n, m = h.m, pn = n + 2, pm = m + 3;
    const int64_t pad_rows[] = {0, 9}, pad_cols[] = {4, 5, 28};
    host_problem padded = {1,
                           pn,
                           pm,
                           0,
                           OPTK_COST_DENSE,
                           malloc((size_t)pn * 4),
                           malloc((size_t)pm * 4),
                           malloc((size_t)(pn * pm) * 4),
                           NULL,
                           NULL};
    int64_t row_of[32], col_of[32]; /* padded index -> real index, -1 for padding */
    for (int64_t i = 0, real = 0; i < pn; ++i)
        row_of[i] = (i == pad_rows[0] || i == pad_rows[1]) ? -1 : real++;
    for (int64_t j = 0, real = 0; j < pm; ++j)
        col_of[j] = (j == pad_cols[0] || j == pad_cols[1] || j == pad_cols[2]) ? -1 : real++;
    for (int64_t i = 0; i < pn; ++i)
        padded.a[i] = row_of[i] < 0 ? 0.0f : h.a[row_of[i]];
    for (int64_t j = 0; j < pm; ++j)
        padded.b[j] = col_of[j] < 0 ? 0.0f : h.b[col_of[j]];
    for (int64_t i = 0; i < pn; ++i)
        for (int64_t j = 0; j < pm; ++j)
            padded.c[i * pm + j] =
                row_of[i] < 0 || col_of[j] < 0 ? 5.0f : h.c[row_of[i] * m + col_of[j]];
    const optk_sinkhorn_options o = sns_options(0.01);
    host_result plain, pad;
    cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &plain), OPTK_OK, "%s",
                 optk_context_last_error(ctx));
    cr_assert_eq(solve(ctx, &padded, &o, NULL, NULL, &pad), OPTK_OK);
    cr_assert_eq(plain.converged[0], 1);
    cr_assert_eq(pad.converged[0], 1, "padded: error %g", (double)pad.error[0]);
    cr_assert_gt(pad.iterations[0], 20, "the Newton phase ran");
    double worst = 0.0;
    for (int64_t i = 0; i < pn; ++i) {
        if (row_of[i] < 0) cr_assert(isinf(pad.f[i]) && pad.f[i] < 0, "f of a padded row");
        for (int64_t j = 0; j < pm; ++j) {
            const float got = pad.plan[i * pm + j];
            if (row_of[i] < 0 || col_of[j] < 0) {
                cr_assert_eq(got, 0.0f, "padded entry (%lld, %lld)", (long long)i, (long long)j);
                continue;
            }
            const float want = plain.plan[row_of[i] * m + col_of[j]];
            worst = fmax(worst, fabs(got - want) / (1e-6 + want));
        }
    }
    for (int64_t j = 0; j < pm; ++j)
        if (col_of[j] < 0) cr_assert(isinf(pad.g[j]) && pad.g[j] < 0, "g of a padded column");
    cr_log_info("padded plan within %.3g (relative, + 1e-6) of the unpadded", worst);
    cr_assert(worst <= 1e-3, "padded plan %g from the unpadded", worst);
    cr_assert(fabs(pad.cost[0] - plain.cost[0]) <= 1e-5 * plain.cost[0], "cost %g vs %g",
              (double)pad.cost[0], (double)plain.cost[0]);
    cr_assert(isfinite(pad.objective[0]), "objective %g", (double)pad.objective[0]);
    cr_assert(fabs(pad.objective[0] - plain.objective[0]) <= 1e-5 * fabs(plain.objective[0]),
              "objective %g vs %g", (double)pad.objective[0], (double)plain.objective[0]);
    result_free(&plain), result_free(&pad);
    free_problem(&padded), free_problem(&h);
    optk_context_free(ctx);
}

/* Point clouds give the bits of their cost materialised (the cost of an entry is one
 * function, optk_point_cost, wherever it is computed). */
BACKEND_TEST(sinkhorn_newton, points_are_their_materialised_cost) {
    optk_context *ctx = test_context(backend);
    const optk_ot_cost kinds[] = {OPTK_COST_SQEUCLIDEAN, OPTK_COST_EUCLIDEAN};
    for (int k = 0; k < 2; ++k) {
        host_problem h = random_problem(2, 22, 27, kinds[k], 3, 0.0f, 321 + (uint64_t)k);
        host_problem dense = h;
        dense.cost = OPTK_COST_DENSE, dense.dim = 0, dense.x = dense.y = NULL;
        dense.c = malloc((size_t)(h.batch * h.n * h.m) * 4);
        for (int64_t p = 0; p < h.batch; ++p)
            for (int64_t i = 0; i < h.n; ++i)
                for (int64_t j = 0; j < h.m; ++j)
                    dense.c[(p * h.n + i) * h.m + j] =
                        optk_point_cost(h.x + (p * h.n + i) * h.dim, h.y + (p * h.m + j) * h.dim,
                                        h.dim, (int)kinds[k]);
        const optk_sinkhorn_options o = sns_options(k == 0 ? 0.005 : 0.01);
        host_result from_points, from_cost;
        cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &from_points), OPTK_OK, "%s",
                     optk_context_last_error(ctx));
        cr_assert_eq(solve(ctx, &dense, &o, NULL, NULL, &from_cost), OPTK_OK);
        for (int64_t p = 0; p < h.batch; ++p) {
            cr_assert_eq(from_points.converged[p], 1, "cost %d, problem %lld: error %g", k,
                         (long long)p, (double)from_points.error[p]);
            cr_assert_gt(from_points.iterations[p], 20, "the Newton phase ran");
        }
        assert_same_bits(&dense, &from_points, &from_cost, "points vs their cost");
        result_free(&from_points), result_free(&from_cost);
        free(dense.c);
        free_problem(&h);
    }
    optk_context_free(ctx);
}

/* Weight a[row] and b[col] (flat indices into the batch) set to 0, their problems' weights
 * scaled back to sum 1 (a balanced problem needs both sides' mass alike). */
static void pad_and_rebalance(host_problem *h, int64_t row, int64_t col) {
    h->a[row] = 0.0f, h->b[col] = 0.0f;
    float *sides[] = {h->a + row / h->n * h->n, h->b + col / h->m * h->m};
    const int64_t len[] = {h->n, h->m};
    for (int s = 0; s < 2; ++s) {
        double sum = 0.0;
        for (int64_t k = 0; k < len[s]; ++k)
            sum += sides[s][k];
        for (int64_t k = 0; k < len[s]; ++k)
            sides[s][k] = (float)(sides[s][k] / sum);
    }
}

/* Two problems of 40 x 50, uniform weights, costs in [0, 2) from a fixed LCG: at eps 0.002
 * after an eps-scaled warm-up, two of their Newton steps find no step length and hand over to
 * a Sinkhorn iteration (seen by instrumenting the CPU's fallback; none of random_problem's
 * sets did once the first step length was capped). */
/* A uniform draw in [0, 1) from a 32-bit LCG (the same sequence on every machine). */
static float lcg_unit(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / 16777216.0f;
}

static host_problem lcg_problem(void) {
    enum { B = 2, N = 40, M = 50 };
    host_problem h = {B,
                      N,
                      M,
                      0,
                      OPTK_COST_DENSE,
                      malloc(B * N * 4),
                      malloc(B * M * 4),
                      malloc(B * N * M * 4),
                      NULL,
                      NULL};
    uint32_t s = 3;
    for (int k = 0; k < B * N; ++k)
        h.a[k] = 1.0f / N;
    for (int k = 0; k < B * M; ++k)
        h.b[k] = 1.0f / M;
    for (int k = 0; k < B * N * M; ++k)
        h.c[k] = 2.0f * lcg_unit(&s);
    return h;
}

/* One 39 x 52 problem with a fifth of b's weights at 1e-6, costs in [0, 1): at eps 1e-4 and
 * tol 0, Newton steps at the error's floor (about 1e-10) fail twice in a row, so the Sinkhorn
 * burst after a failure doubles (found by a seed search with the bursts traced; at iterations
 * 1143 and 1244 on the CPU). */
static host_problem skewed_problem(void) {
    enum { N = 39, M = 52 };
    host_problem h = {
        1, N, M, 0, OPTK_COST_DENSE, malloc(N * 4), malloc(M * 4), malloc(N * M * 4), NULL, NULL};
    uint32_t s = 18;
    double sa = 0.0, sb = 0.0;
    for (int i = 0; i < N; ++i)
        h.a[i] = 0.1f + lcg_unit(&s), sa += h.a[i];
    for (int j = 0; j < M; ++j)
        h.b[j] = lcg_unit(&s) < 0.2f ? 1e-6f : 0.1f + lcg_unit(&s), sb += h.b[j];
    for (int i = 0; i < N; ++i)
        h.a[i] = (float)(h.a[i] / sa);
    for (int j = 0; j < M; ++j)
        h.b[j] = (float)(h.b[j] / sb);
    for (int k = 0; k < N * M; ++k)
        h.c[k] = lcg_unit(&s);
    return h;
}

/* The backend against the CPU, bit for bit (on the CPU: two threads against one): padding,
 * both point costs, a problem the warm-up already solves (no Newton step), one whose
 * iteration budget ends the Newton phase, a warm-up far from the solution (eps 0.002 on costs
 * in [0, 2]), where the first step lengths are capped, Newton steps that fail and hand
 * over to Sinkhorn iterations (lcg_problem), and failures in a row (skewed_problem). */
BACKEND_TEST(sinkhorn_newton, backends_agree_with_the_cpu) {
    optk_context *ctx = test_context(backend);
    optk_context *cpu = test_context(OPTK_BACKEND_CPU);
    enum { SETS = 8 };
    host_problem sets[SETS] = {random_problem(4, 40, 33, OPTK_COST_DENSE, 0, 2.0f, 331),
                               random_problem(3, 30, 45, OPTK_COST_SQEUCLIDEAN, 2, 0.0f, 332),
                               random_problem(2, 64, 64, OPTK_COST_EUCLIDEAN, 5, 0.0f, 333),
                               random_problem(2, 25, 25, OPTK_COST_DENSE, 0, 1.0f, 334),
                               random_problem(2, 70, 50, OPTK_COST_DENSE, 0, 1.0f, 335),
                               random_problem(2, 40, 50, OPTK_COST_DENSE, 0, 2.0f, 336),
                               lcg_problem(),
                               skewed_problem()};
    pad_and_rebalance(&sets[0], 3, 40); /* a padded row in problem 0, a column in problem 1 */
    const double eps[SETS] = {0.01, 0.005, 0.01, 0.5, 0.002, 0.002, 0.002, 1e-4};
    const int max_iter[SETS] = {2000, 2000, 2000, 2000, 24, 3000, 3000, 1500};
    for (int k = 0; k < SETS; ++k) {
        optk_sinkhorn_options o = sns_options(eps[k]);
        o.max_iter = max_iter[k];
        if (k == 6) o.epsilon_start = 1.0, o.epsilon_decay = 0.5; /* a warm-up at larger eps */
        if (k == 7) o.tol = 0.0, o.sns_warmup = 6;                /* to the error's floor */
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
        cr_log_info("%s: iterations %d, error %g, converged %d", what, ref.iterations[0],
                    (double)ref.error[0], ref.converged[0]);
        if (k == 3)
            cr_assert(ref.iterations[0] <= 20 && ref.converged[0], "the warm-up solves set 3");
        if (k == 4) cr_assert(ref.iterations[0] == 24 && !ref.converged[0], "set 4 runs out");
        result_free(&ref), result_free(&mine);
    }
    for (int k = 0; k < SETS; ++k)
        free_problem(&sets[k]);
    optk_context_free(cpu);
    optk_context_free(ctx);
}

/* n m beyond 2^27 is refused before anything is written (points: no cost tensor needed). */
BACKEND_TEST(sinkhorn_newton, too_large_is_refused_with_nothing_written) {
    optk_context *ctx = test_context(backend);
    const int64_t n = 16384, m = 8193;
    float *w = malloc((size_t)n * 4), *poison = malloc((size_t)m * 4);
    for (int64_t k = 0; k < n; ++k)
        w[k] = 1.0f;
    for (int64_t k = 0; k < m; ++k)
        poison[k] = -7.0f;
    test_buffer a = test_buffer_new(ctx, (size_t)n, 4, w),
                b = test_buffer_new(ctx, (size_t)m, 4, w);
    test_buffer x = test_buffer_new(ctx, (size_t)n, 4, w),
                y = test_buffer_new(ctx, (size_t)m, 4, w);
    test_buffer f = test_buffer_new(ctx, (size_t)n, 4, NULL),
                g = test_buffer_new(ctx, (size_t)m, 4, poison);
    const optk_ot_problem p = {1,    n,      m,      a.data, b.data, OPTK_COST_SQEUCLIDEAN,
                               NULL, x.data, y.data, 1};
    const optk_sinkhorn_outputs out = {f.data, g.data, NULL, NULL, NULL, NULL, NULL, NULL};
    const optk_sinkhorn_options o = sns_options(0.1);
    cr_assert_eq(optk_sinkhorn(ctx, &p, &o, &out), OPTK_ERR_UNSUPPORTED, "%s",
                 optk_context_last_error(ctx));
    cr_assert(strstr(optk_context_last_error(ctx), "n x m <= 2^27"), "%s",
              optk_context_last_error(ctx));
    float *got = malloc((size_t)m * 4);
    test_buffer_read(&g, got);
    test_assert_bits_equal(got, poison, (size_t)m, 4, "g after the refusal");
    test_buffer *all[] = {&a, &b, &x, &y, &f, &g};
    for (int k = 0; k < 6; ++k)
        test_buffer_free(all[k]);
    free(w), free(poison), free(got);
    optk_context_free(ctx);
}
