/* mixed_precision.h — how the CPU runs bf16/fp16 parameters and gradients: each tensor goes
 * through the rule's fp32 kernel in L1-sized chunks, with the gradient (and a parameter kept
 * without a master copy) widened to fp32 scratch first, and the bf16/fp16 parameter narrowed
 * afterwards — to nearest even from the master copy, or stochastically with the Philox bits of
 * (seed, sr_stream * 2^20 + tensor, element), the bits cuRAND gives the CUDA backend. */
#ifndef OPTK_CPU_MIXED_PRECISION_H
#define OPTK_CPU_MIXED_PRECISION_H

#include "../common/philox.h"
#include "../common/precision.h"
#include "../internal.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
/* Loops worth vectorising are compiled three times — AVX-512, AVX2 + FMA, baseline — and the
 * machine's best is picked at load time: the same bits from each (IEEE lane by lane, no
 * contraction), only the width differs. */
#define OPTK_CPU_HOT_LOOP                                                                          \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define OPTK_CPU_HOT_LOOP
#endif

static inline float optk_cpu_load_half(const void *base, int64_t i, optk_dtype dtype) {
    const uint16_t h = ((const uint16_t *)base)[i];
    return dtype == OPTK_BF16 ? optk_bf16_to_f32(h) : optk_f16_to_f32(h);
}

/* ---- the chunked path: conversions around the fp32 kernels ---- */

/* Elements per chunk: the scratch fits in L1 beside the streams. */
enum { OPTK_CPU_CHUNK = 2048 };

/* out[0..n) = elements first .. first + n of a bf16/fp16 buffer, as fp32. */
void optk_cpu_widen(const void *src, int64_t first, int64_t n, optk_dtype dtype, float *out);

/* out[0..n) = p rounded to nearest even in dtype (bf16 or fp16). */
void optk_cpu_narrow(const float *p, int64_t n, optk_dtype dtype, uint16_t *out);

/* out[0..n) = p rounded stochastically to bf16; element first + i of the tensor takes its 16
 * bits from word (first + i) / 2 of the Philox stream (seed, stream), see optk_sr_bits. */
void optk_cpu_narrow_stochastic(const float *p, int64_t first, int64_t n, uint64_t seed,
                                uint64_t stream, uint16_t *out);

#endif /* OPTK_CPU_MIXED_PRECISION_H */
