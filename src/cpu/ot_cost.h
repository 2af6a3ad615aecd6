/* ot_cost.h — point-cloud costs on the CPU, a row at a time: with the problem's y transposed
 * (dim x m), row i of C is built coordinate by coordinate over all columns — loops over j
 * that vectorise, each entry still summed in coordinate order with fmaf, so the bits of
 * optk_point_cost (summing one entry's dim coordinates in turn is a chain of dependent
 * fmas: ~25x slower at dim 64). Used by optk_ot_cost_fill and the point-cloud solver. */
#ifndef OPTK_CPU_OT_COST_H
#define OPTK_CPU_OT_COST_H

#include <stdbool.h>
#include <stdint.h>

/* yt[k m + j] = y[j dim + k]: m points of dim coordinates, transposed. */
void optk_cpu_transpose_points(const float *y, int64_t m, int64_t dim, float *yt);

/* out[j] = |x - y_j|^2 (or its root) for j < m, with y transposed as above. */
void optk_cpu_cost_row(const float *x, const float *yt, int64_t m, int64_t dim, bool euclidean,
                       float *out);

#endif /* OPTK_CPU_OT_COST_H */
