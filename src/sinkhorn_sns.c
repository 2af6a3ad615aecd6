/* sinkhorn_sns.c — Sinkhorn-Newton-Sparse for balanced problems: a Sinkhorn warm-up on the
 * backend, then the backend's Newton phase (common/sinkhorn_newton.h: Newton steps on the
 * dual with a sparsified Hessian, conjugate gradients, a backtracking line search, a Sinkhorn
 * iteration where a step fails), in double, one problem per CPU thread or CUDA block. */
#include "internal.h"

#include "common/sinkhorn_newton.h"

optk_status optk_sns_solve(optk_context *ctx, const optk_sinkhorn_job *job, int warmup) {
    const int64_t B = job->batch, n = job->view.n, m = job->view.m;
    if (!ctx->ops->sinkhorn_newton) {
        return optk_fail(ctx, OPTK_ERR_UNSUPPORTED,
                         "sinkhorn: Sinkhorn-Newton-Sparse is not available on the %s backend",
                         ctx->ops->name);
    }
    if ((double)n * (double)m > OPTK_SNS_MAX_ENTRIES) {
        return optk_fail(ctx, OPTK_ERR_UNSUPPORTED,
                         "sinkhorn: the Newton phase of SNS takes n x m <= 2^27, got %lld x %lld",
                         (long long)n, (long long)m);
    }
    /* The warm-up's statistics (iterations, error, converged) stay in backend memory for the
     * Newton phase, which writes every output. */
    void *warm_stats = NULL;
    optk_status s = ctx->ops->mem_alloc(ctx, (size_t)B * 3 * 4, &warm_stats);
    if (s != OPTK_OK) return s;
    optk_sinkhorn_job warm = *job;
    warm.max_iter = warmup < job->max_iter ? warmup : job->max_iter;
    warm.out.iterations = (int32_t *)warm_stats;
    warm.out.error = (float *)warm_stats + B;
    warm.out.converged = (int32_t *)warm_stats + 2 * B;
    warm.out.cost = warm.out.objective = warm.out.plan = NULL;
    s = ctx->ops->sinkhorn(ctx, &warm);
    if (s == OPTK_OK) s = ctx->ops->sinkhorn_newton(ctx, job, warm_stats);
    ctx->ops->mem_free(ctx, warm_stats);
    return s;
}
