/* test_optim_reference.c — every optimizer rule over 100 steps against its reference, on
 * every backend: PyTorch's own SGD, Adagrad, RMSprop, Adam and AdamW, and float64
 * transcriptions of the official code for the others (tests/data/optim_reference.txt, from
 * tests/reference/optim_reference.py). A non-CPU backend must also equal the CPU bit for bit.
 * Schedule-Free runs its eval/train swap at the end and checks the evaluation point and the
 * round trip. */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"
#include "reference_data.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

enum { NTENSORS = 3, MAX_CONFIGS = 32, STEPS = 100 };

typedef struct ref_config {
    char name[64];
    optk_optim_options opt;
} ref_config;

typedef struct ref_data {
    int64_t sizes[NTENSORS];
    int nconfigs;
    ref_config configs[MAX_CONFIGS];
    char *text;
} ref_data;

/* ---- the data file ---- */

typedef struct field {
    const char *name;
    size_t offset;
    char type; /* 'd' double, 'b' bool, 'i' int64 */
} field;

#define FIELD(n, t)                                                                                \
    { #n, offsetof(optk_optim_options, n), t }
static const field fields[] = {
    FIELD(lr, 'd'),
    FIELD(weight_decay, 'd'),
    FIELD(maximize, 'b'),
    FIELD(momentum, 'd'),
    FIELD(dampening, 'd'),
    FIELD(nesterov, 'b'),
    FIELD(alpha, 'd'),
    FIELD(centered, 'b'),
    FIELD(lr_decay, 'd'),
    FIELD(initial_accumulator_value, 'd'),
    FIELD(beta1, 'd'),
    FIELD(beta2, 'd'),
    FIELD(beta3, 'd'),
    FIELD(eps, 'd'),
    FIELD(amsgrad, 'b'),
    FIELD(weight_decouple, 'b'),
    FIELD(fixed_decay, 'b'),
    FIELD(rectify, 'b'),
    FIELD(degenerated_to_sgd, 'b'),
    FIELD(no_prox, 'b'),
    FIELD(rho, 'd'),
    FIELD(batch_tokens, 'd'),
    FIELD(hessian_power, 'd'),
    FIELD(warmup_steps, 'i'),
    FIELD(r, 'd'),
    FIELD(weight_lr_power, 'd'),
};

static void set_field(optk_optim_options *o, const char *key, const char *value) {
    for (size_t f = 0; f < sizeof fields / sizeof *fields; ++f) {
        if (strcmp(fields[f].name, key) != 0) continue;
        char *at = (char *)o + fields[f].offset;
        const double v = strtod(value, NULL);
        const bool b = v != 0.0;
        const int64_t n = (int64_t)v;
        if (fields[f].type == 'd')
            memcpy(at, &v, sizeof v);
        else if (fields[f].type == 'b')
            memcpy(at, &b, sizeof b);
        else
            memcpy(at, &n, sizeof n);
        return;
    }
    cr_assert_fail("unknown option field '%s' in the reference data", key);
}

static optk_rule rule_named(const char *name) {
    for (int r = 0; r < OPTK_RULE_COUNT; ++r) {
        if (strcmp(optk_rule_name((optk_rule)r), name) == 0) return (optk_rule)r;
    }
    cr_assert_fail("unknown rule '%s' in the reference data", name);
    return OPTK_RULE_COUNT;
}

static ref_data load(void) {
    ref_data d = {0};
    d.text = ref_read_data_file("optim_reference.txt");
    for (char *line = d.text; *line;) {
        char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        char buf[1024];
        if (n < sizeof buf &&
            (strncmp(line, "config ", 7) == 0 || strncmp(line, "sizes ", 6) == 0)) {
            memcpy(buf, line, n);
            buf[n] = '\0';
            char *save = NULL, *tok = strtok_r(buf, " ", &save);
            if (strcmp(tok, "sizes") == 0) {
                for (int t = 0; t < NTENSORS; ++t)
                    d.sizes[t] = atoll(strtok_r(NULL, " ", &save));
            } else {
                int idx = atoi(strtok_r(NULL, " ", &save));
                cr_assert(idx == d.nconfigs && idx < MAX_CONFIGS);
                ref_config *c = &d.configs[d.nconfigs++];
                snprintf(c->name, sizeof c->name, "%s", strtok_r(NULL, " ", &save));
                c->opt = optk_optim_default_options(rule_named(strtok_r(NULL, " ", &save)));
                strtok_r(NULL, " ", &save); /* source */
                while ((tok = strtok_r(NULL, " ", &save)) != NULL) {
                    char *eq = strchr(tok, '=');
                    cr_assert_not_null(eq);
                    *eq = '\0';
                    set_field(&c->opt, tok, eq + 1);
                }
            }
        }
        line = end ? end + 1 : line + n;
    }
    cr_assert(d.sizes[0] > 0 && d.nconfigs >= 20, "reference data incomplete: %d configs",
              d.nconfigs);
    return d;
}

/* The reference values of (config, step, tensor, label), or NULL when the file has none. */
static const char *find_values(const ref_data *d, int c, int step, int t, const char *label) {
    char head[96];
    snprintf(head, sizeof head, "\nvalues %d %d %d %s ", c, step, t, label);
    const char *at = strstr(d->text, head);
    return at ? at + strlen(head) : NULL;
}

/* Relative-error floor per quantity: parameters, first moments and Schedule-Free's z can
 * cancel to near zero, where the rounding of their O(1e-2) / O(1e-3) terms is what is left;
 * second moments and sums are sums of squares. */
static double floor_scale(const char *label) {
    if (strncmp(label, "param", 5) == 0 || strcmp(label, "z") == 0) return 1e-2;
    if (strcmp(label, "m") == 0 || strcmp(label, "momentum_buffer") == 0 ||
        strcmp(label, "grad_avg") == 0 || strcmp(label, "d") == 0) {
        return 1e-3;
    }
    return 1e-12;
}

static double compare(const ref_data *d, int c, int step, int t, const char *label,
                      const float *got) {
    const char *at = find_values(d, c, step, t, label);
    cr_assert_not_null(at, "%s: no reference for step %d tensor %d %s", d->configs[c].name, step, t,
                       label);
    double worst = 0.0;
    for (int64_t i = 0; i < d->sizes[t]; ++i) {
        char *end;
        double want = strtod(at, &end);
        cr_assert(end != at, "%s step %d tensor %d %s: value %lld missing", d->configs[c].name,
                  step, t, label, (long long)i);
        at = end;
        double err = fabs((double)got[i] - want) / fmax(fabs(want), floor_scale(label));
        cr_assert(err <= 1e-4, "%s step %d tensor %d %s[%lld]: got %.9g, reference %.9g",
                  d->configs[c].name, step, t, label, (long long)i, (double)got[i], want);
        if (err > worst) worst = err;
    }
    return worst;
}

/* ---- one config on one backend ---- */

typedef struct run_result {
    float *final[NTENSORS][1 + OPTK_MAX_STATE]; /* param, states after the last step */
    double worst;
} run_result;

static run_result run_config(optk_context *ctx, const ref_data *d, int c, bool check) {
    const optk_optim_options *o = &d->configs[c].opt;
    const int nstate = optk_optim_state_count(o);
    optk_optimizer *opt = NULL;
    cr_assert_eq(optk_optimizer_create(ctx, o, &opt), OPTK_OK, "%s: %s", d->configs[c].name,
                 optk_context_last_error(ctx));
    test_buffer bufs[NTENSORS][2 + OPTK_MAX_STATE];
    optk_param_tensor tensors[NTENSORS] = {{0}};
    float *host[NTENSORS];
    for (int t = 0; t < NTENSORS; ++t) {
        const int64_t n = d->sizes[t];
        host[t] = malloc((size_t)n * sizeof(float));
        for (int64_t i = 0; i < n; ++i)
            host[t][i] = ref_input(0, c, 0, t, i);
        bufs[t][0] = test_buffer_new(ctx, (size_t)n, 4, host[t]);
        bufs[t][1] = test_buffer_new(ctx, (size_t)n, 4, NULL);
        tensors[t] =
            (optk_param_tensor){.numel = n, .param = bufs[t][0].data, .grad = bufs[t][1].data};
        for (int s = 0; s < nstate; ++s) {
            bufs[t][2 + s] = test_buffer_new(ctx, (size_t)n, 4, NULL);
            tensors[t].state[s] = bufs[t][2 + s].data;
        }
    }
    cr_assert_eq(optk_optimizer_init_state(opt, tensors, NTENSORS), OPTK_OK, "%s",
                 optk_context_last_error(ctx));
    if (o->rule == OPTK_RULE_SOPHIA) { /* h: given, constant */
        for (int t = 0; t < NTENSORS; ++t) {
            for (int64_t i = 0; i < d->sizes[t]; ++i)
                host[t][i] = ref_input(2, c, 0, t, i);
            cr_assert_eq(
                optk_mem_upload(ctx, tensors[t].state[1], host[t], (size_t)d->sizes[t] * 4),
                OPTK_OK);
        }
    }
    run_result r = {.worst = 0.0};
    for (int step = 1; step <= STEPS; ++step) {
        for (int t = 0; t < NTENSORS; ++t) {
            for (int64_t i = 0; i < d->sizes[t]; ++i)
                host[t][i] = ref_input(1, c, step, t, i);
            cr_assert_eq(optk_mem_upload(ctx, bufs[t][1].data, host[t], (size_t)d->sizes[t] * 4),
                         OPTK_OK);
            if (o->rule == OPTK_RULE_ADAHESSIAN) { /* D: a new estimate every step */
                for (int64_t i = 0; i < d->sizes[t]; ++i)
                    host[t][i] = ref_input(3, c, step, t, i);
                cr_assert_eq(
                    optk_mem_upload(ctx, tensors[t].state[2], host[t], (size_t)d->sizes[t] * 4),
                    OPTK_OK);
            }
        }
        cr_assert_eq(optk_optimizer_step(opt, tensors, NTENSORS), OPTK_OK, "%s step %d: %s",
                     d->configs[c].name, step, optk_context_last_error(ctx));
        if (!check || (step != 1 && step != 10 && step != STEPS)) continue;
        for (int t = 0; t < NTENSORS; ++t) {
            for (int k = 0; k <= nstate; ++k) {
                test_buffer_read(&bufs[t][k == 0 ? 0 : 1 + k], host[t]);
                const char *label = k == 0 ? "param" : optk_optim_state_name(o, k - 1);
                double w = compare(d, c, step, t, label, host[t]);
                if (w > r.worst) r.worst = w;
            }
        }
    }
    cr_assert_eq(optk_optimizer_step_count(opt), STEPS);
    for (int t = 0; t < NTENSORS; ++t) {
        for (int k = 0; k <= nstate; ++k) {
            r.final[t][k] = malloc((size_t)d->sizes[t] * sizeof(float));
            test_buffer_read(&bufs[t][k == 0 ? 0 : 1 + k], r.final[t][k]);
        }
    }
    const bool schedule_free =
        o->rule == OPTK_RULE_SCHEDULE_FREE_ADAMW || o->rule == OPTK_RULE_SCHEDULE_FREE_SGD;
    if (schedule_free && check) {
        cr_assert_eq(optk_optimizer_eval(opt, tensors, NTENSORS), OPTK_OK);
        cr_assert_eq(optk_optimizer_step(opt, tensors, NTENSORS), OPTK_ERR_INVALID_ARGUMENT,
                     "a step in eval mode must be refused");
        for (int t = 0; t < NTENSORS; ++t) {
            test_buffer_read(&bufs[t][0], host[t]);
            compare(d, c, STEPS, t, "param_eval", host[t]);
        }
        cr_assert_eq(optk_optimizer_train(opt, tensors, NTENSORS), OPTK_OK);
        for (int t = 0; t < NTENSORS; ++t) { /* back to y, up to the rounding of two lerps */
            test_buffer_read(&bufs[t][0], host[t]);
            for (int64_t i = 0; i < d->sizes[t]; ++i) {
                float y = r.final[t][0][i];
                cr_assert(fabsf(host[t][i] - y) <= 1e-6f * fmaxf(fabsf(y), 1.0f),
                          "%s: eval/train round trip tensor %d [%lld]: %.9g -> %.9g",
                          d->configs[c].name, t, (long long)i, (double)y, (double)host[t][i]);
            }
        }
    }
    for (int t = 0; t < NTENSORS; ++t) {
        for (int b = 0; b < 2 + nstate; ++b) {
            char what[96];
            snprintf(what, sizeof what, "%s tensor %d buffer %d", d->configs[c].name, t, b);
            test_buffer_check_guards(&bufs[t][b], what);
            test_buffer_free(&bufs[t][b]);
        }
        free(host[t]);
    }
    optk_optimizer_free(opt);
    return r;
}

static void free_result(run_result *r, int nstate) {
    for (int t = 0; t < NTENSORS; ++t) {
        for (int k = 0; k <= nstate; ++k)
            free(r->final[t][k]);
    }
}

BACKEND_TEST(optim_reference, every_rule_matches_its_reference_over_100_steps) {
    optk_context *ctx = test_context(backend);
    optk_context *cpu = backend == OPTK_BACKEND_CPU ? NULL : test_context(OPTK_BACKEND_CPU);
    ref_data d = load();
    for (int c = 0; c < d.nconfigs; ++c) {
        const int nstate = optk_optim_state_count(&d.configs[c].opt);
        run_result r = run_config(ctx, &d, c, true);
        cr_log_info("%s %-30s worst relative error %.3g", optk_backend_name(backend),
                    d.configs[c].name, r.worst);
        if (cpu) {
            run_result ref = run_config(cpu, &d, c, false);
            for (int t = 0; t < NTENSORS; ++t) {
                for (int k = 0; k <= nstate; ++k) {
                    char what[96];
                    snprintf(what, sizeof what, "%s vs cpu: %s tensor %d buffer %d",
                             optk_backend_name(backend), d.configs[c].name, t, k);
                    test_assert_bits_equal(r.final[t][k], ref.final[t][k], (size_t)d.sizes[t], 4,
                                           what);
                }
            }
            free_result(&ref, nstate);
        }
        free_result(&r, nstate);
    }
    free(d.text);
    optk_context_free(cpu);
    optk_context_free(ctx);
}
