/* lane_sum.h — sums in a CUDA warp's order on the CPU (common/sinkhorn.h): element k into
 * lane k % OPTK_SINKHORN_LANES in index order, then the lanes' shuffle tree (optk_sum_lanes).
 * Used where the CPU must give the bits of a warp's sum (the Newton phase of SNS). */
#ifndef OPTK_CPU_LANE_SUM_H
#define OPTK_CPU_LANE_SUM_H

#include "mixed_precision.h" /* OPTK_CPU_HOT_LOOP */

#include "../common/sinkhorn.h"

typedef struct lanes {
    double lane[OPTK_SINKHORN_LANES];
} lanes;

static inline lanes lanes_empty(void) {
    lanes l;
    for (int k = 0; k < OPTK_SINKHORN_LANES; ++k)
        l.lane[k] = 0.0;
    return l;
}

/* Element k of a sum. */
static inline void lanes_add(lanes *l, int64_t k, double v) {
    l->lane[k % OPTK_SINKHORN_LANES] += v;
}

static inline double lanes_total(lanes *l) {
    return optk_sum_lanes(l->lane);
}

/* x[0..count) summed in lane order, a block of LANES at a time (it vectorises). */
OPTK_CPU_HOT_LOOP static inline double lane_sum(const double *x, int64_t count) {
    lanes l = lanes_empty();
    int64_t k = 0;
    for (; k + OPTK_SINKHORN_LANES <= count; k += OPTK_SINKHORN_LANES)
        for (int t = 0; t < OPTK_SINKHORN_LANES; ++t)
            l.lane[t] += x[k + t];
    for (int t = 0; k + t < count; ++t)
        l.lane[t] += x[k + t];
    return lanes_total(&l);
}

/* x . y in lane order. */
OPTK_CPU_HOT_LOOP static inline double lane_dot(const double *x, const double *y, int64_t count) {
    lanes l = lanes_empty();
    int64_t k = 0;
    for (; k + OPTK_SINKHORN_LANES <= count; k += OPTK_SINKHORN_LANES)
        for (int t = 0; t < OPTK_SINKHORN_LANES; ++t)
            l.lane[t] += x[k + t] * y[k + t];
    for (int t = 0; k + t < count; ++t)
        l.lane[t] += x[k + t] * y[k + t];
    return lanes_total(&l);
}

#endif /* OPTK_CPU_LANE_SUM_H */
