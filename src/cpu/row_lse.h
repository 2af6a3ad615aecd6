/* row_lse.h — rows' log-sum-exps over the other side in a CUDA half-warp's order, on the CPU,
 * the trees of 16 rows at a time: what the f update (sinkhorn.c) and the c-transform
 * (sinkhorn_apply.c) share. */
#ifndef OPTK_CPU_ROW_LSE_H
#define OPTK_CPU_ROW_LSE_H

#include "../common/sinkhorn.h"
#include "mixed_precision.h" /* OPTK_CPU_HOT_LOOP */

/* The lanes of LSE_j ((g_j - c_j) / eps) over the j < m with b_j != 0: column j in lane
 * j % LSE_LANES, in index order — a half-warp's lanes before its shuffle tree. A zero-weight column
 * adds -Inf, which adds nothing. Branch-free, so the lanes vectorise. */
OPTK_CPU_HOT_LOOP static void optk_cpu_row_lanes(const float *restrict c, const float *restrict g,
                                                 const float *restrict b, float eps, int64_t m,
                                                 float *restrict lane_max,
                                                 double *restrict lane_sum) {
    for (int l = 0; l < OPTK_SINKHORN_LSE_LANES; ++l) {
        lane_max[l] = -OPTK_INF_F;
        lane_sum[l] = 0.0;
    }
    int64_t j0 = 0;
    for (; j0 + OPTK_SINKHORN_LSE_LANES <= m; j0 += OPTK_SINKHORN_LSE_LANES) {
        for (int l = 0; l < OPTK_SINKHORN_LSE_LANES; ++l) {
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

/* Rows whose lane trees merge side by side: a tree's merges, one per row and level, fill a
 * vector across the rows (row by row, at 64 columns, they cost as much as the row's own
 * terms). */
enum { OPTK_CPU_TREE_ROWS = 16 };

/* Up to OPTK_CPU_TREE_ROWS rows' lanes, lane-major: row r of the block in column r. */
typedef struct optk_cpu_tree_block {
    float max[OPTK_SINKHORN_LSE_LANES][OPTK_CPU_TREE_ROWS];
    double sum[OPTK_SINKHORN_LSE_LANES][OPTK_CPU_TREE_ROWS];
} optk_cpu_tree_block;

/* Row r of the block: the lanes of its log-sum-exp (optk_cpu_row_lanes of c, g, b). */
static inline void optk_cpu_tree_block_row(optk_cpu_tree_block *t, int r, const float *c,
                                           const float *g, const float *b, float eps, int64_t m) {
    float lane_max[OPTK_SINKHORN_LSE_LANES];
    double lane_sum[OPTK_SINKHORN_LSE_LANES];
    optk_cpu_row_lanes(c, g, b, eps, m, lane_max, lane_sum);
    for (int l = 0; l < OPTK_SINKHORN_LSE_LANES; ++l)
        t->max[l][r] = lane_max[l], t->sum[l][r] = lane_sum[l];
}

/* The block's first `rows` rows' lane trees — optk_lse_tree's merges in its order, for each
 * row — side by side (the rows past them emptied first, merged and ignored); row r's
 * log-sum-exp is then optk_cpu_tree_block_lse(t, r). */
OPTK_CPU_HOT_LOOP static void optk_cpu_tree_block_merge(optk_cpu_tree_block *t, int rows,
                                                        float eps) {
    for (int l = 0; l < OPTK_SINKHORN_LSE_LANES; ++l) {
        for (int r = rows; r < OPTK_CPU_TREE_ROWS; ++r)
            t->max[l][r] = -OPTK_INF_F, t->sum[l][r] = 0.0;
    }
    for (int offset = OPTK_SINKHORN_LSE_LANES / 2; offset > 0; offset /= 2) {
        for (int k = 0; k < offset; ++k) {
            for (int r = 0; r < OPTK_CPU_TREE_ROWS; ++r) {
                optk_lse_merge_into(&t->max[k][r], &t->sum[k][r], t->max[k + offset][r],
                                    t->sum[k + offset][r], eps);
            }
        }
    }
}

static inline optk_lse optk_cpu_tree_block_lse(const optk_cpu_tree_block *t, int r) {
    const optk_lse l = {t->max[0][r], t->sum[0][r]};
    return l;
}

#endif /* OPTK_CPU_ROW_LSE_H */
