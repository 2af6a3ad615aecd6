/* defs.h — what code shared by the host compiler and nvcc needs to say "both sides".
 *
 * OPTK_HD marks an inline function compiled for the host (the CPU backend and the
 * dispatch layer) and, under nvcc, for the device too. The shared rules use only
 * operations that are correctly rounded on both sides (+, -, *, /, sqrtf, fmaf) and the
 * build forbids implicit contraction (-ffp-contract=off, --fmad=false), which is why the
 * CPU and CUDA backends give the same bits.
 */
#ifndef OPTK_COMMON_DEFS_H
#define OPTK_COMMON_DEFS_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __CUDACC__
#define OPTK_HD __host__ __device__ __forceinline__
#elif defined(__GNUC__)
/* Forced, as under nvcc: a rule must inline into its loop for the loop to vectorise, and
 * GCC's unit-growth limits otherwise stop inlining partway through element_rules.c. */
#define OPTK_HD static inline __attribute__((always_inline))
#else
#define OPTK_HD static inline
#endif

/* The bits of a float, and a float from its bits (the infinities and NaN without dividing by
 * zero; bf16/fp16 conversions in integer arithmetic). */
OPTK_HD uint32_t optk_f32_bits(float x) {
    union {
        float f;
        uint32_t u;
    } v;
    v.f = x;
    return v.u;
}

OPTK_HD float optk_f32_from_bits(uint32_t u) {
    union {
        uint32_t u;
        float f;
    } v;
    v.u = u;
    return v.f;
}

/* The bits of a double, and a double from its bits. */
OPTK_HD uint64_t optk_f64_bits(double x) {
    union {
        double d;
        uint64_t u;
    } v;
    v.d = x;
    return v.u;
}

OPTK_HD double optk_f64_from_bits(uint64_t u) {
    union {
        uint64_t u;
        double d;
    } v;
    v.u = u;
    return v.d;
}

/* (float)x, correctly rounded, from two exact halves: AVX2 has no unsigned conversion, so
 * the plain cast keeps CPU loops scalar; this one vectorises and gives the same bits. */
OPTK_HD float optk_u32_to_f32(uint32_t x) {
    return (float)(int32_t)(x >> 16) * 65536.0f + (float)(int32_t)(x & 0xffffu);
}

/* max(a, b) that propagates a NaN in either argument, like torch.maximum (fmaxf drops it). */
OPTK_HD float optk_max_nan(float a, float b) {
    return (a > b || a != a) ? a : b;
}

#endif /* OPTK_COMMON_DEFS_H */
