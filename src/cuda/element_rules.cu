/* element_rules.cu — every optimizer rule on CUDA: one functor per line of
 * src/common/rules.h around the shared element function, run by the multi-tensor machinery
 * with the state layout the dispatch layer chose. Only the layouts a rule lists are
 * instantiated. */
#include "multi_tensor.cuh"

using namespace optk_cuda;

namespace {

#define OPTK_X(NAME, name, T, fn, reads_grad, layouts)                                             \
    struct Rule_##name {                                                                           \
        using Consts = T;                                                                          \
        static constexpr bool kReadsGrad = (reads_grad) != 0;                                      \
        static constexpr unsigned long long kLayouts = (layouts);                                  \
        __device__ static void apply(const T &k, float &p, float g, float *s) {                    \
            fn(&k, &p, g, s);                                                                      \
        }                                                                                          \
    };
OPTK_ELEMENT_RULES(OPTK_X)
#undef OPTK_X

template <class Rule, int kStates, int kWritten>
optk_status apply_layout(optk_context *ctx, const typename Rule::Consts &k,
                         const optk_element_launch *l) {
    if constexpr (((Rule::kLayouts >> (kStates * 8 + kWritten)) & 1ull) != 0) {
        if (optk_launch_is_mixed(l)) {
            return multi_tensor_apply<Rule, kStates, kWritten, true>(ctx, "optimizer_step", k, l);
        }
        return multi_tensor_apply<Rule, kStates, kWritten, false>(ctx, "optimizer_step", k, l);
    } else {
        return optk_fail(ctx, OPTK_ERR_INTERNAL, "element_apply: layout (%d, %d) not built",
                         kStates, kWritten);
    }
}

template <class Rule>
optk_status apply_rule(optk_context *ctx, const typename Rule::Consts &k,
                       const optk_element_launch *l) {
    switch (l->nstate * 8 + l->nwritten) {
    case 0:
        return apply_layout<Rule, 0, 0>(ctx, k, l);
    case 8:
        return apply_layout<Rule, 1, 0>(ctx, k, l);
    case 9:
        return apply_layout<Rule, 1, 1>(ctx, k, l);
    case 17:
        return apply_layout<Rule, 2, 1>(ctx, k, l);
    case 18:
        return apply_layout<Rule, 2, 2>(ctx, k, l);
    case 26:
        return apply_layout<Rule, 3, 2>(ctx, k, l);
    case 27:
        return apply_layout<Rule, 3, 3>(ctx, k, l);
    case 36:
        return apply_layout<Rule, 4, 4>(ctx, k, l);
    default:
        break;
    }
    return optk_fail(ctx, OPTK_ERR_INTERNAL, "element_apply: layout (%d, %d) unknown", l->nstate,
                     l->nwritten);
}

} // namespace

extern "C" optk_status optk_cuda_element_apply(optk_context *ctx,
                                               const optk_element_launch *launch) {
    switch (launch->rule) {
#define OPTK_X(NAME, name, T, fn, reads_grad, layouts)                                             \
    case OPTK_ELEMENT_##NAME:                                                                      \
        return apply_rule<Rule_##name>(ctx, launch->k.name, launch);
        OPTK_ELEMENT_RULES(OPTK_X)
#undef OPTK_X
    case OPTK_ELEMENT_RULE_COUNT:
        break;
    }
    return optk_fail(ctx, OPTK_ERR_INTERNAL, "element_apply: unknown rule %d", (int)launch->rule);
}
