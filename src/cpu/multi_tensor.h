/* multi_tensor.h — the CPU side of the one multi-tensor machinery: a loop over every
 * element of a tensor that applies a shared rule from src/common/.
 *
 * OPTK_CPU_DEFINE_TENSOR_LOOP(name, consts_type, rule, nstate, nwritten, reads_grad) defines
 *     static void name(const consts_type *k, const optk_param_tensor *x)
 * (plus the gradient multipliers unscale and clip) which runs rule(k, &p, g, s) on each
 * element, g = (grad * unscale) * clip, with s[0..nstate) loaded from x->state, the
 * first nwritten stored back, and g read only when reads_grad. The loop is simple enough for
 * the compiler to vectorise; on x86-64 it is also cloned for AVX2+FMA and picked at load
 * time, which changes speed, not bits (every operation the rules use is correctly rounded).
 */
#ifndef OPTK_CPU_MULTI_TENSOR_H
#define OPTK_CPU_MULTI_TENSOR_H

#include "mixed_precision.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define OPTK_CPU_HOT_LOOP __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define OPTK_CPU_HOT_LOOP
#endif

/* The buffers are restrict parameters because the dispatch layer has checked that none
 * overlaps: the compiler then needs no run-time alias checks (it gives up past 10 of them,
 * which Adan's six streams exceed). States past the layout read as 0 and are not stored. */
#define OPTK_CPU_DEFINE_TENSOR_LOOP(name, consts_type, rule, nstate, nwritten, reads_grad)         \
    OPTK_CPU_HOT_LOOP static void name##_kernel(                                                   \
        const consts_type kk, int64_t n, float unscale, float clip, float *restrict p,             \
        const float *restrict g, float *restrict s0, float *restrict s1, float *restrict s2,       \
        float *restrict s3) {                                                                      \
        for (int64_t i = 0; i < n; ++i) {                                                          \
            float s[OPTK_MAX_STATE] = {0};                                                         \
            if ((nstate) > 0) s[0] = s0[i];                                                        \
            if ((nstate) > 1) s[1] = s1[i];                                                        \
            if ((nstate) > 2) s[2] = s2[i];                                                        \
            if ((nstate) > 3) s[3] = s3[i];                                                        \
            rule(&kk, &p[i], (reads_grad) ? (g[i] * unscale) * clip : 0.0f, s);                    \
            if ((nwritten) > 0) s0[i] = s[0];                                                      \
            if ((nwritten) > 1) s1[i] = s[1];                                                      \
            if ((nwritten) > 2) s2[i] = s[2];                                                      \
            if ((nwritten) > 3) s3[i] = s[3];                                                      \
        }                                                                                          \
    }                                                                                              \
    static void name(const consts_type *k, const optk_param_tensor *x, float unscale,              \
                     float clip) {                                                                 \
        name##_kernel(*k, x->numel, unscale, clip, x->param, x->grad, x->state[0], x->state[1],    \
                      x->state[2], x->state[3]);                                                   \
    }                                                                                              \
    /* Any precision: loads and stores through mixed_precision.h, one element at a time. */        \
    static void name##_mixed(const consts_type *k, const optk_param_tensor *x,                     \
                             const optk_element_launch *l, int tensor) {                           \
        const consts_type kk = *k;                                                                 \
        for (int64_t i = 0; i < x->numel; ++i) {                                                   \
            float s[OPTK_MAX_STATE] = {0};                                                         \
            for (int j = 0; j < (nstate); ++j)                                                     \
                s[j] = x->state[j][i];                                                             \
            float p = optk_cpu_load_param(x, i, l);                                                \
            const float g =                                                                        \
                (reads_grad) ? (optk_cpu_load_grad(x->grad, i, l->grad_dtype) * l->grad_unscale) * \
                                   l->grad_clip                                                    \
                             : 0.0f;                                                               \
            rule(&kk, &p, g, s);                                                                   \
            optk_cpu_store_param(x, i, p, l, tensor);                                              \
            for (int j = 0; j < (nwritten); ++j)                                                   \
                x->state[j][i] = s[j];                                                             \
        }                                                                                          \
    }

#endif /* OPTK_CPU_MULTI_TENSOR_H */
