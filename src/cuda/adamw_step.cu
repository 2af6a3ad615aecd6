/* adamw_step.cu — AdamW on CUDA: the shared rule through the multi-tensor machinery. */
#include "multi_tensor.cuh"

using namespace optk_cuda;

namespace {

template <int kStateCount> struct AdamWRule {
    using Consts = optk_adamw_consts;
    static constexpr int kStates = kStateCount;
    __device__ static void apply(const Consts &k, float &p, float g, float *s) {
        optk_rule_adamw(&k, &p, g, s);
    }
};

} // namespace

extern "C" optk_status optk_cuda_adamw_step(optk_context *ctx, const optk_adamw_launch *launch) {
    static const char op[] = "adamw_step";
    if (launch->consts.amsgrad) {
        return multi_tensor_apply<AdamWRule<OPTK_ADAMW_STATES_AMSGRAD>>(
            ctx, op, launch->consts, launch->tensors, launch->count);
    }
    return multi_tensor_apply<AdamWRule<OPTK_ADAMW_STATES>>(ctx, op, launch->consts,
                                                            launch->tensors, launch->count);
}
