/* sinkhorn.h — the arithmetic of log-domain Sinkhorn both backends share: the cost of an
 * entry, a log-sum-exp kept around its running maximum, the potential update, the error
 * term and the plan entry, and the order every sum is taken in, so that the CPU and CUDA
 * give the same bits:
 *  - a column's log-sum-exp (the g update) adds the rows in index order;
 *  - a row's (the f update) keeps OPTK_SINKHORN_LSE_LANES (16) partials, column j in partial
 *    j % 16 in index order, merged by the tree of optk_lse_tree (the shuffles of half a CUDA
 *    warp: a warp takes two rows). Each merge costs an exp, as a term does, so the lanes are
 *    few: at 64 columns 32 lanes spent 5 merges a lane against 2 terms, 16 spend 4 against 4;
 *    16 floats are also one AVX-512 vector of the CPU's;
 *  - a problem's sums over columns or plan entries keep OPTK_SINKHORN_PARTIALS partials,
 *    element e in partial e % PARTIALS, added by the tree of optk_sum_tree (a CUDA block's).
 *
 * A log-sum-exp of (v_k / eps) is held as (max, sum) with max = max_k v_k in cost units and
 * sum = sum_k exp((v_k - max) / eps) in [1, count]: no exponent is ever positive, so no eps
 * > 0 overflows, and -Inf terms (zero weights) are skipped, so none makes a NaN.
 */
#ifndef OPTK_COMMON_SINKHORN_H
#define OPTK_COMMON_SINKHORN_H

#include "math.h"

#define OPTK_SINKHORN_LANES 32     /* a warp's lanes: sums of doubles over a row */
#define OPTK_SINKHORN_LSE_LANES 16 /* a row's log-sum-exp: half a warp */
#define OPTK_SINKHORN_PARTIALS 256

/* What the kernels need of a problem (the public struct less the pointers' constness). */
typedef struct optk_ot_view {
    int64_t n, m, dim;
    int cost; /* optk_ot_cost */
    const float *a, *b, *c, *x, *y;
} optk_ot_view;

/* The cost between two points: |x_i - y_j|^2 summed in coordinate order, or its square root
 * (cost 2: Euclidean). Every solver computes point costs through this one function. */
OPTK_HD float optk_point_cost(const float *xi, const float *yj, int64_t dim, int cost) {
    float d2 = 0.0f;
    for (int64_t k = 0; k < dim; ++k) {
        const float d = xi[k] - yj[k];
        d2 = fmaf(d, d, d2);
    }
    return cost == 1 ? d2 : sqrtf(d2);
}

/* C_ij of problem p: read, or the cost between its points. */
OPTK_HD float optk_ot_cost_at(const optk_ot_view *v, int64_t p, int64_t i, int64_t j) {
    if (v->cost == 0) return v->c[(p * v->n + i) * v->m + j];
    return optk_point_cost(v->x + (p * v->n + i) * v->dim, v->y + (p * v->m + j) * v->dim, v->dim,
                           v->cost);
}

typedef struct optk_lse {
    float max;  /* -Inf while empty */
    double sum; /* of exp((v - max) / eps) */
} optk_lse;

OPTK_HD optk_lse optk_lse_empty(void) {
    optk_lse l = {-OPTK_INF_F, 0.0};
    return l;
}

/* Adds v / eps (v: a potential minus a cost, in cost units) to the log-sum-exp held in
 * (*max, *sum). One exp: exp(-|v - max| / eps) rescales the sum when v is the new max. A -Inf
 * v (a zero weight's) adds exactly nothing. Branch-free, so CPU loops over it vectorise. */
OPTK_HD void optk_lse_add(float *max, double *sum, float v, float eps) {
    const float e = optk_expf(-fabsf(v - *max) / eps); /* NaN only when both are -Inf */
    const double term = v == -OPTK_INF_F ? 0.0 : (double)e;
    const int above = v > *max;
    *sum = above ? *sum * term + 1.0 : *sum + term;
    *max = above ? v : *max;
}

OPTK_HD void optk_lse_push(optk_lse *l, float v, float eps) {
    optk_lse_add(&l->max, &l->sum, v, eps);
}

/* Merges the partial log-sum-exp (ymax, ysum) into (*max, *sum): an empty side (max -Inf)
 * gives the other unchanged; else the larger max is kept and the other sum rescaled by
 * exp((lo - hi) / eps). Branch-free (the selects come last), so the CPU's lane tree
 * vectorises. */
OPTK_HD void optk_lse_merge_into(float *max, double *sum, float ymax, double ysum, float eps) {
    const float xmax = *max;
    const double xsum = *sum;
    const int x_first = xmax >= ymax;
    const float hi = x_first ? xmax : ymax, lo = x_first ? ymax : xmax;
    const double hi_sum = x_first ? xsum : ysum, lo_sum = x_first ? ysum : xsum;
    const double merged = hi_sum + lo_sum * (double)optk_expf((lo - hi) / eps);
    const int y_empty = ymax == -OPTK_INF_F, x_empty = xmax == -OPTK_INF_F;
    *max = y_empty ? xmax : (x_empty ? ymax : hi);
    *sum = y_empty ? xsum : (x_empty ? ysum : merged);
}

/* Merges two partial log-sum-exps (CUDA's warp tree). */
OPTK_HD optk_lse optk_lse_merge(optk_lse x, optk_lse y, float eps) {
    optk_lse_merge_into(&x.max, &x.sum, y.max, y.sum, eps);
    return x;
}

/* The lane tree over OPTK_SINKHORN_LSE_LANES lanes held as separate maxima and sums: lane k
 * takes lane k + offset for offset 8, 4, 2, 1; lane 0 ends with the whole (what
 * __shfl_down_sync of width 16 gives the half-warp's first lane). Overwrites the lanes. */
OPTK_HD optk_lse optk_lse_tree(float *max, double *sum, float eps) {
    for (int offset = OPTK_SINKHORN_LSE_LANES / 2; offset > 0; offset /= 2) {
        for (int k = 0; k < offset; ++k)
            optk_lse_merge_into(&max[k], &sum[k], max[k + offset], sum[k + offset], eps);
    }
    const optk_lse whole = {max[0], sum[0]};
    return whole;
}

/* The block tree: partial t takes partial t + s for s = PARTIALS / 2 .. 1. Overwrites it. */
OPTK_HD double optk_sum_tree(double *partial) {
    for (int s = OPTK_SINKHORN_PARTIALS / 2; s > 0; s /= 2) {
        for (int t = 0; t < s; ++t)
            partial[t] += partial[t + s];
    }
    return partial[0];
}

/* eps LSE in cost units: max + eps log(sum); -Inf when empty, NaN when its only terms were
 * NaN (they leave the max at -Inf but the sum NaN). */
OPTK_HD float optk_lse_value(optk_lse l, float eps) {
    if (l.max == -OPTK_INF_F) return l.sum == 0.0 ? -OPTK_INF_F : OPTK_NAN_F;
    return fmaf(eps, optk_logf((float)l.sum), l.max);
}

/* A potential from its weight and the log-sum-exp over the other side:
 * tau (eps log w - eps LSE); -Inf for a zero weight. */
OPTK_HD float optk_potential(float weight, optk_lse l, float eps, float tau) {
    if (weight == 0.0f) return -OPTK_INF_F;
    return tau * (eps * optk_logf(weight) - optk_lse_value(l, eps));
}

/* One column's share of the error: b |exp((g - g') / eps) - 1| (0 for a zero weight). */
OPTK_HD double optk_error_term(float weight, float g, float g_next, float eps) {
    if (weight == 0.0f) return 0.0;
    return (double)weight * fabs((double)optk_expf((g - g_next) / eps) - 1.0);
}

/* The plan entry exp((f + g - C) / eps); 0 where a weight is 0 (a -Inf potential).
 * Branch-free (the exp is computed and dropped), so the CPU's loops over it vectorise. */
OPTK_HD float optk_plan_entry(float f, float g, float c, float eps) {
    const float e = optk_expf((f + g - c) / eps);
    return (f == -OPTK_INF_F || g == -OPTK_INF_F) ? 0.0f : e;
}

/* The unbalanced damping rho / (rho + eps); 1 for a balanced problem (rho 0 or +Inf). */
OPTK_HD float optk_sinkhorn_tau(double rho, float eps) {
    if (rho == 0.0 || rho > 1.7976931348623157e308) return 1.0f;
    return (float)(rho / (rho + (double)eps));
}

/* Output row r (a row i of P, or with transpose a column j) of P v for problem p: columns
 * c0 .. c0 + count - 1 of it summed over the other index in order, in double. */
OPTK_HD void optk_plan_apply_row(const optk_ot_view *v, int64_t p, float eps, const float *f,
                                 const float *g, int transpose, const float *in, int64_t k,
                                 int64_t r, double *acc, int64_t c0, int64_t count) {
    const int64_t others = transpose ? v->n : v->m;
    for (int64_t c = 0; c < count; ++c)
        acc[c] = 0.0;
    for (int64_t s = 0; s < others; ++s) {
        const int64_t i = transpose ? s : r, j = transpose ? r : s;
        const float pij =
            optk_plan_entry(f[p * v->n + i], g[p * v->m + j], optk_ot_cost_at(v, p, i, j), eps);
        if (pij == 0.0f) continue;
        const float *row = in + (p * others + s) * k + c0;
        for (int64_t c = 0; c < count; ++c)
            acc[c] += (double)pij * row[c];
    }
}

/* The cost's gradient in its first point: d/dz C(z, w) = scale (z - w) with scale 2 for the
 * squared-Euclidean cost (1) and 1 / |z - w| for the Euclidean one (2), whose value c is the
 * entry's cost — 0 where the points coincide (0 is in the subdifferential there). Both costs
 * are symmetric, so the gradient in the second point is the same with the points swapped. */
OPTK_HD double optk_cost_gradient_scale(float c, int cost) {
    if (cost == 1) return 2.0;
    return c > 0.0f ? 1.0 / (double)c : 0.0;
}

/* Row r (a point z of x; with transpose a point of y) of problem p's plan-weighted cost
 * gradient, coordinates k0 .. k0 + count - 1: acc[k] = sum_s P_rs scale_rs (z_k - w_sk) over
 * the other side's points w_s in index order, in double, zero plan entries skipped. */
OPTK_HD void optk_plan_gradient_row(const optk_ot_view *v, int64_t p, float eps, const float *f,
                                    const float *g, int transpose, int64_t r, double *acc,
                                    int64_t k0, int64_t count) {
    const int64_t others = transpose ? v->n : v->m;
    const float *z = transpose ? v->y + (p * v->m + r) * v->dim : v->x + (p * v->n + r) * v->dim;
    const float *w0 = transpose ? v->x + p * v->n * v->dim : v->y + p * v->m * v->dim;
    for (int64_t c = 0; c < count; ++c)
        acc[c] = 0.0;
    for (int64_t s = 0; s < others; ++s) {
        const int64_t i = transpose ? s : r, j = transpose ? r : s;
        const float cost = optk_ot_cost_at(v, p, i, j);
        const float pij = optk_plan_entry(f[p * v->n + i], g[p * v->m + j], cost, eps);
        if (pij == 0.0f) continue;
        const double weight = (double)pij * optk_cost_gradient_scale(cost, v->cost);
        const float *w = w0 + s * v->dim;
        for (int64_t c = 0; c < count; ++c)
            acc[c] += weight * ((double)z[k0 + c] - (double)w[k0 + c]);
    }
}

/* ---- The symmetric update of a self problem ---------------------------------------------
 * x against x with a = b: the cost is symmetric, the solution has g = f, and f is the fixed
 * point of T(f) = tau (eps log a - eps LSE_i (f_i - C_i.)), the g update of f. T's linear
 * part is minus the plan normalised by its marginal, close to -I where the plan is nearly
 * diagonal (small eps against the points' spacing): alternating updates apply T twice, close
 * to I, and settle slowly; the average f <- (f + T(f)) / 2 is close to 0 there (GeomLoss's
 * and OTT's symmetric Sinkhorn). A cold start's first iteration is f <- T(0), not the
 * average with 0 (GeomLoss's start too): where eps dominates the costs T(0) is nearly the
 * answer. g = f throughout (a warm start's g is not read); the error is the usual one,
 * against T(f). One log-sum-exp pass per iteration in the log domain; between checks, where
 * it is safe, one matrix-vector product in the kernel domain (below): with f = f0 + eps log u
 * and T(f) = f0 + eps log v for the block's f0, the average is f0 + eps log sqrt(u v). */
OPTK_HD float optk_symmetric_average(float f, float t) {
    return 0.5f * f + 0.5f * t; /* halves first: no overflow; -Inf (a zero weight) stays */
}

/* The symmetric update's scaling sqrt(u v): the product exact in double, its square root
 * correctly rounded there (IEEE on both backends), then rounded to float. Positive normal u
 * and v give a positive normal result (it lies between them); a zero weight's v = 0 gives 0. */
OPTK_HD float optk_symmetric_scaling(float u, float v) {
    return (float)sqrt((double)u * (double)v);
}

/* ---- The kernel-domain fast path ---------------------------------------------------------
 * Between two checks a balanced problem may run on scalings instead of potentials: with the
 * kernel absorbed at the block's start, K_ij = exp((f_i + g_j - C_ij) / eps) (the plan entry
 * of the current potentials), an iteration is v_j = b_j / sum_i K_ij u_i, then
 * u_i = a_i / sum_j K_ij v_j — two matrix-vector products where the log domain takes two
 * log-sum-exps — and f += eps log u, g += eps log v at the block's end give the log-domain
 * iterates up to rounding. A column's sum runs over the rows in index order, a row's in the
 * 32 lanes and the lane tree, in double, on both backends. A scaling that is 0, infinite or
 * NaN (the kernel underflowed: a small eps far from the solution) makes the block unsafe: it
 * is run again in the log domain from where it started, so the path is taken only where it
 * is safe. Blocks of problems up to 2^24 entries take it (the CPU stores K); unbalanced ones
 * (tau < 1) with optk_scaling_tau's scalings. */
#define OPTK_SINKHORN_KERNEL_MAX_ENTRIES ((int64_t)1 << 24)

/* Whether a block may try the kernel domain. */
OPTK_HD int optk_sinkhorn_kernel_block(int64_t n, int64_t m, int log_domain_only) {
    return !log_domain_only && n * m <= OPTK_SINKHORN_KERNEL_MAX_ENTRIES;
}

/* A scaling weight / sum (0 for a zero weight); sets *unsafe when it is not a positive finite
 * float. */
OPTK_HD float optk_scaling(float weight, double sum, int *unsafe) {
    if (weight == 0.0f) return 0.0f;
    const float s = (float)((double)weight / sum);
    if (!(sum > 0.0 && s > 0.0f && s <= 3.4028234663852886e38f)) *unsafe = 1;
    return s;
}

/* The scaling of a kernel-domain update at any tau: with the block's potential p0 (g_j for a
 * column, f_i for a row) the log-domain update tau (eps log w - eps log(sum e^{-p0/eps}))
 * is p0 + eps log s for s = (w / sum)^tau exp((tau - 1) p0 / eps): for tau = 1 exactly
 * optk_scaling's w / sum; otherwise one log and one exp per row or column, the exponent in
 * double. Unsafe (*unsafe set) unless the exponent keeps s a normal float. */
OPTK_HD float optk_scaling_tau(float weight, double sum, float tau, float p0, float eps,
                               int *unsafe) {
    if (tau == 1.0f) return optk_scaling(weight, sum, unsafe);
    if (weight == 0.0f) return 0.0f;
    const float ratio = (float)((double)weight / sum);
    const double e =
        (double)tau * (double)optk_logf(ratio) + ((double)tau - 1.0) * ((double)p0 / (double)eps);
    if (!(sum > 0.0 && ratio > 0.0f && ratio <= 3.4028234663852886e38f && e >= -87.0 && e <= 88.0))
        *unsafe = 1;
    return optk_expf((float)e);
}

/* The lane tree of a row's sum (a CUDA warp's shuffles, as optk_lse_tree). Overwrites it. */
OPTK_HD double optk_sum_lanes(double *lanes) {
    for (int offset = OPTK_SINKHORN_LANES / 2; offset > 0; offset /= 2) {
        for (int k = 0; k < offset; ++k)
            lanes[k] += lanes[k + offset];
    }
    return lanes[0];
}

/* The potential after a block: potential + eps log scaling; -Inf for a zero weight (whose
 * scaling is 0), as the log-domain update gives. */
OPTK_HD float optk_absorb(float potential, float scaling, float eps) {
    return scaling == 0.0f ? -OPTK_INF_F : fmaf(eps, optk_logf(scaling), potential);
}

/* K_ij of the block: the plan entry of the current potentials, 0 in a zero-weight row (the
 * log domain skips those rows whatever their potentials, and the first column sums, with
 * u = 1, would count them). A zero-weight column needs nothing: its scaling v_j is 0. */
OPTK_HD float optk_kernel_entry(float a, float f, float g, float c, float eps) {
    return a == 0.0f ? 0.0f : optk_plan_entry(f, g, c, eps);
}

/* epsilon of stage `stage` (check_every iterations each): max(target, start decay^stage). */
OPTK_HD float optk_sinkhorn_epsilon(double target, double start, double decay, int64_t stage) {
    if (start <= target) return (float)target;
    double e = start;
    for (int64_t s = 0; s < stage && e > target; ++s)
        e *= decay;
    return (float)(e > target ? e : target);
}

#endif /* OPTK_COMMON_SINKHORN_H */
