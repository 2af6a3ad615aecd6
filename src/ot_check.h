/* ot_check.h — the argument checks every optimal-transport call shares (optk_sinkhorn,
 * optk_sinkhorn_apply, optk_sinkhorn_divergence, optk_ot_cost_fill): the problem's sizes and
 * cost kind, its buffers' presence, alignment and overlaps, a solve's options and weights. Each
 * fails through optk_fail with the op's name. */
#ifndef OPTK_OT_CHECK_H
#define OPTK_OT_CHECK_H

#include "internal.h"

/* A buffer of the call, for the alignment and overlap checks. */
typedef struct optk_ot_span {
    const char *name;
    uintptr_t begin, bytes;
    bool output;   /* written by the call */
    bool required; /* may not be NULL */
} optk_ot_span;

/* Every span present when required and 4-byte aligned, and no output overlapping any other
 * span (inputs may share memory with each other: they are only read). */
optk_status optk_ot_check_spans(optk_context *ctx, const char *op, const optk_ot_span *spans,
                                int count);

/* batch, n, m >= 1 and not too many entries; a known cost kind; dim >= 1 for point clouds. */
optk_status optk_ot_check_sizes(optk_context *ctx, const char *op, const optk_ot_problem *p);

/* p not NULL, and its sizes (optk_ot_check_sizes). */
optk_status optk_ot_check_problem(optk_context *ctx, const char *op, const optk_ot_problem *p);

/* An op on points: p not NULL, its sizes, and a point cost (a dense one refused with the
 * message "<op>: <dense_why>"). */
optk_status optk_ot_check_points(optk_context *ctx, const char *op, const optk_ot_problem *p,
                                 const char *dense_why);

/* OPTK_ERR_UNSUPPORTED ("<op>: not available on the <backend> backend") unless the backend
 * has the op's entry (`present`: its function pointer is not NULL). */
optk_status optk_ot_check_backend(optk_context *ctx, const char *op, bool present);

/* The problem's cost as the backend's plan ops read it, no weights: a dense cost's c, or the
 * points x, y and dim. */
optk_ot_view optk_ot_cost_view(const optk_ot_problem *p);

/* epsilon finite and > 0 once rounded to float (the backends compute in float). */
optk_status optk_ot_check_epsilon(optk_context *ctx, const char *op, double epsilon);

/* A Sinkhorn solve's options: epsilon, iteration counts, tol, epsilon-scaling, solver,
 * placement, rho. */
optk_status optk_ot_check_options(optk_context *ctx, const char *op,
                                  const optk_sinkhorn_options *o);

/* The weights' values (read on the backend): finite, >= 0, each problem's row a positive sum. */
optk_status optk_ot_check_weights(optk_context *ctx, const char *op, const char *name,
                                  const float *w, int64_t rows, int64_t cols);

/* Whether a solver is the symmetric update of a self problem (with or without its
 * kernel-domain blocks). */
static inline bool optk_sinkhorn_solver_symmetric(optk_sinkhorn_solver solver) {
    return solver == OPTK_SINKHORN_SYMMETRIC || solver == OPTK_SINKHORN_SYMMETRIC_LOG_DOMAIN;
}

/* optk_sinkhorn once its arguments have passed every check above (sizes, options, buffers,
 * weights, the backend's support): the job handed to the backend (a self problem's when
 * o->solver is symmetric). */
optk_status optk_sinkhorn_checked(optk_context *ctx, const optk_ot_problem *p,
                                  const optk_sinkhorn_options *o, const optk_sinkhorn_outputs *out);

#endif /* OPTK_OT_CHECK_H */
