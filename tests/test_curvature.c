/* test_curvature.c — the fused curvature updates on every backend: each kind bit-equal to
 * its formula (hence CUDA bit-equal to the CPU) over a list of awkward sizes with guard zones;
 * AdaHessian's block means; NaN and Inf; bad input refused with nothing written; the exact
 * diagonal; and Sophia driven by Hutchinson curvature minimising a quadratic. */
#include "harness.h"

#include <math.h>
#include <stdlib.h>

enum { TENSORS = 4, MOST = 4100 };
static const int64_t sizes[TENSORS] = {1, 3, 1023, 4100};

/* Host copies of one tensor's buffers. */
typedef struct host_tensor {
    float h[MOST], z[MOST], hz[MOST];
} host_tensor;

static void fill_inputs(host_tensor *x, int64_t n, uint64_t seed) {
    test_fill_uniform(x->h, (size_t)n, 0.0f, 2.0f, seed);
    test_fill_uniform(x->z, (size_t)n, -1.5f, 1.5f, seed + 1);
    test_fill_uniform(x->hz, (size_t)n, -3.0f, 3.0f, seed + 2);
}

/* Runs one update over TENSORS tensors (given block sizes) and reads the curvature back;
 * the guard zones around every buffer are checked. */
static optk_status run_update(optk_context *ctx, optk_curvature_kind kind, double beta2,
                              bool with_z, const int64_t *blocks, host_tensor *x) {
    test_buffer h[TENSORS], z[TENSORS], hz[TENSORS];
    optk_curvature_tensor t[TENSORS];
    for (int i = 0; i < TENSORS; ++i) {
        h[i] = test_buffer_new(ctx, (size_t)sizes[i], 4, x[i].h);
        z[i] = test_buffer_new(ctx, (size_t)sizes[i], 4, x[i].z);
        hz[i] = test_buffer_new(ctx, (size_t)sizes[i], 4, x[i].hz);
        t[i] = (optk_curvature_tensor){sizes[i], h[i].data, with_z ? z[i].data : NULL, hz[i].data,
                                       blocks ? blocks[i] : 0};
    }
    const optk_status s = optk_curvature_update(ctx, kind, beta2, t, TENSORS);
    for (int i = 0; i < TENSORS; ++i) {
        test_buffer_read(&h[i], x[i].h);
        test_buffer_check_guards(&h[i], "curvature");
        test_buffer_check_guards(&z[i], "z");
        test_buffer_check_guards(&hz[i], "hz");
        test_buffer_free(&h[i]);
        test_buffer_free(&z[i]);
        test_buffer_free(&hz[i]);
    }
    return s;
}

/* The formulas of optk_curvature_kind, written out for one element. */
static float expected(optk_curvature_kind kind, double beta2_in, bool with_z, float h, float z,
                      float hz) {
    const float beta2 = (float)beta2_in, one_minus = (float)(1.0 - beta2_in);
    switch (kind) {
    case OPTK_CURVATURE_SOPHIA_GNB:
        return fmaf(beta2, h, one_minus * (hz * hz));
    case OPTK_CURVATURE_ADAHESSIAN:
        return fabsf(with_z ? z * hz : hz);
    default:
        return fmaf(beta2, h, one_minus * (with_z ? z * hz : hz));
    }
}

static void check_kind(optk_backend backend, optk_curvature_kind kind, bool with_z) {
    optk_context *ctx = test_context(backend);
    static host_tensor x[TENSORS], before[TENSORS];
    for (int i = 0; i < TENSORS; ++i)
        fill_inputs(&x[i], sizes[i], 100 + 10 * (uint64_t)i);
    memcpy(before, x, sizeof x);
    const double beta2 = 0.99;
    cr_assert_eq(run_update(ctx, kind, beta2, with_z, NULL, x), OPTK_OK, "%s",
                 optk_context_last_error(ctx));
    for (int i = 0; i < TENSORS; ++i) {
        for (int64_t e = 0; e < sizes[i]; ++e) {
            const host_tensor *b = &before[i];
            const float want = expected(kind, beta2, with_z, b->h[e], b->z[e], b->hz[e]);
            cr_assert_eq(x[i].h[e], want, "tensor %d element %lld: %a, want %a", i, (long long)e,
                         (double)x[i].h[e], (double)want);
        }
    }
    optk_context_free(ctx);
}

BACKEND_TEST(curvature, sophia_h_is_the_ema_of_z_times_hz) {
    check_kind(backend, OPTK_CURVATURE_SOPHIA_H, true);
}

BACKEND_TEST(curvature, sophia_h_without_z_takes_hz_as_the_estimate) {
    check_kind(backend, OPTK_CURVATURE_SOPHIA_H, false);
}

BACKEND_TEST(curvature, sophia_gnb_is_the_ema_of_the_squared_gradient) {
    check_kind(backend, OPTK_CURVATURE_SOPHIA_GNB, false);
}

BACKEND_TEST(curvature, adahessian_is_abs_z_times_hz) {
    check_kind(backend, OPTK_CURVATURE_ADAHESSIAN, true);
}

BACKEND_TEST(curvature, adahessian_without_z_is_abs_hz) {
    check_kind(backend, OPTK_CURVATURE_ADAHESSIAN, false);
}

BACKEND_TEST(curvature, adahessian_averages_blocks_and_leaves_block_one_alone) {
    optk_context *ctx = test_context(backend);
    static host_tensor x[TENSORS], before[TENSORS];
    for (int i = 0; i < TENSORS; ++i)
        fill_inputs(&x[i], sizes[i], 7 + (uint64_t)i);
    memcpy(before, x, sizeof x);
    /* 4100 = 4 x 5 x 205: blocks of 205 elements (the trailing dims of a 4-D weight). */
    const int64_t shape[4] = {4, 5, 5, 41};
    const int64_t blocks[TENSORS] = {1, 3, 0, optk_adahessian_block_size(shape, 4)};
    cr_assert_eq(blocks[3], 205);
    cr_assert_eq(run_update(ctx, OPTK_CURVATURE_ADAHESSIAN, 0.0, true, blocks, x), OPTK_OK, "%s",
                 optk_context_last_error(ctx));
    for (int i = 0; i < TENSORS; ++i) {
        const int64_t block = blocks[i] > 1 ? blocks[i] : 1;
        for (int64_t first = 0; first < sizes[i]; first += block) {
            double sum = 0.0;
            for (int64_t e = first; e < first + block; ++e)
                sum += fabsf(before[i].z[e] * before[i].hz[e]);
            const float mean = (float)(sum / (double)block);
            for (int64_t e = first; e < first + block; ++e) {
                cr_assert_eq(x[i].h[e], mean, "tensor %d element %lld: %a, want %a", i,
                             (long long)e, (double)x[i].h[e], (double)mean);
            }
        }
    }
    optk_context_free(ctx);
}

Test(curvature, adahessian_block_size_follows_the_shape) {
    const int64_t conv[4] = {64, 32, 3, 3}, linear[2] = {10, 20}, bad[4] = {64, 0, 3, 3};
    cr_assert_eq(optk_adahessian_block_size(conv, 4), 9);
    cr_assert_eq(optk_adahessian_block_size(linear, 2), 1);
    cr_assert_eq(optk_adahessian_block_size(linear, 1), 1);
    cr_assert_eq(optk_adahessian_block_size(bad, 4), 0);
    cr_assert_eq(optk_adahessian_block_size(NULL, 4), 0);
}

BACKEND_TEST(curvature, nan_and_inf_propagate_to_their_element_or_block) {
    optk_context *ctx = test_context(backend);
    static host_tensor x[TENSORS];
    for (int i = 0; i < TENSORS; ++i)
        fill_inputs(&x[i], sizes[i], 40 + (uint64_t)i);
    x[3].hz[10] = NAN;
    x[3].hz[20] = INFINITY;
    x[3].z[30] = 0.0f; /* 0 * Inf is NaN: */
    x[3].hz[30] = -INFINITY;
    static host_tensor sophia[TENSORS];
    memcpy(sophia, x, sizeof x);
    cr_assert_eq(run_update(ctx, OPTK_CURVATURE_SOPHIA_H, 0.9, true, NULL, sophia), OPTK_OK);
    cr_assert(isnan(sophia[3].h[10]) && isnan(sophia[3].h[30]));
    cr_assert(isinf(sophia[3].h[20]) || isnan(sophia[3].h[20]), "%g", (double)sophia[3].h[20]);
    for (int64_t e = 0; e < sizes[3]; ++e) {
        if (e != 10 && e != 20 && e != 30)
            cr_assert(isfinite(sophia[3].h[e]), "element %lld", (long long)e);
    }
    /* AdaHessian with blocks of 205: the NaN and Inf fill block 0 (elements 0..204) only. */
    const int64_t blocks[TENSORS] = {0, 0, 0, 205};
    cr_assert_eq(run_update(ctx, OPTK_CURVATURE_ADAHESSIAN, 0.0, true, blocks, x), OPTK_OK);
    for (int64_t e = 0; e < sizes[3]; ++e) {
        if (e < 205) {
            cr_assert(isnan(x[3].h[e]), "element %lld: %g", (long long)e, (double)x[3].h[e]);
        } else {
            cr_assert(isfinite(x[3].h[e]), "element %lld: %g", (long long)e, (double)x[3].h[e]);
        }
    }
    optk_context_free(ctx);
}

BACKEND_TEST(curvature, bad_arguments_are_refused_and_nothing_is_written) {
    optk_context *ctx = test_context(backend);
    enum { N = 12 };
    float poison[N];
    for (int i = 0; i < N; ++i)
        poison[i] = -7.0f;
    test_buffer h = test_buffer_new(ctx, N, 4, poison), z = test_buffer_new(ctx, N, 4, poison),
                hz = test_buffer_new(ctx, N, 4, poison), h2 = test_buffer_new(ctx, N, 4, poison);
    const optk_curvature_tensor ok = {N, h.data, z.data, hz.data, 0};
    const optk_curvature_tensor no_z = {N, h2.data, NULL, hz.data, 0};
    // cppcheck-suppress invalidPointerCast
    const float *misaligned = (const float *)(const void *)((const char *)z.data + 2);
    struct bad_case {
        const char *what;
        optk_curvature_kind kind;
        double beta2;
        optk_curvature_tensor t[2];
        int count;
        const char *message;
    } cases[] = {
        {"unknown kind", (optk_curvature_kind)7, 0.9, {ok}, 1, "unknown kind"},
        {"beta2 = 1", OPTK_CURVATURE_SOPHIA_H, 1.0, {ok}, 1, "beta2"},
        {"beta2 NaN", OPTK_CURVATURE_SOPHIA_H, NAN, {ok}, 1, "beta2"},
        {"count 0", OPTK_CURVATURE_SOPHIA_H, 0.9, {ok}, 0, "count"},
        {"numel 0", OPTK_CURVATURE_SOPHIA_H, 0.9, {{0, h.data, z.data, hz.data, 0}}, 1, "numel"},
        {"NULL curvature",
         OPTK_CURVATURE_SOPHIA_H,
         0.9,
         {{N, NULL, z.data, hz.data, 0}},
         1,
         "curvature is NULL"},
        {"NULL hz", OPTK_CURVATURE_SOPHIA_H, 0.9, {{N, h.data, z.data, NULL, 0}}, 1, "hz is NULL"},
        {"misaligned z",
         OPTK_CURVATURE_SOPHIA_H,
         0.9,
         {{N - 1, h.data, misaligned, hz.data, 0}},
         1,
         "z is not 4-byte aligned"},
        {"curvature overlaps hz",
         OPTK_CURVATURE_SOPHIA_H,
         0.9,
         {{N - 2, (float *)hz.data + 2, z.data, hz.data, 0}},
         1,
         "overlaps"},
        {"z with GNB", OPTK_CURVATURE_SOPHIA_GNB, 0.9, {ok}, 1, "z must be NULL"},
        {"z on some tensors only", OPTK_CURVATURE_SOPHIA_H, 0.9, {ok, no_z}, 2, "for none"},
        {"block with Sophia",
         OPTK_CURVATURE_SOPHIA_H,
         0.9,
         {{N, h.data, z.data, hz.data, 3}},
         1,
         "block must be 0 or 1"},
        {"block not dividing",
         OPTK_CURVATURE_ADAHESSIAN,
         0.9,
         {{N, h.data, z.data, hz.data, 5}},
         1,
         "divide numel"},
        {"negative block",
         OPTK_CURVATURE_ADAHESSIAN,
         0.9,
         {{N, h.data, z.data, hz.data, -2}},
         1,
         "divide numel"},
        {"second tensor overlaps the first",
         OPTK_CURVATURE_ADAHESSIAN,
         0.9,
         {{N, h.data, NULL, hz.data, 2}, {N, h.data, NULL, h2.data, 0}},
         2,
         "overlaps"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
        const struct bad_case *b = &cases[c];
        cr_assert_eq(optk_curvature_update(ctx, b->kind, b->beta2, b->t, b->count),
                     OPTK_ERR_INVALID_ARGUMENT, "%s: accepted", b->what);
        cr_assert(strstr(optk_context_last_error(ctx), b->message), "%s: message \"%s\"", b->what,
                  optk_context_last_error(ctx));
    }
    cr_assert_eq(optk_curvature_update(ctx, OPTK_CURVATURE_SOPHIA_H, 0.9, NULL, 1),
                 OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_curvature_update(NULL, OPTK_CURVATURE_SOPHIA_H, 0.9, &ok, 1),
                 OPTK_ERR_INVALID_ARGUMENT);
    const test_buffer *all[] = {&h, &z, &hz, &h2};
    for (int b = 0; b < 4; ++b) {
        float got[N];
        test_buffer_read(all[b], got);
        test_assert_bits_equal(got, poison, N, 4, "a buffer after refused calls");
        test_buffer_check_guards(all[b], "buffer");
        test_buffer_free((test_buffer *)all[b]);
    }
    optk_context_free(ctx);
}

BACKEND_TEST(curvature, the_exact_diagonal_is_read_and_bad_input_refused) {
    optk_context *ctx = test_context(backend);
    enum { N = 37 };
    static float m[N * N];
    test_fill_uniform(m, N * N, -1.0f, 1.0f, 5);
    float poison[N];
    for (int i = 0; i < N; ++i)
        poison[i] = NAN;
    test_buffer h = test_buffer_new(ctx, N * N, 4, m), d = test_buffer_new(ctx, N, 4, poison);
    cr_assert_eq(optk_hessian_diag_exact(ctx, h.data, N, d.data), OPTK_OK, "%s",
                 optk_context_last_error(ctx));
    float got[N];
    test_buffer_read(&d, got);
    for (int i = 0; i < N; ++i)
        cr_assert_eq(got[i], m[i * N + i], "diagonal %d", i);
    test_buffer_check_guards(&d, "diag");
    test_buffer_free(&d);
    d = test_buffer_new(ctx, N, 4, poison);
    cr_assert_eq(optk_hessian_diag_exact(ctx, h.data, 0, d.data), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_hessian_diag_exact(ctx, NULL, N, d.data), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_hessian_diag_exact(ctx, h.data, N, NULL), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_hessian_diag_exact(ctx, h.data, N, (float *)h.data + N),
                 OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "overlaps"));
    cr_assert_eq(optk_hessian_diag_exact(ctx, h.data, N, (float *)(void *)((char *)d.data + 1)),
                 OPTK_ERR_INVALID_ARGUMENT);
    test_buffer_read(&d, got);
    for (int i = 0; i < N; ++i)
        cr_assert(isnan(got[i]), "diag %d written by a refused call", i);
    test_buffer_free(&d);
    test_buffer_free(&h);
    optk_context_free(ctx);
}

/* f(x) = 1/2 sum a_i x_i^2 with a spread over four decades: gradient a x, H z = a z. Sophia with
 * its h from Sophia-H updates (one Rademacher probe every 10 steps) drives f down. */
BACKEND_TEST(curvature, sophia_with_hutchinson_curvature_minimises_a_quadratic) {
    optk_context *ctx = test_context(backend);
    enum { N = 1000, STEPS = 300 };
    static float a[N], x[N], g[N], z[N], hz[N];
    for (int i = 0; i < N; ++i) {
        a[i] = powf(10.0f, 4.0f * (float)i / N - 2.0f);
        x[i] = 1.0f;
    }
    optk_optim_options o = optk_optim_default_options(OPTK_RULE_SOPHIA);
    o.lr = 0.05;
    o.rho = 0.5;
    o.batch_tokens = 1.0;
    o.weight_decay = 0.0;
    optk_optimizer *opt = NULL;
    cr_assert_eq(optk_optimizer_create(ctx, &o, &opt), OPTK_OK, "%s", optk_context_last_error(ctx));
    void *px, *pg, *pm, *ph, *pz, *phz;
    const size_t bytes = N * sizeof(float);
    void **bufs[] = {&px, &pg, &pm, &ph, &pz, &phz};
    for (int b = 0; b < 6; ++b)
        cr_assert_eq(optk_mem_alloc(ctx, bytes, bufs[b]), OPTK_OK);
    cr_assert_eq(optk_mem_upload(ctx, px, x, bytes), OPTK_OK);
    const optk_param_tensor t = {N, px, pg, {pm, ph}, NULL};
    cr_assert_eq(optk_optimizer_init_state(opt, &t, 1), OPTK_OK);
    double f0 = 0.0, f = 0.0;
    for (int i = 0; i < N; ++i)
        f0 += 0.5 * a[i] * x[i] * x[i];
    for (int step = 0; step < STEPS; ++step) {
        cr_assert_eq(optk_mem_download(ctx, x, px, bytes), OPTK_OK);
        for (int i = 0; i < N; ++i)
            g[i] = a[i] * x[i];
        cr_assert_eq(optk_mem_upload(ctx, pg, g, bytes), OPTK_OK);
        if (step % 10 == 0) { /* H z for the probe of this step, computed by the "model" */
            cr_assert_eq(optk_probe_fill(ctx, OPTK_PROBE_RADEMACHER, 3, (uint64_t)step, 0, pz, N),
                         OPTK_OK);
            cr_assert_eq(optk_mem_download(ctx, z, pz, bytes), OPTK_OK);
            for (int i = 0; i < N; ++i)
                hz[i] = a[i] * z[i];
            cr_assert_eq(optk_mem_upload(ctx, phz, hz, bytes), OPTK_OK);
            const optk_curvature_tensor c = {N, ph, pz, phz, 0};
            cr_assert_eq(optk_curvature_update(ctx, OPTK_CURVATURE_SOPHIA_H, o.beta2, &c, 1),
                         OPTK_OK);
        }
        cr_assert_eq(optk_optimizer_step(opt, &t, 1), OPTK_OK, "%s", optk_context_last_error(ctx));
    }
    cr_assert_eq(optk_mem_download(ctx, x, px, bytes), OPTK_OK);
    for (int i = 0; i < N; ++i)
        f += 0.5 * a[i] * x[i] * x[i];
    cr_log_info("%s: f %g -> %g", optk_backend_name(backend), f0, f);
    cr_assert(f < 1e-3 * f0, "Sophia took f from %g only to %g", f0, f);
    for (int b = 0; b < 6; ++b)
        optk_mem_free(ctx, *bufs[b]);
    optk_optimizer_free(opt);
    optk_context_free(ctx);
}

/* A Hutchinson estimate of h can be negative; the step then is a full sign step (the paper's
 * max(rho h, eps)), never a step against the momentum. NaN h still propagates. */
BACKEND_TEST(curvature, sophia_takes_a_sign_step_where_h_is_negative) {
    optk_context *ctx = test_context(backend);
    enum { N = 6 };
    const float p0[N] = {1, 1, 1, 1, 1, 1}, g[N] = {2, -2, 2, -2, 2, 0};
    const float h[N] = {-1.0f, -1e-30f, -INFINITY, 1e3f, NAN, -3.0f};
    const float zero[N] = {0};
    test_buffer bp = test_buffer_new(ctx, N, 4, p0), bg = test_buffer_new(ctx, N, 4, g),
                bm = test_buffer_new(ctx, N, 4, zero), bh = test_buffer_new(ctx, N, 4, h);
    optk_optim_options o = optk_optim_default_options(OPTK_RULE_SOPHIA);
    o.batch_tokens = 1.0;
    o.weight_decay = 0.0;
    optk_optimizer *opt = NULL;
    cr_assert_eq(optk_optimizer_create(ctx, &o, &opt), OPTK_OK);
    const optk_param_tensor t = {N, bp.data, bg.data, {bm.data, bh.data}, NULL};
    cr_assert_eq(optk_optimizer_step(opt, &t, 1), OPTK_OK, "%s", optk_context_last_error(ctx));
    float p[N];
    test_buffer_read(&bp, p);
    const float lr = (float)o.lr;
    cr_assert_eq(p[0], 1.0f - lr, "h = -1: %a", (double)p[0]);
    cr_assert_eq(p[1], 1.0f + lr, "h = -1e-30: %a", (double)p[1]);
    cr_assert_eq(p[2], 1.0f - lr, "h = -Inf: %a", (double)p[2]);
    cr_assert(p[3] > 1.0f && p[3] < 1.0f + lr, "h = 1e3: a small step, got %a", (double)p[3]);
    cr_assert(isnan(p[4]), "h = NaN: %a", (double)p[4]);
    cr_assert_eq(p[5], 1.0f, "m = 0: no step, got %a", (double)p[5]);
    optk_optimizer_free(opt);
    test_buffer *all[] = {&bp, &bg, &bm, &bh};
    for (int b = 0; b < 4; ++b)
        test_buffer_free(all[b]);
    optk_context_free(ctx);
}
