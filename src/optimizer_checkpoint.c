/* optimizer_checkpoint.c — an optimizer's own state (what is not in the tensors' buffers) as a
 * record for checkpoints, so that training resumes where it stopped: without the counter a
 * restarted Adam would redo its bias correction from step 1, and a restarted Schedule-Free
 * would lose its averaging weights.
 *
 * The record, little-endian whatever the machine:
 *   0   8 bytes  "optkopt" and a NUL
 *   8   u32      format version (1)
 *   12  u32      rule (optk_rule)
 *   16  i64      steps taken
 *   24  f64      lr
 *   32  u32      eval mode (0 or 1; Schedule-Free only)
 *   36  u32      groups G (>= 1)
 *   40  G x (f64 lr_max, f64 weight_sum)  Schedule-Free's carried scalars per group
 */
#include "optim_check.h"
#include "optimizer_object.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { HEADER_BYTES = 40, GROUP_BYTES = 16, FORMAT_VERSION = 1, MOST_GROUPS = 1 << 20 };
static const char MAGIC[8] = "optkopt";

static void put_u64(unsigned char *at, uint64_t v) {
    for (int k = 0; k < 8; ++k)
        at[k] = (unsigned char)(v >> (8 * k));
}

static void put_u32(unsigned char *at, uint32_t v) {
    for (int k = 0; k < 4; ++k)
        at[k] = (unsigned char)(v >> (8 * k));
}

static void put_f64(unsigned char *at, double v) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    put_u64(at, bits);
}

static uint64_t get_u64(const unsigned char *at) {
    uint64_t v = 0;
    for (int k = 7; k >= 0; --k)
        v = v << 8 | at[k];
    return v;
}

static uint32_t get_u32(const unsigned char *at) {
    return (uint32_t)at[0] | (uint32_t)at[1] << 8 | (uint32_t)at[2] << 16 | (uint32_t)at[3] << 24;
}

static double get_f64(const unsigned char *at) {
    const uint64_t bits = get_u64(at);
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* The counter and the Schedule-Free scalars as they stand: after capturable steps they live
 * in backend memory. sf: groups_seen entries. */
static optk_status current_state(const optk_optimizer *o, int64_t *steps,
                                 optk_schedule_free_state *sf) {
    *steps = o->steps;
    memcpy(sf, o->schedule_free, (size_t)o->groups_seen * sizeof *sf);
    if (!o->area) return OPTK_OK;
    optk_capture_area *area = malloc(sizeof *area);
    if (!area) return optk_fail(o->ctx, OPTK_ERR_OUT_OF_MEMORY, "optimizer: out of host memory");
    optk_status s = optk_mem_download(o->ctx, area, o->area, sizeof *area);
    if (s == OPTK_OK) {
        *steps = area->step;
        for (int g = 0; g < o->groups_seen && g < OPTK_CAPTURE_MAX_GROUPS; ++g)
            sf[g] = area->schedule_free[g];
    }
    free(area);
    return s;
}

optk_status optk_optimizer_save(const optk_optimizer *optimizer, void *buffer, size_t capacity,
                                size_t *size) {
    static const char op[] = "optimizer_save";
    if (!optimizer) return OPTK_ERR_INVALID_ARGUMENT;
    optk_context *ctx = optimizer->ctx;
    if (!size) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: size is NULL", op);
    const int groups = optimizer->groups_seen;
    const size_t need = HEADER_BYTES + (size_t)groups * GROUP_BYTES;
    if (!buffer) {
        *size = need;
        return OPTK_OK;
    }
    if (capacity < need) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: the buffer holds %zu bytes, the checkpoint needs %zu", op, capacity,
                         need);
    }
    optk_schedule_free_state *sf = malloc((size_t)groups * sizeof *sf);
    if (!sf) return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    int64_t steps = 0;
    optk_status s = current_state(optimizer, &steps, sf);
    if (s == OPTK_OK) {
        unsigned char *at = buffer;
        memcpy(at, MAGIC, sizeof MAGIC);
        put_u32(at + 8, FORMAT_VERSION);
        put_u32(at + 12, (uint32_t)optimizer->opt.rule);
        put_u64(at + 16, (uint64_t)steps);
        put_f64(at + 24, optimizer->opt.lr);
        put_u32(at + 32, optimizer->eval_mode ? 1u : 0u);
        put_u32(at + 36, (uint32_t)groups);
        for (int g = 0; g < groups; ++g) {
            put_f64(at + HEADER_BYTES + GROUP_BYTES * g, sf[g].lr_max);
            put_f64(at + HEADER_BYTES + GROUP_BYTES * g + 8, sf[g].weight_sum);
        }
        *size = need;
    }
    free(sf);
    return s;
}

/* Everything a record must satisfy before any of it is used. */
static optk_status check_record(const optk_optimizer *o, const char *op, const unsigned char *at,
                                size_t size) {
    optk_context *ctx = o->ctx;
    if (size < HEADER_BYTES || memcmp(at, MAGIC, sizeof MAGIC) != 0) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: not an optimizer checkpoint (%zu bytes, no \"optkopt\" header)", op,
                         size);
    }
    const uint32_t version = get_u32(at + 8), rule = get_u32(at + 12), eval = get_u32(at + 32);
    const uint32_t groups = get_u32(at + 36);
    if (version != FORMAT_VERSION) {
        return optk_fail(ctx, OPTK_ERR_UNSUPPORTED,
                         "%s: checkpoint format version %u, this build reads version %d", op,
                         version, FORMAT_VERSION);
    }
    if (rule != (uint32_t)o->opt.rule) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: the checkpoint is of rule %s, this optimizer runs %s", op,
                         optk_rule_name((optk_rule)rule), optk_rule_name(o->opt.rule));
    }
    if (groups < 1 || groups > MOST_GROUPS || size != HEADER_BYTES + (size_t)groups * GROUP_BYTES) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: a checkpoint of %u groups is %zu bytes, got %zu", op, groups,
                         HEADER_BYTES + (size_t)groups * GROUP_BYTES, size);
    }
    if (o->area && groups > OPTK_CAPTURE_MAX_GROUPS) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: %u groups, a capturable optimizer keeps at most %d", op, groups,
                         OPTK_CAPTURE_MAX_GROUPS);
    }
    const int64_t steps = (int64_t)get_u64(at + 16);
    if (steps < 0) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: step count %lld is negative", op,
                         (long long)steps);
    }
    if (eval > 1 || (eval && !optk_is_schedule_free(&o->opt))) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: eval mode %u (0 or 1, and 1 only for Schedule-Free)", op, eval);
    }
    optk_status s = optk_check_hparam(ctx, op, "lr", get_f64(at + 24), 0.0, HUGE_VAL, false);
    for (uint32_t g = 0; g < groups && s == OPTK_OK; ++g) {
        const double lr_max = get_f64(at + HEADER_BYTES + GROUP_BYTES * g);
        const double weight_sum = get_f64(at + HEADER_BYTES + GROUP_BYTES * g + 8);
        if (!(isfinite(lr_max) && lr_max >= -1.0 && isfinite(weight_sum) && weight_sum >= 0.0)) {
            s = optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                          "%s: group %u's Schedule-Free scalars (lr_max %g, weight sum %g) are "
                          "out of range",
                          op, g, lr_max, weight_sum);
        }
    }
    return s;
}

optk_status optk_optimizer_load(optk_optimizer *optimizer, const void *buffer, size_t size) {
    static const char op[] = "optimizer_load";
    if (!optimizer) return OPTK_ERR_INVALID_ARGUMENT;
    optk_context *ctx = optimizer->ctx;
    if (!buffer) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: buffer is NULL", op);
    const unsigned char *at = buffer;
    optk_status s = check_record(optimizer, op, at, size);
    if (s != OPTK_OK) return s;
    const int groups = (int)get_u32(at + 36);
    optk_schedule_free_state *sf = malloc((size_t)groups * sizeof *sf);
    if (!sf) return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    for (int g = 0; g < groups; ++g) {
        sf[g].lr_max = get_f64(at + HEADER_BYTES + GROUP_BYTES * g);
        sf[g].weight_sum = get_f64(at + HEADER_BYTES + GROUP_BYTES * g + 8);
    }
    const int64_t steps = (int64_t)get_u64(at + 16);
    /* Room for the record's groups (new ones start as on a new optimizer), backend memory
     * (after capturable steps), then the host's fields: nothing changes if a step fails. */
    s = optk_optimizer_reserve_groups(optimizer, groups);
    if (s == OPTK_OK && optimizer->area) {
        optk_capture_area *area = calloc(1, sizeof *area);
        s = area ? optk_mem_download(ctx, area, optimizer->area, sizeof *area)
                 : optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
        if (s == OPTK_OK) {
            area->step = steps;
            for (int g = 0; g < OPTK_CAPTURE_MAX_GROUPS; ++g)
                area->schedule_free[g] = g < groups ? sf[g] : (optk_schedule_free_state){-1.0, 0.0};
            s = optk_mem_upload(ctx, optimizer->area, area, sizeof *area);
        }
        free(area);
    }
    if (s == OPTK_OK) { /* groups the record does not name start afresh */
        for (int g = 0; g < optimizer->groups_seen; ++g)
            optimizer->schedule_free[g] =
                g < groups ? sf[g] : (optk_schedule_free_state){-1.0, 0.0};
        optimizer->steps = steps;
        optimizer->opt.lr = get_f64(at + 24);
        optimizer->eval_mode = get_u32(at + 32) != 0;
    }
    free(sf);
    return s;
}
