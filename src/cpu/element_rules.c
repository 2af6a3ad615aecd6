/* element_rules.c — every optimizer rule on the CPU: the shared element rules of
 * src/common/rules.h, each instantiated for the state layouts it supports. */
#include "cpu_backend.h"
#include "multi_tensor.h"

/* One loop per (rule, layout); a layout the rule does not list is never called. */
#define OPTK_X(NAME, name, T, fn, reads_grad, layouts)                                             \
    OPTK_CPU_DEFINE_TENSOR_LOOP(name##_0_0, T, fn, 0, 0, reads_grad)                               \
    OPTK_CPU_DEFINE_TENSOR_LOOP(name##_1_0, T, fn, 1, 0, reads_grad)                               \
    OPTK_CPU_DEFINE_TENSOR_LOOP(name##_1_1, T, fn, 1, 1, reads_grad)                               \
    OPTK_CPU_DEFINE_TENSOR_LOOP(name##_2_1, T, fn, 2, 1, reads_grad)                               \
    OPTK_CPU_DEFINE_TENSOR_LOOP(name##_2_2, T, fn, 2, 2, reads_grad)                               \
    OPTK_CPU_DEFINE_TENSOR_LOOP(name##_3_2, T, fn, 3, 2, reads_grad)                               \
    OPTK_CPU_DEFINE_TENSOR_LOOP(name##_3_3, T, fn, 3, 3, reads_grad)                               \
    OPTK_CPU_DEFINE_TENSOR_LOOP(name##_4_4, T, fn, 4, 4, reads_grad)                               \
    static void name##_tensors(const optk_element_launch *l) {                                     \
        const T *k = &l->k.name;                                                                   \
        const float u = l->grad_unscale, c = l->grad_clip;                                         \
        const int mixed = optk_launch_is_mixed(l);                                                 \
        for (int t = 0; t < l->count; ++t) {                                                       \
            const optk_param_tensor *x = &l->tensors[t];                                           \
            switch (l->nstate * 8 + l->nwritten) {                                                 \
            case 0:                                                                                \
                mixed ? name##_0_0_mixed(k, x, l, t) : name##_0_0(k, x, u, c);                     \
                break;                                                                             \
            case 8:                                                                                \
                mixed ? name##_1_0_mixed(k, x, l, t) : name##_1_0(k, x, u, c);                     \
                break;                                                                             \
            case 9:                                                                                \
                mixed ? name##_1_1_mixed(k, x, l, t) : name##_1_1(k, x, u, c);                     \
                break;                                                                             \
            case 17:                                                                               \
                mixed ? name##_2_1_mixed(k, x, l, t) : name##_2_1(k, x, u, c);                     \
                break;                                                                             \
            case 18:                                                                               \
                mixed ? name##_2_2_mixed(k, x, l, t) : name##_2_2(k, x, u, c);                     \
                break;                                                                             \
            case 26:                                                                               \
                mixed ? name##_3_2_mixed(k, x, l, t) : name##_3_2(k, x, u, c);                     \
                break;                                                                             \
            case 27:                                                                               \
                mixed ? name##_3_3_mixed(k, x, l, t) : name##_3_3(k, x, u, c);                     \
                break;                                                                             \
            default:                                                                               \
                mixed ? name##_4_4_mixed(k, x, l, t) : name##_4_4(k, x, u, c);                     \
                break;                                                                             \
            }                                                                                      \
        }                                                                                          \
    }
OPTK_ELEMENT_RULES(OPTK_X)
#undef OPTK_X

optk_status optk_cpu_element_apply(optk_context *ctx, const optk_element_launch *launch) {
    optk_element_launch captured;
    if (launch->device_step) { /* a capturable step: its scalars as they are now */
        const optk_group_step *d = launch->device_step;
        if (d->skip) return OPTK_OK;
        captured = *launch;
        captured.k = d->k;
        captured.grad_unscale = d->unscale;
        captured.grad_clip = d->clip;
        captured.sr_stream = d->sr_stream;
        captured.device_step = NULL;
        launch = &captured;
    }
    switch (launch->rule) {
#define OPTK_X(NAME, name, T, fn, reads_grad, layouts)                                             \
    case OPTK_ELEMENT_##NAME:                                                                      \
        name##_tensors(launch);                                                                    \
        return OPTK_OK;
        OPTK_ELEMENT_RULES(OPTK_X)
#undef OPTK_X
    case OPTK_ELEMENT_RULE_COUNT:
        break;
    }
    return optk_fail(ctx, OPTK_ERR_INTERNAL, "element_apply: unknown rule %d", (int)launch->rule);
}
