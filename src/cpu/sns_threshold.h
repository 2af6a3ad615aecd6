/* sns_threshold.h — a row's threshold in the sparsification of Sinkhorn-Newton-Sparse
 * (common/sinkhorn_newton.h) on the CPU: the largest t whose entries >= t hold enough.
 *
 * CUDA bisects on t's bits (63 tests of the whole row). The answer is always one of the row's
 * values — the set of entries >= t, hence the test, changes only there, and the test holds at
 * the row's smallest value (the whole row: count m, mass r, summed in r's order) — so here a
 * search over the row's values from the largest down finds the same t: doubling steps, then
 * halving, over values taken from a max-heap as far as they are asked for. A row that keeps a
 * few entries costs a heap and a few tests. tests/test_sinkhorn_newton.c holds it to the
 * bisection. */
#ifndef OPTK_CPU_SNS_THRESHOLD_H
#define OPTK_CPU_SNS_THRESHOLD_H

#include "lane_sum.h"

#include "../common/sinkhorn_newton.h"

/* Whether row's entries >= t hold enough; held: m doubles of scratch. */
OPTK_CPU_HOT_LOOP static inline bool optk_cpu_sns_holds(const double *row, int64_t m, double r,
                                                        int64_t keep, double t, double *held) {
    int64_t count = 0;
    for (int64_t j = 0; j < m; ++j) {
        count += row[j] >= t;
        held[j] = row[j] >= t ? row[j] : 0.0;
    }
    return optk_sns_threshold_ok(count, lane_sum(held, m), keep, r);
}

/* A row's values from the largest down. */
typedef struct optk_cpu_descending {
    double *heap, *sorted;
    int64_t size, taken;
} optk_cpu_descending;

static inline void optk_cpu_sift_down(double *h, int64_t size, int64_t k) {
    for (int64_t child = 2 * k + 1; child < size; k = child, child = 2 * k + 1) {
        if (child + 1 < size && h[child + 1] > h[child]) ++child;
        if (!(h[child] > h[k])) return;
        const double t = h[k];
        h[k] = h[child], h[child] = t;
    }
}

/* The k-th largest (from 0), popping the heap as far as needed. */
static inline double optk_cpu_nth_largest(optk_cpu_descending *d, int64_t k) {
    while (d->taken <= k) {
        d->sorted[d->taken++] = d->heap[0];
        d->heap[0] = d->heap[--d->size];
        optk_cpu_sift_down(d->heap, d->size, 0);
    }
    return d->sorted[k];
}

/* The threshold of a row of m >= 1 non-negative entries with lane-order sum r, keeping at
 * least `keep` (<= m); scratch: 3 m doubles. */
static inline double optk_cpu_sns_threshold(const double *row, int64_t m, double r, int64_t keep,
                                            double *scratch) {
    optk_cpu_descending d = {scratch, scratch + m, m, 0};
    double *held = scratch + 2 * m;
    for (int64_t j = 0; j < m; ++j)
        d.heap[j] = row[j];
    for (int64_t k = m / 2 - 1; k >= 0; --k)
        optk_cpu_sift_down(d.heap, m, k);
    int64_t lo = 0, hi = m - 1; /* the first index that holds enough is in [lo, hi] */
    for (int64_t probe = 0; probe < hi; probe = 2 * probe + 1) {
        if (optk_cpu_sns_holds(row, m, r, keep, optk_cpu_nth_largest(&d, probe), held)) {
            hi = probe;
            break;
        }
        lo = probe + 1;
    }
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (optk_cpu_sns_holds(row, m, r, keep, optk_cpu_nth_largest(&d, mid), held))
            hi = mid;
        else
            lo = mid + 1;
    }
    return optk_cpu_nth_largest(&d, lo);
}

#endif /* OPTK_CPU_SNS_THRESHOLD_H */
