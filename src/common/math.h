/* math.h — element functions the rules share, built only from correctly rounded operations
 * (+, -, *, /, sqrtf, fmaf, rintf), so that the host and the device give the same bits.
 *
 * Why not expf/logf/powf: glibc's and CUDA's differ in the last bit for some inputs (both are
 * within an ulp or two of the truth, neither is correctly rounded), which would break the
 * CPU == CUDA contract for diffGrad and AdaHessian. These are within 2 ulp (exp) and a few
 * ulp (log) over their whole range; tests/test_math.c measures it against double.
 */
#ifndef OPTK_COMMON_MATH_H
#define OPTK_COMMON_MATH_H

#include "defs.h"

#define OPTK_INF_F optk_f32_from_bits(0x7f800000u)
#define OPTK_NAN_F optk_f32_from_bits(0x7fc00000u)

/* sign(x): +1, -1, 0 for +-0 (keeping its sign), NaN for NaN. */
OPTK_HD float optk_sign(float x) {
    return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x);
}

/* min(x, 1) that propagates NaN (torch.clamp(max=1) does). */
OPTK_HD float optk_min1_nan(float x) {
    return x > 1.0f ? 1.0f : x;
}

/* 2^k for k in [-252, 254] as two exact power-of-two factors applied to x in a fixed order,
 * so that a subnormal result is rounded once, the same way everywhere. */
OPTK_HD float optk_scale2(float x, int k) {
    const int k1 = k / 2, k2 = k - k1;
    return (x * optk_f32_from_bits((uint32_t)(k1 + 127) << 23)) *
           optk_f32_from_bits((uint32_t)(k2 + 127) << 23);
}

/* e^x. Cody-Waite reduction x = k ln2 + r, |r| <= ln2/2, then a degree-7 Taylor polynomial
 * (truncation error < 5e-9 relative) in Horner form with fmaf. Branch-free (special cases
 * are patched in with selects at the end), so loops that call it still vectorise. */
OPTK_HD float optk_expf(float x) {
    const float hi = 88.72283935546875f, lo = -103.97208404541015625f;
    const float xc = x > hi ? hi : (x < lo ? lo : (x == x ? x : 0.0f));
    const float k = rintf(xc * 1.44269502162933349609375f);
    float r = fmaf(-k, 0.693145751953125f, xc);  /* ln2, high 16 bits: k*hi is exact */
    r = fmaf(-k, 1.428606765330187045e-06f, r);  /* ln2 - high part */
    float p = 1.98412701138295233250e-04f;       /* 1/5040 */
    p = fmaf(p, r, 1.38888892251998186111e-03f); /* 1/720 */
    p = fmaf(p, r, 8.33333376795053482056e-03f); /* 1/120 */
    p = fmaf(p, r, 4.16666679084300994873e-02f); /* 1/24 */
    p = fmaf(p, r, 1.66666671633720397949e-01f); /* 1/6 */
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    const float e = optk_scale2(p, (int)k);
    return x != x ? x : (x > hi ? OPTK_INF_F : (x < lo ? 0.0f : e));
}

/* ln(m 2^e) from the bits of a float: e = its exponent field - e_bias, m in [1, 2) from its
 * mantissa, taken to [sqrt(1/2), sqrt(2)); ln m = 2 atanh(s), s = (m - 1)/(m + 1),
 * |s| < 0.172, odd series to s^11 (truncation < 1e-9). No special cases. */
OPTK_HD float optk_log_bits(uint32_t bits, int e_bias) {
    int e = (int)((bits >> 23) & 0xffu) - e_bias;
    const float m1 = optk_f32_from_bits((bits & 0x007fffffu) | 0x3f800000u); /* in [1, 2) */
    const int halve = m1 > 1.41421356f;
    const float m = halve ? m1 * 0.5f : m1;
    e += halve;
    const float s = (m - 1.0f) / (m + 1.0f);
    const float s2 = s * s;
    float q = 1.0f / 11.0f;
    q = fmaf(q, s2, 1.0f / 9.0f);
    q = fmaf(q, s2, 1.0f / 7.0f);
    q = fmaf(q, s2, 1.0f / 5.0f);
    q = fmaf(q, s2, 1.0f / 3.0f);
    const float log_m = fmaf(2.0f * s * s2, q, 2.0f * s);
    const float fe = (float)e;
    return fmaf(fe, 0.693145751953125f, fmaf(fe, 1.428606765330187045e-06f, log_m));
}

/* ln(x) for x > 0 (NaN for x < 0 or NaN, -Inf for 0, +Inf for +Inf): a subnormal x scaled
 * by 2^23 first, then optk_log_bits. Branch-free like optk_expf. */
OPTK_HD float optk_logf(float x) {
    const int subnormal = x < 1.17549435e-38f;
    const float xn = subnormal ? x * 8388608.0f : x; /* 2^23, exact */
    const float l = optk_log_bits(optk_f32_bits(xn), subnormal ? 150 : 127);
    return (x != x || x < 0.0f) ? OPTK_NAN_F
                                : (x == 0.0f ? -OPTK_INF_F : (x == OPTK_INF_F ? x : l));
}

/* ln(x) for a positive, finite, normal x only: optk_logf's bits there, without its special
 * cases — for callers whose argument is known to be in range, whose loops then vectorise
 * (GCC 12 gives up on the special cases' masks next to a branch of the caller's). */
OPTK_HD float optk_logf_normal(float x) {
    return optk_log_bits(optk_f32_bits(x), 127);
}

/* x^k for x >= 0 and k in (0, 1]: exactly x for k = 1 (AdaHessian's default), exp(k ln x)
 * otherwise (0 at x = 0, since exp(-inf) = 0). One select, so loops stay vectorisable. */
OPTK_HD float optk_powf_unit(float x, float k) {
    const float general = optk_expf(k * optk_logf(x));
    return k == 1.0f ? x : general;
}

#endif /* OPTK_COMMON_MATH_H */
