/* test_capturable.c — graph-capturable steps on every backend: with the step counter, the
 * learning rate and the inverse loss scale read from backend memory, a capturable step must
 * give the bits of a host step fed the same values (every rule, parameter groups, mixed
 * precision and stochastic rounding), skip on non-finite gradients or bad scalars without
 * touching a byte, and refuse bad calls with nothing enqueued. The CUDA graph itself is
 * captured and replayed in test_graph_capture.c. */
#include "harness.h"

#include "common/precision.h"

#include <math.h>
#include <stdlib.h>

enum { COUNT = 3, STEPS = 6, MAXBUF = 3 + OPTK_MAX_STATE };
static const int64_t sizes[COUNT] = {5, 2048 + 3, 4099};

/* Two groups: tensors 0-1 (full lr and decay) and tensor 2 (half lr, no decay). */
static const double lr_scales[2] = {1.0, 0.5}, wd_scales[2] = {1.0, 0.0};

typedef struct setup {
    optk_context *ctx;
    optk_optimizer *opt;
    int nstate;
    bool mixed;
    test_buffer bufs[COUNT][MAXBUF]; /* param, grad, master, states */
    optk_param_tensor t[COUNT];
    optk_param_group groups[2];
} setup;

static size_t elem_size(const setup *x, int b) {
    const optk_optim_options *o = optk_optimizer_options(x->opt);
    if (b == 0) return optk_dtype_size(o->param_dtype);
    if (b == 1) return optk_dtype_size(o->grad_dtype);
    return 4;
}

static optk_optim_options options_for(optk_rule rule, optk_dtype param_dtype, bool sr) {
    optk_optim_options o = optk_optim_default_options(rule);
    o.weight_decay = 0.01;
    o.batch_tokens = 480.0; /* Sophia */
    o.warmup_steps = 3;     /* Schedule-Free */
    o.param_dtype = param_dtype;
    o.stochastic_rounding = sr;
    o.seed = 99;
    return o;
}

/* Random parameters (in the parameter dtype, with a master copy when it needs one),
 * gradients and states in [0, 1); Schedule-Free's z from init_state. */
static void make(setup *x, optk_context *ctx, const optk_optim_options *o, uint64_t seed) {
    memset(x, 0, sizeof *x);
    x->ctx = ctx;
    cr_assert_eq(optk_optimizer_create(ctx, o, &x->opt), OPTK_OK, "%s",
                 optk_context_last_error(ctx));
    x->nstate = optk_optim_state_count(o);
    x->mixed = o->param_dtype != OPTK_F32 && !o->stochastic_rounding;
    for (int t = 0; t < COUNT; ++t) {
        const size_t n = (size_t)sizes[t];
        float *f = malloc(n * sizeof(float));
        uint16_t *h = malloc(n * sizeof(uint16_t));
        x->t[t] = (optk_param_tensor){.numel = sizes[t]};
        for (int b = 0; b < 3 + x->nstate; ++b) {
            if (b == 2 && !x->mixed) continue;
            test_fill_uniform(f, n, b == 0 ? -1.0f : 0.0f, 1.0f, seed + 31u * (uint64_t)t + b);
            if (b == 2) test_buffer_read(&x->bufs[t][0], h); /* master = the parameter */
            if (b == 2) {
                for (size_t i = 0; i < n; ++i)
                    f[i] = o->param_dtype == OPTK_BF16 ? optk_bf16_to_f32(h[i])
                                                       : optk_f16_to_f32(h[i]);
            }
            const void *init = f;
            if (b == 0 && o->param_dtype != OPTK_F32) {
                for (size_t i = 0; i < n; ++i)
                    h[i] = o->param_dtype == OPTK_BF16 ? optk_f32_to_bf16_rne(f[i])
                                                       : optk_f32_to_f16_rne(f[i]);
                init = h;
            }
            x->bufs[t][b] = test_buffer_new(ctx, n, elem_size(x, b), init);
        }
        x->t[t].param = x->bufs[t][0].data;
        x->t[t].grad = x->bufs[t][1].data;
        x->t[t].master = x->mixed ? x->bufs[t][2].data : NULL;
        for (int s = 0; s < x->nstate; ++s)
            x->t[t].state[s] = x->bufs[t][3 + s].data;
        free(f);
        free(h);
    }
    if (o->rule == OPTK_RULE_SCHEDULE_FREE_ADAMW || o->rule == OPTK_RULE_SCHEDULE_FREE_SGD)
        cr_assert_eq(optk_optimizer_init_state(x->opt, x->t, COUNT), OPTK_OK);
    x->groups[0] = (optk_param_group){x->t, 2, lr_scales[0], wd_scales[0]};
    x->groups[1] = (optk_param_group){x->t + 2, 1, lr_scales[1], wd_scales[1]};
}

/* Every buffer's bytes, in order. */
static unsigned char *snapshot(const setup *x, size_t *bytes) {
    size_t total = 0;
    for (int t = 0; t < COUNT; ++t)
        for (int b = 0; b < 3 + x->nstate; ++b)
            total += x->bufs[t][b].bytes;
    unsigned char *all = malloc(total), *at = all;
    for (int t = 0; t < COUNT; ++t) {
        for (int b = 0; b < 3 + x->nstate; ++b) {
            if (!x->bufs[t][b].bytes) continue;
            test_buffer_read(&x->bufs[t][b], at);
            at += x->bufs[t][b].bytes;
        }
    }
    *bytes = total;
    return all;
}

static void release(setup *x) {
    for (int t = 0; t < COUNT; ++t) {
        for (int b = 0; b < 3 + x->nstate; ++b) {
            if (!x->bufs[t][b].bytes) continue;
            test_buffer_check_guards(&x->bufs[t][b], "capturable step buffer");
            test_buffer_free(&x->bufs[t][b]);
        }
    }
    optk_optimizer_free(x->opt);
}

/* Gradients of step k: the same on both setups, scaled by `scale` (a loss scale). */
static void upload_grads(setup *x, int k, float scale) {
    for (int t = 0; t < COUNT; ++t) {
        const size_t n = (size_t)sizes[t];
        float *g = malloc(n * sizeof(float));
        test_fill_uniform(g, n, -scale, scale, 1000u + 17u * (uint64_t)k + (uint64_t)t);
        cr_assert_eq(optk_mem_upload(x->ctx, x->bufs[t][1].data, g, n * sizeof(float)), OPTK_OK);
        free(g);
    }
}

/* The scalars in backend memory, and helpers to set and read them. */
static optk_step_scalars *scalars_new(optk_context *ctx, double lr, double inv_scale) {
    void *p = NULL;
    cr_assert_eq(optk_mem_alloc(ctx, sizeof(optk_step_scalars), &p), OPTK_OK);
    const optk_step_scalars init = {.lr = lr, .inv_scale = inv_scale, .step = 0};
    cr_assert_eq(optk_mem_upload(ctx, p, &init, sizeof init), OPTK_OK);
    return p;
}

static optk_step_scalars scalars_read(optk_context *ctx, const optk_step_scalars *dev) {
    optk_step_scalars s;
    cr_assert_eq(optk_mem_download(ctx, &s, dev, sizeof s), OPTK_OK);
    return s;
}

static void scalars_set(optk_context *ctx, optk_step_scalars *dev, double lr, double inv_scale) {
    optk_step_scalars s = scalars_read(ctx, dev);
    s.lr = lr;
    s.inv_scale = inv_scale;
    cr_assert_eq(optk_mem_upload(ctx, dev, &s, sizeof s), OPTK_OK);
}

static double lr_of_step(int k) {
    return 1e-3 * (1.0 + 0.37 * k); /* a schedule that changes every step */
}

/* STEPS host steps (set_lr + step_groups) against STEPS capturable ones: the same bytes. */
static void check_rule(optk_context *ctx, const optk_optim_options *o) {
    setup host, cap;
    make(&host, ctx, o, 5);
    make(&cap, ctx, o, 5);
    optk_step_scalars *sc = scalars_new(ctx, 0.0, 1.0);
    for (int k = 0; k < STEPS; ++k) {
        upload_grads(&host, k, 1.0f);
        upload_grads(&cap, k, 1.0f);
        cr_assert_eq(optk_optimizer_set_lr(host.opt, lr_of_step(k)), OPTK_OK);
        cr_assert_eq(optk_optimizer_step_groups(host.opt, host.groups, 2, NULL, NULL), OPTK_OK,
                     "%s: %s", optk_rule_name(o->rule), optk_context_last_error(ctx));
        scalars_set(ctx, sc, lr_of_step(k), 1.0);
        cr_assert_eq(optk_optimizer_step_capturable(cap.opt, cap.groups, 2, NULL, sc), OPTK_OK,
                     "%s: %s", optk_rule_name(o->rule), optk_context_last_error(ctx));
    }
    const optk_step_scalars out = scalars_read(ctx, sc);
    cr_assert_eq(out.step, STEPS);
    cr_assert_eq(out.found_inf, 0);
    cr_assert_eq(out.rejected, 0);
    if (o->rule == OPTK_RULE_SCHEDULE_FREE_ADAMW || o->rule == OPTK_RULE_SCHEDULE_FREE_SGD) {
        /* The swap keys its stochastic rounding by the counter the steps left. */
        cr_assert_eq(optk_optimizer_eval(host.opt, host.t, COUNT), OPTK_OK);
        cr_assert_eq(optk_optimizer_eval(cap.opt, cap.t, COUNT), OPTK_OK, "%s",
                     optk_context_last_error(ctx));
    }
    size_t nh, nc;
    unsigned char *a = snapshot(&host, &nh), *b = snapshot(&cap, &nc);
    cr_assert_eq(nh, nc);
    char what[96];
    snprintf(what, sizeof what, "%s (%s%s) capturable vs host", optk_rule_name(o->rule),
             optk_dtype_name(o->param_dtype), o->stochastic_rounding ? ", sr" : "");
    test_assert_bits_equal(b, a, nh, 1, what);
    free(a);
    free(b);
    optk_mem_free(ctx, sc);
    release(&host);
    release(&cap);
}

BACKEND_TEST(capturable, every_rule_matches_host_steps_bit_for_bit) {
    optk_context *ctx = test_context(backend);
    for (int r = 0; r < OPTK_RULE_COUNT; ++r) {
        const optk_optim_options o = options_for((optk_rule)r, OPTK_F32, false);
        check_rule(ctx, &o);
    }
    optk_context_free(ctx);
}

BACKEND_TEST(capturable, mixed_precision_and_stochastic_rounding_match_host_steps) {
    optk_context *ctx = test_context(backend);
    const optk_rule rules[] = {OPTK_RULE_ADAMW, OPTK_RULE_LION, OPTK_RULE_SCHEDULE_FREE_ADAMW};
    for (int r = 0; r < 3; ++r) {
        optk_optim_options o = options_for(rules[r], OPTK_BF16, false);
        check_rule(ctx, &o);
        o = options_for(rules[r], OPTK_F16, false);
        check_rule(ctx, &o);
        o = options_for(rules[r], OPTK_BF16, true); /* the stream comes from the device step */
        check_rule(ctx, &o);
    }
    optk_context_free(ctx);
}

/* Loss scale 1024, clipping to 0.5, and an Inf in the second step's gradients: the
 * capturable steps skip it (found_inf, counter kept, every byte unchanged) and otherwise
 * match host steps with the same grad options. */
static void check_guard(optk_context *ctx, optk_rule rule) {
    const optk_optim_options o = options_for(rule, OPTK_F32, false);
    setup host, cap;
    make(&host, ctx, &o, 8);
    make(&cap, ctx, &o, 8);
    const double inv_scale = 1.0 / 1024.0;
    optk_step_scalars *sc = scalars_new(ctx, 1e-3, inv_scale);
    cr_assert_eq(optk_optimizer_set_lr(host.opt, 1e-3), OPTK_OK);
    const optk_capture_options guard = {.guard = true, .max_norm = 0.5};
    const optk_grad_options grad = {.inv_scale = inv_scale, .max_norm = 0.5};
    for (int k = 0; k < 4; ++k) {
        upload_grads(&cap, k, 1024.0f);
        upload_grads(&host, k, 1024.0f);
        const float inf = k == 1 ? INFINITY : NAN;
        if (k == 1 || k == 2) { /* one non-finite gradient, in the last tensor (group 1) */
            cr_assert_eq(optk_mem_upload(ctx, (float *)cap.bufs[2][1].data + 4000, &inf, 4),
                         OPTK_OK);
        }
        size_t n0 = 0;
        unsigned char *before = snapshot(&cap, &n0);
        cr_assert_eq(optk_optimizer_step_capturable(cap.opt, cap.groups, 2, &guard, sc), OPTK_OK,
                     "%s", optk_context_last_error(ctx));
        const optk_step_scalars out = scalars_read(ctx, sc);
        if (k == 1 || k == 2) {
            cr_assert_eq(out.found_inf, 1, "step %d: found_inf not set", k);
            cr_assert_eq(out.step, 1, "step %d: a skipped step advanced the counter", k);
            cr_assert(!isfinite(out.grad_norm));
            size_t n1 = 0;
            unsigned char *after = snapshot(&cap, &n1);
            cr_assert_eq(n0, n1);
            test_assert_bits_equal(after, before, n0, 1, "buffers after a skipped step");
            free(after);
        } else {
            optk_step_report report;
            cr_assert_eq(optk_optimizer_step_groups(host.opt, host.groups, 2, &grad, &report),
                         OPTK_OK);
            cr_assert_eq(out.found_inf, 0);
            cr_assert_eq(out.rejected, 0);
            cr_assert_eq(out.step, optk_optimizer_step_count(host.opt));
            cr_assert_eq(memcmp(&out.grad_norm, &report.grad_norm, sizeof(double)), 0,
                         "step %d: norm %.17g, host %.17g", k, out.grad_norm, report.grad_norm);
        }
        free(before);
    }
    size_t nh, nc;
    unsigned char *a = snapshot(&host, &nh), *b = snapshot(&cap, &nc);
    cr_assert_eq(nh, nc);
    test_assert_bits_equal(b, a, nh, 1, "guarded capturable vs scaled host steps");
    free(a);
    free(b);
    optk_mem_free(ctx, sc);
    release(&host);
    release(&cap);
}

BACKEND_TEST(capturable, guard_skips_non_finite_steps_and_matches_scaled_host_steps) {
    optk_context *ctx = test_context(backend);
    check_guard(ctx, OPTK_RULE_ADAMW);
    check_guard(ctx, OPTK_RULE_SCHEDULE_FREE_ADAMW); /* its carried scalars keep too */
    optk_context_free(ctx);
}

/* lr NaN or negative, inv_scale 0 or Inf, a negative counter: rejected, nothing written. */
BACKEND_TEST(capturable, bad_scalars_are_rejected_at_run_time_with_nothing_written) {
    optk_context *ctx = test_context(backend);
    const optk_optim_options o = options_for(OPTK_RULE_ADAM, OPTK_F32, false);
    setup x;
    make(&x, ctx, &o, 9);
    upload_grads(&x, 0, 1.0f);
    optk_step_scalars *sc = scalars_new(ctx, 1e-3, 1.0);
    const optk_step_scalars bad[] = {
        {.lr = NAN, .inv_scale = 1.0},       {.lr = -1e-3, .inv_scale = 1.0},
        {.lr = INFINITY, .inv_scale = 1.0},  {.lr = 1e-3, .inv_scale = 0.0},
        {.lr = 1e-3, .inv_scale = INFINITY}, {.lr = 1e-3, .inv_scale = 1.0, .step = -2},
        {.lr = 1e300, .inv_scale = 1.0}, /* lr / bc1 overflows float */
    };
    size_t n0, n1;
    unsigned char *before = snapshot(&x, &n0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        cr_assert_eq(optk_mem_upload(ctx, sc, &bad[i], sizeof bad[i]), OPTK_OK);
        cr_assert_eq(optk_optimizer_step_capturable(x.opt, x.groups, 2, NULL, sc), OPTK_OK);
        const optk_step_scalars out = scalars_read(ctx, sc);
        cr_assert_eq(out.rejected, 1, "bad scalars %zu not rejected", i);
        cr_assert_eq(out.step, bad[i].step, "bad scalars %zu: the counter moved", i);
        unsigned char *after = snapshot(&x, &n1);
        test_assert_bits_equal(after, before, n0, 1, "buffers after a rejected step");
        free(after);
    }
    scalars_set(ctx, sc, 1e-3, 1.0);
    const optk_step_scalars fixed = {.lr = 1e-3, .inv_scale = 1.0, .step = 0};
    cr_assert_eq(optk_mem_upload(ctx, sc, &fixed, sizeof fixed), OPTK_OK);
    cr_assert_eq(optk_optimizer_step_capturable(x.opt, x.groups, 2, NULL, sc), OPTK_OK);
    const optk_step_scalars out = scalars_read(ctx, sc);
    cr_assert_eq(out.rejected, 0);
    cr_assert_eq(out.step, 1);
    free(before);
    optk_mem_free(ctx, sc);
    release(&x);
    optk_context_free(ctx);
}

BACKEND_TEST(capturable, bad_calls_are_refused_with_nothing_written) {
    optk_context *ctx = test_context(backend);
    optk_optim_options o = options_for(OPTK_RULE_SCHEDULE_FREE_ADAMW, OPTK_F32, false);
    o.r = 0.5;
    setup x;
    make(&x, ctx, &o, 10);
    upload_grads(&x, 0, 1.0f);
    optk_step_scalars *sc = scalars_new(ctx, 1e-3, 1.0);
    size_t n0, n1;
    unsigned char *before = snapshot(&x, &n0);
    cr_assert_eq(optk_optimizer_step_capturable(x.opt, x.groups, 2, NULL, sc),
                 OPTK_ERR_INVALID_ARGUMENT, "a non-integer Schedule-Free r was taken");
    cr_assert(strstr(optk_context_last_error(ctx), "integers"), "%s", optk_context_last_error(ctx));
    release(&x);

    o.r = 0.0;
    make(&x, ctx, &o, 10);
    upload_grads(&x, 0, 1.0f);
    free(before);
    before = snapshot(&x, &n0);
    cr_assert_eq(optk_optimizer_step_capturable(x.opt, x.groups, 2, NULL, NULL),
                 OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_optimizer_step_capturable(x.opt, x.groups, 2, NULL,
                                                (optk_step_scalars *)((char *)sc + 4)),
                 OPTK_ERR_INVALID_ARGUMENT, "misaligned scalars were taken");
    optk_param_group many[65];
    for (int g = 0; g < 65; ++g)
        many[g] = (optk_param_group){x.t + (g % COUNT), 1, 1.0, 1.0};
    cr_assert_eq(optk_optimizer_step_capturable(x.opt, many, 65, NULL, sc),
                 OPTK_ERR_INVALID_ARGUMENT, "65 groups were taken");
    const optk_capture_options negative = {.guard = true, .max_norm = -1.0};
    cr_assert_eq(optk_optimizer_step_capturable(x.opt, x.groups, 2, &negative, sc),
                 OPTK_ERR_INVALID_ARGUMENT, "max_norm -1 was taken");
    unsigned char *after = snapshot(&x, &n1);
    test_assert_bits_equal(after, before, n0, 1, "buffers after refused calls");
    free(after);
    cr_assert_eq(scalars_read(ctx, sc).step, 0);

    /* Once capturable, always capturable: a host step is refused. */
    cr_assert_eq(optk_optimizer_step_capturable(x.opt, x.groups, 2, NULL, sc), OPTK_OK);
    cr_assert_eq(optk_optimizer_step(x.opt, x.t, COUNT), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "capturable"), "%s",
              optk_context_last_error(ctx));
    free(before);
    optk_mem_free(ctx, sc);
    release(&x);
    optk_context_free(ctx);
}

/* The point of it all: one AdamW step (guarded, clipped, two groups) captured in a CUDA graph
 * once, then replayed with a new learning rate, new gradients and once with an Inf among
 * them; after every replay the bytes equal those of host steps given the same values. */
#ifdef OPTK_TEST_CUDA_RUNTIME
#include <cuda_runtime_api.h>

static void check_cuda(cudaError_t err, const char *what) {
    cr_assert_eq(err, cudaSuccess, "%s: %s", what, cudaGetErrorString(err));
}

Test(capturable, cuda_graph_replays_with_changing_scalars) {
    optk_context *ctx = test_context(OPTK_BACKEND_CUDA);
    cudaStream_t stream;
    check_cuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream");
    cr_assert_eq(optk_context_set_stream(ctx, stream), OPTK_OK);
    const optk_optim_options o = options_for(OPTK_RULE_ADAMW, OPTK_BF16, false);
    setup host, cap;
    make(&host, ctx, &o, 12);
    make(&cap, ctx, &o, 12);
    optk_step_scalars *sc = scalars_new(ctx, lr_of_step(0), 1.0 / 256.0);
    const optk_capture_options guard = {.guard = true, .max_norm = 1.0};

    /* Warm-up, outside capture: allocates the optimizer's scratch. */
    upload_grads(&cap, 0, 256.0f);
    upload_grads(&host, 0, 256.0f);
    cr_assert_eq(optk_optimizer_step_capturable(cap.opt, cap.groups, 2, &guard, sc), OPTK_OK);
    cr_assert_eq(optk_optimizer_set_lr(host.opt, lr_of_step(0)), OPTK_OK);
    const optk_grad_options grad = {.inv_scale = 1.0 / 256.0, .max_norm = 1.0};
    cr_assert_eq(optk_optimizer_step_groups(host.opt, host.groups, 2, &grad, NULL), OPTK_OK);

    cudaGraph_t graph;
    cudaGraphExec_t exec;
    check_cuda(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), "begin capture");
    const optk_status captured = optk_optimizer_step_capturable(cap.opt, cap.groups, 2, &guard, sc);
    check_cuda(cudaStreamEndCapture(stream, &graph), "end capture");
    cr_assert_eq(captured, OPTK_OK, "capturing: %s", optk_context_last_error(ctx));
    check_cuda(cudaGraphInstantiate(&exec, graph, 0), "instantiate");

    for (int k = 1; k <= 4; ++k) {
        upload_grads(&cap, k, 256.0f);
        upload_grads(&host, k, 256.0f);
        const float inf = INFINITY;
        if (k == 2)
            cr_assert_eq(optk_mem_upload(ctx, (float *)cap.bufs[0][1].data + 1, &inf, 4), OPTK_OK);
        scalars_set(ctx, sc, lr_of_step(k), 1.0 / 256.0);
        check_cuda(cudaGraphLaunch(exec, stream), "replay");
        check_cuda(cudaStreamSynchronize(stream), "replay");
        const optk_step_scalars out = scalars_read(ctx, sc);
        cr_assert_eq(out.found_inf, k == 2, "replay %d: found_inf %d", k, out.found_inf);
        if (k != 2) {
            cr_assert_eq(optk_optimizer_set_lr(host.opt, lr_of_step(k)), OPTK_OK);
            cr_assert_eq(optk_optimizer_step_groups(host.opt, host.groups, 2, &grad, NULL),
                         OPTK_OK);
        }
        cr_assert_eq(out.step, optk_optimizer_step_count(host.opt), "replay %d", k);
        size_t nh, nc;
        unsigned char *a = snapshot(&host, &nh), *b = snapshot(&cap, &nc);
        char what[64];
        snprintf(what, sizeof what, "replay %d vs host steps", k);
        if (k != 2) test_assert_bits_equal(b, a, nh, 1, what);
        free(a);
        free(b);
    }
    check_cuda(cudaGraphExecDestroy(exec), "destroy");
    check_cuda(cudaGraphDestroy(graph), "destroy");
    optk_mem_free(ctx, sc);
    release(&host);
    release(&cap);
    cr_assert_eq(optk_context_set_stream(ctx, NULL), OPTK_OK);
    check_cuda(cudaStreamDestroy(stream), "stream");
    optk_context_free(ctx);
}
#else
Test(capturable, cuda_graph_replays_with_changing_scalars) {
    cr_skip_test("the cuda backend is not compiled into this build");
}
#endif
