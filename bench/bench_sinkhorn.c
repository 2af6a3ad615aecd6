/* bench_sinkhorn.c — batched Sinkhorn: a fixed number of iterations (tol = 0, so no problem
 * stops early), timed per call.
 *
 * Dense costs: each iteration reads the cost twice (the g and the f update), so the least
 * traffic is 8 B n m bytes per iteration, reported against the roofline. Point clouds never
 * store the cost: each iteration evaluates 2 B n m log-sum-exp terms (a distance, an exp),
 * reported as terms per second in the flops field (GFLOP/s column = G terms/s).
 *
 * Runs also count their exponentials — one per log-sum-exp term or kernel entry, 2 B n m per
 * iteration, and B n m for the final check — reported against the exp throughput measured in
 * the same run (optk_exp_chain, the same exp function): in the log domain, and on CUDA, whose
 * kernel-domain blocks recompute each entry (the CPU's read a stored kernel: no count there).
 *
 * The cost fill of point clouds (optk_ot_cost_fill) is counted as the GEMM it contains,
 * 2 n m dim FLOPs per problem, by either method.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

typedef struct sinkhorn_args {
    optk_ot_problem problem;
    optk_sinkhorn_options options;
    optk_sinkhorn_outputs out;
} sinkhorn_args;

static optk_status run_sinkhorn(optk_context *ctx, void *arg, int rep) {
    (void)rep;
    const sinkhorn_args *a = arg;
    return optk_sinkhorn(ctx, &a->problem, &a->options, &a->out);
}

/* Uploads n values drawn uniformly from [lo, hi) (a fixed LCG) to dst. */
static optk_status upload_uniform(optk_context *ctx, float *dst, int64_t n, float lo, float hi,
                                  uint64_t seed) {
    enum { TILE = 1 << 16 };
    static float tile[TILE];
    optk_status s = OPTK_OK;
    for (int64_t at = 0; at < n && s == OPTK_OK; at += TILE) {
        const int64_t len = n - at < TILE ? n - at : TILE;
        for (int64_t i = 0; i < len; ++i) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            tile[i] = lo + (hi - lo) * (float)(seed >> 40) * 0x1.0p-24f;
        }
        s = optk_mem_upload(ctx, dst + at, tile, (size_t)len * sizeof(float));
    }
    return s;
}

optk_status bench_sinkhorn(optk_context *ctx, const bench_sinkhorn_case *c, int reps,
                           double roofline_gbps, bench_result *out) {
    const int64_t batch = c->batch, n = c->n, m = c->m, dim = c->dim;
    const optk_ot_cost cost = c->cost;
    const int iterations = c->iterations;
    const bool dense = cost == OPTK_COST_DENSE;
    const size_t B = (size_t)batch, N = (size_t)n, M = (size_t)m, D = (size_t)dim;
    const size_t floats = B * N + B * M +                       /* a, b */
                          (dense ? B * N * M : B * (N + M) * D) /* c, or x and y */
                          + B * N + B * M;                      /* f, g */
    float *mem = NULL;
    memset(out, 0, sizeof *out);
    optk_status s = optk_mem_alloc(ctx, floats * sizeof(float), (void **)&mem);
    if (s != OPTK_OK) return s;
    float *a = mem, *b = a + B * N, *data = b + B * M;
    float *f = data + (dense ? B * N * M : B * (N + M) * D), *g = f + B * N;
    /* Uniform weights (each problem sums to 1 on both sides), costs in [0, 1), points in
     * [-1, 1)^dim. */
    s = upload_uniform(ctx, a, (int64_t)(B * N), 1.0f / (float)n, 1.0f / (float)n, 1);
    if (s == OPTK_OK)
        s = upload_uniform(ctx, b, (int64_t)(B * M), 1.0f / (float)m, 1.0f / (float)m, 2);
    if (s == OPTK_OK) {
        s = dense ? upload_uniform(ctx, data, (int64_t)(B * N * M), 0.0f, 1.0f, 3)
                  : upload_uniform(ctx, data, (int64_t)(B * (N + M) * D), -1.0f, 1.0f, 4);
    }
    sinkhorn_args args = {{batch, n, m, a, b, cost, dense ? data : NULL, dense ? NULL : data,
                           dense ? NULL : data + B * N * D, dense ? 0 : dim},
                          optk_sinkhorn_default_options(0.05),
                          {f, g, NULL, NULL, NULL, NULL, NULL, NULL}};
    args.options.max_iter = iterations;
    args.options.tol = 0.0;
    args.options.check_every = iterations;
    args.options.rho = c->rho;
    if (c->log_domain) args.options.solver = OPTK_SINKHORN_LOG_DOMAIN;
    args.options.placement = c->placement;
    if (s == OPTK_OK)
        s = bench_time(ctx, run_sinkhorn, &args, 1, reps, &out->median_s, &out->min_s);
    optk_mem_free(ctx, mem);
    if (s != OPTK_OK) return s;
    bench_describe(out, ctx, "sinkhorn", c->name, batch * n * m, (int)batch, reps);
    const double terms = 2.0 * (double)iterations * (double)batch * (double)n * (double)m;
    if (dense) {
        out->bytes = 4.0 * terms;
        out->gbps = out->bytes / out->median_s * 1e-9;
        out->roofline_gbps = roofline_gbps;
    } else {
        out->flops = terms;
    }
    if (c->log_domain || optk_context_backend(ctx) == OPTK_BACKEND_CUDA)
        out->exps = terms + (double)batch * (double)n * (double)m; /* + the final check */
    return OPTK_OK;
}

typedef struct cost_args {
    optk_ot_problem problem;
    optk_cost_method method;
    float *c;
} cost_args;

static optk_status run_cost(optk_context *ctx, void *arg, int rep) {
    (void)rep;
    const cost_args *a = arg;
    return optk_ot_cost_fill(ctx, &a->problem, a->method, a->c);
}

optk_status bench_ot_cost(optk_context *ctx, optk_cost_method method, int64_t batch, int64_t n,
                          int64_t m, int64_t dim, int reps, bench_result *out) {
    const size_t B = (size_t)batch, N = (size_t)n, M = (size_t)m, D = (size_t)dim;
    float *mem = NULL;
    memset(out, 0, sizeof *out);
    optk_status s =
        optk_mem_alloc(ctx, (B * (N + M) * D + B * N * M) * sizeof(float), (void **)&mem);
    if (s != OPTK_OK) return s;
    cost_args args = {{.batch = batch,
                       .n = n,
                       .m = m,
                       .cost = OPTK_COST_SQEUCLIDEAN,
                       .x = mem,
                       .y = mem + B * N * D,
                       .dim = dim},
                      method,
                      mem + B * (N + M) * D};
    s = upload_uniform(ctx, mem, (int64_t)(B * (N + M) * D), -1.0f, 1.0f, 5);
    if (s == OPTK_OK) s = bench_time(ctx, run_cost, &args, 1, reps, &out->median_s, &out->min_s);
    optk_mem_free(ctx, mem);
    if (s != OPTK_OK) return s;
    bench_describe(out, ctx, "ot-cost", method == OPTK_COST_METHOD_GEMM ? "gemm" : "direct",
                   batch * n * m, (int)batch, reps);
    out->flops = 2.0 * (double)batch * (double)n * (double)m * (double)dim;
    return OPTK_OK;
}

/* Time to solution: every problem run to tol (or max_iter) by `solver`. */
static optk_status time_to_tol(optk_context *ctx, sinkhorn_args *args, optk_sinkhorn_solver solver,
                               int reps, double *median_s, double *min_s) {
    args->options.solver = solver;
    return bench_time(ctx, run_sinkhorn, args, 1, reps, median_s, min_s);
}

optk_status bench_sinkhorn_sns(optk_context *ctx, const char *variant, int64_t batch, int64_t n,
                               float cost_max, double epsilon, double tol, int reps,
                               bench_result *out) {
    const size_t B = (size_t)batch, N = (size_t)n;
    const size_t floats = 2 * B * N + B * N * N + 2 * B * N + B; /* a, b, c, f, g, iterations */
    float *mem = NULL;
    memset(out, 0, sizeof *out);
    optk_status s = optk_mem_alloc(ctx, floats * sizeof(float), (void **)&mem);
    if (s != OPTK_OK) return s;
    float *a = mem, *b = a + B * N, *c = b + B * N, *f = c + B * N * N, *g = f + B * N;
    s = upload_uniform(ctx, a, (int64_t)(2 * B * N), 1.0f / (float)n, 1.0f / (float)n, 1);
    if (s == OPTK_OK) s = upload_uniform(ctx, c, (int64_t)(B * N * N), 0.0f, cost_max, 3);
    sinkhorn_args args = {{batch, n, n, a, b, OPTK_COST_DENSE, c, NULL, NULL, 0},
                          optk_sinkhorn_default_options(epsilon),
                          {f, g, NULL, NULL, NULL, NULL, NULL, NULL}};
    args.options.tol = tol;
    args.options.max_iter = 20000;
    if (s == OPTK_OK)
        s = time_to_tol(ctx, &args, OPTK_SINKHORN_PLAIN, reps, &out->baseline_s, &out->min_s);
    if (s == OPTK_OK)
        s = time_to_tol(ctx, &args, OPTK_SINKHORN_SNS, reps, &out->median_s, &out->min_s);
    optk_mem_free(ctx, mem);
    if (s != OPTK_OK) return s;
    bench_describe(out, ctx, "sinkhorn", variant, batch * n * n, (int)batch, reps);
    out->baseline = "plain Sinkhorn to the same tol";
    return OPTK_OK;
}

typedef struct apply_args {
    optk_ot_problem problem;
    const float *f, *g, *v;
    int64_t k;
    float *out;
} apply_args;

static optk_status run_apply(optk_context *ctx, void *arg, int rep) {
    (void)rep;
    const apply_args *a = arg;
    return optk_sinkhorn_apply(ctx, &a->problem, 0.5, a->f, a->g, false, a->v, a->k, a->out);
}

optk_status bench_sinkhorn_apply(optk_context *ctx, int64_t n, int64_t m, int64_t dim, int64_t k,
                                 int reps, bench_result *out) {
    const size_t N = (size_t)n, M = (size_t)m, D = (size_t)dim, K = (size_t)k;
    float *mem = NULL;
    memset(out, 0, sizeof *out);
    optk_status s =
        optk_mem_alloc(ctx, ((N + M) * D + N + M + M * K + N * K) * sizeof(float), (void **)&mem);
    if (s != OPTK_OK) return s;
    float *x = mem, *y = x + N * D, *f = y + M * D, *g = f + N, *v = g + M, *o = v + M * K;
    s = upload_uniform(ctx, x, (int64_t)((N + M) * D), -1.0f, 1.0f, 6);
    if (s == OPTK_OK) s = optk_mem_set(ctx, f, 0, (N + M) * sizeof(float));
    if (s == OPTK_OK) s = upload_uniform(ctx, v, (int64_t)(M * K), -1.0f, 1.0f, 7);
    apply_args a = {{1, n, m, NULL, NULL, OPTK_COST_SQEUCLIDEAN, NULL, x, y, dim}, f, g, v, k, o};
    if (s == OPTK_OK) s = bench_time(ctx, run_apply, &a, 1, reps, &out->median_s, &out->min_s);
    optk_mem_free(ctx, mem);
    if (s != OPTK_OK) return s;
    bench_describe(out, ctx, "sinkhorn-apply", "points-d64", n * m, 1, reps);
    out->flops = 2.0 * (double)n * (double)m * (double)k; /* the products P v */
    return OPTK_OK;
}

typedef struct gradient_args {
    optk_ot_problem problem;
    const float *f, *g;
    float *grad_x, *grad_y;
} gradient_args;

static optk_status run_gradient(optk_context *ctx, void *arg, int rep) {
    (void)rep;
    const gradient_args *a = arg;
    return optk_sinkhorn_gradient(ctx, &a->problem, 0.5, a->f, a->g, a->grad_x, a->grad_y);
}

optk_status bench_sinkhorn_gradient(optk_context *ctx, int64_t n, int64_t m, int64_t dim, int reps,
                                    bench_result *out) {
    const size_t N = (size_t)n, M = (size_t)m, D = (size_t)dim;
    float *mem = NULL;
    memset(out, 0, sizeof *out);
    optk_status s = optk_mem_alloc(ctx, (2 * (N + M) * D + N + M) * sizeof(float), (void **)&mem);
    if (s != OPTK_OK) return s;
    float *x = mem, *y = x + N * D, *f = y + M * D, *g = f + N, *gx = g + M, *gy = gx + N * D;
    s = upload_uniform(ctx, x, (int64_t)((N + M) * D), -1.0f, 1.0f, 10);
    if (s == OPTK_OK) s = optk_mem_set(ctx, f, 0, (N + M) * sizeof(float));
    gradient_args a = {{1, n, m, NULL, NULL, OPTK_COST_SQEUCLIDEAN, NULL, x, y, dim}, f, g, gx, gy};
    if (s == OPTK_OK) s = bench_time(ctx, run_gradient, &a, 1, reps, &out->median_s, &out->min_s);
    optk_mem_free(ctx, mem);
    if (s != OPTK_OK) return s;
    bench_describe(out, ctx, "sinkhorn-gradient", "points-d64", n * m, 1, reps);
    /* per entry and side: the cost (3 dim) and the gradient's difference and multiply-add */
    out->flops = 2.0 * (double)n * (double)m * 6.0 * (double)dim;
    return OPTK_OK;
}

typedef struct ctransform_args {
    optk_ot_problem problem;
    const float *f, *g;
    float *out_x, *out_y;
} ctransform_args;

static optk_status run_ctransform(optk_context *ctx, void *arg, int rep) {
    (void)rep;
    const ctransform_args *a = arg;
    optk_status s = optk_sinkhorn_ctransform(ctx, &a->problem, 0.05, 0.0, a->g, false, a->out_x);
    return s == OPTK_OK
               ? optk_sinkhorn_ctransform(ctx, &a->problem, 0.05, 0.0, a->f, true, a->out_y)
               : s;
}

optk_status bench_sinkhorn_ctransform(optk_context *ctx, int64_t n, int64_t m, int64_t dim,
                                      int reps, bench_result *out) {
    const size_t N = (size_t)n, M = (size_t)m, D = (size_t)dim;
    float *mem = NULL;
    memset(out, 0, sizeof *out);
    optk_status s = optk_mem_alloc(ctx, ((N + M) * D + 3 * (N + M)) * sizeof(float), (void **)&mem);
    if (s != OPTK_OK) return s;
    float *x = mem, *y = x + N * D, *f = y + M * D, *g = f + N, *w = g + M, *ox = w + N + M;
    float *oy = ox + N;
    s = upload_uniform(ctx, x, (int64_t)((N + M) * D), -1.0f, 1.0f, 11);
    if (s == OPTK_OK) s = upload_uniform(ctx, f, (int64_t)(N + M), -0.5f, 0.5f, 12);
    if (s == OPTK_OK) s = upload_uniform(ctx, w, (int64_t)(N + M), 1.0f, 1.0f, 13);
    ctransform_args a = {{1, n, m, w, w + N, OPTK_COST_SQEUCLIDEAN, NULL, x, y, dim}, f, g, ox, oy};
    if (s == OPTK_OK) s = bench_time(ctx, run_ctransform, &a, 1, reps, &out->median_s, &out->min_s);
    optk_mem_free(ctx, mem);
    if (s != OPTK_OK) return s;
    bench_describe(out, ctx, "sinkhorn-ctransform", "points-d64", n * m, 1, reps);
    out->flops = 2.0 * (double)n * (double)m;
    out->exps = out->flops;
    return OPTK_OK;
}

typedef struct divergence_args {
    optk_ot_problem problem;
    optk_sinkhorn_options options;
    optk_divergence_outputs out;
    float *f, *g; /* the alternating baseline's potentials */
} divergence_args;

static optk_status run_divergence(optk_context *ctx, void *arg, int rep) {
    (void)rep;
    const divergence_args *a = arg;
    return optk_sinkhorn_divergence(ctx, &a->problem, &a->options, &a->out);
}

/* The divergence's three problems solved by alternating updates: what it cost before its
 * self problems took the symmetric update. */
static optk_status run_alternating(optk_context *ctx, void *arg, int rep) {
    (void)rep;
    const divergence_args *a = arg;
    const optk_ot_problem *p = &a->problem;
    const optk_ot_problem problems[3] = {
        *p,
        {p->batch, p->n, p->n, p->a, p->a, p->cost, NULL, p->x, p->x, p->dim},
        {p->batch, p->m, p->m, p->b, p->b, p->cost, NULL, p->y, p->y, p->dim}};
    const optk_sinkhorn_outputs out = {.f = a->f, .g = a->g};
    optk_status s = OPTK_OK;
    for (int k = 0; k < 3 && s == OPTK_OK; ++k)
        s = optk_sinkhorn(ctx, &problems[k], &a->options, &out);
    return s;
}

optk_status bench_sinkhorn_divergence(optk_context *ctx, int64_t batch, int64_t n, int64_t dim,
                                      int reps, bench_result *out) {
    const size_t B = (size_t)batch, N = (size_t)n, D = (size_t)dim;
    float *mem = NULL;
    memset(out, 0, sizeof *out);
    optk_status s =
        optk_mem_alloc(ctx, (4 * B * N + 2 * B * N * D + B) * sizeof(float), (void **)&mem);
    if (s != OPTK_OK) return s;
    float *a = mem, *b = a + B * N, *x = b + B * N, *y = x + B * N * D, *d = y + B * N * D;
    float *f = d + B, *g = f + B * N;
    s = upload_uniform(ctx, a, (int64_t)(2 * B * N), 1.0f / (float)n, 1.0f / (float)n, 8);
    if (s == OPTK_OK) s = upload_uniform(ctx, x, (int64_t)(2 * B * N * D), -1.0f, 1.0f, 9);
    divergence_args args = {{batch, n, n, a, b, OPTK_COST_SQEUCLIDEAN, NULL, x, y, dim},
                            optk_sinkhorn_default_options(0.05),
                            {.divergence = d},
                            f,
                            g};
    args.options.max_iter = 20000;
    if (s == OPTK_OK)
        s = bench_time(ctx, run_alternating, &args, 1, reps, &out->baseline_s, &out->min_s);
    if (s == OPTK_OK)
        s = bench_time(ctx, run_divergence, &args, 1, reps, &out->median_s, &out->min_s);
    optk_mem_free(ctx, mem);
    if (s != OPTK_OK) return s;
    bench_describe(out, ctx, "sinkhorn-divergence", "points", batch * n * n, (int)batch, reps);
    out->baseline = "its three problems by alternating updates to the same tol";
    return OPTK_OK;
}
