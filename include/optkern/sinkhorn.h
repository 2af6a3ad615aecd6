/* optkern/sinkhorn.h — batched entropic optimal transport: many log-domain Sinkhorn
 * problems per call, costs given or computed from point clouds, per-problem convergence,
 * epsilon-scaling, unbalanced (KL-relaxed) marginals.
 *
 * The plan of a problem is P_ij = exp((f_i + g_j - C_ij) / eps); the solver alternates
 *   g_j = tau (eps log b_j - eps LSE_i((f_i - C_ij) / eps))
 *   f_i = tau (eps log a_i - eps LSE_j((g_j - C_ij) / eps))
 * (tau = 1 balanced, rho / (rho + eps) unbalanced), every log-sum-exp taken around its
 * maximum in cost units, so that no eps > 0 overflows or makes a NaN. f and g are in cost
 * units; POT's sinkhorn_log returns log u = f / eps and log v = g / eps.
 */
#ifndef OPTKERN_SINKHORN_H
#define OPTKERN_SINKHORN_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum optk_ot_cost {
    OPTK_COST_DENSE = 0,       /* C given, batch x n x m */
    OPTK_COST_SQEUCLIDEAN = 1, /* C_ij = |x_i - y_j|^2, computed on the fly (never stored) */
    OPTK_COST_EUCLIDEAN = 2    /* C_ij = |x_i - y_j| */
} optk_ot_cost;

/** A batch of problems of the same size, all in backend memory, row-major, fp32. */
typedef struct optk_ot_problem {
    int64_t batch, n, m;
    /* Weights, batch x n and batch x m: finite, >= 0, each problem's row with a positive sum.
     * Zero weights pad: their rows/columns carry no mass and their potentials are -Inf.
     * Balanced problems need sum a = sum b per problem to converge. */
    const float *a, *b;
    optk_ot_cost cost;
    /* OPTK_COST_DENSE: batch x n x m. +Inf forbids a pair (its plan entry is 0); a NaN makes
     * its problem's error, cost and objective NaN and converged 0 (the others are solved as
     * without it). */
    const float *c;
    const float *x, *y; /* points: batch x n x dim and batch x m x dim, finite */
    int64_t dim;
} optk_ot_problem;

typedef enum optk_sinkhorn_solver {
    /* Alternating log-domain updates; between checks, problems up to 2^24 entries run as
     * scalings of the kernel absorbed at the block's start — two matrix-vector products an
     * iteration instead of two log-sum-exps (unbalanced ones with a scaling's power form) —
     * wherever that is safe: a block whose scalings leave the float range is run again in
     * the log domain. */
    OPTK_SINKHORN_PLAIN = 0,
    /* Sinkhorn-Newton-Sparse (Tang et al., 2024), balanced problems with n m <= 2^27:
     * sns_warmup Sinkhorn iterations, then Newton steps on the concave dual with the Hessian's
     * plan block sparsified to each row's largest entries holding 99.9% of its mass (at least
     * 2) and each column's largest, solved inexactly by conjugate gradients, with a
     * backtracking line search whose first step moves no potential more than 10 eps; where a
     * Newton step fails, Sinkhorn iterations (1, doubling with each further failure, at most
     * 64). A Newton step and a Sinkhorn iteration count one iteration each; the error is the
     * L1 violation of both marginals. Everything runs on the backend, the Newton phase in
     * double (one CPU thread or one CUDA block per problem), with the same bits on both. */
    OPTK_SINKHORN_SNS = 1,
    /* OPTK_SINKHORN_PLAIN without its kernel-domain fast path: every iteration in the log
     * domain (for comparisons; same answers up to rounding). */
    OPTK_SINKHORN_LOG_DOMAIN = 2,
    /* A self problem only — a point cloud against itself (y the same pointer as x, b as a,
     * m = n): the symmetric update f <- (f + T(f)) / 2, g = f, with T(f) the g update of f
     * (GeomLoss's and OTT's; CUDA: streaming). Between checks, problems up to 2^24 entries
     * run it as scalings of the kernel absorbed at the block's start, u <- sqrt(u v) with
     * v = a / (K u) — one matrix-vector product an iteration instead of a log-sum-exp —
     * wherever that is safe, as OPTK_SINKHORN_PLAIN does. Its fixed point is the problem's
     * solution; it settles in a few iterations where alternating updates crawl (a nearly
     * diagonal plan: eps small against the points' spacing). optk_sinkhorn_divergence solves
     * its self problems this way. A warm start reads f only. */
    OPTK_SINKHORN_SYMMETRIC = 3,
    /* OPTK_SINKHORN_SYMMETRIC without its kernel-domain fast path: every iteration in the log
     * domain (for comparisons; same answers up to rounding). */
    OPTK_SINKHORN_SYMMETRIC_LOG_DOMAIN = 4
} optk_sinkhorn_solver;

/* Where CUDA solves a problem (the CPU has one layout and ignores it). Every placement does the
 * same arithmetic in the same order, so they give the same bits; the choice is speed (and the
 * way to compare the solvers on one problem). */
typedef enum optk_sinkhorn_placement {
    /* On chip where the problem fits (n m <= 256^2): one block per problem, or on sm_90+ a
     * thread-block cluster where one block's shared memory is too small; else streaming. */
    OPTK_SINKHORN_PLACE_AUTO = 0,
    /* On chip only where one block holds the problem (no clusters); else streaming. */
    OPTK_SINKHORN_PLACE_ONE_BLOCK = 1,
    /* The streaming solver always (kernels per iteration, the problem in global memory). */
    OPTK_SINKHORN_PLACE_STREAMING = 2
} optk_sinkhorn_placement;

typedef struct optk_sinkhorn_options {
    double epsilon;       /* the target regularisation, > 0 (any float > 0) */
    int max_iter;         /* iterations (a g update and an f update each), >= 1 */
    double tol;           /* stop when the error is <= tol, >= 0 */
    int check_every;      /* error checked every check_every iterations, >= 1 */
    double epsilon_start; /* 0: none; else epsilon-scaling from it (> epsilon): stage s of */
    double epsilon_decay; /* check_every iterations runs max(epsilon, start decay^s) */
    double rho;           /* 0: balanced; > 0: KL-relaxed marginals of strength rho */
    bool warm_start;      /* f and g hold the starting potentials (else zeros) */
    optk_sinkhorn_solver solver;
    int sns_warmup; /* OPTK_SINKHORN_SNS: Sinkhorn iterations before Newton (0: 20) */
    optk_sinkhorn_placement placement; /* CUDA: on chip or streaming (default: auto) */
} optk_sinkhorn_options;

/** Defaults: max_iter 1000, tol 1e-5 (1e-6 is below fp32's reach), check_every 10, no
 *  epsilon-scaling (decay 0.5 when a start is set), balanced, cold start, plain solver,
 *  automatic placement. */
optk_sinkhorn_options optk_sinkhorn_default_options(double epsilon);

/** Where the results go (backend memory). f and g are required; the rest may be NULL. */
typedef struct optk_sinkhorn_outputs {
    float *f, *g;        /* batch x n, batch x m */
    int32_t *iterations; /* batch: iterations run */
    float *error;        /* batch: the final error (see optk_sinkhorn) */
    int32_t *converged;  /* batch: 1 if error <= tol was reached at the target epsilon */
    float *cost;         /* batch: <P, C> (POT's sinkhorn2) */
    float *objective;    /* batch: <P, C> - eps H(P), H(P) = -sum P (log P - 1) */
    float *plan;         /* batch x n x m: P */
} optk_sinkhorn_outputs;

/** Solves every problem of the batch; each stops on its own. The error, checked every
 *  check_every iterations once epsilon has reached its target, is
 *  sum_j b_j |exp((g_j - g'_j) / eps) - 1|, g' being what the next g update would give:
 *  for a balanced problem the L1 violation of the column marginal, sum_j |sum_i P_ij - b_j|
 *  (the rows are exact after each f update); for an unbalanced one the distance from the
 *  fixed point in the same units. Deterministic on each backend.
 *  Errors: OPTK_ERR_INVALID_ARGUMENT (with a message, nothing written) for NULL or
 *  misaligned buffers, sizes < 1, unknown cost kinds, out-of-range options, outputs that
 *  overlap each other or an input, negative, non-finite or all-zero weights, and
 *  a symmetric solver for a problem that is not a self problem. */
optk_status optk_sinkhorn(optk_context *ctx, const optk_ot_problem *problem,
                          const optk_sinkhorn_options *options,
                          const optk_sinkhorn_outputs *outputs);

/** The plan applied to a matrix without materialising it: out = P v (batch x n x k, from v:
 *  batch x m x k) or, with transpose, out = P^T v (batch x m x k from batch x n x k), with
 *  P_ij = exp((f_i + g_j - C_ij) / epsilon) from potentials f, g (e.g. optk_sinkhorn's; a
 *  -Inf potential makes its row or column 0). Only the problem's sizes and cost are read
 *  (its weights may be NULL). Each output sums in double in index order: the same bits on
 *  every backend. Zero plan entries are skipped, so a NaN in v spoils only the outputs whose
 *  plan entry on its row is not 0 (a padded point's row of v may hold anything). Bad input:
 *  OPTK_ERR_INVALID_ARGUMENT, nothing written. */
optk_status optk_sinkhorn_apply(optk_context *ctx, const optk_ot_problem *problem, double epsilon,
                                const float *f, const float *g, bool transpose, const float *v,
                                int64_t k, float *out);

/** The gradient of a solved problem's value with respect to its points, at potentials f, g
 *  (e.g. optk_sinkhorn's): grad_x_i = sum_j P_ij d/dx_i C(x_i, y_j) and
 *  grad_y_j = sum_i P_ij d/dy_j C(x_i, y_j) with P_ij = exp((f_i + g_j - C_ij) / epsilon) —
 *  at the optimum the plan's own dependence on the points drops out (the envelope theorem),
 *  so this is the derivative of the entropic objective <P, C> - epsilon H(P) of a balanced
 *  problem (of the whole KL-relaxed objective of an unbalanced one), exact up to the solve's
 *  tolerance. Squared-Euclidean: d/dx C = 2 (x - y); Euclidean: (x - y) / |x - y|, 0 where
 *  the points coincide. Point clouds only (a dense cost has no points). grad_x (batch x n x
 *  dim) or grad_y (batch x m x dim) may be NULL, not both; the weights are not read (NULL
 *  allowed). Where x and y are the same points (a self problem), the derivative with respect
 *  to them is grad_x + grad_y. Each output sums in double over the other side in index order,
 *  zero plan entries skipped: the same bits on every backend. So a padded point (potential
 *  -Inf) adds nothing and gets 0 whatever its coordinates, while a NaN coordinate of any
 *  other point makes its own gradient and every gradient on the other side NaN. Bad input:
 *  OPTK_ERR_INVALID_ARGUMENT, nothing written. */
optk_status optk_sinkhorn_gradient(optk_context *ctx, const optk_ot_problem *problem,
                                   double epsilon, const float *f, const float *g, float *grad_x,
                                   float *grad_y);

/** The c-transform of one side's potentials at the other side's points: out_i =
 *  -tau eps log sum_{j: b_j != 0} exp((g_j - C_ij) / eps) at every row i (batch x n) from g
 *  (batch x m, as optk_sinkhorn returns it: log b included); with transpose the same at every
 *  column j (batch x m) from f (batch x n) over the rows with a_i != 0. tau = rho / (rho + eps)
 *  for KL-relaxed marginals (rho > 0 finite), else 1. It is the potential a point of unit
 *  weight gets from the other side: at a solved problem's weighted points f - eps log a (up to
 *  rounding and the solve's tolerance), finite at zero-weight ones — OTT's dual potentials
 *  evaluated anywhere: give new points (or cost rows) on the side that is not read, e.g. as x
 *  of a problem whose y, b and g are a solve's. Balanced, the plan rows exp((out_i + g_j -
 *  C_ij) / eps) then sum to 1, so optk_sinkhorn_apply(ctx, p, eps, out, g, false, y, dim, T)
 *  is the entropic map T(x_i) = sum_j P_ij y_j (OTT's transport; KL-relaxed, divide by the
 *  row sums, the same call with v = 1). Read: the sizes, the cost (c, or x and y), the other
 *  side's weights (only whether each is 0; the own side's may be NULL) and the potential. Each
 *  output is the f update's log-sum-exp (16 lanes, a fixed tree): the same bits on every
 *  backend. A NaN cost or coordinate makes the outputs it enters NaN. Bad input:
 *  OPTK_ERR_INVALID_ARGUMENT with a message, nothing written. */
optk_status optk_sinkhorn_ctransform(optk_context *ctx, const optk_ot_problem *problem,
                                     double epsilon, double rho, const float *potential,
                                     bool transpose, float *out);

/** Where optk_sinkhorn_divergence's results go (backend memory; NULL: not wanted, but not
 *  all of them). */
typedef struct optk_divergence_outputs {
    /* batch: OT(a, b) - (OT(a, a) + OT(b, b)) / 2 with OT the entropic objective (the
     * outputs' `objective`; for KL-relaxed marginals see below): the debiased Sinkhorn
     * divergence of OTT's sinkhorn_divergence and GeomLoss's SamplesLoss("sinkhorn"); about 0
     * (within the solves' tolerance) for identical clouds. */
    float *divergence;
    /* batch: the same with <P, C> (the outputs' `cost`): POT's empirical_sinkhorn_divergence
     * before its clamp at 0. */
    float *linear;
    int32_t *converged; /* batch: 1 if all three problems converged */
    /* The divergence's gradient with respect to the points (batch x n x dim, batch x m x dim):
     * optk_sinkhorn_gradient's for x against y less the self problem's, d/dx_i S =
     * sum_j P^xy_ij d/dx_i C(x_i, y_j) - sum_k P^xx_ik d/dx_i C(x_i, x_k) (the self term
     * counts x on both of its sides), and likewise for y. */
    float *grad_x, *grad_y;
    /* The divergence's gradient with respect to the weights (batch x n, batch x m), at every
     * point, zero-weight ones included: from F_ab and F_aa, the potentials a unit weight at
     * x_i would get from the solved y side and x side (the c-transforms of their final
     * potentials, GeomLoss's last extrapolation), d/da_i S = F_ab_i - F_aa_i (GeomLoss's
     * debiased potentials, `potentials=True`); with rho finite d/da_i S = (rho + eps)
     * (exp(-F_aa_i / rho) - exp(-F_ab_i / rho)); likewise for b. Balanced, the divergence is
     * defined only where m(a) = m(b): a constant added to grad_a and taken from grad_b changes
     * no derivative along such weights, and the one returned is the solves'. */
    float *grad_a, *grad_b;
} optk_divergence_outputs;

/** The Sinkhorn divergence of each problem's two point clouds (squared-Euclidean or
 *  Euclidean cost; the self-transport problems need C(x, x) and C(y, y), so a dense cost is
 *  refused): three solves with the options given — x against y, then x against itself and y
 *  against itself by OPTK_SINKHORN_SYMMETRIC whatever the solver option (its log-domain
 *  variant where that option is OPTK_SINKHORN_LOG_DOMAIN or OPTK_SINKHORN_SYMMETRIC_LOG_DOMAIN),
 *  at the target epsilon (no epsilon-scaling: the symmetric update is fastest there), each
 *  batched — then
 *  the combinations above in double, written as floats.
 *  With rho > 0 finite (KL-relaxed marginals; the weights' masses may differ) it is the
 *  divergence of Séjourné et al., GeomLoss's and OTT's: OT(a, b) - OT(a, a) / 2 - OT(b, b) / 2
 *  + eps (m(a) - m(b))^2 / 2 with OT(a, b) = min_P <P, C> + eps KL(P | a x b) +
 *  rho KL(P 1 | a) + rho KL(P^T 1 | b), whose entropy is relative to a x b (optk_sinkhorn's
 *  unbalanced problem, POT's, has none: its fixed point is this one's for weights
 *  a^(1 + eps / rho), which the three solves take), its value from the potentials as GeomLoss
 *  writes it; `linear` stays the <P, C> combination and the gradients keep their form.
 *  Refused with a message and nothing written (OPTK_ERR_INVALID_ARGUMENT) for what
 *  optk_sinkhorn refuses, a dense cost, warm_start, and outputs that are all NULL, misaligned
 *  or overlap each other or an input; OPTK_ERR_UNSUPPORTED where a positive weight to the
 *  power 1 + eps / rho leaves the normal floats. Waits for the backend to combine the three. */
optk_status optk_sinkhorn_divergence(optk_context *ctx, const optk_ot_problem *problem,
                                     const optk_sinkhorn_options *options,
                                     const optk_divergence_outputs *outputs);

/** How optk_ot_cost_fill computes |x_i - y_j|^2. */
typedef enum optk_cost_method {
    /* The coordinates' differences squared and summed in coordinate order (fmaf), exactly as
     * the point-cloud solvers compute each entry on the fly: the same bits on every backend,
     * and a dense solve of the filled cost gives the point-cloud solve's bits. */
    OPTK_COST_METHOD_DIRECT = 0,
    /* |x_i|^2 + |y_j|^2 - 2 x_i . y_j with every cross term of a problem from one matrix
     * product: on CUDA one strided-batched cuBLAS SGEMM over the whole batch (fp32), on the
     * CPU dot products and norms summed in double; clamped at 0, the Euclidean cost its
     * square root. The expansion cancels: an entry is within about (2 dim + 4) 2^-24
     * (|x_i|^2 + |y_j|^2) of the exact value (CUDA; the CPU's double sums stay near the
     * float rounding of it), so small distances between large points lose relative accuracy
     * (POT's ot.dist and OTT-JAX's point clouds make the same trade). */
    OPTK_COST_METHOD_GEMM = 1
} optk_cost_method;

/** Materialises the cost of a point-cloud problem (OPTK_COST_SQEUCLIDEAN or
 *  OPTK_COST_EUCLIDEAN): c (batch x n x m, backend memory) = C_ij of every problem, for a
 *  dense solve that reads the cost where the point-cloud solvers recompute it (worth it when
 *  dim is large and the n x m matrices fit). Only the sizes, cost kind, x and y are read (the
 *  weights may be NULL). A NaN coordinate makes its point's row (or column) NaN; an infinite
 *  one makes it Inf (direct) or NaN (GEMM).
 *  Errors: OPTK_ERR_INVALID_ARGUMENT (with a message, nothing written) for a dense or unknown
 *  cost kind, sizes < 1, an unknown method, n, m or dim above 2^31 - 1 with the GEMM method,
 *  NULL or misaligned x, y or c, and c overlapping x or y. */
optk_status optk_ot_cost_fill(optk_context *ctx, const optk_ot_problem *problem,
                              optk_cost_method method, float *c);

#ifdef __cplusplus
}
#endif

#endif /* OPTKERN_SINKHORN_H */
