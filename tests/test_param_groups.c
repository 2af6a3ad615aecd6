/* test_param_groups.c — parameter groups on every backend: one grouped call equals, bit for
 * bit, separate optimizers built with each group's lr and weight decay (Schedule-Free's
 * per-group scalars included); the norm for clipping is global; bad groups are refused with
 * nothing written. */
#include "harness.h"

#include <math.h>
#include <stdlib.h>

enum { NT = 5, NB = 2 + OPTK_MAX_STATE };
static const int64_t sizes[NT] = {3, 2048, 4099, 1023, 70000};

typedef struct tensors {
    test_buffer bufs[NT][NB];
    optk_param_tensor t[NT];
    int nstate;
} tensors;

static void make(tensors *x, optk_context *ctx, int nstate) {
    x->nstate = nstate;
    for (int t = 0; t < NT; ++t) {
        float *host = malloc((size_t)sizes[t] * sizeof(float));
        x->t[t] = (optk_param_tensor){.numel = sizes[t]};
        for (int b = 0; b < 2 + nstate; ++b) {
            test_fill_uniform(host, (size_t)sizes[t], -1.0f, 1.0f,
                              100u * (uint64_t)t + (uint64_t)b);
            x->bufs[t][b] = test_buffer_new(ctx, (size_t)sizes[t], 4, host);
        }
        x->t[t].param = x->bufs[t][0].data;
        x->t[t].grad = x->bufs[t][1].data;
        for (int s = 0; s < nstate; ++s)
            x->t[t].state[s] = x->bufs[t][2 + s].data;
        free(host);
    }
}

static void release(tensors *x) {
    for (int t = 0; t < NT; ++t) {
        for (int b = 0; b < 2 + x->nstate; ++b)
            test_buffer_free(&x->bufs[t][b]);
    }
}

static void assert_same(const tensors *a, const tensors *b, const char *what) {
    for (int t = 0; t < NT; ++t) {
        for (int k = 0; k < 2 + a->nstate; ++k) {
            float *x = malloc((size_t)sizes[t] * 4), *y = malloc((size_t)sizes[t] * 4);
            test_buffer_read(&a->bufs[t][k], x);
            test_buffer_read(&b->bufs[t][k], y);
            char label[128];
            snprintf(label, sizeof label, "%s: tensor %d buffer %d", what, t, k);
            test_assert_bits_equal(x, y, (size_t)sizes[t], 4, label);
            free(x);
            free(y);
        }
    }
}

BACKEND_TEST(param_groups, grouped_call_equals_separate_optimizers) {
    optk_context *ctx = test_context(backend);
    const optk_rule rules[] = {OPTK_RULE_ADAMW, OPTK_RULE_LION, OPTK_RULE_SCHEDULE_FREE_ADAMW,
                               OPTK_RULE_ADAN};
    for (size_t r = 0; r < sizeof rules / sizeof *rules; ++r) {
        optk_optim_options o = optk_optim_default_options(rules[r]);
        o.weight_decay = 0.05;
        o.lr = 1e-3;
        o.warmup_steps = 2;
        const int nstate = optk_optim_state_count(&o);
        tensors a, b;
        make(&a, ctx, nstate);
        make(&b, ctx, nstate);
        optk_optimizer *grouped = NULL, *first = NULL, *second = NULL;
        cr_assert_eq(optk_optimizer_create(ctx, &o, &grouped), OPTK_OK);
        optk_optim_options o2 = o;
        o2.lr = o.lr * 0.5;
        o2.weight_decay = 0.0; /* weight_decay_scale 0: biases and norms */
        cr_assert_eq(optk_optimizer_create(ctx, &o, &first), OPTK_OK);
        cr_assert_eq(optk_optimizer_create(ctx, &o2, &second), OPTK_OK);
        cr_assert_eq(optk_optimizer_init_state(grouped, a.t, NT), OPTK_OK);
        cr_assert_eq(optk_optimizer_init_state(first, b.t, NT), OPTK_OK);
        const optk_param_group groups[2] = {{a.t, 3, 1.0, 1.0}, {a.t + 3, 2, 0.5, 0.0}};
        for (int step = 0; step < 4; ++step) {
            cr_assert_eq(optk_optimizer_step_groups(grouped, groups, 2, NULL, NULL), OPTK_OK, "%s",
                         optk_context_last_error(ctx));
            cr_assert_eq(optk_optimizer_step(first, b.t, 3), OPTK_OK);
            cr_assert_eq(optk_optimizer_step(second, b.t + 3, 2), OPTK_OK);
        }
        cr_assert_eq(optk_optimizer_step_count(grouped), 4);
        assert_same(&a, &b, optk_rule_name(rules[r]));
        optk_optimizer_free(grouped);
        optk_optimizer_free(first);
        optk_optimizer_free(second);
        release(&a);
        release(&b);
    }
    optk_context_free(ctx);
}

BACKEND_TEST(param_groups, clipping_uses_the_norm_over_all_groups) {
    optk_context *ctx = test_context(backend);
    optk_optim_options o = optk_optim_default_options(OPTK_RULE_SGD);
    tensors a;
    make(&a, ctx, 0);
    optk_optimizer *opt = NULL;
    cr_assert_eq(optk_optimizer_create(ctx, &o, &opt), OPTK_OK);
    double all = 0.0;
    cr_assert_eq(optk_grad_norm(ctx, a.t, NT, OPTK_F32, &all), OPTK_OK);
    const optk_param_group groups[2] = {{a.t, 2, 1.0, 1.0}, {a.t + 2, 3, 2.0, 1.0}};
    const optk_grad_options g = {.inv_scale = 0.25, .max_norm = 1.0};
    optk_step_report r = {0};
    cr_assert_eq(optk_optimizer_step_groups(opt, groups, 2, &g, &r), OPTK_OK);
    cr_assert(fabs(r.grad_norm - 0.25 * all) <= 1e-12 * all, "norm %.17g, want %.17g", r.grad_norm,
              0.25 * all);
    cr_assert(!r.skipped);
    optk_optimizer_free(opt);
    release(&a);
    optk_context_free(ctx);
}

BACKEND_TEST(param_groups, bad_groups_are_refused_and_nothing_is_written) {
    optk_context *ctx = test_context(backend);
    optk_optim_options o = optk_optim_default_options(OPTK_RULE_ADAMW);
    tensors a;
    make(&a, ctx, 2);
    optk_optimizer *opt = NULL;
    cr_assert_eq(optk_optimizer_create(ctx, &o, &opt), OPTK_OK);
    float *before = malloc((size_t)sizes[4] * 4), *after = malloc((size_t)sizes[4] * 4);
    test_buffer_read(&a.bufs[4][0], before);

    optk_param_tensor aliased[2] = {a.t[3], a.t[4]};
    aliased[1].state[1] = a.t[1].state[0]; /* tensor 1's m, which is in the first group */
    const struct {
        optk_param_group g[2];
        int n;
        const char *message;
    } bad[] = {
        {{{a.t, 3, NAN, 1.0}, {a.t + 3, 2, 1.0, 1.0}}, 2, "groups[0].lr_scale"},
        {{{a.t, 3, 1.0, 1.0}, {a.t + 3, 2, 1.0, -1.0}}, 2, "groups[1].weight_decay_scale"},
        {{{a.t, 3, 1.0, 1.0}, {a.t + 3, 0, 1.0, 1.0}}, 2, "groups[1] needs tensors and count >= 1"},
        {{{a.t, 3, 1.0, 1.0}, {aliased, 2, 1.0, 1.0}}, 2, "overlaps"},
        {{{a.t, 3, 1.0, 1.0}, {a.t + 3, 2, 1.0, 1.0}}, 0, "ngroups must be >= 1"},
    };
    for (size_t b = 0; b < sizeof bad / sizeof *bad; ++b) {
        cr_assert_eq(optk_optimizer_step_groups(opt, bad[b].g, bad[b].n, NULL, NULL),
                     OPTK_ERR_INVALID_ARGUMENT, "case %zu", b);
        cr_assert(strstr(optk_context_last_error(ctx), bad[b].message) != NULL,
                  "case %zu: message \"%s\"", b, optk_context_last_error(ctx));
    }
    cr_assert_eq(optk_optimizer_step_groups(opt, NULL, 1, NULL, NULL), OPTK_ERR_INVALID_ARGUMENT);
    test_buffer_read(&a.bufs[4][0], after);
    test_assert_bits_equal(after, before, (size_t)sizes[4], 4, "parameters after refused calls");
    cr_assert_eq(optk_optimizer_step_count(opt), 0);
    free(before);
    free(after);
    optk_optimizer_free(opt);
    release(&a);
    optk_context_free(ctx);
}
