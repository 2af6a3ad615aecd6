/* row_lse.h — a row's log-sum-exp over the other side in a CUDA warp's order, on the CPU:
 * what the f update (sinkhorn.c, which runs the lane tree over blocks of rows at once) and
 * the c-transform (sinkhorn_apply.c) share. */
#ifndef OPTK_CPU_ROW_LSE_H
#define OPTK_CPU_ROW_LSE_H

#include "../common/sinkhorn.h"
#include "mixed_precision.h" /* OPTK_CPU_HOT_LOOP */

/* The lanes of LSE_j ((g_j - c_j) / eps) over the j < m with b_j != 0: column j in lane
 * j % LANES, in index order — a warp's lanes before its shuffle tree. A zero-weight column
 * adds -Inf, which adds nothing. Branch-free, so the lanes vectorise. */
OPTK_CPU_HOT_LOOP static void optk_cpu_row_lanes(const float *restrict c, const float *restrict g,
                                                 const float *restrict b, float eps, int64_t m,
                                                 float *restrict lane_max,
                                                 double *restrict lane_sum) {
    for (int l = 0; l < OPTK_SINKHORN_LANES; ++l) {
        lane_max[l] = -OPTK_INF_F;
        lane_sum[l] = 0.0;
    }
    int64_t j0 = 0;
    for (; j0 + OPTK_SINKHORN_LANES <= m; j0 += OPTK_SINKHORN_LANES) {
        for (int l = 0; l < OPTK_SINKHORN_LANES; ++l) {
            const int64_t j = j0 + l;
            const float v = b[j] != 0.0f ? g[j] - c[j] : -OPTK_INF_F;
            optk_lse_add(&lane_max[l], &lane_sum[l], v, eps);
        }
    }
    for (int64_t j = j0; j < m; ++j) {
        const float v = b[j] != 0.0f ? g[j] - c[j] : -OPTK_INF_F;
        optk_lse_add(&lane_max[j - j0], &lane_sum[j - j0], v, eps);
    }
}

/* The row's whole log-sum-exp: its lanes, then the lane tree (optk_lse_tree, the warp's
 * shuffle tree). */
static inline optk_lse optk_cpu_row_lse(const float *restrict c, const float *restrict g,
                                        const float *restrict b, float eps, int64_t m) {
    float lane_max[OPTK_SINKHORN_LANES];
    double lane_sum[OPTK_SINKHORN_LANES];
    optk_cpu_row_lanes(c, g, b, eps, m, lane_max, lane_sum);
    return optk_lse_tree(lane_max, lane_sum, eps);
}

#endif /* OPTK_CPU_ROW_LSE_H */
