/* test_ot_cost.c — optk_ot_cost_fill on every backend: the direct method gives the bits the
 * point-cloud solvers compute (so a dense solve of the filled cost equals the point-cloud
 * solve bit for bit); the GEMM method stays within the expansion's error bound of the exact
 * cost (the CPU, summing in double, within float rounding of it); identical points cost 0
 * or a little more, never less; NaN and Inf coordinates reach exactly their row or column;
 * bad calls are refused with nothing written; the CPU's thread count changes no bit. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "harness.h"

#include <math.h>
#include <stdlib.h>

/* Sizes that cover partial CUDA tiles (8 rows x 32 columns) and two 32-coordinate chunks. */
enum { B = 3, N = 37, M = 45, D = 35 };

typedef struct clouds {
    float x[B * N * D], y[B * M * D];
} clouds;

/* Points in [-3, 3]^D shifted by 1, with x's point 0 of each problem equal to y's point 4. */
static void make_clouds(clouds *pc, uint64_t seed) {
    test_fill_uniform(pc->x, B * N * D, -2.0f, 4.0f, seed);
    test_fill_uniform(pc->y, B * M * D, -2.0f, 4.0f, seed + 1);
    for (int p = 0; p < B; ++p)
        memcpy(&pc->x[p * N * D], &pc->y[(p * M + 4) * D], D * sizeof(float));
}

/* optk_ot_cost_at's arithmetic on the host: fmaf over the coordinates in order. */
static float direct_entry(const float *x, const float *y, int64_t dim, bool euclidean) {
    float d2 = 0.0f;
    for (int64_t k = 0; k < dim; ++k) {
        const float d = x[k] - y[k];
        d2 = fmaf(d, d, d2);
    }
    return euclidean ? sqrtf(d2) : d2;
}

static double norm2(const float *v, int64_t dim) {
    double s = 0.0;
    for (int64_t k = 0; k < dim; ++k)
        s += (double)v[k] * v[k];
    return s;
}

static double exact_entry(const float *x, const float *y, int64_t dim) {
    double s = 0.0;
    for (int64_t k = 0; k < dim; ++k)
        s += ((double)x[k] - y[k]) * ((double)x[k] - y[k]);
    return s;
}

/* Fills the cost of host points on ctx; returns the status, the cost in out (B N M). */
static optk_status fill(optk_context *ctx, const float *x, const float *y, int64_t batch, int64_t n,
                        int64_t m, int64_t dim, optk_ot_cost kind, optk_cost_method method,
                        float *out) {
    test_buffer xb = test_buffer_new(ctx, (size_t)(batch * n * dim), 4, x);
    test_buffer yb = test_buffer_new(ctx, (size_t)(batch * m * dim), 4, y);
    test_buffer cb = test_buffer_new(ctx, (size_t)(batch * n * m), 4, NULL);
    const optk_ot_problem p = {
        .batch = batch, .n = n, .m = m, .cost = kind, .x = xb.data, .y = yb.data, .dim = dim};
    const optk_status s = optk_ot_cost_fill(ctx, &p, method, cb.data);
    test_buffer_read(&cb, out);
    test_buffer_check_guards(&cb, "cost");
    test_buffer_free(&xb);
    test_buffer_free(&yb);
    test_buffer_free(&cb);
    return s;
}

BACKEND_TEST(ot_cost, direct_gives_the_solvers_entries) {
    optk_context *ctx = test_context(backend);
    static clouds pc;
    make_clouds(&pc, 1);
    static float got[B * N * M], want[B * N * M];
    for (int e = 0; e < 2; ++e) {
        const bool euclidean = e == 1;
        const optk_status s = fill(ctx, pc.x, pc.y, B, N, M, D,
                                   euclidean ? OPTK_COST_EUCLIDEAN : OPTK_COST_SQEUCLIDEAN,
                                   OPTK_COST_METHOD_DIRECT, got);
        cr_assert_eq(s, OPTK_OK, "%s", optk_context_last_error(ctx));
        for (int p = 0; p < B; ++p)
            for (int i = 0; i < N; ++i)
                for (int j = 0; j < M; ++j)
                    want[(p * N + i) * M + j] =
                        direct_entry(&pc.x[(p * N + i) * D], &pc.y[(p * M + j) * D], D, euclidean);
        test_assert_bits_equal(got, want, B * N * M, 4, euclidean ? "euclidean" : "sqeuclidean");
    }
    optk_context_free(ctx);
}

BACKEND_TEST(ot_cost, gemm_is_within_the_expansion_bound) {
    optk_context *ctx = test_context(backend);
    static clouds pc;
    make_clouds(&pc, 2);
    static float sq[B * N * M], eu[B * N * M];
    cr_assert_eq(
        fill(ctx, pc.x, pc.y, B, N, M, D, OPTK_COST_SQEUCLIDEAN, OPTK_COST_METHOD_GEMM, sq),
        OPTK_OK, "%s", optk_context_last_error(ctx));
    cr_assert_eq(fill(ctx, pc.x, pc.y, B, N, M, D, OPTK_COST_EUCLIDEAN, OPTK_COST_METHOD_GEMM, eu),
                 OPTK_OK);
    const bool cpu = backend == OPTK_BACKEND_CPU;
    for (int p = 0; p < B; ++p) {
        for (int i = 0; i < N; ++i) {
            for (int j = 0; j < M; ++j) {
                const float *x = &pc.x[(p * N + i) * D], *y = &pc.y[(p * M + j) * D];
                const int64_t e = (p * N + i) * M + j;
                const double exact = exact_entry(x, y, D), norms = norm2(x, D) + norm2(y, D);
                /* CUDA: fp32 norms and products, (2 D + 4) roundings of terms up to the norms
                 * (plus slack); the CPU: double sums, then one rounding to float. */
                const double bound =
                    cpu ? 0x1p-24 * exact + 0x1p-40 * norms : (2.0 * D + 8.0) * 0x1p-24 * norms;
                cr_assert(sq[e] >= 0.0f && fabs(sq[e] - exact) <= bound,
                          "problem %d (%d, %d): %.9g, exact %.9g, bound %.3g", p, i, j,
                          (double)sq[e], exact, bound);
                const double root_bound = 0x1p-23 * sqrt(exact) + sqrt(bound);
                cr_assert(fabs(eu[e] - sqrt(exact)) <= root_bound,
                          "euclidean, problem %d (%d, %d): %.9g, exact %.9g", p, i, j,
                          (double)eu[e], sqrt(exact));
            }
        }
        /* x_0 = y_4: the CPU's double sums cancel exactly; CUDA's may leave a little, >= 0. */
        if (cpu) cr_assert_eq(sq[(p * N) * M + 4], 0.0f, "problem %d: identical points", p);
    }
    optk_context_free(ctx);
}

/* A dense solve of the direct cost and the point-cloud solve of the same points agree bit
 * for bit (potentials, plan, <P, C>) on each backend. */
BACKEND_TEST(ot_cost, dense_solve_of_the_direct_cost_equals_the_point_cloud_solve) {
    optk_context *ctx = test_context(backend);
    enum { PB = 2, PN = 20, PM = 24, PD = 3 };
    float x[PB * PN * PD], y[PB * PM * PD], a[PB * PN], b[PB * PM];
    test_fill_uniform(x, PB * PN * PD, -1.0f, 1.0f, 5);
    test_fill_uniform(y, PB * PM * PD, -1.0f, 1.0f, 6);
    for (int k = 0; k < PB * PN; ++k)
        a[k] = 1.0f / PN;
    for (int k = 0; k < PB * PM; ++k)
        b[k] = 1.0f / PM;
    test_buffer xb = test_buffer_new(ctx, PB * PN * PD, 4, x),
                yb = test_buffer_new(ctx, PB * PM * PD, 4, y);
    test_buffer ab = test_buffer_new(ctx, PB * PN, 4, a), bb = test_buffer_new(ctx, PB * PM, 4, b);
    test_buffer cb = test_buffer_new(ctx, PB * PN * PM, 4, NULL);
    enum { OUT = PB * PN + PB * PM + PB * PN * PM + PB };
    float result[2][OUT];
    optk_ot_problem p = {.batch = PB,
                         .n = PN,
                         .m = PM,
                         .a = ab.data,
                         .b = bb.data,
                         .cost = OPTK_COST_SQEUCLIDEAN,
                         .x = xb.data,
                         .y = yb.data,
                         .dim = PD};
    cr_assert_eq(optk_ot_cost_fill(ctx, &p, OPTK_COST_METHOD_DIRECT, cb.data), OPTK_OK);
    optk_sinkhorn_options o = optk_sinkhorn_default_options(0.05);
    o.max_iter = 60;
    for (int r = 0; r < 2; ++r) {
        test_buffer out = test_buffer_new(ctx, OUT, 4, NULL);
        float *f = out.data, *g = f + PB * PN, *plan = g + PB * PM, *cost = plan + PB * PN * PM;
        const optk_sinkhorn_outputs outs = {.f = f, .g = g, .plan = plan, .cost = cost};
        if (r == 1) {
            p.cost = OPTK_COST_DENSE, p.c = cb.data, p.x = NULL, p.y = NULL;
        }
        cr_assert_eq(optk_sinkhorn(ctx, &p, &o, &outs), OPTK_OK, "%s",
                     optk_context_last_error(ctx));
        test_buffer_read(&out, result[r]);
        test_buffer_free(&out);
    }
    test_assert_bits_equal(result[1], result[0], OUT, 4, "dense against points");
    test_buffer_free(&xb), test_buffer_free(&yb), test_buffer_free(&ab), test_buffer_free(&bb);
    test_buffer_free(&cb);
    optk_context_free(ctx);
}

/* A NaN coordinate of x's point 1 makes row 1 NaN; an Inf coordinate of y's point 3 makes
 * column 3 Inf (direct) or non-finite (GEMM); every other entry stays finite. */
BACKEND_TEST(ot_cost, non_finite_points_reach_their_row_or_column) {
    optk_context *ctx = test_context(backend);
    static clouds pc;
    make_clouds(&pc, 3);
    pc.x[(0 * N + 1) * D + 2] = NAN;
    pc.y[(0 * M + 3) * D + 30] = INFINITY;
    static float got[B * N * M];
    for (int method = 0; method < 2; ++method) {
        cr_assert_eq(
            fill(ctx, pc.x, pc.y, B, N, M, D, OPTK_COST_SQEUCLIDEAN, (optk_cost_method)method, got),
            OPTK_OK);
        for (int p = 0; p < B; ++p) {
            for (int i = 0; i < N; ++i) {
                for (int j = 0; j < M; ++j) {
                    const float v = got[(p * N + i) * M + j];
                    if (p == 0 && i == 1) {
                        cr_assert(isnan(v), "method %d: (%d, %d) = %g", method, i, j, (double)v);
                    } else if (p == 0 && j == 3) {
                        cr_assert(method == 1 ? !isfinite(v) : (isinf(v) && v > 0.0f),
                                  "method %d: (%d, %d) = %g", method, i, j, (double)v);
                    } else {
                        cr_assert(isfinite(v), "method %d: problem %d (%d, %d) = %g", method, p, i,
                                  j, (double)v);
                    }
                }
            }
        }
    }
    optk_context_free(ctx);
}

BACKEND_TEST(ot_cost, bad_arguments_are_refused_and_nothing_is_written) {
    optk_context *ctx = test_context(backend);
    static clouds pc;
    make_clouds(&pc, 4);
    test_buffer xb = test_buffer_new(ctx, B * N * D, 4, pc.x);
    test_buffer yb = test_buffer_new(ctx, B * M * D, 4, pc.y);
    static float init[B * N * M + 1], back[B * N * M + 1];
    for (int k = 0; k < B * N * M + 1; ++k)
        init[k] = (float)k;
    test_buffer cb = test_buffer_new(ctx, B * N * M + 1, 4, init);
    float *c = cb.data;
    const optk_ot_problem ok = {.batch = B,
                                .n = N,
                                .m = M,
                                .cost = OPTK_COST_SQEUCLIDEAN,
                                .x = xb.data,
                                .y = yb.data,
                                .dim = D};
    optk_ot_problem p;
#define REFUSE(problem, method, out)                                                               \
    cr_assert_eq(optk_ot_cost_fill(ctx, problem, method, out), OPTK_ERR_INVALID_ARGUMENT, "%s",    \
                 optk_context_last_error(ctx))
    REFUSE(NULL, OPTK_COST_METHOD_DIRECT, c);
    p = ok, p.cost = OPTK_COST_DENSE, p.c = c;
    REFUSE(&p, OPTK_COST_METHOD_DIRECT, c);
    cr_assert(strstr(optk_context_last_error(ctx), "already dense") != NULL);
    REFUSE(&ok, (optk_cost_method)2, c);
    cr_assert(strstr(optk_context_last_error(ctx), "unknown method") != NULL);
    REFUSE(&ok, OPTK_COST_METHOD_GEMM, NULL);
    cr_assert(strstr(optk_context_last_error(ctx), "c is NULL") != NULL);
    p = ok, p.x = NULL;
    REFUSE(&p, OPTK_COST_METHOD_DIRECT, c);
    REFUSE(&ok, OPTK_COST_METHOD_DIRECT, (float *)(void *)((char *)c + 2));
    cr_assert(strstr(optk_context_last_error(ctx), "aligned") != NULL);
    p = ok, p.y = c + 8; /* y inside the output */
    REFUSE(&p, OPTK_COST_METHOD_GEMM, c);
    cr_assert(strstr(optk_context_last_error(ctx), "overlaps") != NULL);
    p = ok, p.m = 0;
    REFUSE(&p, OPTK_COST_METHOD_DIRECT, c);
    p = ok, p.dim = 0;
    REFUSE(&p, OPTK_COST_METHOD_DIRECT, c);
#undef REFUSE
    test_buffer_read(&cb, back);
    test_assert_bits_equal(back, init, B * N * M + 1, 4, "cost after refused calls");
    test_buffer_check_guards(&cb, "cost");
    test_buffer_free(&xb), test_buffer_free(&yb), test_buffer_free(&cb);
    optk_context_free(ctx);
}

/* Rows are split over the CPU's cores once there is enough work: 1, 2 and 3 threads give the
 * same bits, for both methods. */
Test(ot_cost, cpu_thread_count_changes_no_bit) {
    optk_context *ctx = test_context(OPTK_BACKEND_CPU);
    enum { TB = 2, TN = 301, TM = 1100, TD = 5 }; /* 3.3e6 terms; 1100 columns: two chunks */
    float *x = malloc(TB * TN * TD * 4), *y = malloc(TB * TM * TD * 4);
    test_fill_uniform(x, TB * TN * TD, -1.0f, 1.0f, 7);
    test_fill_uniform(y, TB * TM * TD, -1.0f, 1.0f, 8);
    static const char *threads[3] = {"1", "2", "3"};
    float *c[3];
    for (int method = 0; method < 2; ++method) {
        for (int t = 0; t < 3; ++t) {
            setenv("OPTKERN_CPU_THREADS", threads[t], 1);
            c[t] = malloc((size_t)TB * TN * TM * 4);
            const optk_ot_problem p = {.batch = TB,
                                       .n = TN,
                                       .m = TM,
                                       .cost = OPTK_COST_EUCLIDEAN,
                                       .x = x,
                                       .y = y,
                                       .dim = TD};
            cr_assert_eq(optk_ot_cost_fill(ctx, &p, (optk_cost_method)method, c[t]), OPTK_OK);
        }
        unsetenv("OPTKERN_CPU_THREADS");
        for (int t = 1; t < 3; ++t)
            test_assert_bits_equal(c[t], c[0], (size_t)TB * TN * TM, 4, "cost");
        /* The last column of the last row, past the first 1024-column chunk. */
        const float *xl = x + (TB * TN - 1) * TD, *yl = y + (TB * TM - 1) * TD;
        const float last = c[0][(size_t)TB * TN * TM - 1];
        cr_assert(fabs(last - sqrt(exact_entry(xl, yl, TD))) <= 1e-6, "last entry %g",
                  (double)last);
        for (int t = 0; t < 3; ++t)
            free(c[t]);
    }
    free(x), free(y);
    optk_context_free(ctx);
}
