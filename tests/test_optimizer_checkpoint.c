/* test_optimizer_checkpoint.c — saving and loading an optimizer's own state on every backend:
 * an optimizer restored from a checkpoint (with the tensors copied back) continues bit for bit
 * as the one that never stopped — host steps with a changed lr, Schedule-Free's groups and
 * eval mode, capturable steps — and a load without the record does not; records that are not
 * right are refused with a message and nothing changed. */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { NT = 2, NB = 2 + OPTK_MAX_STATE, BEFORE = 4, AFTER = 3 };
static const int64_t sizes[NT] = {5, 4099};

typedef struct run {
    optk_optimizer *opt;
    int nstate;
    test_buffer bufs[NT][NB]; /* param, grad, states */
    optk_param_tensor t[NT];
    optk_param_group groups[NT]; /* a group per tensor: Schedule-Free keeps scalars per group */
} run;

static optk_optim_options options_for(optk_rule rule) {
    optk_optim_options o = optk_optim_default_options(rule);
    o.lr = 1e-2;
    o.weight_decay = 0.01;
    o.warmup_steps = 2; /* Schedule-Free */
    return o;
}

static void make(run *x, optk_context *ctx, const optk_optim_options *o) {
    memset(x, 0, sizeof *x);
    cr_assert_eq(optk_optimizer_create(ctx, o, &x->opt), OPTK_OK, "%s",
                 optk_context_last_error(ctx));
    x->nstate = optk_optim_state_count(o);
    for (int t = 0; t < NT; ++t) {
        float *host = malloc((size_t)sizes[t] * sizeof(float));
        for (int b = 0; b < 2 + x->nstate; ++b) {
            test_fill_uniform(host, (size_t)sizes[t], -1.0f, 1.0f, 10u * (uint64_t)t + (uint64_t)b);
            x->bufs[t][b] = test_buffer_new(ctx, (size_t)sizes[t], 4, host);
        }
        free(host);
        x->t[t] = (optk_param_tensor){
            .numel = sizes[t], .param = x->bufs[t][0].data, .grad = x->bufs[t][1].data};
        for (int s = 0; s < x->nstate; ++s)
            x->t[t].state[s] = x->bufs[t][2 + s].data;
        x->groups[t] = (optk_param_group){&x->t[t], 1, t == 0 ? 1.0 : 0.5, t == 0 ? 1.0 : 0.0};
    }
    cr_assert_eq(optk_optimizer_init_state(x->opt, x->t, NT), OPTK_OK);
}

static void release(run *x) {
    for (int t = 0; t < NT; ++t)
        for (int b = 0; b < 2 + x->nstate; ++b)
            test_buffer_free(&x->bufs[t][b]);
    optk_optimizer_free(x->opt);
}

/* Every buffer of from into to: what the caller's own checkpoint of the tensors does. */
static void copy_tensors(optk_context *ctx, const run *from, run *to) {
    for (int t = 0; t < NT; ++t) {
        float *host = malloc((size_t)sizes[t] * sizeof(float));
        for (int b = 0; b < 2 + from->nstate; ++b) {
            test_buffer_read(&from->bufs[t][b], host);
            cr_assert_eq(optk_mem_upload(ctx, to->bufs[t][b].data, host, (size_t)sizes[t] * 4),
                         OPTK_OK);
        }
        free(host);
    }
}

/* Whether every buffer of a and b has the same bits. */
static bool same_tensors(const run *a, const run *b) {
    bool same = true;
    for (int t = 0; t < NT && same; ++t) {
        float *x = malloc((size_t)sizes[t] * 4), *y = malloc((size_t)sizes[t] * 4);
        for (int k = 0; k < 2 + a->nstate && same; ++k) {
            test_buffer_read(&a->bufs[t][k], x);
            test_buffer_read(&b->bufs[t][k], y);
            same = memcmp(x, y, (size_t)sizes[t] * 4) == 0;
        }
        free(x), free(y);
    }
    return same;
}

static void host_steps(optk_context *ctx, run *x, int count) {
    for (int k = 0; k < count; ++k)
        cr_assert_eq(optk_optimizer_step_groups(x->opt, x->groups, NT, NULL, NULL), OPTK_OK, "%s",
                     optk_context_last_error(ctx));
}

static unsigned char *save(optk_context *ctx, const optk_optimizer *opt, size_t *size) {
    cr_assert_eq(optk_optimizer_save(opt, NULL, 0, size), OPTK_OK);
    unsigned char *record = malloc(*size);
    size_t written = 0;
    cr_assert_eq(optk_optimizer_save(opt, record, *size, &written), OPTK_OK, "%s",
                 optk_context_last_error(ctx));
    cr_assert_eq(written, *size);
    return record;
}

/* A run stopped after BEFORE steps (lr changed on the way; Schedule-Free saved in eval mode)
 * and restored into a new optimizer created with the original options: AFTER more steps give
 * the bits of the run that went on. Restoring the tensors alone does not. */
BACKEND_TEST(optimizer_checkpoint, a_restored_optimizer_continues_bit_for_bit) {
    optk_context *ctx = test_context(backend);
    const optk_rule rules[] = {OPTK_RULE_ADAMW, OPTK_RULE_ADAN, OPTK_RULE_SCHEDULE_FREE_ADAMW,
                               OPTK_RULE_SCHEDULE_FREE_SGD};
    for (size_t r = 0; r < sizeof rules / sizeof *rules; ++r) {
        const optk_optim_options o = options_for(rules[r]);
        const bool sf =
            rules[r] == OPTK_RULE_SCHEDULE_FREE_ADAMW || rules[r] == OPTK_RULE_SCHEDULE_FREE_SGD;
        run went_on, restored, forgot;
        make(&went_on, ctx, &o);
        make(&restored, ctx, &o);
        make(&forgot, ctx, &o);
        host_steps(ctx, &went_on, BEFORE / 2);
        cr_assert_eq(optk_optimizer_set_lr(went_on.opt, o.lr * 0.5), OPTK_OK);
        host_steps(ctx, &went_on, BEFORE - BEFORE / 2);
        if (sf) cr_assert_eq(optk_optimizer_eval(went_on.opt, went_on.t, NT), OPTK_OK);
        size_t size = 0;
        unsigned char *record = save(ctx, went_on.opt, &size);
        cr_assert_eq(size, 40u + 16u * NT, "%s: %zu bytes", optk_rule_name(rules[r]), size);
        copy_tensors(ctx, &went_on, &restored);
        copy_tensors(ctx, &went_on, &forgot);
        cr_assert_eq(optk_optimizer_load(restored.opt, record, size), OPTK_OK, "%s",
                     optk_context_last_error(ctx));
        cr_assert_eq(optk_optimizer_step_count(restored.opt), BEFORE);
        cr_assert_eq(optk_optimizer_options(restored.opt)->lr, o.lr * 0.5);
        run *all[3] = {&went_on, &restored, &forgot};
        for (int k = 0; k < 3; ++k) {
            if (sf && k < 2)
                cr_assert_eq(optk_optimizer_train(all[k]->opt, all[k]->t, NT), OPTK_OK);
            host_steps(ctx, all[k], AFTER);
        }
        cr_assert(same_tensors(&went_on, &restored), "%s: the restored run differs",
                  optk_rule_name(rules[r]));
        cr_assert(!same_tensors(&went_on, &forgot), "%s: a restart without the record agrees",
                  optk_rule_name(rules[r]));
        free(record);
        release(&went_on), release(&restored), release(&forgot);
    }
    optk_context_free(ctx);
}

static optk_step_scalars *scalars_new(optk_context *ctx, double lr, int64_t step) {
    void *sc = NULL;
    cr_assert_eq(optk_mem_alloc(ctx, sizeof(optk_step_scalars), &sc), OPTK_OK);
    const optk_step_scalars init = {.lr = lr, .inv_scale = 1.0, .step = step};
    cr_assert_eq(optk_mem_upload(ctx, sc, &init, sizeof init), OPTK_OK);
    return sc;
}

static void capturable_steps(optk_context *ctx, run *x, optk_step_scalars *sc, int count) {
    for (int k = 0; k < count; ++k)
        cr_assert_eq(optk_optimizer_step_capturable(x->opt, x->groups, NT, NULL, sc), OPTK_OK, "%s",
                     optk_context_last_error(ctx));
}

/* Capturable steps keep the counter and Schedule-Free's scalars in backend memory: saved from
 * there, and loaded into a new optimizer and into one whose backend memory exists already. */
BACKEND_TEST(optimizer_checkpoint, capturable_steps_resume_bit_for_bit) {
    optk_context *ctx = test_context(backend);
    const optk_optim_options o = options_for(OPTK_RULE_SCHEDULE_FREE_ADAMW);
    run went_on, fresh, warmed;
    make(&went_on, ctx, &o);
    make(&fresh, ctx, &o);
    make(&warmed, ctx, &o);
    optk_step_scalars *sc = scalars_new(ctx, o.lr, 0);
    capturable_steps(ctx, &went_on, sc, BEFORE);
    optk_step_scalars *other = scalars_new(ctx, o.lr, 0);
    capturable_steps(ctx, &warmed, other, 1); /* its area exists, with other values */
    size_t size = 0;
    unsigned char *record = save(ctx, went_on.opt, &size);
    copy_tensors(ctx, &went_on, &fresh);
    copy_tensors(ctx, &went_on, &warmed);
    cr_assert_eq(optk_optimizer_load(fresh.opt, record, size), OPTK_OK);
    cr_assert_eq(optk_optimizer_load(warmed.opt, record, size), OPTK_OK);
    /* The counter a capturable step reads is the caller's: restored beside the record. */
    optk_step_scalars *sc_fresh = scalars_new(ctx, o.lr, BEFORE);
    optk_step_scalars *sc_warmed = scalars_new(ctx, o.lr, BEFORE);
    capturable_steps(ctx, &went_on, sc, AFTER);
    capturable_steps(ctx, &fresh, sc_fresh, AFTER);
    capturable_steps(ctx, &warmed, sc_warmed, AFTER);
    cr_assert(same_tensors(&went_on, &fresh), "restored into a new optimizer");
    cr_assert(same_tensors(&went_on, &warmed), "restored over backend memory");
    size_t size2 = 0;
    unsigned char *again = save(ctx, warmed.opt, &size2);
    unsigned char *want = save(ctx, went_on.opt, &size);
    cr_assert(size2 == size && memcmp(again, want, size) == 0, "the records differ");
    free(record), free(again), free(want);
    optk_mem_free(ctx, sc), optk_mem_free(ctx, other);
    optk_mem_free(ctx, sc_fresh), optk_mem_free(ctx, sc_warmed);
    release(&went_on), release(&fresh), release(&warmed);
    optk_context_free(ctx);
}

/* A copy of record with bytes [at, at + len) replaced. */
static unsigned char *patched(const unsigned char *record, size_t size, size_t at,
                              const void *bytes, size_t len) {
    unsigned char *copy = malloc(size);
    memcpy(copy, record, size);
    memcpy(copy + at, bytes, len);
    return copy;
}

BACKEND_TEST(optimizer_checkpoint, bad_records_are_refused_and_change_nothing) {
    optk_context *ctx = test_context(backend);
    const optk_optim_options o = options_for(OPTK_RULE_SCHEDULE_FREE_ADAMW);
    run x;
    make(&x, ctx, &o);
    host_steps(ctx, &x, 3);
    size_t size = 0;
    unsigned char *record = save(ctx, x.opt, &size);

    unsigned char small[8];
    size_t written = 123;
    cr_assert_eq(optk_optimizer_save(x.opt, small, sizeof small, &written),
                 OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "needs 72"), "%s", optk_context_last_error(ctx));
    cr_assert_eq(written, 123u, "size written on a refusal");

    const uint32_t version = 2, adamw = OPTK_RULE_ADAMW, one = 1, huge_groups = 3;
    const int64_t negative = -1;
    const double nan = NAN, minus_two = -2.0;
    struct {
        unsigned char *record;
        size_t size;
        optk_status status;
        const char *message;
    } bad[] = {
        {patched(record, size, 0, "OPTKOPT", 7), size, OPTK_ERR_INVALID_ARGUMENT,
         "not an optimizer checkpoint"},
        {patched(record, size, 0, "", 0), 39, OPTK_ERR_INVALID_ARGUMENT,
         "not an optimizer checkpoint"},
        {patched(record, size, 8, &version, 4), size, OPTK_ERR_UNSUPPORTED, "format version 2"},
        {patched(record, size, 12, &adamw, 4), size, OPTK_ERR_INVALID_ARGUMENT,
         "of rule adamw, this optimizer runs schedule_free_adamw"},
        {patched(record, size, 0, "", 0), size - 1, OPTK_ERR_INVALID_ARGUMENT,
         "a checkpoint of 2 groups is 72 bytes, got 71"},
        {patched(record, size, 36, &huge_groups, 4), size, OPTK_ERR_INVALID_ARGUMENT,
         "a checkpoint of 3 groups is 88 bytes"},
        {patched(record, size, 16, &negative, 8), size, OPTK_ERR_INVALID_ARGUMENT, "step count -1"},
        {patched(record, size, 24, &nan, 8), size, OPTK_ERR_INVALID_ARGUMENT, "lr"},
        {patched(record, size, 32, &huge_groups, 4), size, OPTK_ERR_INVALID_ARGUMENT,
         "eval mode 3"},
        {patched(record, size, 40 + 16, &minus_two, 8), size, OPTK_ERR_INVALID_ARGUMENT,
         "group 1's Schedule-Free scalars"},
        {patched(record, size, 40 + 8, &nan, 8), size, OPTK_ERR_INVALID_ARGUMENT,
         "group 0's Schedule-Free scalars"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; ++k) {
        cr_assert_eq(optk_optimizer_load(x.opt, bad[k].record, bad[k].size), bad[k].status,
                     "record %zu", k);
        cr_assert(strstr(optk_context_last_error(ctx), bad[k].message), "record %zu: %s", k,
                  optk_context_last_error(ctx));
        size_t now_size = 0;
        unsigned char *now = save(ctx, x.opt, &now_size);
        cr_assert(now_size == size && memcmp(now, record, size) == 0,
                  "record %zu: the optimizer changed", k);
        free(now);
        free(bad[k].record);
    }
    cr_assert_eq(optk_optimizer_load(x.opt, NULL, size), OPTK_ERR_INVALID_ARGUMENT);

    /* Eval mode is Schedule-Free's only; a record of another rule's optimizer is refused. */
    optk_optimizer *adam = NULL;
    const optk_optim_options oa = options_for(OPTK_RULE_ADAMW);
    cr_assert_eq(optk_optimizer_create(ctx, &oa, &adam), OPTK_OK);
    size_t adam_size = 0;
    unsigned char *adam_record = save(ctx, adam, &adam_size);
    unsigned char *eval = patched(adam_record, adam_size, 32, &one, 4);
    cr_assert_eq(optk_optimizer_load(adam, eval, adam_size), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "1 only for Schedule-Free"), "%s",
              optk_context_last_error(ctx));
    cr_assert_eq(optk_optimizer_load(adam, record, size), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_optimizer_step_count(adam), 0);
    free(eval), free(adam_record), free(record);
    optk_optimizer_free(adam);
    release(&x);
    optk_context_free(ctx);
}
