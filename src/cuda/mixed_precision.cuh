/* mixed_precision.cuh — how the CUDA kernels load and store a parameter and load a gradient
 * of any dtype; the same rules as the CPU's src/cpu/mixed_precision.h. Stochastic rounding
 * takes its random bits from cuRAND's device API: curand_init(seed, sr_stream * 2^20 +
 * tensor, element / 2) then curand, which is word element / 2 of that Philox stream — the
 * value the CPU computes with src/common/philox.h — of which an element takes one half
 * (optk_sr_bits). */
#ifndef OPTK_CUDA_MIXED_PRECISION_CUH
#define OPTK_CUDA_MIXED_PRECISION_CUH

#include "../common/precision.h"
#include "cuda_check.cuh"

#include <curand_kernel.h>

namespace optk_cuda {

/* The launch's precision, as kernel parameters. */
struct Precision {
    int precision; /* optk_precision */
    int param_dtype, grad_dtype;
    int tensor_base;
    unsigned long long seed, sr_stream;
};

inline Precision precision_of(const optk_element_launch *l) {
    return Precision{(int)l->precision,           (int)l->param_dtype,
                     (int)l->grad_dtype,          l->tensor_base,
                     (unsigned long long)l->seed, (unsigned long long)l->sr_stream};
}

__device__ __forceinline__ float load_half(const void *base, int64_t i, int dtype) {
    const uint16_t h = static_cast<const uint16_t *>(base)[i];
    return dtype == OPTK_BF16 ? optk_bf16_to_f32(h) : optk_f16_to_f32(h);
}

__device__ __forceinline__ float load_grad(const void *grad, int64_t i, int dtype) {
    return dtype == OPTK_F32 ? static_cast<const float *>(grad)[i] : load_half(grad, i, dtype);
}

__device__ __forceinline__ float load_param(const void *param, const float *master, int64_t i,
                                            const Precision &m) {
    if (m.precision == OPTK_PRECISION_MASTER) return master[i];
    if (m.precision == OPTK_PRECISION_STOCHASTIC) return load_half(param, i, OPTK_BF16);
    return static_cast<const float *>(param)[i];
}

/* element: index within the whole tensor; tensor: index within the call. */
__device__ __forceinline__ void store_param(void *param, float *master, int64_t i, float p,
                                            const Precision &m, int64_t element, int tensor) {
    uint16_t *half = static_cast<uint16_t *>(param);
    if (m.precision == OPTK_PRECISION_MASTER) {
        master[i] = p;
        half[i] = m.param_dtype == OPTK_BF16 ? optk_f32_to_bf16_rne(p) : optk_f32_to_f16_rne(p);
    } else if (m.precision == OPTK_PRECISION_STOCHASTIC) {
        curandStatePhilox4_32_10_t state;
        curand_init(m.seed, (m.sr_stream << 20) + (unsigned long long)(m.tensor_base + tensor),
                    optk_sr_word((uint64_t)element), &state);
        half[i] = optk_f32_to_bf16_sr(p, optk_sr_bits(curand(&state), (uint64_t)element));
    } else {
        static_cast<float *>(param)[i] = p;
    }
}

} // namespace optk_cuda

#endif /* OPTK_CUDA_MIXED_PRECISION_CUH */
