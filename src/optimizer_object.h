/* optimizer_object.h — what an optk_optimizer holds, for the files that implement it
 * (optimizer.c: steps and modes; optimizer_checkpoint.c: saving and loading its state). */
#ifndef OPTK_OPTIMIZER_OBJECT_H
#define OPTK_OPTIMIZER_OBJECT_H

#include "internal.h" /* common/capture.h */

struct optk_optimizer {
    optk_context *ctx;
    optk_optim_options opt;
    int64_t steps;
    /* Schedule-Free's scalars per group index (upstream keeps them per param_group). */
    optk_schedule_free_state *schedule_free;
    int groups_seen;
    bool eval_mode;
    /* Capturable steps: the scratch they keep in backend memory (NULL until the first). */
    optk_capture_area *area;
    double *partials; /* the norm's partial sums, partials_len of them */
    int64_t partials_len;
};

/* Room for the Schedule-Free scalars of ngroups groups; new groups start as upstream's. */
optk_status optk_optimizer_reserve_groups(optk_optimizer *o, int ngroups);

/* Whether the rule is one of the Schedule-Free ones (train/eval modes, carried scalars). */
bool optk_is_schedule_free(const optk_optim_options *o);

#endif /* OPTK_OPTIMIZER_OBJECT_H */
