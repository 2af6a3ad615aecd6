/* gaussian.h — a standard normal number from one 32-bit Philox word, the same bits on every
 * backend: sqrt(2) erfinv(t) with t = (2 word + 1 - 2^32) / 2^32 in (-1, 1), erfinv by
 * M. Giles' single-precision approximation ("Approximating the erfinv function", GPU
 * Computing Gems, 2011; relative error about 4e-7 over the float range), evaluated with
 * fmaf, the shared optk_logf and sqrtf only (all correctly rounded or shared), so CUDA and
 * the CPU agree bit for bit. Tails reach |z| = 6.2 (t = 1 - 2^-32 rounds in float to a value
 * whose erfinv is finite because t is kept below 1 - 2^-25).
 */
#ifndef OPTK_COMMON_GAUSSIAN_H
#define OPTK_COMMON_GAUSSIAN_H

#include "math.h"

/* erfinv(x) for |x| <= 1 - 2^-24, where (1 - x)(1 + x) >= 2^-24 is a positive normal float
 * (so optk_logf_normal, and the normal transform's loops vectorise). */
OPTK_HD float optk_erfinvf(float x) {
    float w = -optk_logf_normal((1.0f - x) * (1.0f + x));
    float p;
    if (w < 5.0f) {
        w = w - 2.5f;
        p = 2.81022636e-08f;
        p = fmaf(p, w, 3.43273939e-07f);
        p = fmaf(p, w, -3.5233877e-06f);
        p = fmaf(p, w, -4.39150654e-06f);
        p = fmaf(p, w, 0.00021858087f);
        p = fmaf(p, w, -0.00125372503f);
        p = fmaf(p, w, -0.00417768164f);
        p = fmaf(p, w, 0.246640727f);
        p = fmaf(p, w, 1.50140941f);
    } else {
        w = sqrtf(w) - 3.0f;
        p = -0.000200214257f;
        p = fmaf(p, w, 0.000100950558f);
        p = fmaf(p, w, 0.00134934322f);
        p = fmaf(p, w, -0.00367342844f);
        p = fmaf(p, w, 0.00573950773f);
        p = fmaf(p, w, -0.0076224613f);
        p = fmaf(p, w, 0.00943887047f);
        p = fmaf(p, w, 1.00167406f);
        p = fmaf(p, w, 2.83297682f);
    }
    return p * x;
}

/* N(0, 1) from a uniform 32-bit word. t is computed exactly in double then rounded once, and
 * kept inside (-1 + 2^-24, 1 - 2^-24) so that 1 - t^2 > 0. */
OPTK_HD float optk_normal_from_word(uint32_t word) {
    const double t = ((double)word * 2.0 + 1.0) * 0x1p-32 - 1.0;
    const float lim = 0.99999994f; /* 1 - 2^-24 */
    float tf = (float)t;
    tf = tf > lim ? lim : (tf < -lim ? -lim : tf);
    return 1.41421356f * optk_erfinvf(tf);
}

#endif /* OPTK_COMMON_GAUSSIAN_H */
