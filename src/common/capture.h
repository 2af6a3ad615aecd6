/* capture.h — a graph-capturable optimizer step: what it keeps in backend memory and the
 * one-thread stage that turns the device-resident scalars (step, lr, inverse loss scale, the
 * gradients' sum of squares) into every group's element scalars, on the device, so that
 * nothing the host computed at enqueue time goes stale when a CUDA graph is replayed.
 *
 * The order of a captured step on the stream:
 *   1. (guarded or clipped steps) the gradients' sum of squares into area->sum_squares;
 *   2. optk_capture_prepare: checks, norm, found-inf, every group's scalars, the counter;
 *   3. one element launch per group, reading its optk_group_step; all return at once when
 *      the step is skipped.
 * The CPU backend runs the same three stages immediately, on the same structures.
 */
#ifndef OPTK_COMMON_CAPTURE_H
#define OPTK_COMMON_CAPTURE_H

#include "step_consts.h"

#include <float.h>

#define OPTK_CAPTURE_MAX_GROUPS 64

/* What one group's element launch reads at run time. */
typedef struct optk_group_step {
    optk_element_consts k;
    float unscale, clip; /* g = (g * unscale) * clip, as a host step */
    uint64_t sr_stream;  /* the stochastic-rounding stream of the step (2t) */
    int32_t skip;        /* nonzero: the launch writes nothing */
    int32_t pad;
} optk_group_step;

/* What a captured step keeps in backend memory between replays (one per optimizer). */
typedef struct optk_capture_area {
    double sum_squares; /* of the scaled gradients, written by stage 1 */
    int64_t step;       /* the counter after the last step, read back by the Schedule-Free swap */
    optk_schedule_free_state schedule_free[OPTK_CAPTURE_MAX_GROUPS];
    optk_group_step groups[OPTK_CAPTURE_MAX_GROUPS];
} optk_capture_area;

/* What stage 2 is given by value when the step is enqueued (fixed for a captured graph). */
typedef struct optk_capture_params {
    optk_optim_options options; /* lr is read from the scalars instead */
    int ngroups;
    int reduce;      /* stage 1 ran: check the norm and skip on a non-finite one */
    double max_norm; /* > 0: clip the unscaled gradients' global norm to it */
    double lr_scale[OPTK_CAPTURE_MAX_GROUPS];
    double weight_decay_scale[OPTK_CAPTURE_MAX_GROUPS];
} optk_capture_params;

/* Stage 2. Reads sc->step, lr, inv_scale (and the sum of squares when p->reduce); writes
 * every group's scalars, then the outcome: found_inf, rejected, grad_norm, and step + 1
 * unless the step is skipped. A skipped step changes nothing else (Schedule-Free's carried
 * scalars included). Derivations as a host step's, so the bits agree with one. */
OPTK_HD void optk_capture_prepare(const optk_capture_params *p, optk_step_scalars *sc,
                                  optk_capture_area *area) {
    const int64_t step = sc->step + 1;
    const double lr = sc->lr, inv_scale = sc->inv_scale;
    int rejected = !(lr >= 0.0 && lr <= DBL_MAX) || !(inv_scale > 0.0 && inv_scale <= FLT_MAX) ||
                   !(sc->step >= 0 && sc->step < INT64_MAX);
    double norm = 0.0;
    int found_inf = 0;
    float clip = 1.0f;
    if (p->reduce) {
        /* The norm of the unscaled gradients, as PyTorch computes it after unscale_. */
        norm = sqrt(area->sum_squares) * inv_scale;
        found_inf = !(norm - norm == 0.0);
        if (p->max_norm > 0.0) clip = (float)fmin(1.0, p->max_norm / (norm + 1e-6));
    }
    optk_schedule_free_state next[OPTK_CAPTURE_MAX_GROUPS];
    for (int g = 0; g < p->ngroups && !rejected; ++g) {
        optk_optim_options group = p->options;
        group.lr = lr * p->lr_scale[g];
        group.weight_decay = p->options.weight_decay * p->weight_decay_scale[g];
        if (!optk_step_consts(&group, step, &area->schedule_free[g], &next[g], &area->groups[g].k))
            rejected = 1;
    }
    const int skip = found_inf || rejected;
    for (int g = 0; g < p->ngroups; ++g) {
        optk_group_step *gs = &area->groups[g];
        gs->unscale = (float)inv_scale;
        gs->clip = clip;
        gs->sr_stream = 2 * (uint64_t)step;
        gs->skip = skip;
        if (!skip) area->schedule_free[g] = next[g];
    }
    sc->found_inf = found_inf;
    sc->rejected = rejected;
    sc->grad_norm = norm;
    if (!skip) sc->step = step;
    area->step = sc->step;
}

#endif /* OPTK_COMMON_CAPTURE_H */
