/* precision.h — fp32 <-> bf16 / fp16 conversions shared by the host and the device, in
 * integer arithmetic only (so both sides give the same bits without relying on either's
 * conversion instructions): round to nearest even, and stochastic rounding for bf16.
 *
 * Stochastic rounding adds 16 random bits below bf16's last place and truncates: the result
 * is one of the two neighbouring bf16 values, the upper one with probability equal to the
 * distance from the lower one in units of the gap, so E[round(x)] = x. Element e of a tensor
 * takes half e % 2 (the low 16 bits first) of word e / 2 of its Philox stream, so that one
 * Philox block serves eight elements (optk_sr_word, optk_sr_bits). NaN stays NaN (quiet);
 * +-Inf stays +-Inf; a finite value may round up to Inf only if it is within one bf16 gap of
 * the largest finite bf16, as with nearest rounding.
 */
#ifndef OPTK_COMMON_PRECISION_H
#define OPTK_COMMON_PRECISION_H

#include "defs.h"

/* ---- bf16: the upper 16 bits of an fp32 ---- */

OPTK_HD float optk_bf16_to_f32(uint16_t h) {
    return optk_f32_from_bits((uint32_t)h << 16);
}

OPTK_HD uint16_t optk_f32_to_bf16_rne(float x) {
    const uint32_t u = optk_f32_bits(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u); /* quiet NaN */
    const uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)((u + rounding) >> 16);
}

/* The index of the Philox word that holds element `element`'s 16 random bits. */
OPTK_HD uint64_t optk_sr_word(uint64_t element) {
    return element >> 1;
}

/* Element `element`'s random bits (in the low 16) out of its word optk_sr_word(element). */
OPTK_HD uint32_t optk_sr_bits(uint32_t word, uint64_t element) {
    return word >> (16u * (uint32_t)(element & 1u));
}

/* random: 32 random bits; the low 16 are used. */
OPTK_HD uint16_t optk_f32_to_bf16_sr(float x, uint32_t random) {
    const uint32_t u = optk_f32_bits(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u); /* quiet NaN */
    if ((u & 0x7fffffffu) == 0x7f800000u) return (uint16_t)(u >> 16);            /* +-Inf */
    return (uint16_t)((u + (random & 0xffffu)) >> 16);
}

/* ---- fp16 (IEEE binary16) ---- */

/* cond ? x : y for cond 0 or 1, by masks (no branch for a vectoriser to trip on). */
OPTK_HD uint32_t optk_select_u32(int cond, uint32_t x, uint32_t y) {
    const uint32_t mask = 0u - (uint32_t)cond;
    return (x & mask) | (y & ~mask);
}

/* Branch-free (per-element selects, variable shifts), so the CPU's conversion loops vectorise. */
OPTK_HD float optk_f16_to_f32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
    const float normal = optk_f32_from_bits(sign | ((exponent + 112u) << 23) | (mantissa << 13));
    const float special = optk_f32_from_bits(sign | 0x7f800000u | (mantissa << 13));
    /* zero or subnormal: mantissa * 2^-24, exact in fp32, then the sign */
    const float tiny = optk_f32_from_bits(
        optk_f32_bits((float)(int32_t)mantissa * 5.9604644775390625e-08f) | sign);
    return exponent == 0x1fu ? special : (exponent != 0 ? normal : tiny);
}

OPTK_HD uint16_t optk_f32_to_f16_rne(float x) {
    const uint32_t u = optk_f32_bits(x);
    const uint32_t sign = (u >> 16) & 0x8000u;
    const uint32_t a = u & 0x7fffffffu;
    const uint32_t nan = sign | 0x7e00u | ((a >> 13) & 0x3ffu);
    const uint32_t inf = sign | 0x7c00u; /* values that round to >= 65520 */
    /* normal in fp16: rebias the exponent (127 -> 15) and round the mantissa */
    const uint32_t rebias = a - 0x38000000u;
    const uint32_t normal = sign | ((rebias + 0xfffu + ((rebias >> 13) & 1u)) >> 13);
    /* subnormal in fp16: the full significand shifted right by 14..24, nearest even */
    const int32_t e = (int32_t)(a >> 23);
    int32_t shift_raw = 126 - e;
    shift_raw = shift_raw < 14 ? 14 : shift_raw; /* single-level selects, see below */
    shift_raw = shift_raw > 24 ? 24 : shift_raw;
    const uint32_t shift = (uint32_t)shift_raw;
    const uint32_t significand = (a & 0x7fffffu) | 0x800000u;
    const uint32_t half = 1u << (shift - 1u), rest = significand & ((1u << shift) - 1u);
    const uint32_t truncated = significand >> shift;
    const uint32_t up = (rest > half) | ((rest == half) & truncated);
    const uint32_t subnormal = sign | (truncated + (up & 1u));
    /* Selects by masks: GCC's vectoriser takes even a sequence of single-level ?: here as
     * control flow, and this loop would stay scalar. */
    uint32_t result = sign;
    result = optk_select_u32(a >= 0x33000000u, subnormal, result);
    result = optk_select_u32(a >= 0x38800000u, normal, result);
    result = optk_select_u32(a >= 0x477ff000u, inf, result);
    result = optk_select_u32(a > 0x7f800000u, nan, result);
    return (uint16_t)result;
}

#endif /* OPTK_COMMON_PRECISION_H */
