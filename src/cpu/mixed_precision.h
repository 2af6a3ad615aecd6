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

#endif /* OPTK_CPU_MIXED_PRECISION_H */
