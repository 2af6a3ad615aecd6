/* precision_convert.c — the CPU's vectorisable conversion loops around the fp32 kernels for
 * bf16/fp16 parameters and gradients (see mixed_precision.h). */
#include "mixed_precision.h"
#include "philox_lanes.h"

/* out[0..n) = the n gradients from element `first` of grad, as fp32. */
OPTK_CPU_HOT_LOOP void optk_cpu_widen(const void *src, int64_t first, int64_t n, optk_dtype dtype,
                                      float *restrict out) {
    const uint16_t *restrict h = (const uint16_t *)src + first;
    if (dtype == OPTK_BF16) {
        for (int64_t i = 0; i < n; ++i)
            out[i] = optk_bf16_to_f32(h[i]);
    } else {
        for (int64_t i = 0; i < n; ++i)
            out[i] = optk_f16_to_f32(h[i]);
    }
}

/* The parameter from the master copy, rounded to nearest even. */
OPTK_CPU_HOT_LOOP void optk_cpu_narrow(const float *restrict p, int64_t n, optk_dtype dtype,
                                       uint16_t *restrict out) {
    if (dtype == OPTK_BF16) {
        for (int64_t i = 0; i < n; ++i)
            out[i] = optk_f32_to_bf16_rne(p[i]);
    } else {
        for (int64_t i = 0; i < n; ++i)
            out[i] = optk_f32_to_f16_rne(p[i]);
    }
}

/* The parameter rounded stochastically: element e of the tensor takes word e of the stream;
 * sixteen Philox blocks (64 elements) at a time where the chunk allows. */
OPTK_CPU_HOT_LOOP void optk_cpu_narrow_stochastic(const float *restrict p, int64_t first, int64_t n,
                                                  uint64_t seed, uint64_t stream,
                                                  uint16_t *restrict out) {
    enum { GROUP = 4 * OPTK_PHILOX_LANES };
    int64_t i = 0;
    for (; i < n && ((first + i) & 3) != 0; ++i) {
        out[i] = optk_f32_to_bf16_sr(p[i], optk_philox_u32(seed, stream, (uint64_t)(first + i)));
    }
    for (; i + GROUP <= n; i += GROUP) {
        uint32_t words[GROUP]; /* in element order: the rounding loop vectorises */
        optk_philox_words(seed, stream, (uint64_t)(first + i) >> 2, words);
        for (int e = 0; e < GROUP; ++e)
            out[i + e] = optk_f32_to_bf16_sr(p[i + e], words[e]);
    }
    for (; i + 4 <= n; i += 4) { /* one Philox block serves four elements */
        uint32_t words[4];
        optk_philox_block(seed, stream, (uint64_t)(first + i) >> 2, words);
        for (int w = 0; w < 4; ++w)
            out[i + w] = optk_f32_to_bf16_sr(p[i + w], words[w]);
    }
    for (; i < n; ++i) {
        out[i] = optk_f32_to_bf16_sr(p[i], optk_philox_u32(seed, stream, (uint64_t)(first + i)));
    }
}
