/* bench.h — the benchmark harness: timing on any backend, the measured copy roofline, and
 * one function per benchmarked op. The optkern command's `bench` calls these.
 *
 * Method (DESIGN.md §5): warm-up, then the median of many timed runs; on CUDA the runs are
 * timed with events on the context's stream; inputs are rotated among several copies when
 * one copy would fit in the GPU's L2 cache; throughput is reported against a roofline
 * measured in the same run (a large device-to-device or host memcpy, counting the bytes
 * read plus the bytes written).
 */
#ifndef OPTK_BENCH_H
#define OPTK_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "optkern.h"

typedef struct bench_result {
    const char *op;      /* "adamw", "copy", ... */
    const char *variant; /* "fp32", "fp32+amsgrad", ... */
    const char *backend;
    const char *device;
    int64_t numel; /* elements (parameters) per step */
    int tensors;
    int reps;
    double median_s;
    double min_s;
    double bytes;         /* bytes the op must move at the least */
    double gbps;          /* bytes / median_s / 1e9 */
    double roofline_gbps; /* copy bandwidth measured in the same run */
    double flops;         /* compute-bound ops: floating-point operations per run, else 0 */
    const char *baseline; /* what the op is timed against in the same run, or NULL */
    double baseline_s;    /* its median time */
    double exps;          /* exp-bound ops: exponentials per run at the least, else 0 */
    double exp_roofline;  /* exponentials per second measured in the same run (exp_chain) */
} bench_result;

/* A timed operation: returns OPTK_OK or the failing status. */
typedef optk_status (*bench_fn)(optk_context *ctx, void *arg, int rep);

/* Times fn over `reps` runs after `warmup` runs; fills median and min (seconds).
 * fn receives the repetition index, so that it can rotate among input copies. */
optk_status bench_time(optk_context *ctx, bench_fn fn, void *arg, int warmup, int reps,
                       double *median_s, double *min_s);

/* Copy bandwidth of the backend in GB/s (read + written bytes), copying `bytes`. */
optk_status bench_copy_roofline(optk_context *ctx, size_t bytes, int reps, bench_result *out);

/* The backend's exp throughput (optk_exp_chain over n floats, rounds exps each): exps and
 * exp_roofline set (exponentials per run, per second), flops = exps. */
optk_status bench_exp_roofline(optk_context *ctx, int64_t n, int rounds, int reps,
                               bench_result *out);

/* CPU only: in-place update bandwidth: three arrays updated in place from a fourth, `bytes`
 * in all (28 bytes per element, the optimizers' traffic pattern). On a CPU an in-place update
 * avoids the read-for-ownership a copy into a separate buffer pays, so it streams faster than
 * memcpy; the optimizer steps update in place, so this is their honest ceiling. */
optk_status bench_update_roofline(optk_context *ctx, size_t bytes, int reps, bench_result *out);

/* The precision label of a run ("fp32", "bf16+master", ...). */
const char *bench_optim_variant(const optk_optim_options *options);

/* Bytes one step of the rule must move per parameter, for its precision. */
double bench_optim_bytes_per_param(const optk_optim_options *options);

/* One optimizer step over `tensors` tensors holding numel parameters in all; capturable: as a
 * graph-capturable step (scalars in backend memory, no guard), the variant "fp32+capturable". */
optk_status bench_optim(optk_context *ctx, const optk_optim_options *options, bool capturable,
                        int64_t numel, int tensors, int reps, double roofline_gbps,
                        bench_result *out);

/* Column-major C (m x n) = op(A) B in cuBLAS's terms (op(A) = A^T with transa), backend
 * memory. */
typedef struct bench_sgemm_shape {
    bool transa;
    int m, n, k;
    const float *A, *B;
    float *C;
    int lda, ldb, ldc;
} bench_sgemm_shape;

/* That SGEMM alone through cuBLAS on the context's stream (CUDA builds; elsewhere
 * OPTK_ERR_UNSUPPORTED). */
optk_status bench_time_sgemm(optk_context *ctx, const bench_sgemm_shape *shape, int warmup,
                             int reps, double *median_s, double *min_s);

/* Hutchinson probe generation + accumulation: the estimator over `probes` probes of n
 * entries with an HVP callback that does nothing. */
optk_status bench_probe_accumulate(optk_context *ctx, optk_probe_kind kind, int64_t n, int probes,
                                   int reps, double roofline_gbps, bench_result *out);

/* Hutchinson probe generation alone: `probes` probes of n entries written by optk_probe_fill
 * (values per second in the GFLOP/s column: Gaussian probes are bound by arithmetic where
 * the ALUs are slow next to memory). */
optk_status bench_probe_fill(optk_context *ctx, optk_probe_kind kind, int64_t n, int probes,
                             int reps, double roofline_gbps, bench_result *out);

/* One fused curvature update of n elements (AdaHessian: averaged over blocks of `block`). */
optk_status bench_curvature(optk_context *ctx, optk_curvature_kind kind, int64_t block, int64_t n,
                            int reps, double roofline_gbps, bench_result *out);

/* Hutchinson's estimate with a dense n x n matrix and `probes` probes in one chunk, against
 * the SGEMM it contains (CUDA) or itself without the product (CPU): out->baseline_s. */
optk_status bench_dense_estimator(optk_context *ctx, int64_t n, int probes, int reps,
                                  bench_result *out);

/* A fixed-iteration Sinkhorn workload (bench_sinkhorn). */
typedef struct bench_sinkhorn_case {
    const char *name; /* the result's variant */
    int64_t batch, n, m;
    optk_ot_cost cost;
    int64_t dim;     /* of the points */
    double rho;      /* 0: balanced */
    bool log_domain; /* OPTK_SINKHORN_LOG_DOMAIN: no kernel-domain blocks */
    int iterations;
    optk_sinkhorn_placement placement; /* CUDA: on chip (auto) or streaming */
} bench_sinkhorn_case;

/* The case's iterations (no early stop): dense costs (GB/s against the roofline) or point
 * clouds (terms per second in the flops field); exponentials counted where every kernel entry
 * is one (the log domain, and CUDA, which recomputes its kernel entries; the CPU's
 * kernel-domain blocks read a stored kernel). */
optk_status bench_sinkhorn(optk_context *ctx, const bench_sinkhorn_case *c, int reps,
                           double roofline_gbps, bench_result *out);

/* Sinkhorn-Newton-Sparse against plain Sinkhorn, time to solution: batch dense problems of
 * n x n (costs in [0, cost_max), uniform weights) solved to tol at epsilon by each; the plain
 * solver's time as the baseline. */
optk_status bench_sinkhorn_sns(optk_context *ctx, const char *variant, int64_t batch, int64_t n,
                               float cost_max, double epsilon, double tol, int reps,
                               bench_result *out);

/* optk_sinkhorn_apply: P v for one problem of n x m points in dim, v with k columns (zero
 * potentials, eps 0.5): 2 n m k FLOPs in the flops field. */
optk_status bench_sinkhorn_apply(optk_context *ctx, int64_t n, int64_t m, int64_t dim, int64_t k,
                                 int reps, bench_result *out);

/* optk_sinkhorn_gradient: both sides' point gradients of one problem of n x m points in dim
 * (zero potentials, eps 0.5): 12 n m dim FLOPs in the flops field (per entry and side the
 * cost's 3 dim and the gradient's 3 dim). */
optk_status bench_sinkhorn_gradient(optk_context *ctx, int64_t n, int64_t m, int64_t dim, int reps,
                                    bench_result *out);

/* optk_sinkhorn_ctransform on both sides of one problem of n x m points in dim (squared-
 * Euclidean, random potentials, eps 0.05): its 2 n m log-sum-exp terms in the flops field
 * (GFLOP/s column = G terms/s) and in exps (one exp each). */
optk_status bench_sinkhorn_ctransform(optk_context *ctx, int64_t n, int64_t m, int64_t dim,
                                      int reps, bench_result *out);

/* optk_sinkhorn_divergence of batch pairs of n-point clouds in dim (squared-Euclidean, eps
 * 0.05) to tol 1e-5, against its three problems solved by alternating updates to the same tol
 * (the baseline: the self problems without the symmetric update). */
optk_status bench_sinkhorn_divergence(optk_context *ctx, int64_t batch, int64_t n, int64_t dim,
                                      int reps, bench_result *out);

/* optk_ot_cost_fill of batch problems of n x m points in dim (direct or GEMM method):
 * 2 batch n m dim FLOPs (the GEMM's count) in the flops field. */
optk_status bench_ot_cost(optk_context *ctx, optk_cost_method method, int64_t batch, int64_t n,
                          int64_t m, int64_t dim, int reps, bench_result *out);

/* EGGROLL: the population forward of members x batch rows through an m x n layer (rank r;
 * 0: full rank; plain: the unperturbed cuBLAS GEMM over the same rows, CUDA only), or with
 * update the gradient step. Dense-equivalent FLOPs in the flops field. */
optk_status bench_es(optk_context *ctx, const char *variant, int64_t members, int64_t batch,
                     int64_t m, int64_t n, int rank, bool update, bool plain, int reps,
                     bench_result *out);

/* Prints a result as an aligned human line, or as one JSON object per line. */
void bench_print(FILE *f, const bench_result *r, bool json);

/* Fills a result's identity: op, variant, the context's backend and device, size, tensors (or
 * problems, members) and repetitions. */
void bench_describe(bench_result *out, optk_context *ctx, const char *op, const char *variant,
                    int64_t numel, int tensors, int reps);

#endif /* OPTK_BENCH_H */
