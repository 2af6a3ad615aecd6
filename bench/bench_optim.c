/* bench_optim.c — one fused optimizer step of any rule: time, GB/s and fraction of the
 * roofline.
 *
 * Bytes per parameter: 4 x (read p, g and every state; write p and the states the rule
 * writes) = 4 (3 + states + written states): 28 for AdamW, 12 for plain SGD.
 * Inputs are rotated among enough copies to exceed 256 MB, more than any GPU's L2, so that
 * small sizes measure memory and not cache.
 */
#include "bench.h"
#include "common/precision.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_COPIES = 16 };

typedef struct optim_args {
    optk_optimizer *opt;
    optk_step_scalars *scalars; /* capturable steps: their scalars in backend memory */
    int copies, tensors;
    optk_param_tensor *lists[MAX_COPIES]; /* one tensor list per copy */
    float *storage[MAX_COPIES];
} optim_args;

static optk_status run_step(optk_context *ctx, void *arg, int rep) {
    (void)ctx;
    optim_args *a = arg;
    if (a->scalars) {
        const optk_param_group all = {a->lists[rep % a->copies], a->tensors, 1.0, 1.0};
        return optk_optimizer_step_capturable(a->opt, &all, 1, NULL, a->scalars);
    }
    return optk_optimizer_step(a->opt, a->lists[rep % a->copies], a->tensors);
}

/* Fills n elements of dtype at dst (backend memory) with values in [lo, hi] from a small
 * host tile. */
static optk_status fill(optk_context *ctx, void *dst, int64_t n, optk_dtype dtype, float lo,
                        float hi) {
    enum { TILE = 1 << 16 };
    static float tile[TILE];
    static uint16_t half[TILE];
    uint64_t state = (uint64_t)(hi * 1000.0f) + 17u;
    for (int i = 0; i < TILE; ++i) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        float u = (float)(state >> 40) * 0x1.0p-24f;
        tile[i] = lo + (hi - lo) * u;
        half[i] = dtype == OPTK_BF16 ? optk_f32_to_bf16_rne(tile[i]) : optk_f32_to_f16_rne(tile[i]);
    }
    const size_t size = optk_dtype_size(dtype);
    const void *src = dtype == OPTK_F32 ? (const void *)tile : (const void *)half;
    optk_status s = OPTK_OK;
    for (int64_t at = 0; at < n && s == OPTK_OK; at += TILE) {
        int64_t len = n - at < TILE ? n - at : TILE;
        s = optk_mem_upload(ctx, (char *)dst + at * (int64_t)size, src, (size_t)len * size);
    }
    return s;
}

/* "fp32", "fp32+amsgrad", "bf16+master", "f16+master", "bf16+sr". */
const char *bench_optim_variant(const optk_optim_options *o) {
    if (o->param_dtype == OPTK_BF16) return o->stochastic_rounding ? "bf16+sr" : "bf16+master";
    if (o->param_dtype == OPTK_F16) return "f16+master";
    return o->amsgrad ? "fp32+amsgrad" : "fp32";
}

double bench_optim_bytes_per_param(const optk_optim_options *o) {
    const int states = optk_optim_state_count(o);
    int written = states;
    if (o->rule == OPTK_RULE_SOPHIA || o->rule == OPTK_RULE_ADAHESSIAN) written -= 1;
    const double p = (double)optk_dtype_size(o->param_dtype);
    const double g = (double)optk_dtype_size(o->grad_dtype);
    const bool master = o->param_dtype != OPTK_F32 && !o->stochastic_rounding;
    /* Read p (the master copy when there is one), g and every state; write p (and the master
     * copy), and the written states. */
    const double read = (master ? 4.0 : p) + g + 4.0 * states;
    const double write = (master ? 4.0 + p : p) + 4.0 * written;
    return read + write;
}

optk_status bench_optim(optk_context *ctx, const optk_optim_options *options, bool capturable,
                        int64_t numel, int tensors, int reps, double roofline_gbps,
                        bench_result *out) {
    optim_args a = {.tensors = tensors};
    optk_status s = optk_optimizer_create(ctx, options, &a.opt);
    if (s != OPTK_OK) return s;
    if (capturable) {
        const optk_step_scalars init = {.lr = options->lr, .inv_scale = 1.0};
        s = optk_mem_alloc(ctx, sizeof init, (void **)&a.scalars);
        if (s == OPTK_OK) s = optk_mem_upload(ctx, a.scalars, &init, sizeof init);
    }
    const int nstate = optk_optim_state_count(options);
    const bool master = options->param_dtype != OPTK_F32 && !options->stochastic_rounding;
    /* One block of numel fp32-sized elements per buffer: param, grad, states, master. */
    const int buffers = 2 + nstate + (master ? 1 : 0);
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
            /* p, g, then states (small positive values suit every rule's state), master. */
            const bool is_master = master && b == buffers - 1;
            const optk_dtype dtype = b == 0   ? options->param_dtype
                                     : b == 1 ? options->grad_dtype
                                              : OPTK_F32;
            const float lo = b == 0 || is_master ? -1.0f : (b == 1 ? -1e-2f : 1e-6f);
            const float hi = b == 0 || is_master ? 1.0f : (b == 1 ? 1e-2f : 1e-4f);
            s = fill(ctx, at + (int64_t)b * numel, numel, dtype, lo, hi);
        }
        const size_t psize = optk_dtype_size(options->param_dtype);
        const size_t gsize = optk_dtype_size(options->grad_dtype);
        int64_t offset = 0;
        for (int t = 0; t < tensors; ++t) {
            int64_t n = numel / tensors + (t < numel % tensors ? 1 : 0);
            optk_param_tensor *x = &a.lists[c][t];
            x->numel = n;
            x->param = (char *)at + (size_t)offset * psize;
            x->grad = (char *)(at + numel) + (size_t)offset * gsize;
            for (int j = 0; j < nstate; ++j)
                x->state[j] = at + (int64_t)(2 + j) * numel + offset;
            x->master = master ? at + (int64_t)(buffers - 1) * numel + offset : NULL;
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
    optk_mem_free(ctx, a.scalars);
    if (s != OPTK_OK) return s;
    bench_describe(out, ctx, optk_rule_name(options->rule),
                   capturable ? "fp32+capturable" : bench_optim_variant(options), numel, tensors,
                   reps);
    out->bytes = bytes_per_param * (double)numel;
    out->gbps = out->bytes / out->median_s * 1e-9;
    out->roofline_gbps = roofline_gbps;
    return OPTK_OK;
}
