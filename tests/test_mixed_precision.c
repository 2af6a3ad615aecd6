/* test_mixed_precision.c — bf16/fp16 parameters and gradients on every backend. The rules
 * compute in fp32, so a run with an fp32 master copy must equal an fp32 run exactly (master
 * == the fp32 parameter, the bf16/fp16 parameter == it rounded to nearest even, states
 * equal), and a stochastic-rounding run must equal its definition with the Philox bits of
 * (seed, step, tensor, element). */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "harness.h"
#include "common/philox.h"
#include "common/precision.h"

#include <math.h>
#include <stdlib.h>

enum { NT = 3, STEPS = 3 };
static const int64_t sizes[NT] = {3, 2048, 4123}; /* 4123: whole Philox blocks and a tail */

typedef struct run {
    optk_context *ctx;
    int nstate;
    test_buffer param[NT], grad[NT], master[NT], state[NT][OPTK_MAX_STATE];
    optk_param_tensor t[NT];
} run;

static uint16_t to_half(float x, optk_dtype d) {
    return d == OPTK_BF16 ? optk_f32_to_bf16_rne(x) : optk_f32_to_f16_rne(x);
}
static float from_half(uint16_t h, optk_dtype d) {
    return d == OPTK_BF16 ? optk_bf16_to_f32(h) : optk_f16_to_f32(h);
}

/* Host values: p (fp32, exact in every dtype used: widened from `round_to`), g (fp32, exact
 * in grad dtype), curvature c > 0. */
static void values(int t, float *p, float *g, float *c, optk_dtype round_to, optk_dtype gdt) {
    test_fill_uniform(p, (size_t)sizes[t], -1.0f, 1.0f, 7u + (uint64_t)t);
    test_fill_uniform(g, (size_t)sizes[t], -0.5f, 0.5f, 70u + (uint64_t)t);
    test_fill_uniform(c, (size_t)sizes[t], 0.01f, 1.0f, 700u + (uint64_t)t);
    for (int64_t i = 0; i < sizes[t]; ++i) {
        if (round_to != OPTK_F32) p[i] = from_half(to_half(p[i], round_to), round_to);
        if (gdt != OPTK_F32) g[i] = from_half(to_half(g[i], gdt), gdt);
        g[i] = g[i] == 0.0f ? 0.125f : g[i];
    }
}

/* Which buffer of every tensor make_shifted puts one element past an aligned address. */
enum { SHIFT_NONE = -1, SHIFT_PARAM, SHIFT_GRAD, SHIFT_MASTER, SHIFT_STATE0 };

static test_buffer buffer(optk_context *ctx, size_t n, size_t elem_size, const void *init,
                          bool shifted) {
    return test_buffer_new_shifted(ctx, n, elem_size, init, shifted ? elem_size : 0);
}

/* Tensors on ctx with the dtypes of o; p_as: the dtype p's values are made exact in; shift:
 * SHIFT_NONE, or the buffer to misalign (SHIFT_STATE0 + s for state s). */
static void make_shifted(run *r, optk_context *ctx, const optk_optim_options *o, optk_dtype p_as,
                         int shift) {
    r->ctx = ctx;
    r->nstate = optk_optim_state_count(o);
    const bool master = o->param_dtype != OPTK_F32 && !o->stochastic_rounding;
    for (int t = 0; t < NT; ++t) {
        const size_t n = (size_t)sizes[t];
        float *p = malloc(n * 4), *g = malloc(n * 4), *c = malloc(n * 4);
        uint16_t *h = malloc(n * 2);
        values(t, p, g, c, p_as, o->grad_dtype);
        r->t[t] = (optk_param_tensor){.numel = sizes[t]};
        if (o->param_dtype == OPTK_F32) {
            r->param[t] = buffer(ctx, n, 4, p, shift == SHIFT_PARAM);
        } else {
            for (size_t i = 0; i < n; ++i)
                h[i] = to_half(p[i], o->param_dtype);
            r->param[t] = buffer(ctx, n, 2, h, shift == SHIFT_PARAM);
        }
        if (o->grad_dtype == OPTK_F32) {
            r->grad[t] = buffer(ctx, n, 4, g, shift == SHIFT_GRAD);
        } else {
            for (size_t i = 0; i < n; ++i)
                h[i] = to_half(g[i], o->grad_dtype);
            r->grad[t] = buffer(ctx, n, 2, h, shift == SHIFT_GRAD);
        }
        r->t[t].param = r->param[t].data;
        r->t[t].grad = r->grad[t].data;
        if (master) {
            r->master[t] = buffer(ctx, n, 4, p, shift == SHIFT_MASTER);
            r->t[t].master = r->master[t].data;
        }
        for (int s = 0; s < r->nstate; ++s) {
            r->state[t][s] = buffer(ctx, n, 4, NULL, shift == SHIFT_STATE0 + s);
            r->t[t].state[s] = r->state[t][s].data;
        }
        free(p), free(g), free(c), free(h);
    }
}

static void make(run *r, optk_context *ctx, const optk_optim_options *o, optk_dtype p_as) {
    make_shifted(r, ctx, o, p_as, SHIFT_NONE);
}

/* The gradients of a run with half gradients (dtype gdt; p_as as for make), widened to fp32
 * into fp32's: the two runs then see the same values. */
static void give_widened_gradients(run *fp32, optk_dtype p_as, optk_dtype gdt) {
    for (int t = 0; t < NT; ++t) {
        const size_t n = (size_t)sizes[t];
        float *p = malloc(n * 4), *g = malloc(n * 4), *c = malloc(n * 4);
        values(t, p, g, c, p_as, gdt);
        cr_assert_eq(optk_mem_upload(fp32->ctx, fp32->grad[t].data, g, n * 4), OPTK_OK);
        free(p), free(g), free(c);
    }
}

/* Sophia's h and AdaHessian's D: positive curvature, the same in every run. */
static void set_curvature(run *r, const optk_optim_options *o) {
    if (o->rule != OPTK_RULE_SOPHIA && o->rule != OPTK_RULE_ADAHESSIAN) return;
    for (int t = 0; t < NT; ++t) {
        const size_t n = (size_t)sizes[t];
        float *p = malloc(n * 4), *g = malloc(n * 4), *c = malloc(n * 4);
        values(t, p, g, c, OPTK_F32, OPTK_F32);
        cr_assert_eq(optk_mem_upload(r->ctx, r->t[t].state[r->nstate - 1], c, n * 4), OPTK_OK);
        free(p), free(g), free(c);
    }
}

static void release(run *r) {
    for (int t = 0; t < NT; ++t) {
        test_buffer_check_guards(&r->param[t], "param");
        test_buffer_free(&r->param[t]);
        test_buffer_free(&r->grad[t]);
        if (r->t[t].master) test_buffer_free(&r->master[t]);
        for (int s = 0; s < r->nstate; ++s)
            test_buffer_free(&r->state[t][s]);
    }
}

static float *read(const test_buffer *b) {
    float *x = malloc(b->bytes);
    test_buffer_read(b, x);
    return x;
}

static void steps(run *r, const optk_optim_options *o, int n) {
    optk_optimizer *opt = NULL;
    cr_assert_eq(optk_optimizer_create(r->ctx, o, &opt), OPTK_OK, "%s",
                 optk_context_last_error(r->ctx));
    cr_assert_eq(optk_optimizer_init_state(opt, r->t, NT), OPTK_OK, "%s",
                 optk_context_last_error(r->ctx));
    set_curvature(r, o);
    for (int s = 0; s < n; ++s) {
        cr_assert_eq(optk_optimizer_step(opt, r->t, NT), OPTK_OK, "%s",
                     optk_context_last_error(r->ctx));
    }
    optk_optimizer_free(opt);
}

static const optk_rule rules[] = {
    OPTK_RULE_ADAMW,  OPTK_RULE_SGD,        OPTK_RULE_ADAN,    OPTK_RULE_LION,
    OPTK_RULE_SOPHIA, OPTK_RULE_ADAHESSIAN, OPTK_RULE_RMSPROP, OPTK_RULE_SCHEDULE_FREE_ADAMW};

BACKEND_TEST(mixed_precision, master_copy_runs_equal_fp32_runs_bit_for_bit) {
    optk_context *ctx = test_context(backend);
    const optk_dtype pdts[] = {OPTK_BF16, OPTK_F16};
    for (size_t r = 0; r < sizeof rules / sizeof *rules; ++r) {
        for (int pd = 0; pd < 2; ++pd) {
            for (int gd = 0; gd < 2; ++gd) {
                optk_optim_options o = optk_optim_default_options(rules[r]);
                o.batch_tokens = 64.0;
                o.momentum = rules[r] == OPTK_RULE_SGD ? 0.9 : o.momentum;
                o.param_dtype = pdts[pd];
                o.grad_dtype = gd ? OPTK_F32 : pdts[pd];
                optk_optim_options ref = o;
                ref.param_dtype = OPTK_F32;
                ref.grad_dtype = OPTK_F32;
                run mixed, fp32;
                make(&mixed, ctx, &o, o.param_dtype);
                make(&fp32, ctx, &ref, o.param_dtype);
                give_widened_gradients(&fp32, o.param_dtype, o.grad_dtype);
                steps(&mixed, &o, STEPS);
                steps(&fp32, &ref, STEPS);
                char what[128];
                for (int t = 0; t < NT; ++t) {
                    const size_t n = (size_t)sizes[t];
                    float *want = read(&fp32.param[t]), *master = read(&mixed.master[t]);
                    uint16_t *half = malloc(n * 2);
                    test_buffer_read(&mixed.param[t], half);
                    snprintf(what, sizeof what, "%s %s/%s tensor %d master",
                             optk_rule_name(rules[r]), optk_dtype_name(o.param_dtype),
                             optk_dtype_name(o.grad_dtype), t);
                    test_assert_bits_equal(master, want, n, 4, what);
                    for (size_t i = 0; i < n; ++i) {
                        cr_assert_eq(half[i], to_half(want[i], o.param_dtype),
                                     "%s: param[%zu] %04x is not round(%a)", what, i, half[i],
                                     (double)want[i]);
                    }
                    for (int s = 0; s < mixed.nstate; ++s) {
                        float *a = read(&mixed.state[t][s]), *b = read(&fp32.state[t][s]);
                        snprintf(what, sizeof what, "%s %s tensor %d state %d",
                                 optk_rule_name(rules[r]), optk_dtype_name(o.param_dtype), t, s);
                        test_assert_bits_equal(a, b, n, 4, what);
                        free(a), free(b);
                    }
                    free(want), free(master), free(half);
                }
                release(&mixed);
                release(&fp32);
            }
        }
    }
    optk_context_free(ctx);
}

/* fp32 parameters with bf16 or fp16 gradients step exactly as with the gradients widened to
 * fp32 beforehand (on CUDA the mixed kernel, vector and one-element paths). */
BACKEND_TEST(mixed_precision, half_gradients_step_as_their_widened_values) {
    optk_context *ctx = test_context(backend);
    const optk_dtype gdts[] = {OPTK_BF16, OPTK_F16};
    for (size_t r = 0; r < sizeof rules / sizeof *rules; ++r) {
        for (int gd = 0; gd < 2; ++gd) {
            optk_optim_options o = optk_optim_default_options(rules[r]);
            o.batch_tokens = 64.0;
            o.momentum = rules[r] == OPTK_RULE_SGD ? 0.9 : o.momentum;
            o.grad_dtype = gdts[gd];
            optk_optim_options ref = o;
            ref.grad_dtype = OPTK_F32;
            run half, fp32;
            make(&half, ctx, &o, OPTK_F32);
            make(&fp32, ctx, &ref, OPTK_F32);
            give_widened_gradients(&fp32, OPTK_F32, o.grad_dtype);
            steps(&half, &o, STEPS);
            steps(&fp32, &ref, STEPS);
            char what[128];
            for (int t = 0; t < NT; ++t) {
                const size_t n = (size_t)sizes[t];
                for (int s = -1; s < half.nstate; ++s) {
                    float *a = read(s < 0 ? &half.param[t] : &half.state[t][s]);
                    float *b = read(s < 0 ? &fp32.param[t] : &fp32.state[t][s]);
                    snprintf(what, sizeof what, "%s, %s gradients: tensor %d %s %d",
                             optk_rule_name(rules[r]), optk_dtype_name(o.grad_dtype), t,
                             s < 0 ? "param" : "state", s);
                    test_assert_bits_equal(a, b, n, 4, what);
                    free(a), free(b);
                }
            }
            release(&half);
            release(&fp32);
        }
    }
    optk_context_free(ctx);
}

BACKEND_TEST(mixed_precision, stochastic_rounding_follows_its_definition) {
    optk_context *ctx = test_context(backend);
    optk_optim_options o = optk_optim_default_options(OPTK_RULE_ADAMW);
    o.param_dtype = OPTK_BF16;
    o.grad_dtype = OPTK_BF16;
    o.stochastic_rounding = true;
    o.seed = 0xfeedbeef1234ull;
    o.lr = 1e-2;
    optk_optim_options ref = o;
    ref.param_dtype = ref.grad_dtype = OPTK_F32;
    ref.stochastic_rounding = false;
    run sr, fp32;
    make(&sr, ctx, &o, OPTK_BF16);
    make(&fp32, ctx, &ref, OPTK_BF16);
    give_widened_gradients(&fp32, OPTK_BF16, OPTK_BF16);
    steps(&sr, &o, 1);
    steps(&fp32, &ref, 1);
    int64_t rounded_up = 0, total = 0;
    for (int t = 0; t < NT; ++t) {
        const size_t n = (size_t)sizes[t];
        float *want = read(&fp32.param[t]);
        uint16_t *half = malloc(n * 2);
        test_buffer_read(&sr.param[t], half);
        for (size_t i = 0; i < n; ++i) {
            /* Step 1: stream 2 * 1, tensor t; element i takes half i % 2 of word i / 2. */
            const uint32_t word = optk_philox_u32(o.seed, (2ull << 20) + (uint64_t)t, i / 2);
            const uint32_t bits = i % 2 ? word >> 16 : word & 0xffffu;
            const uint16_t expected = optk_f32_to_bf16_sr(want[i], bits);
            cr_assert_eq(half[i], expected, "tensor %d [%zu]: %04x, want %04x (of %a)", t, i,
                         half[i], expected, (double)want[i]);
            rounded_up += optk_bf16_to_f32(half[i]) > want[i];
            ++total;
        }
        float *a = read(&sr.state[t][0]), *b = read(&fp32.state[t][0]);
        test_assert_bits_equal(a, b, n, 4, "m after a stochastic-rounding step");
        free(a), free(b), free(want), free(half);
    }
    /* Both directions happen (a constant rounding would be biased). */
    cr_assert(rounded_up > total / 10 && rounded_up < total - total / 10, "%lld of %lld up",
              (long long)rounded_up, (long long)total);
    release(&sr);
    release(&fp32);
    optk_context_free(ctx);
}

/* Every buffer misaligned in turn (one element past an aligned address) gives the bits of the
 * aligned run: on CUDA a full tile of aligned buffers moves four elements per access and
 * draws stochastic rounding's bits a Philox block at a time, any misaligned buffer sends its
 * tensor down the one-element path, and both must agree (the tile-sized tensors of `sizes`
 * have full tiles; the CPU has one path, so there this checks the harness's shifting). */
BACKEND_TEST(mixed_precision, a_misaligned_buffer_changes_no_bit) {
    optk_context *ctx = test_context(backend);
    /* bf16 + master with bf16 gradients; bf16 + stochastic rounding; fp16 + master; fp32
     * parameters with fp16 gradients */
    for (int mode = 0; mode < 4; ++mode) {
        optk_optim_options o = optk_optim_default_options(OPTK_RULE_ADAMW);
        const optk_dtype pdts[] = {OPTK_BF16, OPTK_BF16, OPTK_F16, OPTK_F32};
        o.param_dtype = pdts[mode];
        o.grad_dtype = mode == 0 ? OPTK_BF16 : mode == 3 ? OPTK_F16 : OPTK_F32;
        o.stochastic_rounding = mode == 1;
        o.seed = 77;
        const bool master = mode == 0 || mode == 2;
        const size_t pbytes = mode == 3 ? 4 : 2;
        run base;
        make(&base, ctx, &o, o.param_dtype);
        steps(&base, &o, 2);
        const int last = SHIFT_STATE0 + base.nstate - 1;
        for (int shift = SHIFT_PARAM; shift <= last; ++shift) {
            if (shift == SHIFT_MASTER && !master) continue;
            run r;
            make_shifted(&r, ctx, &o, o.param_dtype, shift);
            const void *moved = shift == SHIFT_PARAM  ? r.t[1].param
                                : shift == SHIFT_GRAD ? r.t[1].grad
                                : shift == SHIFT_MASTER
                                    ? (const void *)r.t[1].master
                                    : (const void *)r.t[1].state[shift - SHIFT_STATE0];
            cr_assert((uintptr_t)moved % 8 != 0, "buffer %d is still 8-byte aligned", shift);
            steps(&r, &o, 2);
            char what[96];
            for (int t = 0; t < NT; ++t) {
                const size_t n = (size_t)sizes[t];
                unsigned char *got = malloc(n * pbytes), *want = malloc(n * pbytes);
                test_buffer_read(&r.param[t], got);
                test_buffer_read(&base.param[t], want);
                snprintf(what, sizeof what, "mode %d, buffer %d shifted: tensor %d param", mode,
                         shift, t);
                test_assert_bits_equal(got, want, n, pbytes, what);
                free(got), free(want);
                for (int s = -1; s < r.nstate; ++s) {
                    if (s < 0 && !master) continue;
                    float *a = read(s < 0 ? &r.master[t] : &r.state[t][s]);
                    float *b = read(s < 0 ? &base.master[t] : &base.state[t][s]);
                    snprintf(what, sizeof what, "mode %d, buffer %d shifted: tensor %d %s %d", mode,
                             shift, t, s < 0 ? "master" : "state", s);
                    test_assert_bits_equal(a, b, n, 4, what);
                    free(a), free(b);
                }
            }
            release(&r);
        }
        release(&base);
    }
    optk_context_free(ctx);
}

BACKEND_TEST(mixed_precision, half_gradients_and_their_norm) {
    optk_context *ctx = test_context(backend);
    optk_optim_options o = optk_optim_default_options(OPTK_RULE_SGD);
    o.grad_dtype = OPTK_BF16;
    run r;
    make(&r, ctx, &o, OPTK_F32);
    double want = 0.0;
    for (int t = 0; t < NT; ++t) {
        const size_t n = (size_t)sizes[t];
        float *p = malloc(n * 4), *g = malloc(n * 4), *c = malloc(n * 4);
        values(t, p, g, c, OPTK_F32, OPTK_BF16);
        for (size_t i = 0; i < n; ++i)
            want += (double)g[i] * g[i];
        free(p), free(g), free(c);
    }
    double got = 0.0;
    cr_assert_eq(optk_grad_norm(ctx, r.t, NT, OPTK_BF16, &got), OPTK_OK, "%s",
                 optk_context_last_error(ctx));
    cr_assert(fabs(got - sqrt(want)) <= 1e-12 * sqrt(want), "%.17g vs %.17g", got, sqrt(want));
    release(&r);
    optk_context_free(ctx);
}

BACKEND_TEST(mixed_precision, bad_dtype_combinations_are_refused) {
    optk_context *ctx = test_context(backend);
    optk_optimizer *opt = NULL;
    optk_optim_options o = optk_optim_default_options(OPTK_RULE_ADAMW);
    o.param_dtype = OPTK_F16;
    o.stochastic_rounding = true;
    cr_assert_eq(optk_optimizer_create(ctx, &o, &opt), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "stochastic_rounding needs bf16") != NULL);
    o.param_dtype = (optk_dtype)9;
    o.stochastic_rounding = false;
    cr_assert_eq(optk_optimizer_create(ctx, &o, &opt), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "param_dtype must be f32, bf16 or f16") != NULL);

    o.param_dtype = OPTK_BF16; /* with a master copy */
    run r;
    make(&r, ctx, &o, OPTK_BF16);
    cr_assert_eq(optk_optimizer_create(ctx, &o, &opt), OPTK_OK);
    optk_param_tensor bad[NT];
    memcpy(bad, r.t, sizeof bad);
    bad[1].master = NULL;
    cr_assert_eq(optk_optimizer_step(opt, bad, NT), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "tensors[1].master is NULL") != NULL);
    memcpy(bad, r.t, sizeof bad);
    bad[2].param = (char *)bad[2].param + 1;
    cr_assert_eq(optk_optimizer_step(opt, bad, NT), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "tensors[2].param is not 2-byte aligned") !=
                  NULL,
              "%s", optk_context_last_error(ctx));
    cr_assert_eq(optk_optimizer_step_count(opt), 0);
    optk_optimizer_free(opt);

    o.param_dtype = OPTK_F32; /* a master copy is refused for fp32 parameters */
    cr_assert_eq(optk_optimizer_create(ctx, &o, &opt), OPTK_OK);
    memcpy(bad, r.t, sizeof bad);
    float *extra = NULL;
    cr_assert_eq(optk_mem_alloc(ctx, 16, (void **)&extra), OPTK_OK);
    bad[0].param = r.t[0].master; /* fp32 storage */
    bad[0].master = extra;
    cr_assert_eq(optk_optimizer_step(opt, bad, 1), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "tensors[0].master must be NULL") != NULL);
    optk_mem_free(ctx, extra);
    optk_optimizer_free(opt);
    release(&r);
    optk_context_free(ctx);
}

/* A large mixed-precision tensor is split over the CPU's threads by chunks: 1, 2 and 3
 * threads give the same bits (fp16 with a master copy, bf16 with stochastic rounding). */
Test(mixed_precision, cpu_thread_count_changes_no_bit) {
    optk_context *ctx = test_context(OPTK_BACKEND_CPU);
    const int64_t n = ((int64_t)1 << 20) + 4099; /* above the threading threshold, odd tail */
    float *p = malloc((size_t)n * 4), *g = malloc((size_t)n * 4), *out[3];
    uint16_t *h = malloc((size_t)n * 2), *hout[3];
    test_fill_uniform(p, (size_t)n, -1.0f, 1.0f, 5);
    test_fill_uniform(g, (size_t)n, -1e-2f, 1e-2f, 6);
    static const char *threads[3] = {"1", "2", "3"};
    for (int mode = 0; mode < 2; ++mode) {
        optk_optim_options o = optk_optim_default_options(OPTK_RULE_ADAMW);
        o.param_dtype = mode == 0 ? OPTK_F16 : OPTK_BF16;
        o.stochastic_rounding = mode == 1;
        o.seed = 3;
        for (int64_t i = 0; i < n; ++i)
            h[i] = to_half(p[i], o.param_dtype);
        for (int k = 0; k < 3; ++k) {
            setenv("OPTKERN_CPU_THREADS", threads[k], 1);
            test_buffer bp = test_buffer_new(ctx, (size_t)n, 2, h),
                        bg = test_buffer_new(ctx, (size_t)n, 4, g),
                        bm = test_buffer_new(ctx, (size_t)n, 4, p),
                        b0 = test_buffer_new(ctx, (size_t)n, 4, NULL),
                        b1 = test_buffer_new(ctx, (size_t)n, 4, NULL);
            optk_optimizer *opt = NULL;
            cr_assert_eq(optk_optimizer_create(ctx, &o, &opt), OPTK_OK);
            const optk_param_tensor t = {
                n, bp.data, bg.data, {b0.data, b1.data}, mode == 0 ? bm.data : NULL};
            cr_assert_eq(optk_optimizer_init_state(opt, &t, 1), OPTK_OK);
            for (int s = 0; s < 3; ++s)
                cr_assert_eq(optk_optimizer_step(opt, &t, 1), OPTK_OK, "%s",
                             optk_context_last_error(ctx));
            hout[k] = malloc((size_t)n * 2);
            out[k] = malloc((size_t)n * 4);
            test_buffer_read(&bp, hout[k]);
            test_buffer_read(&b1, out[k]);
            test_buffer *all[] = {&bp, &bg, &bm, &b0, &b1};
            for (int b = 0; b < 5; ++b) {
                test_buffer_check_guards(all[b], "threaded mixed-precision buffer");
                test_buffer_free(all[b]);
            }
            optk_optimizer_free(opt);
        }
        unsetenv("OPTKERN_CPU_THREADS");
        for (int k = 1; k < 3; ++k) {
            test_assert_bits_equal(hout[k], hout[0], (size_t)n, 2, "parameter");
            test_assert_bits_equal(out[k], out[0], (size_t)n, 4, "second moment");
        }
        for (int k = 0; k < 3; ++k)
            free(hout[k]), free(out[k]);
    }
    free(p), free(g), free(h);
    optk_context_free(ctx);
}
