/* philox_lanes.h — Philox4x32-10 of sixteen consecutive blocks at once on the CPU, for the
 * loops that need a word per element (Gaussian probes, stochastic rounding): the same bits
 * as common/philox.h's optk_philox_block.
 *
 * Compilers do not vectorise Philox's 32 x 32 -> 64-bit products from plain C (x86 has no
 * such multiply; vpmuludq takes every other lane), so on x86-64 the sixteen blocks run in
 * one AVX-512 register per word where the machine has AVX-512F, else as two halves in AVX2
 * registers (two vpmuludq per multiplier give the high halves, vpmulld the low ones),
 * chosen at run time; elsewhere the plain rounds of common/philox.h. Sixteen lanes let the
 * callers' loops over them fill a 512-bit vector in their AVX-512 clones. Code written in
 * AVX-512 itself can run several groups of sixteen interleaved (optk_philox_groups_avx512).
 */
#ifndef OPTK_CPU_PHILOX_LANES_H
#define OPTK_CPU_PHILOX_LANES_H

#include "../common/philox.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define OPTK_HAVE_PHILOX_AVX2 1
#endif

enum { OPTK_PHILOX_LANES = 16 };

/* The portable version: block by block. */
static inline void optk_philox_lanes_plain(uint64_t seed, uint64_t sub, uint64_t block0,
                                           uint32_t out[4][OPTK_PHILOX_LANES]) {
    for (int l = 0; l < OPTK_PHILOX_LANES; ++l) {
        uint32_t words[4];
        optk_philox_block(seed, sub, block0 + (uint64_t)l, words);
        for (int w = 0; w < 4; ++w)
            out[w][l] = words[w];
    }
}

#ifdef OPTK_HAVE_PHILOX_AVX2
/* hi and lo words of the eight products c * m (m: the multiplier in every lane). */
__attribute__((target("avx2"))) static inline __m256i optk_mulhi_avx2(__m256i c, __m256i m) {
    const __m256i even = _mm256_mul_epu32(c, m); /* lanes 0, 2, 4, 6 as 64-bit products */
    const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(c, 32), m);
    return _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xaa);
}

/* Blocks block0 .. block0 + 7: word w of block l in lane l of c[w]. */
__attribute__((target("avx2"))) static inline void
optk_philox_rounds_avx2(uint64_t seed, uint64_t sub, uint64_t block0, __m256i c[4]) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    /* The 64-bit block index of each lane, low and high words (a carry past 2^32 within the
     * eight is possible: the low words wrap and the high words of those lanes take it). */
    const __m256i low0 = _mm256_set1_epi32((int)(uint32_t)block0);
    const __m256i low = _mm256_add_epi32(low0, lane);
    const __m256i bias = _mm256_set1_epi32((int)0x80000000u); /* unsigned compare */
    const __m256i wrapped =
        _mm256_cmpgt_epi32(_mm256_xor_si256(low0, bias), _mm256_xor_si256(low, bias));
    __m256i c0 = low;
    __m256i c1 = _mm256_sub_epi32(_mm256_set1_epi32((int)(uint32_t)(block0 >> 32)), wrapped);
    __m256i c2 = _mm256_set1_epi32((int)(uint32_t)sub);
    __m256i c3 = _mm256_set1_epi32((int)(uint32_t)(sub >> 32));
    const __m256i m0 = _mm256_set1_epi32((int)OPTK_PHILOX_M0);
    const __m256i m1 = _mm256_set1_epi32((int)OPTK_PHILOX_M1);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < 10; ++round) {
        const __m256i hi0 = optk_mulhi_avx2(c0, m0), lo0 = _mm256_mullo_epi32(c0, m0);
        const __m256i hi1 = optk_mulhi_avx2(c2, m1), lo1 = _mm256_mullo_epi32(c2, m1);
        c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32((int)k0));
        c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32((int)k1));
        c1 = lo1;
        c3 = lo0;
        k0 += OPTK_PHILOX_W0;
        k1 += OPTK_PHILOX_W1;
    }
    c[0] = c0;
    c[1] = c1;
    c[2] = c2;
    c[3] = c3;
}

/* Blocks block0 .. block0 + 7 into lanes 8 half .. 8 half + 7 of out. */
__attribute__((target("avx2"))) static inline void
optk_philox_lanes_avx2(uint64_t seed, uint64_t sub, uint64_t block0,
                       uint32_t out[4][OPTK_PHILOX_LANES], int half) {
    __m256i c[4];
    optk_philox_rounds_avx2(seed, sub, block0, c);
    for (int w = 0; w < 4; ++w)
        _mm256_storeu_si256((__m256i *)(out[w] + 8 * half), c[w]);
}

/* Eight lanes' four values each in element order: out[4 l + w] = lane l of c[w], the 4 x 8
 * transpose in registers (within each 128-bit half first, then across the halves). */
__attribute__((target("avx2"))) static inline void optk_store_elements_avx2(const __m256i c[4],
                                                                            void *out) {
    const __m256i t0 = _mm256_unpacklo_epi32(c[0], c[1]), t1 = _mm256_unpackhi_epi32(c[0], c[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(c[2], c[3]), t3 = _mm256_unpackhi_epi32(c[2], c[3]);
    /* u_k holds lanes k and 4 + k, one per 128-bit half. */
    const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    __m256i *to = (__m256i *)out;
    _mm256_storeu_si256(to, _mm256_permute2x128_si256(u0, u1, 0x20));
    _mm256_storeu_si256(to + 1, _mm256_permute2x128_si256(u2, u3, 0x20));
    _mm256_storeu_si256(to + 2, _mm256_permute2x128_si256(u0, u1, 0x31));
    _mm256_storeu_si256(to + 3, _mm256_permute2x128_si256(u2, u3, 0x31));
}

/* The 32 words of blocks block0 .. block0 + 7 in element order. */
__attribute__((target("avx2"))) static inline void
optk_philox_words_avx2(uint64_t seed, uint64_t sub, uint64_t block0, uint32_t out[32]) {
    __m256i c[4];
    optk_philox_rounds_avx2(seed, sub, block0, c);
    optk_store_elements_avx2(c, out);
}

/* Lanes 8 half .. 8 half + 7 of four rows of sixteen 32-bit values into element order. */
__attribute__((target("avx2"))) static inline void
optk_lanes_to_elements_avx2(const void *lanes, int half, void *out) {
    const char *from = (const char *)lanes + 32 * half;
    __m256i c[4];
    for (int w = 0; w < 4; ++w)
        c[w] = _mm256_loadu_si256((const __m256i *)(from + 4 * OPTK_PHILOX_LANES * w));
    optk_store_elements_avx2(c, (char *)out + 128 * half);
}

/* The same rounds on all sixteen blocks: hi and lo words of c * m per lane. */
__attribute__((target("avx512f"))) static inline __m512i optk_mulhi_avx512(__m512i c, __m512i m) {
    const __m512i even = _mm512_mul_epu32(c, m); /* lanes 0, 2, ..., 14 as 64-bit products */
    const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(c, 32), m);
    /* Lane 2 i: the high word of even's product i (dword 2 i + 1, moved down by a shuffle
     * within 128-bit quarters), lane 2 i + 1: odd's, already in place — one masked shuffle
     * where a shift and a blend took two. */
    return _mm512_mask_shuffle_epi32(odd, (__mmask16)0x5555, even, _MM_PERM_DDBB);
}

/* The rounds of `groups` runs of sixteen blocks at once: word w of block block0 + 16 g + l in
 * lane l of c[g][w]. One group's rounds are a chain of dependent multiplies, whose latency
 * bounds it (0.8 ns a word on one Zen 5 core); the groups are independent, and interleaving
 * four of them fills the multipliers instead (0.3 ns a word). Inlined with a constant count,
 * the loops over groups unroll. */
__attribute__((target("avx512f"))) static inline void
optk_philox_groups_avx512(uint64_t seed, uint64_t sub, uint64_t block0, int groups,
                          __m512i c[][4]) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int g = 0; g < groups; ++g) {
        const uint64_t first = block0 + 16u * (uint64_t)g;
        const __m512i low0 = _mm512_set1_epi32((int)(uint32_t)first);
        const __m512i low = _mm512_add_epi32(low0, lane);
        /* A lane whose low word wrapped past 2^32 carries into its high word. */
        const __mmask16 wrapped = _mm512_cmplt_epu32_mask(low, low0);
        const __m512i high = _mm512_set1_epi32((int)(uint32_t)(first >> 32));
        c[g][0] = low;
        c[g][1] = _mm512_mask_add_epi32(high, wrapped, high, _mm512_set1_epi32(1));
        c[g][2] = _mm512_set1_epi32((int)(uint32_t)sub);
        c[g][3] = _mm512_set1_epi32((int)(uint32_t)(sub >> 32));
    }
    const __m512i m0 = _mm512_set1_epi32((int)OPTK_PHILOX_M0);
    const __m512i m1 = _mm512_set1_epi32((int)OPTK_PHILOX_M1);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < 10; ++round) {
        const __m512i key0 = _mm512_set1_epi32((int)k0), key1 = _mm512_set1_epi32((int)k1);
        for (int g = 0; g < groups; ++g) {
            const __m512i hi0 = optk_mulhi_avx512(c[g][0], m0);
            const __m512i lo0 = _mm512_mullo_epi32(c[g][0], m0);
            const __m512i hi1 = optk_mulhi_avx512(c[g][2], m1);
            const __m512i lo1 = _mm512_mullo_epi32(c[g][2], m1);
            c[g][0] = _mm512_xor_si512(_mm512_xor_si512(hi1, c[g][1]), key0);
            c[g][2] = _mm512_xor_si512(_mm512_xor_si512(hi0, c[g][3]), key1);
            c[g][1] = lo1;
            c[g][3] = lo0;
        }
        k0 += OPTK_PHILOX_W0;
        k1 += OPTK_PHILOX_W1;
    }
}

__attribute__((target("avx512f"))) static inline void
optk_philox_rounds_avx512(uint64_t seed, uint64_t sub, uint64_t block0, __m512i c[4]) {
    __m512i group[1][4];
    optk_philox_groups_avx512(seed, sub, block0, 1, group);
    for (int w = 0; w < 4; ++w)
        c[w] = group[0][w];
}

__attribute__((target("avx512f"))) static inline void
optk_philox_lanes_avx512(uint64_t seed, uint64_t sub, uint64_t block0,
                         uint32_t out[4][OPTK_PHILOX_LANES]) {
    __m512i c[4];
    optk_philox_rounds_avx512(seed, sub, block0, c);
    for (int w = 0; w < 4; ++w)
        _mm512_storeu_si512(out[w], c[w]);
}

/* Sixteen lanes' four values each in element order: e[k] holds elements 16 k .. 16 k + 15,
 * element 4 l + w being lane l of c[w] — the 4 x 16 transpose in registers, within each
 * 128-bit quarter, then quarters across registers, twice. */
__attribute__((target("avx512f"))) static inline void optk_elements_avx512(const __m512i c[4],
                                                                           __m512i e[4]) {
    const __m512i t0 = _mm512_unpacklo_epi32(c[0], c[1]), t1 = _mm512_unpackhi_epi32(c[0], c[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(c[2], c[3]), t3 = _mm512_unpackhi_epi32(c[2], c[3]);
    /* u_k holds lanes k, 4 + k, 8 + k and 12 + k, one per quarter. */
    const __m512i u0 = _mm512_unpacklo_epi64(t0, t2), u1 = _mm512_unpackhi_epi64(t0, t2);
    const __m512i u2 = _mm512_unpacklo_epi64(t1, t3), u3 = _mm512_unpackhi_epi64(t1, t3);
    /* The selectors as constant expressions, which clang requires of the intrinsic. */
    enum { even = _MM_SHUFFLE(2, 0, 2, 0), odd = _MM_SHUFFLE(3, 1, 3, 1) };
    const __m512i v0 = _mm512_shuffle_i32x4(u0, u1, even); /* lanes 0, 8, 1, 9 */
    const __m512i v1 = _mm512_shuffle_i32x4(u2, u3, even); /* 2, 10, 3, 11 */
    const __m512i v2 = _mm512_shuffle_i32x4(u0, u1, odd);  /* 4, 12, 5, 13 */
    const __m512i v3 = _mm512_shuffle_i32x4(u2, u3, odd);  /* 6, 14, 7, 15 */
    e[0] = _mm512_shuffle_i32x4(v0, v1, even);
    e[1] = _mm512_shuffle_i32x4(v2, v3, even);
    e[2] = _mm512_shuffle_i32x4(v0, v1, odd);
    e[3] = _mm512_shuffle_i32x4(v2, v3, odd);
}

/* out[4 l + w] = lane l of c[w]. */
__attribute__((target("avx512f"))) static inline void optk_store_elements_avx512(const __m512i c[4],
                                                                                 void *out) {
    __m512i e[4];
    optk_elements_avx512(c, e);
    for (int k = 0; k < 4; ++k)
        _mm512_storeu_si512((char *)out + 64 * k, e[k]);
}

/* The 64 words of the sixteen blocks in element order. */
__attribute__((target("avx512f"))) static inline void
optk_philox_words_avx512(uint64_t seed, uint64_t sub, uint64_t block0, uint32_t out[64]) {
    __m512i c[4];
    optk_philox_rounds_avx512(seed, sub, block0, c);
    optk_store_elements_avx512(c, out);
}

__attribute__((target("avx512f"))) static inline void
optk_lanes_to_elements_avx512(const void *lanes, void *out) {
    __m512i c[4];
    for (int w = 0; w < 4; ++w)
        c[w] = _mm512_loadu_si512((const char *)lanes + 4 * OPTK_PHILOX_LANES * w);
    optk_store_elements_avx512(c, out);
}
#endif

/* Word w of block block0 + l in out[w][l], l < OPTK_PHILOX_LANES. */
static inline void optk_philox_lanes(uint64_t seed, uint64_t sub, uint64_t block0,
                                     uint32_t out[4][OPTK_PHILOX_LANES]) {
#ifdef OPTK_HAVE_PHILOX_AVX2
    if (__builtin_cpu_supports("avx512f")) {
        optk_philox_lanes_avx512(seed, sub, block0, out);
        return;
    }
    if (__builtin_cpu_supports("avx2")) {
        optk_philox_lanes_avx2(seed, sub, block0, out, 0);
        optk_philox_lanes_avx2(seed, sub, block0 + 8, out, 1);
        return;
    }
#endif
    optk_philox_lanes_plain(seed, sub, block0, out);
}

/* optk_lanes_to_elements (below) value by value. */
static inline void optk_lanes_to_elements_plain(const void *lanes, void *out) {
    for (int l = 0; l < OPTK_PHILOX_LANES; ++l)
        for (int w = 0; w < 4; ++w)
            memcpy((char *)out + 4 * (4 * l + w),
                   (const char *)lanes + 4 * (OPTK_PHILOX_LANES * w + l), 4);
}

/* out[4 l + w] = lanes[w][l]: four 32-bit values per lane (four rows of sixteen: a lane
 * loop's results from the four words of its Philox block) into element order, in shuffles
 * where the machine has them — GCC's code for the plain loop is a scalar extract and insert
 * per value, which cost the Gaussian probes a sixth of their time. The values' bits move
 * unchanged, whatever their type (Philox words, floats). */
static inline void optk_lanes_to_elements(const void *lanes, void *out) {
#ifdef OPTK_HAVE_PHILOX_AVX2
    if (__builtin_cpu_supports("avx512f")) {
        optk_lanes_to_elements_avx512(lanes, out);
        return;
    }
    if (__builtin_cpu_supports("avx2")) {
        optk_lanes_to_elements_avx2(lanes, 0, out);
        optk_lanes_to_elements_avx2(lanes, 1, out);
        return;
    }
#endif
    optk_lanes_to_elements_plain(lanes, out);
}

/* The 64 words of blocks block0 .. block0 + 15 in element order (word w of block l is
 * element 4 l + w), for loops that take a word per element and so vectorise where reading
 * words[e % 4][e / 4] in place would gather. The transpose is in shuffles, as in
 * optk_lanes_to_elements: GCC's code for the plain loop took as long as the Philox rounds. */
static inline void optk_philox_words(uint64_t seed, uint64_t sub, uint64_t block0,
                                     uint32_t out[4 * OPTK_PHILOX_LANES]) {
#ifdef OPTK_HAVE_PHILOX_AVX2
    if (__builtin_cpu_supports("avx512f")) {
        optk_philox_words_avx512(seed, sub, block0, out);
        return;
    }
    if (__builtin_cpu_supports("avx2")) {
        optk_philox_words_avx2(seed, sub, block0, out);
        optk_philox_words_avx2(seed, sub, block0 + 8, out + 32);
        return;
    }
#endif
    uint32_t words[4][OPTK_PHILOX_LANES];
    optk_philox_lanes_plain(seed, sub, block0, words);
    optk_lanes_to_elements(words, out);
}

#endif /* OPTK_CPU_PHILOX_LANES_H */
