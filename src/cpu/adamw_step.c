/* adamw_step.c — AdamW on the CPU: the shared rule over every element of every tensor. */
#include "cpu_backend.h"
#include "multi_tensor.h"

OPTK_CPU_DEFINE_TENSOR_LOOP(adamw_tensor, optk_adamw_consts, optk_rule_adamw, OPTK_ADAMW_STATES)
OPTK_CPU_DEFINE_TENSOR_LOOP(adamw_amsgrad_tensor, optk_adamw_consts, optk_rule_adamw,
                            OPTK_ADAMW_STATES_AMSGRAD)

optk_status optk_cpu_adamw_step(optk_context *ctx, const optk_adamw_launch *launch) {
    (void)ctx;
    for (int t = 0; t < launch->count; ++t) {
        if (launch->consts.amsgrad) {
            adamw_amsgrad_tensor(&launch->consts, &launch->tensors[t]);
        } else {
            adamw_tensor(&launch->consts, &launch->tensors[t]);
        }
    }
    return OPTK_OK;
}
