/* bench_optim.c — one fused optimizer step of any rule: time, GB/s and fraction of the
 * roofline.
 *
 * Bytes per parameter: 4 x (read p, g and every state; write p and the states the rule
 * writes) = 4 (3 + states + written states): 28 for AdamW, 12 for plain SGD.
 * Inputs are rotated among enough copies to exceed 256 MB, more than any GPU's L2, so that
 * small sizes measure memory and not cache.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_COPIES = 16 };

typedef struct optim_args {
    optk_optimizer *opt;
    int copies, tensors;
    optk_param_tensor *lists[MAX_COPIES]; /* one tensor list per copy */
    float *storage[MAX_COPIES];
} optim_args;

static optk_status run_step(optk_context *ctx, void *arg, int rep) {
    (void)ctx;
    optim_args *a = arg;
    return optk_optimizer_step(a->opt, a->lists[rep % a->copies], a->tensors);
}

/* Fills n floats of backend memory with value patterns from a small host tile. */
static optk_status fill(optk_context *ctx, float *dst, int64_t n, float lo, float hi) {
    enum { TILE = 1 << 16 };
    static float tile[TILE];
    uint64_t state = (uint64_t)(hi * 1000.0f) + 17u;
    for (int i = 0; i < TILE; ++i) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        float u = (float)(state >> 40) * 0x1.0p-24f;
        tile[i] = lo + (hi - lo) * u;
    }
    optk_status s = OPTK_OK;
    for (int64_t at = 0; at < n && s == OPTK_OK; at += TILE) {
        int64_t len = n - at < TILE ? n - at : TILE;
        s = optk_mem_upload(ctx, dst + at, tile, (size_t)len * sizeof(float));
    }
    return s;
}

double bench_optim_bytes_per_param(const optk_optim_options *o) {
    int states = optk_optim_state_count(o);
    int written = states;
    if (o->rule == OPTK_RULE_SOPHIA || o->rule == OPTK_RULE_ADAHESSIAN) written -= 1;
    return 4.0 * (3 + states + written);
}

optk_status bench_optim(optk_context *ctx, const optk_optim_options *options, int64_t numel,
                        int tensors, int reps, double roofline_gbps, bench_result *out) {
    optim_args a = {.tensors = tensors};
    optk_status s = optk_optimizer_create(ctx, options, &a.opt);
    if (s != OPTK_OK) return s;
    const int buffers = 2 + optk_optim_state_count(options);
    const double bytes_per_param = bench_optim_bytes_per_param(options);
    const double set_bytes = (double)numel * buffers * sizeof(float);
    a.copies = (int)(256e6 / set_bytes) + 1;
    if (a.copies > MAX_COPIES) a.copies = MAX_COPIES;

    for (int c = 0; c < a.copies && s == OPTK_OK; ++c) {
        void *mem = NULL;
        s = optk_mem_alloc(ctx, (size_t)set_bytes, &mem);
        if (s != OPTK_OK) break;
        a.storage[c] = mem;
        a.lists[c] = calloc((size_t)tensors, sizeof(optk_param_tensor));
        float *at = mem;
        /* Split the parameters evenly, one contiguous block per buffer. */
        for (int b = 0; b < buffers && s == OPTK_OK; ++b) {
            /* p, g, then states: small positive values suit every rule's state. */
            static const float lo[] = {-1.0f, -1e-2f, 1e-6f, 1e-6f, 1e-6f, 1e-6f};
            static const float hi[] = {1.0f, 1e-2f, 1e-4f, 1e-4f, 1e-4f, 1e-4f};
            s = fill(ctx, at + (int64_t)b * numel, numel, lo[b], hi[b]);
        }
        int64_t offset = 0;
        for (int t = 0; t < tensors; ++t) {
            int64_t n = numel / tensors + (t < numel % tensors ? 1 : 0);
            optk_param_tensor *x = &a.lists[c][t];
            x->numel = n;
            x->param = at + offset;
            x->grad = at + numel + offset;
            for (int j = 0; j + 2 < buffers; ++j)
                x->state[j] = at + (int64_t)(2 + j) * numel + offset;
            offset += n;
        }
    }
    memset(out, 0, sizeof *out);
    if (s == OPTK_OK) s = bench_time(ctx, run_step, &a, 3, reps, &out->median_s, &out->min_s);
    for (int c = 0; c < a.copies; ++c) {
        optk_mem_free(ctx, a.storage[c]);
        free(a.lists[c]);
    }
    optk_optimizer_free(a.opt);
    if (s != OPTK_OK) return s;
    out->op = optk_rule_name(options->rule);
    out->variant = options->amsgrad ? "fp32+amsgrad" : "fp32";
    out->backend = optk_backend_name(optk_context_backend(ctx));
    out->device = optk_context_device_name(ctx);
    out->numel = numel;
    out->tensors = tensors;
    out->reps = reps;
    out->bytes = bytes_per_param * (double)numel;
    out->gbps = out->bytes / out->median_s * 1e-9;
    out->roofline_gbps = roofline_gbps;
    return OPTK_OK;
}
