/* box_muller_lanes.h — cuRAND's Box-Muller (curand_normal4's formula) on the CPU, sixteen
 * Philox blocks at a time: a portable version, a loop over lanes that compilers vectorise,
 * and on x86-64 the same operations in AVX-512 intrinsics, fused with the Philox rounds of
 * four groups of blocks, which the portable loop cannot be.
 *
 * The two give the same bits: the intrinsics are the portable formula op for op (the shared
 * optk_log_bits, then the polynomial sincos below), every operation correctly rounded, and
 * test_probes holds them equal. The AVX-512 path exists for speed alone — the portable loop
 * calls the Philox rounds and the transpose as separate functions and waits on one group's
 * chain of dependent multiplies; fused and interleaved it took 0.53-0.55 ns a normal instead
 * of 0.92-0.94 (one core of this project's Zen 5 VM, in cache).
 */
#ifndef OPTK_CPU_BOX_MULLER_LANES_H
#define OPTK_CPU_BOX_MULLER_LANES_H

#include "../common/math.h"
#include "../common/probes.h"
#include "philox_lanes.h"

#include <math.h>
#include <stdbool.h>

/* sin v and cos v for v in (0, 2 pi): v = k pi/2 + t with |t| <= pi/4 (k = 0..4, pi/2 in
 * two parts so that t keeps its bits), Taylor polynomials to t^9 and t^10 (truncation below
 * 2e-9), the quadrant by selects. Branch-free, so the loop over lanes vectorises; within
 * 1.5e-7 of sin and cos of the float v (libm's sinf/cosf, which this replaces, are within
 * an ulp: both far inside the 2e-5 contract against cuRAND's fast intrinsic). */
static inline void optk_sincos_2pi(float v, float *sin_v, float *cos_v) {
    const float k = rintf(v * 0.636619772f);
    float t = fmaf(-k, 1.57079637f, v);
    t = fmaf(-k, -4.37113883e-08f, t);
    const float t2 = t * t;
    float sp = 2.75573192e-06f; /* 1/9! */
    sp = fmaf(sp, t2, -1.98412698e-04f);
    sp = fmaf(sp, t2, 8.33333333e-03f);
    sp = fmaf(sp, t2, -1.66666667e-01f);
    const float st = fmaf(sp * t2, t, t);
    float cp = -2.75573192e-07f; /* -1/10! */
    cp = fmaf(cp, t2, 2.48015873e-05f);
    cp = fmaf(cp, t2, -1.38888889e-03f);
    cp = fmaf(cp, t2, 4.16666667e-02f);
    cp = fmaf(cp, t2, -0.5f);
    const float ct = fmaf(cp, t2, 1.0f);
    const int q = (int)k & 3;
    const float s = (q & 1) ? ct : st, c = (q & 1) ? st : ct;
    *sin_v = (q == 2 || q == 3) ? -s : s;
    *cos_v = (q == 1 || q == 2) ? -c : c;
}

/* Block l's four normals from its words x[0..3][l]: (sin, cos)(v(y)) * sqrt(-2 ln u(x)) of
 * (x, y) = words (0, 1), then of words (2, 3), into z[0..3][l]. Inline into a vectorised
 * caller (a target_clones loop), the loop over lanes becomes vector code. */
static inline void optk_box_muller_lanes(const uint32_t x[4][OPTK_PHILOX_LANES],
                                         float z[4][OPTK_PHILOX_LANES]) {
    for (int pair = 0; pair < 2; ++pair) {
        for (int l = 0; l < OPTK_PHILOX_LANES; ++l) {
            /* u > 0 is a normal float: the log needs none of optk_logf's special cases. */
            const float r = sqrtf(-2.0f * optk_logf_normal(optk_box_muller_u(x[2 * pair][l])));
            float sin_v, cos_v;
            optk_sincos_2pi(optk_box_muller_v(x[2 * pair + 1][l]), &sin_v, &cos_v);
            z[2 * pair][l] = sin_v * r;
            z[2 * pair + 1][l] = cos_v * r;
        }
    }
}

#ifdef OPTK_HAVE_PHILOX_AVX2
/* The Philox groups the AVX-512 path interleaves (see optk_philox_groups_avx512). */
enum { OPTK_GAUSSIAN_GROUPS = 4, OPTK_GAUSSIAN_BLOCKS = OPTK_GAUSSIAN_GROUPS * OPTK_PHILOX_LANES };

#define OPTK_AVX512 __attribute__((target("avx512f")))

OPTK_AVX512 static inline __m512 optk_splat(float x) {
    return _mm512_set1_ps(x);
}

/* optk_box_muller_u and optk_box_muller_v: vcvtudq2ps is the correctly rounded conversion
 * that optk_u32_to_f32 builds from two exact halves. */
OPTK_AVX512 static inline __m512 optk_box_muller_u_avx512(__m512i x) {
    return _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepu32_ps(x), optk_splat(2.3283064e-10f)),
                         optk_splat(2.3283064e-10f / 2.0f));
}
OPTK_AVX512 static inline __m512 optk_box_muller_v_avx512(__m512i y) {
    return _mm512_add_ps(
        _mm512_mul_ps(_mm512_cvtepu32_ps(y), optk_splat(2.3283064e-10f * 6.2831855f)),
        optk_splat((2.3283064e-10f * 6.2831855f) / 2.0f));
}

/* Each function below takes the two pairs of a group side by side, a step of both at a time:
 * one pair's steps each wait on the one before (the divide, the polynomials), and two in
 * step keep the units busy where one pair after the other left the scheduler waiting (7%
 * faster in cache, the same bits). */
enum { OPTK_BOX_MULLER_PAIRS = 2 };

/* optk_log_bits(bits of x, 127) for positive normal x, op for op: x[p] = ln x[p]. */
OPTK_AVX512 static inline void optk_log_normal_avx512(__m512 x[OPTK_BOX_MULLER_PAIRS]) {
    __m512i e[OPTK_BOX_MULLER_PAIRS];
    __m512 s[OPTK_BOX_MULLER_PAIRS], s2[OPTK_BOX_MULLER_PAIRS], q[OPTK_BOX_MULLER_PAIRS];
    for (int p = 0; p < OPTK_BOX_MULLER_PAIRS; ++p) {
        const __m512i bits = _mm512_castps_si512(x[p]);
        e[p] = _mm512_sub_epi32(_mm512_srli_epi32(bits, 23), _mm512_set1_epi32(127));
        const __m512 m1 = _mm512_castsi512_ps(
            _mm512_or_si512(_mm512_and_si512(bits, _mm512_set1_epi32(0x007fffff)),
                            _mm512_set1_epi32(0x3f800000))); /* in [1, 2) */
        const __mmask16 halve = _mm512_cmp_ps_mask(m1, optk_splat(1.41421356f), _CMP_GT_OQ);
        const __m512 m = _mm512_mask_mul_ps(m1, halve, m1, optk_splat(0.5f));
        e[p] = _mm512_mask_add_epi32(e[p], halve, e[p], _mm512_set1_epi32(1));
        s[p] =
            _mm512_div_ps(_mm512_sub_ps(m, optk_splat(1.0f)), _mm512_add_ps(m, optk_splat(1.0f)));
    }
    for (int p = 0; p < OPTK_BOX_MULLER_PAIRS; ++p) {
        s2[p] = _mm512_mul_ps(s[p], s[p]);
        q[p] = _mm512_fmadd_ps(optk_splat(1.0f / 11.0f), s2[p], optk_splat(1.0f / 9.0f));
    }
    static const float coefficients[] = {1.0f / 7.0f, 1.0f / 5.0f, 1.0f / 3.0f};
    for (int c = 0; c < 3; ++c)
        for (int p = 0; p < OPTK_BOX_MULLER_PAIRS; ++p)
            q[p] = _mm512_fmadd_ps(q[p], s2[p], optk_splat(coefficients[c]));
    for (int p = 0; p < OPTK_BOX_MULLER_PAIRS; ++p) {
        const __m512 two_s = _mm512_mul_ps(optk_splat(2.0f), s[p]);
        const __m512 log_m = _mm512_fmadd_ps(_mm512_mul_ps(two_s, s2[p]), q[p], two_s);
        const __m512 fe = _mm512_cvtepi32_ps(e[p]);
        x[p] = _mm512_fmadd_ps(fe, optk_splat(0.693145751953125f),
                               _mm512_fmadd_ps(fe, optk_splat(1.428606765330187045e-06f), log_m));
    }
}

/* optk_sincos_2pi, op for op; the quadrant's signs flip the sign bit, as negation does. */
OPTK_AVX512 static inline void optk_sincos_2pi_avx512(const __m512 v[OPTK_BOX_MULLER_PAIRS],
                                                      __m512 sin_v[OPTK_BOX_MULLER_PAIRS],
                                                      __m512 cos_v[OPTK_BOX_MULLER_PAIRS]) {
    __m512 k[OPTK_BOX_MULLER_PAIRS], t[OPTK_BOX_MULLER_PAIRS], t2[OPTK_BOX_MULLER_PAIRS],
        sp[OPTK_BOX_MULLER_PAIRS], cp[OPTK_BOX_MULLER_PAIRS];
    for (int p = 0; p < OPTK_BOX_MULLER_PAIRS; ++p) {
        k[p] = _mm512_roundscale_ps(_mm512_mul_ps(v[p], optk_splat(0.636619772f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        t[p] = _mm512_fnmadd_ps(k[p], optk_splat(1.57079637f), v[p]);
        t[p] = _mm512_fnmadd_ps(k[p], optk_splat(-4.37113883e-08f), t[p]);
        t2[p] = _mm512_mul_ps(t[p], t[p]);
        sp[p] = optk_splat(2.75573192e-06f);  /* 1/9! */
        cp[p] = optk_splat(-2.75573192e-07f); /* -1/10! */
    }
    static const float sin_coefficients[] = {-1.98412698e-04f, 8.33333333e-03f, -1.66666667e-01f};
    static const float cos_coefficients[] = {2.48015873e-05f, -1.38888889e-03f, 4.16666667e-02f,
                                             -0.5f, 1.0f};
    for (int c = 0; c < 5; ++c) {
        for (int p = 0; p < OPTK_BOX_MULLER_PAIRS; ++p) {
            if (c < 3) sp[p] = _mm512_fmadd_ps(sp[p], t2[p], optk_splat(sin_coefficients[c]));
            cp[p] = _mm512_fmadd_ps(cp[p], t2[p], optk_splat(cos_coefficients[c]));
        }
    }
    for (int p = 0; p < OPTK_BOX_MULLER_PAIRS; ++p) {
        const __m512 st = _mm512_fmadd_ps(_mm512_mul_ps(sp[p], t2[p]), t[p], t[p]);
        const __m512 ct = cp[p];
        const __m512i q = _mm512_cvtps_epi32(k[p]); /* k is an integer: exact */
        const __mmask16 odd = _mm512_test_epi32_mask(q, _mm512_set1_epi32(1));
        const __m512i s = _mm512_castps_si512(_mm512_mask_blend_ps(odd, st, ct));
        const __m512i c = _mm512_castps_si512(_mm512_mask_blend_ps(odd, ct, st));
        const __m512i two = _mm512_set1_epi32(2);
        const __m512i sin_sign = _mm512_slli_epi32(_mm512_and_si512(q, two), 30); /* q = 2, 3 */
        const __m512i cos_sign =                                                  /* q = 1, 2 */
            _mm512_slli_epi32(_mm512_and_si512(_mm512_add_epi32(q, _mm512_set1_epi32(1)), two), 30);
        sin_v[p] = _mm512_castsi512_ps(_mm512_xor_si512(s, sin_sign));
        cos_v[p] = _mm512_castsi512_ps(_mm512_xor_si512(c, cos_sign));
    }
}

/* The 4 OPTK_GAUSSIAN_BLOCKS normals of blocks block0 .. block0 + OPTK_GAUSSIAN_BLOCKS - 1 in
 * element order (the four of block b at out[4 (b - block0) ..]): the same bits as
 * optk_philox_lanes, optk_box_muller_lanes and optk_lanes_to_elements on each sixteen.
 * stream: out is 64-byte aligned, and written with non-temporal stores (past the caches). */
OPTK_AVX512 static inline void
optk_gaussian_blocks_avx512(uint64_t seed, uint64_t sub, uint64_t block0, float *out, bool stream) {
    __m512i c[OPTK_GAUSSIAN_GROUPS][4];
    optk_philox_groups_avx512(seed, sub, block0, OPTK_GAUSSIAN_GROUPS, c);
    for (int g = 0; g < OPTK_GAUSSIAN_GROUPS; ++g) {
        /* Pair p: u from word 2 p, v from word 2 p + 1. */
        __m512 r[OPTK_BOX_MULLER_PAIRS], v[OPTK_BOX_MULLER_PAIRS], sin_v[OPTK_BOX_MULLER_PAIRS],
            cos_v[OPTK_BOX_MULLER_PAIRS];
        for (int p = 0; p < OPTK_BOX_MULLER_PAIRS; ++p) {
            r[p] = optk_box_muller_u_avx512(c[g][2 * p]);
            v[p] = optk_box_muller_v_avx512(c[g][2 * p + 1]);
        }
        optk_log_normal_avx512(r);
        for (int p = 0; p < OPTK_BOX_MULLER_PAIRS; ++p)
            r[p] = _mm512_sqrt_ps(_mm512_mul_ps(optk_splat(-2.0f), r[p]));
        optk_sincos_2pi_avx512(v, sin_v, cos_v);
        __m512i z[4], e[4];
        for (int p = 0; p < OPTK_BOX_MULLER_PAIRS; ++p) {
            z[2 * p] = _mm512_castps_si512(_mm512_mul_ps(sin_v[p], r[p]));
            z[2 * p + 1] = _mm512_castps_si512(_mm512_mul_ps(cos_v[p], r[p]));
        }
        optk_elements_avx512(z, e);
        float *to = out + 4 * OPTK_PHILOX_LANES * g;
        for (int k = 0; k < 4; ++k) {
            if (stream)
                _mm512_stream_si512((void *)(to + 16 * k), e[k]);
            else
                _mm512_storeu_si512(to + 16 * k, e[k]);
        }
    }
}
#undef OPTK_AVX512
#endif /* OPTK_HAVE_PHILOX_AVX2 */

#endif /* OPTK_CPU_BOX_MULLER_LANES_H */
