/* test_grad_scaling.c — the global gradient norm, loss-scale unscaling, clipping and the skip
 * on non-finite gradients, on every backend. A scaled step must equal, bit for bit, a plain
 * step fed (g * inv_scale) * clip; a skipped step must leave every byte as it was. */
#include "harness.h"

#include <math.h>
#include <stdlib.h>

enum { COUNT = 5 };
static const int64_t sizes[COUNT] = {1, 3, 2048, 4099, (1 << 20) + 7};

typedef struct setup {
    optk_context *ctx;
    int nstate;
    test_buffer bufs[COUNT][2 + OPTK_MAX_STATE];
    optk_param_tensor t[COUNT];
    float *grads[COUNT]; /* host copies of the gradients */
} setup;

static void make(setup *x, optk_context *ctx, int nstate, uint64_t seed, float grad_scale) {
    x->ctx = ctx;
    x->nstate = nstate;
    for (int t = 0; t < COUNT; ++t) {
        float *host = malloc((size_t)sizes[t] * sizeof(float));
        x->grads[t] = malloc((size_t)sizes[t] * sizeof(float));
        x->t[t] = (optk_param_tensor){.numel = sizes[t]};
        for (int b = 0; b < 2 + nstate; ++b) {
            test_fill_uniform(host, (size_t)sizes[t], b == 0 ? -1.0f : 0.0f, 1.0f,
                              seed + 31u * (uint64_t)t + (uint64_t)b);
            if (b == 1) {
                for (int64_t i = 0; i < sizes[t]; ++i)
                    host[i] = (host[i] - 0.5f) * grad_scale;
                memcpy(x->grads[t], host, (size_t)sizes[t] * sizeof(float));
            }
            if (b >= 2) memset(host, 0, (size_t)sizes[t] * sizeof(float));
            x->bufs[t][b] = test_buffer_new(ctx, (size_t)sizes[t], 4, host);
        }
        x->t[t].param = x->bufs[t][0].data;
        x->t[t].grad = x->bufs[t][1].data;
        for (int s = 0; s < nstate; ++s)
            x->t[t].state[s] = x->bufs[t][2 + s].data;
        free(host);
    }
}

/* Every buffer, downloaded in order. */
static float *snapshot(const setup *x, size_t *n) {
    size_t total = 0;
    for (int t = 0; t < COUNT; ++t)
        total += (size_t)sizes[t] * (2 + x->nstate);
    float *all = malloc(total * sizeof(float)), *at = all;
    for (int t = 0; t < COUNT; ++t) {
        for (int b = 0; b < 2 + x->nstate; ++b) {
            test_buffer_read(&x->bufs[t][b], at);
            at += sizes[t];
        }
    }
    *n = total;
    return all;
}

static void release(setup *x) {
    for (int t = 0; t < COUNT; ++t) {
        for (int b = 0; b < 2 + x->nstate; ++b) {
            test_buffer_check_guards(&x->bufs[t][b], "grad scaling buffer");
            test_buffer_free(&x->bufs[t][b]);
        }
        free(x->grads[t]);
    }
}

BACKEND_TEST(grad_norm, matches_float64_and_is_deterministic) {
    optk_context *ctx = test_context(backend);
    setup x;
    make(&x, ctx, 0, 11, 3.0f);
    double want = 0.0;
    for (int t = 0; t < COUNT; ++t) {
        for (int64_t i = 0; i < sizes[t]; ++i)
            want += (double)x.grads[t][i] * x.grads[t][i];
    }
    want = sqrt(want);
    double got = 0.0, again = 0.0;
    cr_assert_eq(optk_grad_norm(ctx, x.t, COUNT, OPTK_F32, &got), OPTK_OK, "%s",
                 optk_context_last_error(ctx));
    cr_assert_eq(optk_grad_norm(ctx, x.t, COUNT, OPTK_F32, &again), OPTK_OK);
    cr_assert(fabs(got - want) <= 1e-12 * want, "norm %.17g, float64 reference %.17g", got, want);
    cr_assert(memcmp(&got, &again, sizeof got) == 0, "two runs differ: %.17g %.17g", got, again);
    if (backend != OPTK_BACKEND_CPU) {
        optk_context *cpu = test_context(OPTK_BACKEND_CPU);
        setup y;
        make(&y, cpu, 0, 11, 3.0f);
        double cpu_norm = 0.0;
        cr_assert_eq(optk_grad_norm(cpu, y.t, COUNT, OPTK_F32, &cpu_norm), OPTK_OK);
        cr_assert(fabs(got - cpu_norm) <= 1e-12 * cpu_norm, "%s %.17g vs cpu %.17g",
                  optk_backend_name(backend), got, cpu_norm);
        release(&y);
        optk_context_free(cpu);
    }
    /* A non-finite gradient makes the norm non-finite. */
    float inf = INFINITY;
    cr_assert_eq(optk_mem_upload(ctx, (float *)x.t[3].grad + 17, &inf, 4), OPTK_OK);
    cr_assert_eq(optk_grad_norm(ctx, x.t, COUNT, OPTK_F32, &got), OPTK_OK);
    cr_assert(isinf(got), "norm with an Inf gradient: %g", got);
    cr_assert_eq(optk_grad_norm(ctx, x.t, COUNT, OPTK_F32, NULL), OPTK_ERR_INVALID_ARGUMENT);
    release(&x);
    optk_context_free(ctx);
}

/* A scaled step (unscale, clip) against a plain step fed the multiplied gradients. */
static void check_scaled_equals_plain(optk_backend backend, double inv_scale, double max_norm) {
    optk_context *ctx = test_context(backend);
    optk_optim_options o = optk_optim_default_options(OPTK_RULE_ADAMW);
    o.amsgrad = true;
    const int nstate = optk_optim_state_count(&o);
    setup a, b;
    make(&a, ctx, nstate, 5, (float)(1.0 / inv_scale));
    make(&b, ctx, nstate, 5, (float)(1.0 / inv_scale));
    optk_optimizer *oa = NULL, *ob = NULL;
    cr_assert_eq(optk_optimizer_create(ctx, &o, &oa), OPTK_OK);
    cr_assert_eq(optk_optimizer_create(ctx, &o, &ob), OPTK_OK);
    const optk_grad_options g = {.inv_scale = inv_scale, .max_norm = max_norm};
    optk_step_report r = {0};
    cr_assert_eq(optk_optimizer_step_scaled(oa, a.t, COUNT, &g, &r), OPTK_OK, "%s",
                 optk_context_last_error(ctx));
    cr_assert(!r.skipped);
    double want = 0.0;
    for (int t = 0; t < COUNT; ++t) {
        for (int64_t i = 0; i < sizes[t]; ++i) {
            double v = (double)a.grads[t][i] * inv_scale;
            want += v * v;
        }
    }
    want = sqrt(want);
    cr_assert(fabs(r.grad_norm - want) <= 1e-12 * want, "reported norm %.17g, want %.17g",
              r.grad_norm, want);
    const float clip = max_norm > 0 ? (float)fmin(1.0, max_norm / (r.grad_norm + 1e-6)) : 1.0f;
    if (max_norm > 0) cr_assert(clip < 1.0f, "this case must clip (norm %g)", r.grad_norm);
    for (int t = 0; t < COUNT; ++t) {
        float *g2 = malloc((size_t)sizes[t] * sizeof(float));
        for (int64_t i = 0; i < sizes[t]; ++i)
            g2[i] = (b.grads[t][i] * (float)inv_scale) * clip;
        cr_assert_eq(optk_mem_upload(ctx, b.bufs[t][1].data, g2, (size_t)sizes[t] * 4), OPTK_OK);
        free(g2);
    }
    cr_assert_eq(optk_optimizer_step(ob, b.t, COUNT), OPTK_OK);
    for (int t = 0; t < COUNT; ++t) {
        for (int k = 0; k < 2 + nstate; ++k) {
            if (k == 1) continue; /* the gradients themselves differ by construction */
            float *ga = malloc((size_t)sizes[t] * 4), *gb = malloc((size_t)sizes[t] * 4);
            test_buffer_read(&a.bufs[t][k], ga);
            test_buffer_read(&b.bufs[t][k], gb);
            test_assert_bits_equal(ga, gb, (size_t)sizes[t], 4, "scaled step vs plain step");
            free(ga);
            free(gb);
        }
    }
    cr_assert_eq(optk_optimizer_step_count(oa), 1);
    optk_optimizer_free(oa);
    optk_optimizer_free(ob);
    release(&a);
    release(&b);
    optk_context_free(ctx);
}

BACKEND_TEST(grad_scaling, unscaled_step_equals_plain_step_on_unscaled_grads) {
    check_scaled_equals_plain(backend, 1.0 / 65536.0, 0.0);
}

BACKEND_TEST(grad_scaling, clipped_step_equals_plain_step_on_clipped_grads) {
    check_scaled_equals_plain(backend, 1.0 / 1024.0, 5.0);
}

BACKEND_TEST(grad_scaling, nonfinite_gradient_skips_the_whole_step) {
    optk_context *ctx = test_context(backend);
    optk_optim_options o = optk_optim_default_options(OPTK_RULE_ADAN);
    const int nstate = optk_optim_state_count(&o);
    optk_optimizer *opt = NULL;
    cr_assert_eq(optk_optimizer_create(ctx, &o, &opt), OPTK_OK);
    setup x;
    make(&x, ctx, nstate, 9, 1.0f);
    const optk_grad_options g = {.inv_scale = 0.5, .max_norm = 1.0};
    cr_assert_eq(optk_optimizer_step_scaled(opt, x.t, COUNT, &g, NULL), OPTK_OK);
    const float poisons[] = {NAN, INFINITY, -INFINITY};
    for (int p = 0; p < 3; ++p) {
        size_t n = 0;
        float *before = snapshot(&x, &n);
        float saved;
        float *where = (float *)x.t[4].grad + 123457;
        cr_assert_eq(optk_mem_download(ctx, &saved, where, 4), OPTK_OK);
        cr_assert_eq(optk_mem_upload(ctx, where, &poisons[p], 4), OPTK_OK);
        optk_step_report r = {0};
        cr_assert_eq(optk_optimizer_step_scaled(opt, x.t, COUNT, &g, &r), OPTK_OK);
        cr_assert(r.skipped, "a %g gradient must skip the step", (double)poisons[p]);
        cr_assert(!isfinite(r.grad_norm));
        cr_assert_eq(optk_optimizer_step_count(opt), 1, "a skipped step must not count");
        cr_assert_eq(optk_mem_upload(ctx, where, &saved, 4), OPTK_OK);
        float *after = snapshot(&x, &n);
        test_assert_bits_equal(after, before, n, 4, "buffers after a skipped step");
        free(before);
        free(after);
    }
    optk_step_report r = {0};
    cr_assert_eq(optk_optimizer_step_scaled(opt, x.t, COUNT, &g, &r), OPTK_OK);
    cr_assert(!r.skipped && isfinite(r.grad_norm));
    cr_assert_eq(optk_optimizer_step_count(opt), 2);
    optk_optimizer_free(opt);
    release(&x);
    optk_context_free(ctx);
}

BACKEND_TEST(grad_scaling, bad_options_are_refused_and_nothing_is_written) {
    optk_context *ctx = test_context(backend);
    optk_optim_options o = optk_optim_default_options(OPTK_RULE_SGD);
    o.momentum = 0.9;
    optk_optimizer *opt = NULL;
    cr_assert_eq(optk_optimizer_create(ctx, &o, &opt), OPTK_OK);
    setup x;
    make(&x, ctx, 1, 3, 1.0f);
    size_t n = 0;
    float *before = snapshot(&x, &n);
    const struct {
        optk_grad_options g;
        const char *message;
    } bad[] = {
        {{0.0, 0.0}, "inv_scale must be finite and > 0, got 0"},
        {{-1.0, 0.0}, "inv_scale"},
        {{NAN, 0.0}, "inv_scale"},
        {{INFINITY, 0.0}, "inv_scale"},
        {{1.0, -1.0}, "max_norm must be finite"},
        {{1.0, NAN}, "max_norm"},
    };
    for (size_t b = 0; b < sizeof bad / sizeof *bad; ++b) {
        optk_step_report r = {.grad_norm = 42.0};
        cr_assert_eq(optk_optimizer_step_scaled(opt, x.t, COUNT, &bad[b].g, &r),
                     OPTK_ERR_INVALID_ARGUMENT, "case %zu", b);
        cr_assert(strstr(optk_context_last_error(ctx), bad[b].message) != NULL,
                  "case %zu: message \"%s\"", b, optk_context_last_error(ctx));
        cr_assert_eq(r.grad_norm, 42.0, "a refused call must not write the report");
    }
    cr_assert_eq(optk_optimizer_step_scaled(opt, x.t, COUNT, NULL, NULL),
                 OPTK_ERR_INVALID_ARGUMENT);
    float *after = snapshot(&x, &n);
    test_assert_bits_equal(after, before, n, 4, "buffers after refused calls");
    cr_assert_eq(optk_optimizer_step_count(opt), 0);
    free(before);
    free(after);
    optk_optimizer_free(opt);
    release(&x);
    optk_context_free(ctx);
}
