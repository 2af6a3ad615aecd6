/* sinkhorn_newton.h — the Newton phase of Sinkhorn-Newton-Sparse (Tang, Shavlovsky, Rahmanian,
 * Tardini, Thekumparampil, Xiao, Ying; ICLR 2024), what both backends share: its constants,
 * its workspace, its element formulas and the order of every sum, so that the CPU
 * (src/cpu/sinkhorn_newton.c: one thread per problem) and CUDA (src/cuda/sinkhorn_newton.cu:
 * one block per problem) give the same bits.
 *
 * The phase works in double on the concave dual of a balanced problem
 *   L(f, g) = <a, f> + <b, g> - eps sum_ij P_ij,   P_ij = exp((f_i + g_j - C_ij) / eps),
 * whose negative Hessian is (1/eps) [[diag(P 1), P], [P^T, diag(P^T 1)]]. Each Newton step:
 *  1. the plan at (f, g), its marginals r = P 1 and c = P^T 1, L and the error
 *     |r - a|_1 + |c - b|_1 (both marginals: a Newton step leaves neither exact);
 *  2. the plan block sparsified: entry (i, j) kept when it is among the largest of row i that
 *     hold OPTK_SNS_ROW_MASS of its mass (at least optk_sns_row_keep of them: about 2 once
 *     the plan has concentrated) or the largest of column j (optk_sns_keep);
 *  3. conjugate gradients on H d = grad (grad = a - r, b - c; H damped by
 *     OPTK_SNS_DAMPING max_i r_i / eps against its null space (1, -1)), solved inexactly:
 *     to a relative residual of min(OPTK_SNS_CG_FORCING, sqrt|grad|) (a forcing term that
 *     shrinks with the gradient keeps Newton's superlinear convergence near the solution,
 *     and far from it spends few CG iterations on a step the line search may cut anyway);
 *  4. a backtracking (Armijo) line search on L, halving from the first step length t0
 *     (optk_sns_first_step: 1, or less where d would move a potential by more than
 *     OPTK_SNS_MAX_MOVE eps); where no step length down to OPTK_SNS_MIN_STEP t0 improves L
 *     enough, plain Sinkhorn iterations in double (g,
 *     then f) from where the step started: 1 after a step that follows a success, twice as
 *     many after each further failure, at most OPTK_SNS_MAX_BURST (far from the solution,
 *     where Newton's steps overshoot, the phase becomes Sinkhorn with a Newton try between
 *     ever longer bursts instead of a full Newton try per Sinkhorn iteration).
 * A Newton step and a Sinkhorn iteration count one iteration each.
 *
 * Order of the sums (a CUDA warp's, optk_sum_lanes): element k of a sum over k goes to lane
 * k % OPTK_SINKHORN_LANES in index order and the lanes meet in the shuffle tree. Sums over a
 * row's columns (r_i, the row threshold's mass, the row LSE of the Sinkhorn step) and over
 * the vectors of length n + m (dot products, L, the error, mass, the final cost) take it;
 * sums down a column (c_j, the column LSE) run through the rows in index order; a row of the
 * sparse product adds its kept entries in column order, a column in row order.
 */
#ifndef OPTK_COMMON_SINKHORN_NEWTON_H
#define OPTK_COMMON_SINKHORN_NEWTON_H

#include "math_f64.h"
#include "sinkhorn.h"

#include <stddef.h>

#define OPTK_SNS_CG_ITERATIONS 200
#define OPTK_SNS_CG_FORCING 0.1     /* CG's relative residual, at most (optk_sns_cg_stop) */
#define OPTK_SNS_DAMPING 1e-10      /* H + delta I, delta = this max_i r_i / eps */
#define OPTK_SNS_ROW_MASS 0.999     /* a row keeps its largest entries holding this of its mass */
#define OPTK_SNS_ARMIJO 1e-4        /* accept L(x + t d) >= L(x) + this t grad.d */
#define OPTK_SNS_MIN_STEP 1e-4      /* the smallest step length tried, relative to the first */
#define OPTK_SNS_MAX_MOVE 10.0      /* the first step moves no potential more than this eps */
#define OPTK_SNS_MAX_BURST 64       /* Sinkhorn iterations after a failed step, at most */
#define OPTK_SNS_MAX_ENTRIES 0x1p27 /* n m: indices fit int32, workspace bounded */

/* One problem's workspace (optk_sns_space_at): the vectors of length n + m hold the rows'
 * part, then the columns' (x = f then g is the dual variable, marginal = r then c). */
typedef struct optk_sns_space {
    double *plan;                              /* n x m, row-major: P at the current x */
    double *x, *marginal;                      /* n + m */
    double *threshold, *column_max;            /* n, m: the sparsification's */
    double *grad, *d, *trial, *res, *dir, *hd; /* n + m: Newton's and CG's */
    float *cost;                               /* n x m: the problem's C */
    int32_t *row_start,
        *col_start; /* n + 1, m + 1: where each row's / column's kept entries begin */
    int32_t *row_cols,
        *col_rows; /* n x m at most: kept columns of each row, ascending; rows of each column */
} optk_sns_space;

/* Bytes of one problem's workspace, a multiple of 256. */
OPTK_HD size_t optk_sns_space_bytes(int64_t n, int64_t m) {
    const size_t nm = (size_t)(n * m), len = (size_t)(n + m);
    const size_t bytes = 8 * (nm + 9 * len) + 4 * nm + 4 * (len + 2) + 8 * nm;
    return (bytes + 255) / 256 * 256;
}

/* The pieces of the workspace at base (8-byte aligned). */
OPTK_HD optk_sns_space optk_sns_space_at(void *base, int64_t n, int64_t m) {
    const size_t nm = (size_t)(n * m), len = (size_t)(n + m);
    optk_sns_space w;
    double *d = (double *)base;
    w.plan = d, d += nm;
    w.x = d, d += len;
    w.marginal = d, d += len;
    w.threshold = d, d += n;
    w.column_max = d, d += m;
    w.grad = d, d += len;
    w.d = d, d += len;
    w.trial = d, d += len;
    w.res = d, d += len;
    w.dir = d, d += len;
    w.hd = d, d += len;
    w.cost = (float *)(void *)d;
    int32_t *i = (int32_t *)(void *)(w.cost + nm);
    w.row_start = i, i += n + 1;
    w.col_start = i, i += m + 1;
    w.row_cols = i, i += nm;
    w.col_rows = i;
    return w;
}

/* P_ij at the dual variables: 0 where either weight is 0 (padding; its potential is -Inf). */
OPTK_HD double optk_sns_entry(float a, float b, double f, double g, float c, double eps) {
    return a > 0.0f && b > 0.0f ? optk_exp_f64((f + g - (double)c) / eps) : 0.0;
}

/* Element k of Newton's gradient, weight_k - marginal_k (0 for a zero weight: padding). */
OPTK_HD double optk_sns_gradient(float weight, double marginal) {
    return weight > 0.0f ? (double)weight - marginal : 0.0;
}

/* Element k of <a, f> + <b, g> (0 for a zero weight, whose potential is -Inf). */
OPTK_HD double optk_sns_linear_term(float weight, double x) {
    return weight > 0.0f ? (double)weight * x : 0.0;
}

/* Element k of the error, |marginal_k - weight_k|. */
OPTK_HD double optk_sns_error_term(double marginal, float weight) {
    return fabs(marginal - (double)weight);
}

/* Element k of (H + delta I) x before its kept plan entries: the diagonal's part. */
OPTK_HD double optk_sns_hessian_diagonal(double marginal, double x, double delta, double eps) {
    return (marginal * x) / eps + delta * x;
}

/* A kept plan entry p's part of (H x)_k, x the other side's element. */
OPTK_HD double optk_sns_hessian_term(double p, double x, double eps) {
    return p * x / eps;
}

/* A term of a plain Sinkhorn step's log-sum-exp in double: v (a potential minus a cost) taken
 * relative to the maximum top. */
OPTK_HD double optk_sns_lse_term(double v, double top, double eps) {
    return optk_exp_f64((v - top) / eps);
}

/* How many entries a row keeps at least: 2 m / n (2 when n >= m), at most m. */
OPTK_HD int64_t optk_sns_row_keep(int64_t n, int64_t m) {
    const int64_t k = 2 * m / n > 2 ? 2 * m / n : 2;
    return k < m ? k : m;
}

/* Whether a row's entries >= t hold enough: `count` of them with sum `mass`, of row mass r.
 * Monotone in t, so a bisection on t's bits finds the largest such t: the row's threshold. */
OPTK_HD bool optk_sns_threshold_ok(int64_t count, double mass, int64_t keep, double r) {
    return count >= keep && mass >= OPTK_SNS_ROW_MASS * r;
}

/* Whether entry v of a row with threshold t, in a column whose largest entry is cmax, is in
 * the sparsified plan block. */
OPTK_HD bool optk_sns_keep(double v, double t, double cmax) {
    return v > 0.0 && (v >= t || v == cmax);
}

/* CG stops when |res|^2 <= this, from rr0 = |grad|^2: the relative residual
 * eta = min(FORCING, sqrt|grad|), Eisenstat and Walker's choice. On the bench's SNS case
 * (CPU) |grad| in its place took 10% longer, the fixed 1e-10 before it 30% longer, and a
 * Jacobi preconditioner on top of |grad| 20% longer (the marginals, H's diagonal, are nearly
 * uniform: it only cost a vector pass). */
OPTK_HD double optk_sns_cg_stop(double rr0) {
    const double norm = sqrt(rr0), cap = OPTK_SNS_CG_FORCING * OPTK_SNS_CG_FORCING;
    return (norm < cap ? norm : cap) * rr0; /* eta^2 |grad|^2, eta^2 = min(cap, |grad|) */
}

/* The damping of CG's operator from the largest row marginal. */
OPTK_HD double optk_sns_damping(double max_r, double eps) {
    return OPTK_SNS_DAMPING * max_r / eps;
}

/* A potential from a plain Sinkhorn iteration in double: eps log w - (max + eps log sum),
 * sum >= 1 (the maximum's own term). */
OPTK_HD double optk_sns_potential(float weight, double max, double sum, double eps) {
    return eps * optk_log_f64((double)weight) - max - eps * optk_log_f64(sum > 1.0 ? sum : 1.0);
}

/* The first step length of the line search along d (largest |d_k|: max_d): 1, or so that no
 * potential moves more than MAX_MOVE eps. Far from the solution Newton's step in a potential
 * is eps (a_i / r_i - 1) where Sinkhorn's is eps log(a_i / r_i); a step that changes a plan
 * entry by e^10 or more is never accepted, and starting below it saves the halvings (on the
 * CPU the bench's far case took 30.3 ms without the cap, 15.9 ms with it; 5 eps and 50 eps
 * were slower on the demo's batch). */
OPTK_HD double optk_sns_first_step(double max_d, double eps) {
    const double move = OPTK_SNS_MAX_MOVE * eps;
    return max_d > move ? move / max_d : 1.0;
}

/* Sinkhorn iterations after a failed Newton step: `fallback`, within the budget left. */
OPTK_HD int optk_sns_burst(int fallback, int budget_left) {
    return fallback < budget_left ? fallback : budget_left;
}

/* The fallback after one more failure: doubled, at most OPTK_SNS_MAX_BURST. */
OPTK_HD int optk_sns_next_fallback(int fallback) {
    return 2 * fallback < OPTK_SNS_MAX_BURST ? 2 * fallback : OPTK_SNS_MAX_BURST;
}

/* The term of entry (i, j) of the objective <P, f + g>: 0 where P is 0 (f or g may be -Inf);
 * a NaN entry (a NaN cost) stays NaN. */
OPTK_HD double optk_sns_fg_term(double p, double f, double g) {
    return p != 0.0 ? p * (f + g) : 0.0;
}

/* The term of entry (i, j) of <P, C>: 0 where P is 0 (C may be +Inf: a forbidden pair); a NaN
 * entry stays NaN, as in the other solvers' cost. */
OPTK_HD double optk_sns_cost_term(double p, float c) {
    return p != 0.0 ? p * (double)c : 0.0;
}

#endif /* OPTK_COMMON_SINKHORN_NEWTON_H */
