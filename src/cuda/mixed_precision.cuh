/* mixed_precision.cuh — how the CUDA kernels load and store a parameter and load a gradient
 * of any dtype; the same rules as the CPU's src/cpu/mixed_precision.h. Stochastic rounding
 * takes its random bits from cuRAND's device API: curand_init(seed, sr_stream * 2^20 +
 * tensor, element / 2) then curand, which is word element / 2 of that Philox stream — the
 * value the CPU computes with src/common/philox.h — of which an element takes one half
 * (optk_sr_bits).
 *
 * The *4 forms move four consecutive elements [i, i + 4) with one vector access per buffer
 * (i a multiple of 4, every buffer aligned to its vector: vector_misalignment is 0), and
 * stochastic rounding then draws the two words of the four elements from one Philox block
 * instead of one block per element. */
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

/* ---- four elements at a time ---- */

/* Nonzero unless element `element` of a buffer of `bytes`-byte elements starts a 4-element
 * vector in memory (8 bytes for halves, 16 for floats). */
__device__ __forceinline__ uintptr_t vector_misalignment(const void *base, int64_t element,
                                                         int bytes) {
    return ((uintptr_t)base + (uintptr_t)(element * bytes)) & (uintptr_t)(4 * bytes - 1);
}

__device__ __forceinline__ float half_to_f32(uint32_t h, int dtype) {
    return dtype == OPTK_BF16 ? optk_bf16_to_f32((uint16_t)h) : optk_f16_to_f32((uint16_t)h);
}

__device__ __forceinline__ float4 load_half4(const void *base, int64_t i, int dtype) {
    const uint2 w = *reinterpret_cast<const uint2 *>(static_cast<const uint16_t *>(base) + i);
    return float4{half_to_f32(w.x & 0xffffu, dtype), half_to_f32(w.x >> 16, dtype),
                  half_to_f32(w.y & 0xffffu, dtype), half_to_f32(w.y >> 16, dtype)};
}

__device__ __forceinline__ float4 load_float4(const void *base, int64_t i) {
    return *reinterpret_cast<const float4 *>(static_cast<const float *>(base) + i);
}

/* Through __stwb (an ordinary write-back store) because a plain float4 assignment was split
 * into four scalar stores by the compiler where the value's lanes had been updated singly. */
__device__ __forceinline__ void store_float4(void *base, int64_t i, float4 value) {
    __stwb(reinterpret_cast<float4 *>(static_cast<float *>(base) + i), value);
}

__device__ __forceinline__ float4 load_grad4(const void *grad, int64_t i, int dtype) {
    return dtype == OPTK_F32 ? load_float4(grad, i) : load_half4(grad, i, dtype);
}

__device__ __forceinline__ float4 load_param4(const void *param, const float *master, int64_t i,
                                              const Precision &m) {
    if (m.precision == OPTK_PRECISION_MASTER) return load_float4(master, i);
    if (m.precision == OPTK_PRECISION_STOCHASTIC) return load_half4(param, i, OPTK_BF16);
    return load_float4(param, i);
}

/* Four halves as one 64-bit word, element h0 at the lowest address. */
__device__ __forceinline__ unsigned long long pack_halves(uint32_t h0, uint32_t h1, uint32_t h2,
                                                          uint32_t h3) {
    const uint32_t lo = (h0 & 0xffffu) | (h1 << 16), hi = (h2 & 0xffffu) | (h3 << 16);
    return (unsigned long long)lo | ((unsigned long long)hi << 32);
}

/* element: index within the whole tensor of the first of the four; tensor: within the call. */
__device__ __forceinline__ void store_param4(void *param, float *master, int64_t i, float4 p,
                                             const Precision &m, int64_t element, int tensor) {
    /* one 8-byte store (a uint2 store was split in two by the compiler) */
    auto *half = reinterpret_cast<unsigned long long *>(static_cast<uint16_t *>(param) + i);
    if (m.precision == OPTK_PRECISION_MASTER) {
        store_float4(master, i, p);
        if (m.param_dtype == OPTK_BF16) {
            *half = pack_halves(optk_f32_to_bf16_rne(p.x), optk_f32_to_bf16_rne(p.y),
                                optk_f32_to_bf16_rne(p.z), optk_f32_to_bf16_rne(p.w));
        } else {
            *half = pack_halves(optk_f32_to_f16_rne(p.x), optk_f32_to_f16_rne(p.y),
                                optk_f32_to_f16_rne(p.z), optk_f32_to_f16_rne(p.w));
        }
    } else if (m.precision == OPTK_PRECISION_STOCHASTIC) {
        /* Words element / 2 and element / 2 + 1: one half of one Philox block (the next
         * block, which curand computes once a block is used up, is never read and so never
         * computed). */
        curandStatePhilox4_32_10_t state;
        curand_init(m.seed, (m.sr_stream << 20) + (unsigned long long)(m.tensor_base + tensor),
                    optk_sr_word((uint64_t)element), &state);
        const uint32_t w0 = curand(&state), w1 = curand(&state);
        const uint64_t e = (uint64_t)element;
        *half = pack_halves(optk_f32_to_bf16_sr(p.x, optk_sr_bits(w0, e)),
                            optk_f32_to_bf16_sr(p.y, optk_sr_bits(w0, e + 1)),
                            optk_f32_to_bf16_sr(p.z, optk_sr_bits(w1, e + 2)),
                            optk_f32_to_bf16_sr(p.w, optk_sr_bits(w1, e + 3)));
    } else {
        store_float4(param, i, p);
    }
}

} // namespace optk_cuda

#endif /* OPTK_CUDA_MIXED_PRECISION_CUH */
