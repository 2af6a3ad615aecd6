/* optim_consts.c — a host step's scalars: the shared derivation of common/step_consts.h
 * (which a graph-capturable step runs on the device), and the error if one overflows. */
#include "optim_check.h"

optk_status optk_optim_prepare(optk_context *ctx, const char *op, const optk_optim_options *o,
                               int64_t step, const optk_schedule_free_state *sf,
                               optk_schedule_free_state *sf_next, optk_element_launch *launch) {
    launch->rule = optk_element_rule_of(o);
    if (launch->rule == OPTK_ELEMENT_RULE_COUNT)
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: unknown rule", op);
    launch->nstate = optk_optim_state_count(o);
    launch->nwritten = optk_optim_written_state_count(o);
    const optk_schedule_free_state fresh = {-1.0, 0.0};
    optk_schedule_free_state unused;
    if (!optk_step_consts(o, step, sf ? sf : &fresh, sf_next ? sf_next : &unused, &launch->k)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: a per-step scalar of %s overflows float at step %lld (lr %g)", op,
                         optk_rule_name(o->rule), (long long)step, o->lr);
    }
    return OPTK_OK;
}
