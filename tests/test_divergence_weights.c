/* test_divergence_weights.c — the Sinkhorn divergence's gradient with respect to the weights on
 * every backend: the c-transforms of the three solves' potentials combined (against float64
 * c-transforms of separately solved problems, zero-weight points included), the derivative of
 * the divergence (central differences of re-solved divergences; one-sided ones where a weight
 * is 0), balanced and KL-relaxed; a NaN point spoils only its problem; bad outputs refused with
 * nothing written; CUDA bit-equal to the CPU. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "sinkhorn_fixture.h"

#include <math.h>
#include <stdlib.h>

enum { MOST = 64 }; /* points per side and problems' outputs the tests' arrays hold */

typedef struct weight_result {
    float divergence[8];
    float grad_a[4 * MOST], grad_b[4 * MOST];
} weight_result;

/* Uploads h, runs the divergence asking for its value and both weight gradients (poisoned
 * first), downloads them and checks every buffer's guards. */
static optk_status run(optk_context *ctx, const host_problem *h, const optk_sinkhorn_options *o,
                       weight_result *r) {
    const size_t B = (size_t)h->batch, n = (size_t)h->n, m = (size_t)h->m, d = (size_t)h->dim;
    cr_assert(B <= 4 && n <= MOST && m <= MOST, "the test's arrays hold the outputs");
    test_buffer a = test_buffer_new(ctx, B * n, 4, h->a), b = test_buffer_new(ctx, B * m, 4, h->b);
    test_buffer x = test_buffer_new(ctx, B * n * d, 4, h->x),
                y = test_buffer_new(ctx, B * m * d, 4, h->y);
    float poison[4 * MOST];
    for (int k = 0; k < 4 * MOST; ++k)
        poison[k] = -7.0f;
    test_buffer dv = test_buffer_new(ctx, B, 4, poison),
                ga = test_buffer_new(ctx, B * n, 4, poison),
                gb = test_buffer_new(ctx, B * m, 4, poison);
    const optk_ot_problem p = {h->batch, h->n, h->m,   a.data, b.data,
                               h->cost,  NULL, x.data, y.data, h->dim};
    const optk_divergence_outputs out = {
        .divergence = dv.data, .grad_a = ga.data, .grad_b = gb.data};
    const optk_status s = optk_sinkhorn_divergence(ctx, &p, o, &out);
    test_buffer_read(&dv, r->divergence);
    test_buffer_read(&ga, r->grad_a);
    test_buffer_read(&gb, r->grad_b);
    test_buffer *all[] = {&a, &b, &x, &y, &dv, &ga, &gb};
    for (int k = 0; k < 7; ++k) {
        test_buffer_check_guards(all[k], "divergence buffers");
        test_buffer_free(all[k]);
    }
    return s;
}

/* Solves to tol 1e-6, checked every iteration, at eps 0.5. */
static optk_sinkhorn_options tight_options(void) {
    optk_sinkhorn_options o = optk_sinkhorn_default_options(0.5);
    o.tol = 1e-6, o.check_every = 1, o.max_iter = 100000;
    return o;
}

/* Balanced, with zero weights on both sides: grad_a = F_ab - F_aa at every point, F_ab the
 * c-transform of x against y's g and F_aa of x against x's potential (float64 c-transforms of
 * the potentials of the same solves made separately), likewise for b; zero-weight points get
 * finite gradients. */
BACKEND_TEST(divergence_weights, are_the_c_transforms_of_the_solves) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(2, 11, 9, OPTK_COST_SQEUCLIDEAN, 2, 0.0f, 1201);
    pad_point(&h, 0, 0, 3), pad_point(&h, 1, 0, 10), pad_point(&h, 1, 1, 0);
    const optk_sinkhorn_options o = tight_options();
    weight_result got;
    cr_assert_eq(run(ctx, &h, &o, &got), OPTK_OK, "%s", optk_context_last_error(ctx));
    host_problem xx = h, yy = h;
    xx.m = xx.n, xx.y = xx.x, xx.b = xx.a;
    yy.n = yy.m, yy.x = yy.y, yy.a = yy.b;
    optk_sinkhorn_options sym = o;
    sym.solver = OPTK_SINKHORN_SYMMETRIC;
    host_result rab, raa, rbb;
    cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &rab), OPTK_OK);
    cr_assert_eq(solve(ctx, &xx, &sym, NULL, NULL, &raa), OPTK_OK);
    cr_assert_eq(solve(ctx, &yy, &sym, NULL, NULL, &rbb), OPTK_OK);
    double worst = 0.0;
    for (int64_t p = 0; p < h.batch; ++p) {
        for (int side = 0; side < 2; ++side) {
            const int64_t rows = side == 0 ? h.n : h.m;
            const float *own_w = (side == 0 ? h.a : h.b) + p * rows;
            const float *grad = (side == 0 ? got.grad_a : got.grad_b) + p * rows;
            for (int64_t i = 0; i < rows; ++i) {
                /* x against y (its columns' g at x, its rows' f at y); the self problem's f */
                const double f_cross =
                    ctransform64(&h, p, i, side == 0 ? rab.g : rab.f, side == 1, o.epsilon, 1.0);
                const double f_self = ctransform64(
                    side == 0 ? &xx : &yy, p, i, side == 0 ? raa.f : rbb.f, false, o.epsilon, 1.0);
                const double want = f_cross - f_self;
                const double tol = 1e-5 * (1.0 + fabs(f_cross) + fabs(f_self));
                worst = fmax(worst, fabs(grad[i] - want));
                cr_assert(isfinite(grad[i]) && fabs(grad[i] - want) <= tol,
                          "problem %lld side %d point %lld (weight %g): %.8g, want %.8g",
                          (long long)p, side, (long long)i, (double)own_w[i], (double)grad[i],
                          want);
            }
        }
    }
    cr_log_info("within %.3g of the float64 c-transforms", worst);
    result_free(&rab), result_free(&raa), result_free(&rbb);
    free_problem(&h);
    optk_context_free(ctx);
}

/* The divergence of problem p of h (a fresh solve). */
static double divergence_of(optk_context *ctx, const host_problem *h,
                            const optk_sinkhorn_options *o, int64_t p) {
    weight_result r;
    cr_assert_eq(run(ctx, h, o, &r), OPTK_OK, "%s", optk_context_last_error(ctx));
    return r.divergence[p];
}

/* The derivative of the divergence along moving `step` of weight from point j to point i of a
 * side (to i alone when j < 0): central differences, or where a weight would go negative
 * one-sided ones at step and 2 step, extrapolated (Richardson). */
static double differences(optk_context *ctx, host_problem *h, const optk_sinkhorn_options *o,
                          int64_t p, int side, int64_t i, int64_t j, float step) {
    float *w = (side == 0 ? h->a : h->b) + p * (side == 0 ? h->n : h->m);
    const float wi = w[i], wj = j >= 0 ? w[j] : 0.0f;
    const bool one_sided = wi < step || (j >= 0 && wj < 2.0f * step);
    double v[2];
    for (int k = 0; k < 2; ++k) {
        const float t = one_sided ? (float)(k + 1) * step : (k == 0 ? step : -step);
        w[i] = wi + t;
        if (j >= 0) w[j] = wj - t;
        v[k] = divergence_of(ctx, h, o, p);
    }
    w[i] = wi;
    if (j >= 0) w[j] = wj;
    if (!one_sided) return (v[0] - v[1]) / (2.0 * (double)step);
    const double base = divergence_of(ctx, h, o, p);
    const double d1 = (v[0] - base) / (double)step, d2 = (v[1] - base) / (2.0 * (double)step);
    return 2.0 * d1 - d2;
}

/* Central differences of re-solved divergences agree with the gradients within 0.2% of their
 * spread: balanced along moves of mass between two points of a side (the masses must stay
 * equal), one of them a zero-weight point; KL-relaxed (rho 1, masses 1 and 1.5) along single
 * weights, a zero one included. */
BACKEND_TEST(divergence_weights, are_the_derivative_of_the_divergence) {
    optk_context *ctx = test_context(backend);
    for (int relaxed = 0; relaxed < 2; ++relaxed) {
        host_problem h = random_problem(1, 9, 8, OPTK_COST_SQEUCLIDEAN, 2, 0.0f, 1211);
        pad_point(&h, 0, 0, 4), pad_point(&h, 0, 1, 6);
        optk_sinkhorn_options o = tight_options();
        if (relaxed) {
            o.rho = 1.0;
            for (int64_t k = 0; k < h.m; ++k)
                h.b[k] *= 1.5f;
        }
        weight_result got;
        cr_assert_eq(run(ctx, &h, &o, &got), OPTK_OK, "%s", optk_context_last_error(ctx));
        double spread = 0.0;
        for (int64_t k = 0; k < h.n; ++k)
            spread = fmax(spread, fabs(got.grad_a[k] - got.grad_a[0]));
        for (int64_t k = 0; k < h.m; ++k)
            spread = fmax(spread, fabs(got.grad_b[k] - got.grad_b[0]));
        cr_assert(spread > 0.05, "gradients that differ: %g", spread);
        /* (side, to, from): the padded points a_4 and b_6 among them. */
        const int moves[6][3] = {{0, 1, 7}, {0, 4, 2}, {0, 8, 0}, {1, 2, 5}, {1, 6, 1}, {1, 3, 7}};
        double worst = 0.0;
        for (int k = 0; k < 6; ++k) {
            const int side = moves[k][0], i = moves[k][1], j = relaxed ? -1 : moves[k][2];
            const double fd = differences(ctx, &h, &o, 0, side, i, j, 1e-3f);
            const float *grad = side == 0 ? got.grad_a : got.grad_b;
            const double want = (double)grad[i] - (j >= 0 ? (double)grad[j] : 0.0);
            worst = fmax(worst, fabs(fd - want) / spread);
            cr_assert(fabs(fd - want) <= 2e-3 * spread,
                      "rho %g side %d, to %d from %d: differences %.6g, gradients %.6g", o.rho,
                      side, i, j, fd, want);
        }
        cr_log_info("rho %g: differences within %.3g of the gradients' spread %.3g", o.rho, worst,
                    spread);
        free_problem(&h);
    }
    optk_context_free(ctx);
}

/* A NaN coordinate in problem 1's x: that problem's weight gradients are NaN where they depend
 * on it, and the other problems' are the bits they are without it. */
BACKEND_TEST(divergence_weights, a_nan_point_spoils_only_its_problem) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(3, 12, 9, OPTK_COST_SQEUCLIDEAN, 2, 0.0f, 1221);
    optk_sinkhorn_options o = optk_sinkhorn_default_options(0.1);
    o.max_iter = 200;
    weight_result clean, spoiled;
    cr_assert_eq(run(ctx, &h, &o, &clean), OPTK_OK);
    h.x[(1 * 12 + 5) * 2 + 1] = NAN;
    cr_assert_eq(run(ctx, &h, &o, &spoiled), OPTK_OK);
    for (int64_t k = 0; k < h.m; ++k)
        cr_assert(isnan(spoiled.grad_b[h.m + k]), "problem 1's grad_b[%lld]: %g", (long long)k,
                  (double)spoiled.grad_b[h.m + k]);
    cr_assert(isnan(spoiled.grad_a[h.n + 5]), "the NaN point's own gradient");
    for (int64_t p = 0; p < 3; p += 2) {
        test_assert_bits_equal(spoiled.grad_a + p * h.n, clean.grad_a + p * h.n, (size_t)h.n, 4,
                               "grad_a");
        test_assert_bits_equal(spoiled.grad_b + p * h.m, clean.grad_b + p * h.m, (size_t)h.m, 4,
                               "grad_b");
    }
    free_problem(&h);
    optk_context_free(ctx);
}

/* The backend against the CPU, bit for bit (on the CPU: two threads against one), balanced and
 * KL-relaxed, both costs, padded points, sides longer than a row's 16 lanes (and a warp). */
BACKEND_TEST(divergence_weights, backends_agree_with_the_cpu) {
    optk_context *ctx = test_context(backend);
    optk_context *cpu = test_context(OPTK_BACKEND_CPU);
    for (int set = 0; set < 2; ++set) {
        host_problem h =
            random_problem(3, 45, 64, set == 0 ? OPTK_COST_SQEUCLIDEAN : OPTK_COST_EUCLIDEAN, 3,
                           0.0f, 1231 + (uint64_t)set);
        pad_point(&h, 0, 0, 40), pad_point(&h, 2, 1, 33);
        optk_sinkhorn_options o = optk_sinkhorn_default_options(0.05);
        o.rho = set == 1 ? 2.0 : 0.0;
        weight_result ref, mine;
        setenv("OPTKERN_CPU_THREADS", "1", 1);
        cr_assert_eq(run(cpu, &h, &o, &ref), OPTK_OK);
        setenv("OPTKERN_CPU_THREADS", "2", 1);
        cr_assert_eq(run(ctx, &h, &o, &mine), OPTK_OK, "%s", optk_context_last_error(ctx));
        unsetenv("OPTKERN_CPU_THREADS");
        test_assert_bits_equal(mine.grad_a, ref.grad_a, (size_t)(h.batch * h.n), 4, "grad_a");
        test_assert_bits_equal(mine.grad_b, ref.grad_b, (size_t)(h.batch * h.m), 4, "grad_b");
        for (int64_t k = 0; k < h.batch * h.n; ++k)
            cr_assert(isfinite(ref.grad_a[k]), "grad_a[%lld] finite", (long long)k);
        free_problem(&h);
    }
    optk_context_free(cpu);
    optk_context_free(ctx);
}

/* grad_a overlapping grad_b or an input, or misaligned: refused with a message, nothing
 * written; grad_a alone is an output enough. */
BACKEND_TEST(divergence_weights, bad_outputs_are_refused_with_nothing_written) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(2, 10, 12, OPTK_COST_SQEUCLIDEAN, 2, 0.0f, 1241);
    test_buffer a = test_buffer_new(ctx, 20, 4, h.a), b = test_buffer_new(ctx, 24, 4, h.b);
    test_buffer x = test_buffer_new(ctx, 40, 4, h.x), y = test_buffer_new(ctx, 48, 4, h.y);
    float poison[64];
    for (int k = 0; k < 64; ++k)
        poison[k] = -7.0f;
    test_buffer out = test_buffer_new(ctx, 64, 4, poison);
    const optk_ot_problem p = {2,    10,     12,     a.data, b.data, OPTK_COST_SQEUCLIDEAN,
                               NULL, x.data, y.data, 2};
    float *o0 = out.data;
    const struct {
        optk_divergence_outputs out;
        const char *message;
    } cases[] = {
        {{.grad_a = o0, .grad_b = o0 + 10}, "overlap"},
        {{.grad_a = b.data}, "overlap"},
        {{.grad_b = (float *)(void *)((char *)(void *)o0 + 2)}, "aligned"},
    };
    const optk_sinkhorn_options o = optk_sinkhorn_default_options(0.1);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; ++k) {
        cr_assert_eq(optk_sinkhorn_divergence(ctx, &p, &o, &cases[k].out),
                     OPTK_ERR_INVALID_ARGUMENT, "case %zu", k);
        cr_assert(strstr(optk_context_last_error(ctx), cases[k].message), "case %zu: %s", k,
                  optk_context_last_error(ctx));
    }
    float back[64], weights[24];
    test_buffer_read(&out, back);
    test_assert_bits_equal(back, poison, 64, 4, "the outputs");
    test_buffer_read(&b, weights);
    test_assert_bits_equal(weights, h.b, 24, 4, "b");
    const optk_divergence_outputs alone = {.grad_a = o0};
    cr_assert_eq(optk_sinkhorn_divergence(ctx, &p, &o, &alone), OPTK_OK, "%s",
                 optk_context_last_error(ctx));
    test_buffer_read(&out, back);
    for (int k = 0; k < 20; ++k)
        cr_assert(isfinite(back[k]) && back[k] != -7.0f, "grad_a[%d] written", k);
    test_buffer *all[] = {&a, &b, &x, &y, &out};
    for (int k = 0; k < 5; ++k) {
        test_buffer_check_guards(all[k], "buffers");
        test_buffer_free(all[k]);
    }
    free_problem(&h);
    optk_context_free(ctx);
}
