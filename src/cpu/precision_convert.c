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

/* The parameter rounded stochastically: element e of the tensor takes 16 bits of word e / 2 of
 * the stream (optk_sr_bits); sixteen Philox blocks (128 elements) at a time where the chunk
 * allows. */
static inline uint16_t sr_alone(float p, uint64_t seed, uint64_t stream, uint64_t e) {
    return optk_f32_to_bf16_sr(p, optk_sr_bits(optk_philox_u32(seed, stream, optk_sr_word(e)), e));
}

OPTK_CPU_HOT_LOOP void optk_cpu_narrow_stochastic(const float *restrict p, int64_t first, int64_t n,
                                                  uint64_t seed, uint64_t stream,
                                                  uint16_t *restrict out) {
    enum { PER_BLOCK = 8, GROUP = PER_BLOCK * OPTK_PHILOX_LANES };
    int64_t i = 0;
    for (; i < n && (first + i) % PER_BLOCK != 0; ++i)
        out[i] = sr_alone(p[i], seed, stream, (uint64_t)(first + i));
    for (; i + GROUP <= n; i += GROUP) {
        uint32_t words[GROUP / 2];
        optk_philox_words(seed, stream, (uint64_t)(first + i) / PER_BLOCK, words);
        uint16_t bits[GROUP]; /* in element order, so that the rounding loop vectorises */
        for (int w = 0; w < GROUP / 2; ++w) {
            bits[2 * w] = (uint16_t)optk_sr_bits(words[w], 0);
            bits[2 * w + 1] = (uint16_t)optk_sr_bits(words[w], 1);
        }
        for (int e = 0; e < GROUP; ++e)
            out[i + e] = optk_f32_to_bf16_sr(p[i + e], bits[e]);
    }
    for (; i + PER_BLOCK <= n; i += PER_BLOCK) { /* one Philox block serves eight elements */
        uint32_t words[4];
        optk_philox_block(seed, stream, (uint64_t)(first + i) / PER_BLOCK, words);
        for (int e = 0; e < PER_BLOCK; ++e)
            out[i + e] = optk_f32_to_bf16_sr(p[i + e], optk_sr_bits(words[e / 2], (uint64_t)e));
    }
    for (; i < n; ++i)
        out[i] = sr_alone(p[i], seed, stream, (uint64_t)(first + i));
}
