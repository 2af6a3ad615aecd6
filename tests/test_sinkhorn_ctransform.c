/* test_sinkhorn_ctransform.c — potentials at any points (optk_sinkhorn_ctransform) on every
 * backend: at a solved problem's points it is the solve's potential less eps log of the weight
 * (tau eps log for KL-relaxed marginals), and float64 c-transforms everywhere, zero weights
 * included; both sides; a dense cost gives its point cloud's bits; out of sample, the plan
 * rows it defines sum to 1 and the entropic map through optk_sinkhorn_apply is the float64
 * one; a NaN point spoils only its own output; bad calls refused with nothing written; CUDA
 * bit-equal to the CPU. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "sinkhorn_fixture.h"

#include <math.h>
#include <stdlib.h>

/* The c-transform through the backend into out (poisoned first, guards checked). */
static optk_status ctransform(optk_context *ctx, const host_problem *h, double eps, double rho,
                              const float *potential, bool transpose, float *out) {
    const size_t B = (size_t)h->batch, n = (size_t)h->n, m = (size_t)h->m, d = (size_t)h->dim;
    const bool dense = h->cost == OPTK_COST_DENSE;
    const size_t rows = transpose ? m : n, others = transpose ? n : m;
    test_buffer c = test_buffer_new(ctx, dense ? B * n * m : 1, 4, dense ? h->c : NULL);
    test_buffer x = test_buffer_new(ctx, dense ? 1 : B * n * d, 4, dense ? NULL : h->x);
    test_buffer y = test_buffer_new(ctx, dense ? 1 : B * m * d, 4, dense ? NULL : h->y);
    test_buffer w = test_buffer_new(ctx, B * others, 4, transpose ? h->a : h->b);
    test_buffer pot = test_buffer_new(ctx, B * others, 4, potential);
    float *poison = malloc(B * rows * 4);
    for (size_t k = 0; k < B * rows; ++k)
        poison[k] = -7.0f;
    test_buffer o = test_buffer_new(ctx, B * rows, 4, poison);
    const optk_ot_problem p = {h->batch,
                               h->n,
                               h->m,
                               transpose ? w.data : NULL,
                               transpose ? NULL : w.data,
                               h->cost,
                               dense ? c.data : NULL,
                               dense ? NULL : x.data,
                               dense ? NULL : y.data,
                               dense ? 0 : h->dim};
    const optk_status s = optk_sinkhorn_ctransform(ctx, &p, eps, rho, pot.data, transpose, o.data);
    test_buffer_read(&o, out);
    test_buffer *all[] = {&c, &x, &y, &w, &pot, &o};
    for (int k = 0; k < 6; ++k) {
        test_buffer_check_guards(all[k], "ctransform buffers");
        test_buffer_free(all[k]);
    }
    free(poison);
    return s;
}

/* At a solved problem's points, both sides, dense and Euclidean points, balanced and rho 1,
 * with zero weights: the float64 c-transform of the solve's other potential everywhere
 * (within 1e-5 of its size), and at a weighted row the solve's f less tau eps log of its
 * weight (f is the c-transform of the solve's last g; within 5e-7 of the terms' size). */
BACKEND_TEST(sinkhorn_ctransform, is_the_potential_of_a_unit_weight) {
    optk_context *ctx = test_context(backend);
    for (int set = 0; set < 3; ++set) {
        host_problem h = set == 0 ? random_problem(2, 37, 29, OPTK_COST_DENSE, 0, 2.0f, 1301)
                                  : random_problem(2, 37, 29, OPTK_COST_EUCLIDEAN, 3, 0.0f, 1302);
        pad_point(&h, 0, 0, 5), pad_point(&h, 1, 1, 28);
        optk_sinkhorn_options o = optk_sinkhorn_default_options(0.1);
        o.rho = set == 2 ? 1.0 : 0.0;
        const double tau = set == 2 ? 1.0 / (1.0 + (double)(float)o.epsilon) : 1.0;
        host_result r;
        cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &r), OPTK_OK);
        double worst = 0.0;
        for (int side = 0; side < 2; ++side) {
            const bool transpose = side == 1;
            const int64_t rows = transpose ? h.m : h.n;
            float got[2 * 37];
            cr_assert_eq(
                ctransform(ctx, &h, o.epsilon, o.rho, transpose ? r.f : r.g, transpose, got),
                OPTK_OK, "%s", optk_context_last_error(ctx));
            const float *own = transpose ? r.g : r.f, *w = transpose ? h.b : h.a;
            for (int64_t q = 0; q < h.batch * rows; ++q) {
                const double want = ctransform64(&h, q / rows, q % rows, transpose ? r.f : r.g,
                                                 transpose, (double)(float)o.epsilon, tau);
                worst = fmax(worst, fabs(got[q] - want));
                cr_assert(fabs(got[q] - want) <= 1e-5 * (1.0 + fabs(want)),
                          "set %d side %d output %lld: %.8g, float64 %.8g", set, side, (long long)q,
                          (double)got[q], want);
                if (transpose || w[q] == 0.0f) continue; /* f is T(g); g precedes f */
                const double from_solve =
                    (double)own[q] - tau * (double)(float)o.epsilon * log((double)w[q]);
                cr_assert(fabs(got[q] - from_solve) <= 5e-7 * (1.0 + fabs(own[q]) + fabs(want)),
                          "set %d side %d output %lld: %.8g, the solve's %.8g", set, side,
                          (long long)q, (double)got[q], from_solve);
            }
        }
        cr_log_info("set %d: within %.3g of the float64 c-transforms", set, worst);
        result_free(&r);
        free_problem(&h);
    }
    optk_context_free(ctx);
}

/* A dense cost filled from the points (optk_ot_cost_fill's direct method) gives the points'
 * bits, both sides. */
BACKEND_TEST(sinkhorn_ctransform, a_dense_cost_gives_its_points_bits) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(3, 40, 35, OPTK_COST_SQEUCLIDEAN, 4, 0.0f, 1311);
    const size_t B = 3, n = 40, m = 35;
    test_buffer x = test_buffer_new(ctx, B * n * 4, 4, h.x),
                y = test_buffer_new(ctx, B * m * 4, 4, h.y);
    test_buffer c = test_buffer_new(ctx, B * n * m, 4, NULL);
    const optk_ot_problem pts = {3,    40,     35,     NULL, NULL, OPTK_COST_SQEUCLIDEAN,
                                 NULL, x.data, y.data, 4};
    cr_assert_eq(optk_ot_cost_fill(ctx, &pts, OPTK_COST_METHOD_DIRECT, c.data), OPTK_OK);
    host_problem dense = h;
    dense.cost = OPTK_COST_DENSE, dense.dim = 0;
    dense.c = malloc(B * n * m * 4);
    test_buffer_read(&c, dense.c);
    float pot_m[3 * 35], pot_n[3 * 40];
    test_fill_uniform(pot_m, B * m, -1.0f, 1.0f, 1312);
    test_fill_uniform(pot_n, B * n, -1.0f, 1.0f, 1313);
    for (int side = 0; side < 2; ++side) {
        float a[3 * 40], b[3 * 40];
        const bool transpose = side == 1;
        const size_t rows = transpose ? m : n;
        cr_assert_eq(ctransform(ctx, &h, 0.05, 0.0, transpose ? pot_n : pot_m, transpose, a),
                     OPTK_OK);
        cr_assert_eq(ctransform(ctx, &dense, 0.05, 0.0, transpose ? pot_n : pot_m, transpose, b),
                     OPTK_OK, "%s", optk_context_last_error(ctx));
        test_assert_bits_equal(a, b, B * rows, 4, transpose ? "columns" : "rows");
    }
    free(dense.c);
    test_buffer *all[] = {&x, &y, &c};
    for (int k = 0; k < 3; ++k)
        test_buffer_free(all[k]);
    free_problem(&h);
    optk_context_free(ctx);
}

/* Out of sample: the potential at new points (x' on the x side of a problem whose y, b and g
 * are a solve's) defines plan rows that sum to 1 (optk_sinkhorn_apply with v = 1, within
 * 1e-5), and the entropic map (v = y) is the float64 softmax average of y (within 1e-5). */
BACKEND_TEST(sinkhorn_ctransform, out_of_sample_points_and_the_entropic_map) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(2, 30, 25, OPTK_COST_SQEUCLIDEAN, 2, 0.0f, 1321);
    optk_sinkhorn_options o = optk_sinkhorn_default_options(0.05);
    host_result r;
    cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &r), OPTK_OK);
    host_problem fresh = h; /* 30 new points where x was */
    fresh.x = malloc(2 * 30 * 2 * 4);
    test_fill_uniform(fresh.x, 2 * 30 * 2, -1.5f, 1.5f, 1322);
    float F[2 * 30];
    cr_assert_eq(ctransform(ctx, &fresh, o.epsilon, 0.0, r.g, false, F), OPTK_OK);
    const size_t B = 2, n = 30, m = 25, d = 2;
    test_buffer x = test_buffer_new(ctx, B * n * d, 4, fresh.x),
                y = test_buffer_new(ctx, B * m * d, 4, fresh.y);
    test_buffer bf = test_buffer_new(ctx, B * n, 4, F), bg = test_buffer_new(ctx, B * m, 4, r.g);
    float ones[2 * 25], sums[2 * 30], map[2 * 30 * 2];
    for (int k = 0; k < 50; ++k)
        ones[k] = 1.0f;
    test_buffer v1 = test_buffer_new(ctx, B * m, 4, ones),
                out1 = test_buffer_new(ctx, B * n, 4, NULL);
    test_buffer out2 = test_buffer_new(ctx, B * n * d, 4, NULL);
    const optk_ot_problem p = {2,    30,     25,     NULL, NULL, OPTK_COST_SQEUCLIDEAN,
                               NULL, x.data, y.data, 2};
    cr_assert_eq(
        optk_sinkhorn_apply(ctx, &p, o.epsilon, bf.data, bg.data, false, v1.data, 1, out1.data),
        OPTK_OK);
    cr_assert_eq(
        optk_sinkhorn_apply(ctx, &p, o.epsilon, bf.data, bg.data, false, y.data, 2, out2.data),
        OPTK_OK);
    test_buffer_read(&out1, sums);
    test_buffer_read(&out2, map);
    double worst_sum = 0.0, worst_map = 0.0;
    for (int64_t q = 0; q < 60; ++q) {
        worst_sum = fmax(worst_sum, fabs(sums[q] - 1.0));
        cr_assert(fabs(sums[q] - 1.0) <= 1e-5, "row %lld sums to %.8g", (long long)q,
                  (double)sums[q]);
        const int64_t p0 = q / 30, i = q % 30;
        double weights[25], total = 0.0, top = -INFINITY;
        for (int64_t j = 0; j < 25; ++j) {
            weights[j] = (double)r.g[p0 * 25 + j] - cost64(&fresh, p0, i, j);
            top = fmax(top, weights[j]);
        }
        for (int64_t j = 0; j < 25; ++j)
            total += (weights[j] = exp((weights[j] - top) / (double)(float)o.epsilon));
        for (int64_t k = 0; k < 2; ++k) {
            double want = 0.0;
            for (int64_t j = 0; j < 25; ++j)
                want += weights[j] / total * fresh.y[(p0 * 25 + j) * 2 + k];
            worst_map = fmax(worst_map, fabs(map[q * 2 + k] - want));
            cr_assert(fabs(map[q * 2 + k] - want) <= 1e-5, "T(x_%lld)[%lld]: %.8g, float64 %.8g",
                      (long long)q, (long long)k, (double)map[q * 2 + k], want);
        }
    }
    cr_log_info("rows sum to 1 within %.3g; the map within %.3g of float64", worst_sum, worst_map);
    test_buffer *all[] = {&x, &y, &bf, &bg, &v1, &out1, &out2};
    for (int k = 0; k < 7; ++k)
        test_buffer_free(all[k]);
    free(fresh.x);
    result_free(&r);
    free_problem(&h);
    optk_context_free(ctx);
}

/* A NaN coordinate of x_3 makes out_3 NaN and leaves every other output's bits. */
BACKEND_TEST(sinkhorn_ctransform, a_nan_point_spoils_only_its_output) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(1, 9, 7, OPTK_COST_SQEUCLIDEAN, 2, 0.0f, 1331);
    float g[7], clean[9], spoiled[9];
    test_fill_uniform(g, 7, -0.5f, 0.5f, 1332);
    cr_assert_eq(ctransform(ctx, &h, 0.1, 0.0, g, false, clean), OPTK_OK);
    h.x[3 * 2 + 1] = NAN;
    cr_assert_eq(ctransform(ctx, &h, 0.1, 0.0, g, false, spoiled), OPTK_OK);
    for (int i = 0; i < 9; ++i) {
        if (i == 3)
            cr_assert(isnan(spoiled[i]), "the NaN point's own output: %g", (double)spoiled[i]);
        else
            test_assert_bits_equal(&spoiled[i], &clean[i], 1, 4, "another output");
    }
    free_problem(&h);
    optk_context_free(ctx);
}

/* The backend against the CPU, bit for bit (on the CPU: two threads against one): both sides,
 * dense and points, sides past 32 entries, padding, rho 2. */
BACKEND_TEST(sinkhorn_ctransform, backends_agree_with_the_cpu) {
    optk_context *ctx = test_context(backend);
    optk_context *cpu = test_context(OPTK_BACKEND_CPU);
    host_problem sets[2] = {random_problem(3, 70, 45, OPTK_COST_DENSE, 0, 1.0f, 1341),
                            random_problem(2, 50, 90, OPTK_COST_SQEUCLIDEAN, 5, 0.0f, 1342)};
    for (int k = 0; k < 2; ++k) {
        host_problem *h = &sets[k];
        pad_point(h, 0, 0, 33), pad_point(h, 1, 1, 40);
        float pot_n[3 * 70], pot_m[3 * 90], ref[3 * 90], mine[3 * 90];
        test_fill_uniform(pot_n, (size_t)(h->batch * h->n), -1.0f, 1.0f, 1343);
        test_fill_uniform(pot_m, (size_t)(h->batch * h->m), -1.0f, 1.0f, 1344);
        for (int side = 0; side < 2; ++side) {
            const bool transpose = side == 1;
            const size_t count = (size_t)(h->batch * (transpose ? h->m : h->n));
            const double rho = side == 1 ? 2.0 : 0.0;
            setenv("OPTKERN_CPU_THREADS", "1", 1);
            cr_assert_eq(ctransform(cpu, h, 0.02, rho, transpose ? pot_n : pot_m, transpose, ref),
                         OPTK_OK);
            setenv("OPTKERN_CPU_THREADS", "2", 1);
            cr_assert_eq(ctransform(ctx, h, 0.02, rho, transpose ? pot_n : pot_m, transpose, mine),
                         OPTK_OK, "%s", optk_context_last_error(ctx));
            unsetenv("OPTKERN_CPU_THREADS");
            test_assert_bits_equal(mine, ref, count, 4, transpose ? "columns" : "rows");
        }
        free_problem(h);
    }
    optk_context_free(cpu);
    optk_context_free(ctx);
}

/* Bad epsilon or rho, a NULL potential or other-side weights, an output overlapping an input
 * or misaligned, a bad size: refused with a message, nothing written; the own side's weights
 * may be NULL. */
BACKEND_TEST(sinkhorn_ctransform, bad_calls_are_refused_with_nothing_written) {
    optk_context *ctx = test_context(backend);
    float host[64];
    for (int k = 0; k < 64; ++k)
        host[k] = 0.25f;
    test_buffer x = test_buffer_new(ctx, 64, 4, host), y = test_buffer_new(ctx, 64, 4, host);
    test_buffer b = test_buffer_new(ctx, 64, 4, host), g = test_buffer_new(ctx, 64, 4, host);
    float poison[64];
    for (int k = 0; k < 64; ++k)
        poison[k] = -7.0f;
    test_buffer out = test_buffer_new(ctx, 64, 4, poison);
    float *o = out.data, *gd = g.data;
    const optk_ot_problem good = {2,    5,      4,      NULL, b.data, OPTK_COST_SQEUCLIDEAN,
                                  NULL, x.data, y.data, 3};
    optk_ot_problem no_b = good, empty = good;
    no_b.b = NULL;
    empty.n = 0;
    const struct {
        const optk_ot_problem *p;
        double eps, rho;
        const float *pot;
        float *out;
        const char *message;
    } cases[] = {
        {&good, 0.0, 0.0, gd, o, "epsilon must be finite and > 0"},
        {&good, 1e-50, 0.0, gd, o, "epsilon must be finite and > 0"},
        {&good, 0.1, -1.0, gd, o, "rho must be >= 0"},
        {&good, 0.1, NAN, gd, o, "rho must be >= 0"},
        {&good, 0.1, 0.0, NULL, o, "potential"},
        {&no_b, 0.1, 0.0, gd, o, "b"},
        {&good, 0.1, 0.0, gd, gd, "out overlaps potential"},
        {&good, 0.1, 0.0, gd, (float *)(void *)((char *)(void *)o + 2), "aligned"},
        {&empty, 0.1, 0.0, gd, o, "sinkhorn_ctransform"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; ++k) {
        cr_assert_eq(optk_sinkhorn_ctransform(ctx, cases[k].p, cases[k].eps, cases[k].rho,
                                              cases[k].pot, false, cases[k].out),
                     OPTK_ERR_INVALID_ARGUMENT, "case %zu", k);
        cr_assert(strstr(optk_context_last_error(ctx), cases[k].message), "case %zu: %s", k,
                  optk_context_last_error(ctx));
    }
    float back[64];
    test_buffer_read(&out, back);
    test_assert_bits_equal(back, poison, 64, 4, "the output");
    test_buffer_read(&g, back);
    test_assert_bits_equal(back, host, 64, 4, "the potential");
    cr_assert_eq(optk_sinkhorn_ctransform(ctx, NULL, 0.1, 0.0, gd, false, o),
                 OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_sinkhorn_ctransform(ctx, &good, 0.1, INFINITY, gd, false, o), OPTK_OK,
                 "rho +Inf is balanced: %s", optk_context_last_error(ctx));
    test_buffer *all[] = {&x, &y, &b, &g, &out};
    for (int k = 0; k < 5; ++k) {
        test_buffer_check_guards(all[k], "buffers");
        test_buffer_free(all[k]);
    }
    optk_context_free(ctx);
}
