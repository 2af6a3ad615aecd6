/* math_f64.h — e^x and ln x in double, built only from correctly rounded operations (+, -, *,
 * /, fma, rint), for the code that works in double on both backends (the Newton phase of
 * Sinkhorn-Newton-Sparse): glibc's exp/log and CUDA's differ in the last bit for some inputs,
 * and these give the same bits on both. Within 2 ulp of the truth over their range;
 * tests/test_math.c measures it against libm.
 */
#ifndef OPTK_COMMON_MATH_F64_H
#define OPTK_COMMON_MATH_F64_H

#include "defs.h"

#define OPTK_INF_D optk_f64_from_bits(0x7ff0000000000000ull)
#define OPTK_NAN_D optk_f64_from_bits(0x7ff8000000000000ull)

/* x 2^k for k in [-2044, 2046] as two exact power-of-two factors applied in a fixed order,
 * so that a subnormal result is rounded once, the same way everywhere. */
OPTK_HD double optk_scale2_f64(double x, int k) {
    const int k1 = k / 2, k2 = k - k1;
    return (x * optk_f64_from_bits((uint64_t)(k1 + 1023) << 52)) *
           optk_f64_from_bits((uint64_t)(k2 + 1023) << 52);
}

/* e^x. Cody-Waite reduction x = k ln2 + r, |r| <= ln2/2 (ln2 in two parts, fdlibm's: k times
 * the high part is exact), then the Taylor polynomial to r^13 (truncation < 5e-18 relative) in
 * Horner form with fma; overflow and underflow come from the final scaling. Branch-free (the
 * special cases patched in with selects), so loops that call it vectorise. */
OPTK_HD double optk_exp_f64(double x) {
    const double hi = 709.8, lo = -745.2;
    const double xc = x > hi ? hi : (x < lo ? lo : (x == x ? x : 0.0));
    const double k = rint(xc * 1.4426950408889634);
    double r = fma(-k, 6.93147180369123816490e-01, xc);
    r = fma(-k, 1.90821492927058770002e-10, r);
    double p = 1.6059043836821613e-10; /* 1/13! */
    p = fma(p, r, 2.08767569878681e-09);
    p = fma(p, r, 2.505210838544172e-08);
    p = fma(p, r, 2.755731922398589e-07);
    p = fma(p, r, 2.7557319223985893e-06);
    p = fma(p, r, 2.48015873015873e-05);
    p = fma(p, r, 1.984126984126984e-04);
    p = fma(p, r, 1.388888888888889e-03);
    p = fma(p, r, 8.333333333333333e-03);
    p = fma(p, r, 4.1666666666666664e-02);
    p = fma(p, r, 1.6666666666666666e-01);
    p = fma(p, r, 0.5);
    p = fma(p, r, 1.0);
    p = fma(p, r, 1.0);
    const double e = optk_scale2_f64(p, (int)k);
    return x != x ? x : (x > hi ? OPTK_INF_D : (x < lo ? 0.0 : e));
}

/* ln x. x = m 2^e with m in [sqrt(1/2), sqrt(2)) (subnormals scaled by 2^54 first);
 * ln m = 2 atanh(s), s = (m - 1)/(m + 1), |s| < 0.172, the odd series to s^21 (truncation
 * < 1e-18 relative); e ln2 in fdlibm's two parts. NaN for x < 0 or NaN, -Inf at 0, +Inf at
 * +Inf. */
OPTK_HD double optk_log_f64(double x) {
    if (!(x > 0.0)) return x == 0.0 ? -OPTK_INF_D : OPTK_NAN_D;
    if (x == OPTK_INF_D) return x;
    int e = 0;
    if (x < 2.2250738585072014e-308) x *= 18014398509481984.0, e = -54; /* 2^54 */
    const uint64_t bits = optk_f64_bits(x);
    e += (int)((bits >> 52) & 0x7ffu) - 1023;
    double m = optk_f64_from_bits((bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull);
    if (m > 1.4142135623730951) m *= 0.5, e += 1;
    const double s = (m - 1.0) / (m + 1.0), z = s * s;
    double p = 0.047619047619047616; /* 1/21 */
    p = fma(p, z, 0.05263157894736842);
    p = fma(p, z, 0.058823529411764705);
    p = fma(p, z, 0.06666666666666667);
    p = fma(p, z, 0.07692307692307693);
    p = fma(p, z, 0.09090909090909091);
    p = fma(p, z, 0.1111111111111111);
    p = fma(p, z, 0.14285714285714285);
    p = fma(p, z, 0.2);
    p = fma(p, z, 0.3333333333333333);
    const double ln_m = fma(2.0 * s * z, p, 2.0 * s); /* 2s + 2s z (1/3 + z/5 + ...) */
    const double de = (double)e;
    return fma(de, 6.93147180369123816490e-01, fma(de, 1.90821492927058770002e-10, ln_m));
}

#endif /* OPTK_COMMON_MATH_F64_H */
