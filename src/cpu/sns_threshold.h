/* sns_threshold.h — a row's threshold in the sparsification of Sinkhorn-Newton-Sparse
 * (common/sinkhorn_newton.h) on the CPU: the largest t whose entries >= t hold enough.
 *
 * CUDA bisects on t's bits (63 tests of the whole row). The answer is always one of the row's
 * values — the set of entries >= t, hence the test, changes only there, and the test holds at
 * the row's smallest value (the whole row: count m, mass r, summed in r's order) — so here a
 * search over the row's values from the largest down finds the same t: doubling steps, then
 * halving, over the row's largest values (a small sorted buffer from one pass, then a max-heap
 * only where the search goes past it). A row that keeps a few entries costs one pass and a
 * few tests. tests/test_sinkhorn_newton.c holds it to the
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

/* A row's values from the largest down: the first OPTK_CPU_SNS_TOP from one pass that keeps
 * them sorted in a small buffer (a row that has concentrated needs no more), the rest from a
 * max-heap of the whole row, built only if asked for. */
enum { OPTK_CPU_SNS_TOP = 16 };

typedef struct optk_cpu_descending {
    const double *row;
    int64_t m, tops;              /* tops: min(TOP, m) */
    double top[OPTK_CPU_SNS_TOP]; /* the tops largest, descending */
    double *heap, *sorted;        /* m each, scratch */
    int64_t size, taken;          /* heap size; values popped into sorted (-1: no heap) */
} optk_cpu_descending;

static inline void optk_cpu_sift_down(double *h, int64_t size, int64_t k) {
    for (int64_t child = 2 * k + 1; child < size; k = child, child = 2 * k + 1) {
        if (child + 1 < size && h[child + 1] > h[child]) ++child;
        if (!(h[child] > h[k])) return;
        const double t = h[k];
        h[k] = h[child], h[child] = t;
    }
}

static inline void optk_cpu_descending_init(optk_cpu_descending *d, const double *row, int64_t m,
                                            double *scratch) {
    d->row = row, d->m = m, d->tops = m < OPTK_CPU_SNS_TOP ? m : OPTK_CPU_SNS_TOP;
    d->heap = scratch, d->sorted = scratch + m, d->size = 0, d->taken = -1;
    int64_t filled = 0;
    for (int64_t j = 0; j < m; ++j) {
        const double v = row[j];
        if (filled == d->tops && !(v > d->top[filled - 1])) continue; /* the common case */
        int64_t k = filled < d->tops ? filled++ : filled - 1;         /* where v goes in */
        for (; k > 0 && d->top[k - 1] < v; --k)
            d->top[k] = d->top[k - 1];
        d->top[k] = v;
    }
}

/* The k-th largest (from 0). */
static inline double optk_cpu_nth_largest(optk_cpu_descending *d, int64_t k) {
    if (k < d->tops) return d->top[k];
    if (d->taken < 0) { /* past the buffer: the heap, built once */
        for (int64_t j = 0; j < d->m; ++j)
            d->heap[j] = d->row[j];
        d->size = d->m, d->taken = 0;
        for (int64_t h = d->m / 2 - 1; h >= 0; --h)
            optk_cpu_sift_down(d->heap, d->m, h);
    }
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
    optk_cpu_descending d;
    optk_cpu_descending_init(&d, row, m, scratch);
    double *held = scratch + 2 * m;
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
