/* multi_tensor.h — the CPU side of the one multi-tensor machinery: a loop over every
 * element of a tensor that applies a shared rule from src/common/.
 *
 * OPTK_CPU_DEFINE_TENSOR_LOOP(name, consts_type, rule, nstate, nwritten, reads_grad) defines
 *     static void name(const consts_type *k, const optk_param_tensor *x)
 * which runs rule(k, &p, g, s) on each element, with s[0..nstate) loaded from x->state, the
 * first nwritten stored back, and g read only when reads_grad. The loop is simple enough for
 * the compiler to vectorise; on x86-64 it is also cloned for AVX2+FMA and picked at load
 * time, which changes speed, not bits (every operation the rules use is correctly rounded).
 */
#ifndef OPTK_CPU_MULTI_TENSOR_H
#define OPTK_CPU_MULTI_TENSOR_H

#include "../internal.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define OPTK_CPU_HOT_LOOP __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define OPTK_CPU_HOT_LOOP
#endif

#define OPTK_CPU_DEFINE_TENSOR_LOOP(name, consts_type, rule, nstate, nwritten, reads_grad)         \
    OPTK_CPU_HOT_LOOP static void name(const consts_type *k, const optk_param_tensor *x) {         \
        float *restrict p = x->param;                                                              \
        const float *restrict g = x->grad;                                                         \
        float *restrict state[OPTK_MAX_STATE];                                                     \
        for (int j = 0; j < (nstate); ++j)                                                         \
            state[j] = x->state[j];                                                                \
        const consts_type kk = *k;                                                                 \
        for (int64_t i = 0; i < x->numel; ++i) {                                                   \
            float s[OPTK_MAX_STATE] = {0};                                                         \
            for (int j = 0; j < (nstate); ++j)                                                     \
                s[j] = state[j][i];                                                                \
            rule(&kk, &p[i], (reads_grad) ? g[i] : 0.0f, s);                                       \
            for (int j = 0; j < (nwritten); ++j)                                                   \
                state[j][i] = s[j];                                                                \
        }                                                                                          \
    }

#endif /* OPTK_CPU_MULTI_TENSOR_H */
