/* test_optimizer.c — the optimizer object on every backend: every rule on awkward sizes
 * (tile-sized and larger tensors take CUDA's vector path, which the reference data's small
 * tensors do not), CUDA equal to the CPU bit for bit, state initialisation, the step counter,
 * and refusals that leave every byte as it was. */
#include "harness.h"

#include <math.h>
#include <stdlib.h>

/* Every rule, in its default form and in the variants that change its state layout. */
static int rule_variants(optk_optim_options out[32]) {
    int n = 0;
    for (int r = 0; r < OPTK_RULE_COUNT; ++r) {
        optk_optim_options o = optk_optim_default_options((optk_rule)r);
        o.batch_tokens = 256.0; /* Sophia needs it; others ignore it */
        out[n++] = o;
    }
    optk_optim_options o = optk_optim_default_options(OPTK_RULE_SGD);
    o.momentum = 0.9;
    o.nesterov = true;
    out[n++] = o;
    o = optk_optim_default_options(OPTK_RULE_SIGNUM);
    o.momentum = 0.0;
    out[n++] = o;
    o = optk_optim_default_options(OPTK_RULE_RMSPROP);
    o.centered = true;
    out[n++] = o;
    o.momentum = 0.5;
    out[n++] = o;
    o = optk_optim_default_options(OPTK_RULE_ADAM);
    o.amsgrad = true;
    o.maximize = true;
    out[n++] = o;
    o = optk_optim_default_options(OPTK_RULE_ADAHESSIAN);
    o.hessian_power = 0.6;
    out[n++] = o;
    return n;
}

typedef struct tensors_on {
    int count, nstate;
    test_buffer *bufs; /* count * (2 + nstate) */
    optk_param_tensor *t;
} tensors_on;

static tensors_on make_tensors(optk_context *ctx, const int64_t *sizes, int count, int nstate,
                               uint64_t seed) {
    tensors_on x = {.count = count, .nstate = nstate};
    x.bufs = calloc((size_t)count * (2 + nstate), sizeof *x.bufs);
    x.t = calloc((size_t)count, sizeof *x.t);
    for (int t = 0; t < count; ++t) {
        float *host = malloc((size_t)sizes[t] * sizeof(float));
        x.t[t].numel = sizes[t];
        for (int b = 0; b < 2 + nstate; ++b) {
            /* Parameters in [-1, 1], gradients away from zero, curvature states positive. */
            test_fill_uniform(host, (size_t)sizes[t], b == 0 ? -1.0f : 0.01f, 1.0f,
                              seed + 977u * (uint64_t)t + (uint64_t)b);
            if (b == 1) {
                for (int64_t i = 0; i < sizes[t]; i += 2)
                    host[i] = -host[i];
            }
            test_buffer *buf = &x.bufs[t * (2 + nstate) + b];
            *buf = test_buffer_new(ctx, (size_t)sizes[t], 4, host);
            if (b == 0)
                x.t[t].param = buf->data;
            else if (b == 1)
                x.t[t].grad = buf->data;
            else
                x.t[t].state[b - 2] = buf->data;
        }
        free(host);
    }
    return x;
}

/* Gives the curvature state (written by the estimators, read by the step) positive values. */
static void refill_curvature(optk_context *ctx, const tensors_on *x, int state, uint64_t seed) {
    for (int t = 0; t < x->count; ++t) {
        float *host = malloc((size_t)x->t[t].numel * sizeof(float));
        test_fill_uniform(host, (size_t)x->t[t].numel, 1e-3f, 1.0f, seed + (uint64_t)t);
        cr_assert_eq(
            optk_mem_upload(ctx, x->t[t].state[state], host, (size_t)x->t[t].numel * sizeof(float)),
            OPTK_OK);
        free(host);
    }
}

/* Downloads buffer b of tensor t. */
static float *read_buffer(const tensors_on *x, int t, int b) {
    const test_buffer *buf = &x->bufs[t * (2 + x->nstate) + b];
    float *host = malloc(buf->bytes);
    test_buffer_read(buf, host);
    return host;
}

static void free_tensors(tensors_on *x) {
    for (int i = 0; i < x->count * (2 + x->nstate); ++i) {
        test_buffer_check_guards(&x->bufs[i], "optimizer buffer");
        test_buffer_free(&x->bufs[i]);
    }
    free(x->bufs);
    free(x->t);
}

static const int64_t sizes[] = {1, 3, 2048, 4096 + 4, (1 << 20) + 7, 1023};
enum { NSIZES = 6, STEPS = 3 };

BACKEND_TEST(optimizer, every_rule_updates_every_element_and_cuda_equals_cpu) {
    optk_context *ctx = test_context(backend);
    optk_context *cpu = backend == OPTK_BACKEND_CPU ? NULL : test_context(OPTK_BACKEND_CPU);
    optk_optim_options variants[32];
    const int nvariants = rule_variants(variants);
    for (int v = 0; v < nvariants; ++v) {
        const optk_optim_options *o = &variants[v];
        const int nstate = optk_optim_state_count(o);
        optk_context *ctxs[2] = {ctx, cpu};
        float *results[2][NSIZES][1 + OPTK_MAX_STATE] = {{{0}}};
        for (int which = 0; which < (cpu ? 2 : 1); ++which) {
            optk_optimizer *opt = NULL;
            cr_assert_eq(optk_optimizer_create(ctxs[which], o, &opt), OPTK_OK, "%s: %s",
                         optk_rule_name(o->rule), optk_context_last_error(ctxs[which]));
            tensors_on x = make_tensors(ctxs[which], sizes, NSIZES, nstate, 1000u + (uint64_t)v);
            cr_assert_eq(optk_optimizer_init_state(opt, x.t, NSIZES), OPTK_OK);
            if (o->rule == OPTK_RULE_SOPHIA || o->rule == OPTK_RULE_ADAHESSIAN) {
                refill_curvature(ctxs[which], &x, nstate - 1, 3000u + (uint64_t)v);
            }
            float *before = read_buffer(&x, 4, 0);
            for (int s = 0; s < STEPS; ++s) {
                cr_assert_eq(optk_optimizer_step(opt, x.t, NSIZES), OPTK_OK, "%s: %s",
                             optk_rule_name(o->rule), optk_context_last_error(ctxs[which]));
            }
            for (int t = 0; t < NSIZES; ++t) {
                results[which][t][0] = read_buffer(&x, t, 0);
                for (int k = 0; k < nstate; ++k)
                    results[which][t][1 + k] = read_buffer(&x, t, 2 + k);
            }
            /* Every parameter stays finite, and at least 99.9% move (a skipped tile would be
             * 0.2% of this tensor). Not all: a decay and a step can cancel within half an ulp
             * for a few of a million elements. On a GPU, equality with the CPU below is what
             * proves that every element was written. */
            const float *after = results[which][4][0];
            int64_t unchanged = 0;
            for (int64_t i = 0; i < sizes[4]; ++i) {
                cr_assert(isfinite(after[i]), "%s on %s: element %lld is %g",
                          optk_rule_name(o->rule),
                          optk_backend_name(optk_context_backend(ctxs[which])), (long long)i,
                          (double)after[i]);
                unchanged += after[i] == before[i];
            }
            cr_assert(unchanged * 1000 <= sizes[4], "%s on %s: %lld of %lld parameters unchanged",
                      optk_rule_name(o->rule), optk_backend_name(optk_context_backend(ctxs[which])),
                      (long long)unchanged, (long long)sizes[4]);
            free(before);
            free_tensors(&x);
            optk_optimizer_free(opt);
        }
        for (int t = 0; t < NSIZES; ++t) {
            for (int k = 0; k <= nstate; ++k) {
                if (cpu) {
                    char what[96];
                    snprintf(what, sizeof what, "%s (variant %d) vs cpu: tensor %d buffer %d",
                             optk_rule_name(o->rule), v, t, k);
                    test_assert_bits_equal(results[0][t][k], results[1][t][k], (size_t)sizes[t], 4,
                                           what);
                    free(results[1][t][k]);
                }
                free(results[0][t][k]);
            }
        }
    }
    optk_context_free(cpu);
    optk_context_free(ctx);
}

BACKEND_TEST(optimizer, init_state_sets_each_rules_starting_values) {
    optk_context *ctx = test_context(backend);
    const int64_t n[] = {4099};
    const struct {
        optk_rule rule;
        double init;
    } cases[] = {
        {OPTK_RULE_ADAGRAD, 0.25}, {OPTK_RULE_SCHEDULE_FREE_ADAMW, 0}, {OPTK_RULE_ADAN, 0}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; ++c) {
        optk_optim_options o = optk_optim_default_options(cases[c].rule);
        o.initial_accumulator_value = cases[c].init;
        const int nstate = optk_optim_state_count(&o);
        optk_optimizer *opt = NULL;
        cr_assert_eq(optk_optimizer_create(ctx, &o, &opt), OPTK_OK);
        tensors_on x = make_tensors(ctx, n, 1, nstate, 77);
        cr_assert_eq(optk_optimizer_init_state(opt, x.t, 1), OPTK_OK, "%s",
                     optk_context_last_error(ctx));
        float *p = read_buffer(&x, 0, 0);
        for (int k = 0; k < nstate; ++k) {
            float *s = read_buffer(&x, 0, 2 + k);
            for (int64_t i = 0; i < n[0]; ++i) {
                float want = 0.0f;
                if (cases[c].rule == OPTK_RULE_ADAGRAD) want = (float)cases[c].init;
                if (cases[c].rule == OPTK_RULE_SCHEDULE_FREE_ADAMW && k == 0) want = p[i];
                cr_assert_eq(s[i], want, "%s state %s[%lld]: %g, want %g",
                             optk_rule_name(cases[c].rule), optk_optim_state_name(&o, k),
                             (long long)i, (double)s[i], (double)want);
            }
            free(s);
        }
        free(p);
        free_tensors(&x);
        optk_optimizer_free(opt);
    }
    optk_context_free(ctx);
}

typedef struct bad_option {
    const char *why, *message;
    optk_rule rule;
    void (*spoil)(optk_optim_options *o);
} bad_option;

static void nesterov_without_momentum(optk_optim_options *o) {
    o->nesterov = true;
}
static void dampened_nesterov(optk_optim_options *o) {
    o->nesterov = true, o->momentum = 0.9, o->dampening = 0.1;
}
static void no_batch_tokens(optk_optim_options *o) {
    o->batch_tokens = 0.0;
}
static void power_above_one(optk_optim_options *o) {
    o->hessian_power = 1.5;
}
static void nan_beta3(optk_optim_options *o) {
    o->beta3 = NAN;
}
static void negative_warmup(optk_optim_options *o) {
    o->warmup_steps = -1;
}
static void zero_sf_momentum(optk_optim_options *o) {
    o->momentum = 0.0;
}
static void alpha_above_one(optk_optim_options *o) {
    o->alpha = 1.5;
}
static void negative_lr_decay(optk_optim_options *o) {
    o->lr_decay = -1e-3;
}
static void infinite_lr(optk_optim_options *o) {
    o->lr = INFINITY;
}
static void unknown_rule(optk_optim_options *o) {
    o->rule = (optk_rule)99;
}

static const bad_option bad_options[] = {
    {"nesterov without momentum", "nesterov needs momentum > 0", OPTK_RULE_SGD,
     nesterov_without_momentum},
    {"nesterov with dampening", "dampening 0.1", OPTK_RULE_SGD, dampened_nesterov},
    {"Sophia without batch_tokens", "batch_tokens", OPTK_RULE_SOPHIA, no_batch_tokens},
    {"hessian_power 1.5", "hessian_power must be in (0, 1]", OPTK_RULE_ADAHESSIAN, power_above_one},
    {"NaN beta3", "beta3", OPTK_RULE_ADAN, nan_beta3},
    {"negative warm-up", "warmup_steps must be >= 0", OPTK_RULE_SCHEDULE_FREE_SGD, negative_warmup},
    {"Schedule-Free momentum 0", "beta1 (momentum) > 0", OPTK_RULE_SCHEDULE_FREE_SGD,
     zero_sf_momentum},
    {"alpha 1.5", "alpha", OPTK_RULE_RMSPROP, alpha_above_one},
    {"negative lr_decay", "lr_decay", OPTK_RULE_ADAGRAD, negative_lr_decay},
    {"infinite lr", "lr must be finite", OPTK_RULE_LION, infinite_lr},
    {"unknown rule", "unknown rule 99", OPTK_RULE_SGD, unknown_rule},
};

BACKEND_TEST(optimizer, bad_options_are_refused_with_a_message) {
    optk_context *ctx = test_context(backend);
    for (size_t b = 0; b < sizeof bad_options / sizeof *bad_options; ++b) {
        optk_optim_options o = optk_optim_default_options(bad_options[b].rule);
        o.batch_tokens = 128.0;
        bad_options[b].spoil(&o);
        optk_optimizer *opt = (optk_optimizer *)&opt;
        cr_assert_eq(optk_optimizer_create(ctx, &o, &opt), OPTK_ERR_INVALID_ARGUMENT, "%s",
                     bad_options[b].why);
        cr_assert_null(opt, "%s: out must be NULL on failure", bad_options[b].why);
        const char *msg = optk_context_last_error(ctx);
        cr_assert(strstr(msg, bad_options[b].message) != NULL, "%s: message \"%s\" lacks \"%s\"",
                  bad_options[b].why, msg, bad_options[b].message);
    }
    optk_optimizer *opt = NULL;
    cr_assert_eq(optk_optimizer_create(ctx, NULL, &opt), OPTK_ERR_INVALID_ARGUMENT);
    optk_optim_options o = optk_optim_default_options(OPTK_RULE_SGD);
    cr_assert_eq(optk_optimizer_create(ctx, &o, NULL), OPTK_ERR_INVALID_ARGUMENT);
    optk_context_free(ctx);
}

BACKEND_TEST(optimizer, refused_steps_write_nothing_and_do_not_count) {
    optk_context *ctx = test_context(backend);
    optk_optim_options o = optk_optim_default_options(OPTK_RULE_SCHEDULE_FREE_ADAMW);
    optk_optimizer *opt = NULL;
    cr_assert_eq(optk_optimizer_create(ctx, &o, &opt), OPTK_OK);
    const int64_t n[] = {300, 2048};
    tensors_on x = make_tensors(ctx, n, 2, 2, 5);
    cr_assert_eq(optk_optimizer_init_state(opt, x.t, 2), OPTK_OK);
    cr_assert_eq(optk_optimizer_step(opt, x.t, 2), OPTK_OK);
    cr_assert_eq(optk_optimizer_step_count(opt), 1);
    float *before[2][4];
    for (int t = 0; t < 2; ++t) {
        for (int b = 0; b < 4; ++b)
            before[t][b] = read_buffer(&x, t, b);
    }

    optk_param_tensor spoiled[2];
    memcpy(spoiled, x.t, sizeof spoiled);
    spoiled[1].state[1] = NULL;
    cr_assert_eq(optk_optimizer_step(opt, spoiled, 2), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "tensors[1].state[1] is NULL") != NULL);
    memcpy(spoiled, x.t, sizeof spoiled);
    spoiled[0].state[0] = spoiled[1].param; /* z of tensor 0 aliases tensor 1's parameter */
    cr_assert_eq(optk_optimizer_step(opt, spoiled, 2), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_optimizer_step(opt, x.t, 0), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_optimizer_set_lr(opt, -1.0), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_optimizer_options(opt)->lr, o.lr, "a refused lr must not be kept");
    cr_assert_eq(optk_optimizer_step_count(opt), 1, "refused steps must not count");

    cr_assert_eq(optk_optimizer_eval(opt, x.t, 2), OPTK_OK);
    cr_assert_eq(optk_optimizer_step(opt, x.t, 2), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "eval mode") != NULL);
    cr_assert_eq(optk_optimizer_eval(opt, x.t, 2), OPTK_OK); /* already there: nothing moves */
    cr_assert_eq(optk_optimizer_train(opt, x.t, 2), OPTK_OK);
    for (int t = 0; t < 2; ++t) {
        for (int b = 1; b < 4; ++b) { /* grad and states untouched; p went to x and back */
            float *after = read_buffer(&x, t, b);
            test_assert_bits_equal(after, before[t][b], (size_t)n[t], 4, "buffer after refusals");
            free(after);
        }
        float *p = read_buffer(&x, t, 0);
        for (int64_t i = 0; i < n[t]; ++i) {
            cr_assert(fabsf(p[i] - before[t][0][i]) <= 1e-6f, "param %lld after eval+train",
                      (long long)i);
        }
        free(p);
        for (int b = 0; b < 4; ++b)
            free(before[t][b]);
    }
    cr_assert_eq(optk_optimizer_step_count(opt), 1);

    optk_optimizer *sgd = NULL;
    optk_optim_options so = optk_optim_default_options(OPTK_RULE_SGD);
    cr_assert_eq(optk_optimizer_create(ctx, &so, &sgd), OPTK_OK);
    cr_assert_eq(optk_optimizer_eval(sgd, x.t, 2), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "sgd has no train/eval modes") != NULL);
    cr_assert_eq(optk_optimizer_set_lr(sgd, 0.5), OPTK_OK);
    cr_assert_eq(optk_optimizer_options(sgd)->lr, 0.5);
    optk_optimizer_free(sgd);
    free_tensors(&x);
    optk_optimizer_free(opt);
    optk_context_free(ctx);
}

Test(optimizer, names_defaults_and_state_layouts) {
    cr_assert_str_eq(optk_rule_name(OPTK_RULE_SCHEDULE_FREE_SGD), "schedule_free_sgd");
    cr_assert_str_eq(optk_rule_name((optk_rule)77), "unknown");
    optk_optim_options o = optk_optim_default_options(OPTK_RULE_ADAN);
    cr_assert(o.beta1 == 0.98 && o.beta2 == 0.92 && o.beta3 == 0.99 && o.eps == 1e-8);
    o = optk_optim_default_options(OPTK_RULE_SOPHIA);
    cr_assert(o.lr == 1e-4 && o.beta1 == 0.965 && o.beta2 == 0.99 && o.rho == 0.04 &&
              o.weight_decay == 0.1);
    o = optk_optim_default_options(OPTK_RULE_ADABELIEF);
    cr_assert(o.eps == 1e-16 && o.rectify && o.weight_decouple && !o.fixed_decay);
    o = optk_optim_default_options(OPTK_RULE_SCHEDULE_FREE_ADAMW);
    cr_assert(o.lr == 0.0025 && o.weight_lr_power == 2.0 && o.r == 0.0 && o.warmup_steps == 0);
    o = optk_optim_default_options(OPTK_RULE_RMSPROP);
    cr_assert_eq(optk_optim_state_count(&o), 1);
    o.centered = true;
    o.momentum = 0.9;
    cr_assert_eq(optk_optim_state_count(&o), 3);
    cr_assert_str_eq(optk_optim_state_name(&o, 1), "grad_avg");
    cr_assert_str_eq(optk_optim_state_name(&o, 2), "momentum_buffer");
    cr_assert_null(optk_optim_state_name(&o, 3));
    o = optk_optim_default_options(OPTK_RULE_SGD);
    cr_assert_eq(optk_optim_state_count(&o), 0);
    o = optk_optim_default_options(OPTK_RULE_ADAN);
    cr_assert_eq(optk_optim_state_count(&o), 4);
    cr_assert_eq(optk_optim_state_count(NULL), -1);
}
