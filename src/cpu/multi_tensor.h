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
#include "parallel.h"

/* Elements from which a mixed-precision tensor is split over threads (below, a thread's
 * start costs more than it saves). */
#define OPTK_CPU_PARALLEL_MIN ((int64_t)1 << 20)

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
    /* Any precision: chunks of the tensor through the fp32 kernel above, with the gradient        \
     * (and a stochastically rounded parameter) widened into scratch first and a bf16/fp16         \
     * parameter narrowed from the master copy (or scratch) after. Chunks [c0, c1). */             \
    static void name##_mixed_chunks(const consts_type *k, const optk_param_tensor *x,              \
                                    const optk_element_launch *l, int tensor, int64_t c0,          \
                                    int64_t c1) {                                                  \
        float gs[OPTK_CPU_CHUNK], ps[OPTK_CPU_CHUNK];                                              \
        const uint64_t stream = (l->sr_stream << 20) + (uint64_t)(l->tensor_base + tensor);        \
        for (int64_t at = c0 * OPTK_CPU_CHUNK; at < x->numel && at < c1 * OPTK_CPU_CHUNK;          \
             at += OPTK_CPU_CHUNK) {                                                               \
            const int64_t n = x->numel - at < OPTK_CPU_CHUNK ? x->numel - at : OPTK_CPU_CHUNK;     \
            const float *g = (reads_grad) ? (const float *)x->grad + at : NULL;                    \
            if ((reads_grad) && l->grad_dtype != OPTK_F32) {                                       \
                optk_cpu_widen(x->grad, at, n, l->grad_dtype, gs);                                 \
                g = gs;                                                                            \
            }                                                                                      \
            float *p = l->precision == OPTK_PRECISION_MASTER       ? x->master + at                \
                       : l->precision == OPTK_PRECISION_STOCHASTIC ? ps                            \
                                                                   : (float *)x->param + at;       \
            if (l->precision == OPTK_PRECISION_STOCHASTIC) {                                       \
                optk_cpu_widen(x->param, at, n, OPTK_BF16, ps);                                    \
            }                                                                                      \
            float *st[OPTK_MAX_STATE] = {0};                                                       \
            for (int j = 0; j < (nstate); ++j)                                                     \
                st[j] = x->state[j] + at;                                                          \
            name##_kernel(*k, n, l->grad_unscale, l->grad_clip, p, g, st[0], st[1], st[2], st[3]); \
            uint16_t *half = (uint16_t *)x->param + at;                                            \
            if (l->precision == OPTK_PRECISION_MASTER) {                                           \
                optk_cpu_narrow(p, n, l->param_dtype, half);                                       \
            } else if (l->precision == OPTK_PRECISION_STOCHASTIC) {                                \
                optk_cpu_narrow_stochastic(ps, at, n, l->seed, stream, half);                      \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    typedef struct name##_job {                                                                    \
        const consts_type *k;                                                                      \
        const optk_param_tensor *x;                                                                \
        const optk_element_launch *l;                                                              \
        int tensor;                                                                                \
    } name##_job;                                                                                  \
    static int name##_mixed_slice(void *arg, int64_t c0, int64_t c1, int worker) {                 \
        const name##_job *j = arg;                                                                 \
        (void)worker;                                                                              \
        name##_mixed_chunks(j->k, j->x, j->l, j->tensor, c0, c1);                                  \
        return 0;                                                                                  \
    }                                                                                              \
    /* The conversions make mixed precision compute-bound: a large tensor's chunks are split       \
     * over the cores (element-wise: the same bits on any thread count). */                        \
    static void name##_mixed(const consts_type *k, const optk_param_tensor *x,                     \
                             const optk_element_launch *l, int tensor) {                           \
        const int64_t chunks = (x->numel + OPTK_CPU_CHUNK - 1) / OPTK_CPU_CHUNK;                   \
        const int workers = x->numel >= OPTK_CPU_PARALLEL_MIN ? optk_cpu_workers(chunks / 64) : 1; \
        if (workers <= 1) {                                                                        \
            name##_mixed_chunks(k, x, l, tensor, 0, chunks);                                       \
            return;                                                                                \
        }                                                                                          \
        name##_job job = {k, x, l, tensor};                                                        \
        optk_cpu_parallel(chunks, workers, name##_mixed_slice, &job);                              \
    }

#endif /* OPTK_CPU_MULTI_TENSOR_H */
