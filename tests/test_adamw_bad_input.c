/* test_adamw_bad_input.c — every kind of bad AdamW input is refused with a clear message,
 * on every backend, and leaves every byte of every buffer as it was. */
#include "adamw_fixture.h"

#include <math.h>
#include <stdlib.h>

enum { COUNT = 3 };
static const int64_t sizes[COUNT] = {5, 1030, 77};

typedef struct bad_call {
    const char *why;     /* the test's name for it */
    const char *message; /* a piece the error message must contain */
    void (*spoil)(optk_adamw_options *opt, int64_t *step, optk_param_tensor *t, int *count);
} bad_call;

static void nan_lr(optk_adamw_options *o, int64_t *s, optk_param_tensor *t, int *c) {
    (void)s, (void)t, (void)c;
    o->lr = NAN;
}
static void negative_lr(optk_adamw_options *o, int64_t *s, optk_param_tensor *t, int *c) {
    (void)s, (void)t, (void)c;
    o->lr = -1e-3;
}
static void beta1_one(optk_adamw_options *o, int64_t *s, optk_param_tensor *t, int *c) {
    (void)s, (void)t, (void)c;
    o->beta1 = 1.0;
}
static void beta2_negative(optk_adamw_options *o, int64_t *s, optk_param_tensor *t, int *c) {
    (void)s, (void)t, (void)c;
    o->beta2 = -0.1;
}
static void eps_infinite(optk_adamw_options *o, int64_t *s, optk_param_tensor *t, int *c) {
    (void)s, (void)t, (void)c;
    o->eps = INFINITY;
}
static void decay_negative(optk_adamw_options *o, int64_t *s, optk_param_tensor *t, int *c) {
    (void)s, (void)t, (void)c;
    o->weight_decay = -0.01;
}
static void step_zero(optk_adamw_options *o, int64_t *s, optk_param_tensor *t, int *c) {
    (void)o, (void)t, (void)c;
    *s = 0;
}
static void count_zero(optk_adamw_options *o, int64_t *s, optk_param_tensor *t, int *c) {
    (void)o, (void)s, (void)t;
    *c = 0;
}
static void count_negative(optk_adamw_options *o, int64_t *s, optk_param_tensor *t, int *c) {
    (void)o, (void)s, (void)t;
    *c = -4;
}
static void numel_zero(optk_adamw_options *o, int64_t *s, optk_param_tensor *t, int *c) {
    (void)o, (void)s, (void)c;
    t[2].numel = 0;
}
static void numel_negative(optk_adamw_options *o, int64_t *s, optk_param_tensor *t, int *c) {
    (void)o, (void)s, (void)c;
    t[1].numel = -1030;
}
static void null_param(optk_adamw_options *o, int64_t *s, optk_param_tensor *t, int *c) {
    (void)o, (void)s, (void)c;
    t[1].param = NULL;
}
static void null_grad(optk_adamw_options *o, int64_t *s, optk_param_tensor *t, int *c) {
    (void)o, (void)s, (void)c;
    t[2].grad = NULL;
}
static void null_amsgrad_state(optk_adamw_options *o, int64_t *s, optk_param_tensor *t, int *c) {
    (void)s, (void)c;
    o->amsgrad = true; /* needs state[2], which the fixture does not give */
    t[0].state[2] = NULL;
}
static void misaligned_state(optk_adamw_options *o, int64_t *s, optk_param_tensor *t, int *c) {
    (void)o, (void)s, (void)c;
    /* A deliberately misaligned pointer: the refusal is what is tested. */
    // cppcheck-suppress invalidPointerCast
    t[1].state[1] = (float *)((char *)t[1].state[1] + 2);
}
static void grad_is_param(optk_adamw_options *o, int64_t *s, optk_param_tensor *t, int *c) {
    (void)o, (void)s, (void)c;
    t[1].grad = t[1].param;
}
static void tensors_overlap(optk_adamw_options *o, int64_t *s, optk_param_tensor *t, int *c) {
    (void)o, (void)s, (void)c;
    t[2].state[0] = t[1].state[0] + 1000; /* runs into the end of tensor 1's m */
}

static const bad_call bad_calls[] = {
    {"NaN lr", "lr must be finite", nan_lr},
    {"negative lr", "lr must be finite and in [0", negative_lr},
    {"beta1 = 1", "beta1 must be finite and in [0, 1)", beta1_one},
    {"negative beta2", "beta2", beta2_negative},
    {"infinite eps", "eps", eps_infinite},
    {"negative weight decay", "weight_decay", decay_negative},
    {"step 0", "step must be >= 1, got 0", step_zero},
    {"count 0", "count must be >= 1, got 0", count_zero},
    {"negative count", "count must be >= 1, got -4", count_negative},
    {"numel 0", "tensors[2].numel must be in [1, 2^59), got 0", numel_zero},
    {"negative numel", "tensors[1].numel", numel_negative},
    {"NULL param", "tensors[1].param is NULL", null_param},
    {"NULL grad", "tensors[2].grad is NULL", null_grad},
    {"amsgrad without vmax", "tensors[0].state[2] is NULL", null_amsgrad_state},
    {"misaligned state", "tensors[1].state[1] is not 4-byte aligned", misaligned_state},
    {"grad aliases param", "overlaps", grad_is_param},
    {"tensors overlap", "overlaps", tensors_overlap},
};

/* Every buffer of the fixture, downloaded in a fixed order. */
static float *snapshot(const adamw_fixture *f) {
    size_t total = 0;
    for (int t = 0; t < f->count; ++t)
        total += (size_t)f->numel[t] * (2 + f->nstate);
    float *all = malloc(total * sizeof(float)), *at = all;
    for (int t = 0; t < f->count; ++t) {
        const float *bufs[2 + OPTK_MAX_STATE] = {f->tensors[t].param, f->tensors[t].grad};
        for (int s = 0; s < f->nstate; ++s)
            bufs[2 + s] = f->tensors[t].state[s];
        for (int b = 0; b < 2 + f->nstate; ++b) {
            size_t bytes = (size_t)f->numel[t] * sizeof(float);
            cr_assert_eq(optk_mem_download(f->ctx, at, bufs[b], bytes), OPTK_OK);
            at += f->numel[t];
        }
    }
    return all;
}

BACKEND_TEST(adamw_bad_input, is_refused_with_a_message_and_writes_nothing) {
    optk_context *ctx = test_context(backend);
    adamw_fixture f = adamw_fixture_new(ctx, COUNT, sizes, 2, 7, false);
    adamw_fixture_set_grads(&f, 1, 7);
    /* One real step first, so that the state is non-zero too. */
    optk_adamw_options good = optk_adamw_default_options();
    cr_assert_eq(optk_adamw_step(ctx, &good, 1, f.tensors, COUNT), OPTK_OK);
    float *before = snapshot(&f);
    size_t total = 0;
    for (int t = 0; t < COUNT; ++t)
        total += (size_t)sizes[t] * 4;

    for (size_t b = 0; b < sizeof bad_calls / sizeof *bad_calls; ++b) {
        optk_adamw_options opt = good;
        int64_t step = 2;
        int count = COUNT;
        optk_param_tensor tensors[COUNT];
        memcpy(tensors, f.tensors, sizeof tensors);
        bad_calls[b].spoil(&opt, &step, tensors, &count);
        optk_status s = optk_adamw_step(ctx, &opt, step, tensors, count);
        cr_assert_eq(s, OPTK_ERR_INVALID_ARGUMENT, "%s: got %s", bad_calls[b].why,
                     optk_status_string(s));
        const char *msg = optk_context_last_error(ctx);
        cr_assert(strstr(msg, bad_calls[b].message) != NULL, "%s: message \"%s\" lacks \"%s\"",
                  bad_calls[b].why, msg, bad_calls[b].message);
        cr_assert(strncmp(msg, "adamw_step: ", 12) == 0, "%s: message \"%s\"", bad_calls[b].why,
                  msg);
        float *after = snapshot(&f);
        test_assert_bits_equal(after, before, total, sizeof(float), bad_calls[b].why);
        free(after);
    }
    cr_assert_eq(optk_adamw_step(ctx, NULL, 2, f.tensors, COUNT), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_adamw_step(ctx, &good, 2, NULL, COUNT), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_adamw_step(NULL, &good, 2, f.tensors, COUNT), OPTK_ERR_INVALID_ARGUMENT);
    adamw_fixture_check_guards(&f);
    free(before);
    adamw_fixture_free(&f);
    optk_context_free(ctx);
}
