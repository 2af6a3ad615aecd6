/* mixed_precision.h — how the CPU loops load and store a parameter and load a gradient of
 * any dtype: the rule always sees fp32 (the master copy, or the parameter widened), and a
 * bf16/fp16 parameter is written back rounded to nearest even from the master copy, or, in
 * stochastic mode, rounded with the Philox bits of (seed, sr_stream * 2^20 + tensor, element)
 * — the same bits cuRAND gives the CUDA backend. */
#ifndef OPTK_CPU_MIXED_PRECISION_H
#define OPTK_CPU_MIXED_PRECISION_H

#include "../common/philox.h"
#include "../common/precision.h"
#include "../internal.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define OPTK_CPU_HOT_LOOP __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define OPTK_CPU_HOT_LOOP
#endif

static inline float optk_cpu_load_half(const void *base, int64_t i, optk_dtype dtype) {
    const uint16_t h = ((const uint16_t *)base)[i];
    return dtype == OPTK_BF16 ? optk_bf16_to_f32(h) : optk_f16_to_f32(h);
}

static inline float optk_cpu_load_grad(const void *grad, int64_t i, optk_dtype dtype) {
    return dtype == OPTK_F32 ? ((const float *)grad)[i] : optk_cpu_load_half(grad, i, dtype);
}

static inline float optk_cpu_load_param(const optk_param_tensor *x, int64_t i,
                                        const optk_element_launch *l) {
    if (l->precision == OPTK_PRECISION_MASTER) return x->master[i];
    if (l->precision == OPTK_PRECISION_STOCHASTIC)
        return optk_cpu_load_half(x->param, i, OPTK_BF16);
    return ((const float *)x->param)[i];
}

static inline void optk_cpu_store_param(const optk_param_tensor *x, int64_t i, float p,
                                        const optk_element_launch *l, int tensor) {
    uint16_t *half = (uint16_t *)x->param;
    if (l->precision == OPTK_PRECISION_MASTER) {
        x->master[i] = p;
        half[i] = l->param_dtype == OPTK_BF16 ? optk_f32_to_bf16_rne(p) : optk_f32_to_f16_rne(p);
    } else if (l->precision == OPTK_PRECISION_STOCHASTIC) {
        const uint64_t stream = (l->sr_stream << 20) + (uint64_t)(l->tensor_base + tensor);
        half[i] = optk_f32_to_bf16_sr(p, optk_philox_u32(l->seed, stream, (uint64_t)i));
    } else {
        ((float *)x->param)[i] = p;
    }
}

/* ---- the chunked path: conversions around the fp32 kernels ---- */

/* Elements per chunk: the scratch fits in L1 beside the streams. */
enum { OPTK_CPU_CHUNK = 2048 };

/* out[0..n) = elements first .. first + n of a bf16/fp16 buffer, as fp32. */
void optk_cpu_widen(const void *src, int64_t first, int64_t n, optk_dtype dtype, float *out);

/* out[0..n) = p rounded to nearest even in dtype (bf16 or fp16). */
void optk_cpu_narrow(const float *p, int64_t n, optk_dtype dtype, uint16_t *out);

/* out[0..n) = p rounded stochastically to bf16; element first + i of the tensor takes word
 * first + i of the Philox stream (seed, stream). */
void optk_cpu_narrow_stochastic(const float *p, int64_t first, int64_t n, uint64_t seed,
                                uint64_t stream, uint16_t *out);

#endif /* OPTK_CPU_MIXED_PRECISION_H */
