/* sinkhorn.h — the arithmetic of log-domain Sinkhorn both backends share: the cost of an
 * entry, a log-sum-exp kept around its running maximum, the potential update, the error
 * term and the plan entry. Only the order in which the backends combine partial sums
 * differs (the CPU adds in index order; CUDA combines per-thread partials in a tree).
 *
 * A log-sum-exp of (v_k / eps) is held as (max, sum) with max = max_k v_k in cost units and
 * sum = sum_k exp((v_k - max) / eps) in [1, count]: no exponent is ever positive, so no eps
 * > 0 overflows, and -Inf terms (zero weights) are skipped, so none makes a NaN.
 */
#ifndef OPTK_COMMON_SINKHORN_H
#define OPTK_COMMON_SINKHORN_H

#include "math.h"

/* What the kernels need of a problem (the public struct less the pointers' constness). */
typedef struct optk_ot_view {
    int64_t n, m, dim;
    int cost; /* optk_ot_cost */
    const float *a, *b, *c, *x, *y;
} optk_ot_view;

/* C_ij of problem p: read, or |x_i - y_j|^2 (its square root) summed in coordinate order. */
OPTK_HD float optk_ot_cost_at(const optk_ot_view *v, int64_t p, int64_t i, int64_t j) {
    if (v->cost == 0) return v->c[(p * v->n + i) * v->m + j];
    const float *xi = v->x + (p * v->n + i) * v->dim, *yj = v->y + (p * v->m + j) * v->dim;
    float d2 = 0.0f;
    for (int64_t k = 0; k < v->dim; ++k) {
        const float d = xi[k] - yj[k];
        d2 = fmaf(d, d, d2);
    }
    return v->cost == 1 ? d2 : sqrtf(d2);
}

typedef struct optk_lse {
    float max;  /* -Inf while empty */
    double sum; /* of exp((v - max) / eps) */
} optk_lse;

OPTK_HD optk_lse optk_lse_empty(void) {
    optk_lse l = {-OPTK_INF_F, 0.0};
    return l;
}

/* Adds v / eps (v: a potential minus a cost, in cost units). One exp: exp(-|v - max| / eps)
 * rescales the sum when v is the new max. */
OPTK_HD void optk_lse_push(optk_lse *l, float v, float eps) {
    if (v == -OPTK_INF_F) return;
    const double e = (double)optk_expf(-fabsf(v - l->max) / eps);
    const int above = v > l->max;
    l->sum = above ? l->sum * e + 1.0 : l->sum + e;
    l->max = above ? v : l->max;
}

/* Merges two partial log-sum-exps (CUDA's tree). */
OPTK_HD optk_lse optk_lse_merge(optk_lse x, optk_lse y, float eps) {
    if (y.max == -OPTK_INF_F) return x;
    if (x.max == -OPTK_INF_F) return y;
    const optk_lse hi = x.max >= y.max ? x : y, lo = x.max >= y.max ? y : x;
    optk_lse r = {hi.max, hi.sum + lo.sum * (double)optk_expf((lo.max - hi.max) / eps)};
    return r;
}

/* eps LSE in cost units: max + eps log(sum); -Inf when empty. */
OPTK_HD float optk_lse_value(optk_lse l, float eps) {
    if (l.max == -OPTK_INF_F) return -OPTK_INF_F;
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

/* The plan entry exp((f + g - C) / eps); 0 where a weight is 0 (a -Inf potential). */
OPTK_HD float optk_plan_entry(float f, float g, float c, float eps) {
    if (f == -OPTK_INF_F || g == -OPTK_INF_F) return 0.0f;
    return optk_expf((f + g - c) / eps);
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

/* epsilon of stage `stage` (check_every iterations each): max(target, start decay^stage). */
OPTK_HD float optk_sinkhorn_epsilon(double target, double start, double decay, int64_t stage) {
    if (start <= target) return (float)target;
    double e = start;
    for (int64_t s = 0; s < stage && e > target; ++s)
        e *= decay;
    return (float)(e > target ? e : target);
}

#endif /* OPTK_COMMON_SINKHORN_H */
