/* bench_hutchinson.c — the Hutchinson ops: probe generation + accumulation, the fused
 * curvature updates (both against the memory roofline) and the dense-matrix estimator
 * (against the GEMM it contains: cuBLAS SGEMM timed alone on CUDA).
 *
 * Probe generation + accumulation is timed through the public estimator with an HVP callback
 * that does nothing, all probes in one chunk: per probe and element it writes z (4 bytes) and
 * reads z and H z (8); per element the estimate is written (4). With one chunk the three
 * double sums never leave the pass over Z and H Z, so they move no bytes.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

static int no_hvp(void *user, const float *z, float *hz, int64_t n, int k) {
    (void)user, (void)z, (void)hz, (void)n, (void)k;
    return 0;
}

typedef struct diag_args {
    optk_hvp_source source;
    optk_diag_options options;
    int64_t n;
    float *diag;
} diag_args;

static optk_status run_diag(optk_context *ctx, void *arg, int rep) {
    (void)rep;
    diag_args *a = arg;
    return optk_hessian_diag(ctx, &a->source, a->n, &a->options, a->diag, NULL);
}

optk_status bench_probe_accumulate(optk_context *ctx, optk_probe_kind kind, int64_t n, int probes,
                                   int reps, double roofline_gbps, bench_result *out) {
    diag_args a = {.source = {.callback = no_hvp},
                   .options = {.kind = kind, .seed = 1, .probes = probes, .chunk = probes},
                   .n = n};
    memset(out, 0, sizeof *out);
    optk_status s = optk_mem_alloc(ctx, (size_t)n * sizeof(float), (void **)&a.diag);
    if (s == OPTK_OK) s = bench_time(ctx, run_diag, &a, 2, reps, &out->median_s, &out->min_s);
    optk_mem_free(ctx, a.diag);
    if (s != OPTK_OK) return s;
    bench_describe(out, ctx, "probe+accumulate",
                   kind == OPTK_PROBE_RADEMACHER ? "rademacher" : "gaussian", n, 1, reps);
    out->bytes = (12.0 * probes + 4.0) * (double)n;
    out->gbps = out->bytes / out->median_s * 1e-9;
    out->roofline_gbps = roofline_gbps;
    return OPTK_OK;
}

typedef struct fill_args {
    optk_probe_kind kind;
    int64_t n;
    int probes;
    float *z;
} fill_args;

static optk_status run_fill(optk_context *ctx, void *arg, int rep) {
    const fill_args *a = arg;
    optk_status s = OPTK_OK;
    for (int p = 0; p < a->probes && s == OPTK_OK; ++p)
        s = optk_probe_fill(ctx, a->kind, 1, (uint64_t)rep, (uint64_t)p, a->z + p * a->n, a->n);
    return s;
}

optk_status bench_probe_fill(optk_context *ctx, optk_probe_kind kind, int64_t n, int probes,
                             int reps, double roofline_gbps, bench_result *out) {
    fill_args a = {.kind = kind, .n = n, .probes = probes};
    memset(out, 0, sizeof *out);
    optk_status s = optk_mem_alloc(ctx, (size_t)n * (size_t)probes * sizeof(float), (void **)&a.z);
    if (s == OPTK_OK) s = bench_time(ctx, run_fill, &a, 2, reps, &out->median_s, &out->min_s);
    optk_mem_free(ctx, a.z);
    if (s != OPTK_OK) return s;
    bench_describe(out, ctx, "probe-fill",
                   kind == OPTK_PROBE_RADEMACHER ? "rademacher" : "gaussian", n, 1, reps);
    out->bytes = 4.0 * probes * (double)n; /* written once */
    out->gbps = out->bytes / out->median_s * 1e-9;
    out->roofline_gbps = roofline_gbps;
    out->flops = (double)probes * (double)n; /* values generated, in the GFLOP/s column */
    return OPTK_OK;
}

enum { MAX_COPIES = 16 };

typedef struct curvature_args {
    optk_curvature_kind kind;
    int copies;
    optk_curvature_tensor tensor[MAX_COPIES]; /* rotated: more than any cache in all */
} curvature_args;

static optk_status run_curvature(optk_context *ctx, void *arg, int rep) {
    const curvature_args *a = arg;
    return optk_curvature_update(ctx, a->kind, 0.99, &a->tensor[rep % a->copies], 1);
}

optk_status bench_curvature(optk_context *ctx, optk_curvature_kind kind, int64_t block, int64_t n,
                            int reps, double roofline_gbps, bench_result *out) {
    const size_t bytes = (size_t)n * sizeof(float);
    const bool gnb = kind == OPTK_CURVATURE_SOPHIA_GNB;
    curvature_args a = {.kind = kind, .copies = (int)(256e6 / (3.0 * (double)bytes)) + 1};
    if (a.copies > MAX_COPIES) a.copies = MAX_COPIES;
    void *buf[MAX_COPIES] = {0};
    memset(out, 0, sizeof *out);
    optk_status s = OPTK_OK;
    for (int c = 0; c < a.copies && s == OPTK_OK; ++c) {
        s = optk_mem_alloc(ctx, 3 * bytes, &buf[c]);
        if (s == OPTK_OK) s = optk_mem_set(ctx, buf[c], 0x3c, 3 * bytes); /* 0.0115 everywhere */
        float *h = buf[c];
        a.tensor[c] = (optk_curvature_tensor){n, h, gnb ? NULL : h + n, h + 2 * n, block};
    }
    if (s == OPTK_OK) s = bench_time(ctx, run_curvature, &a, 3, reps, &out->median_s, &out->min_s);
    for (int c = 0; c < a.copies; ++c)
        optk_mem_free(ctx, buf[c]);
    if (s != OPTK_OK) return s;
    static const char *const variants[] = {"sophia_h", "sophia_gnb", "adahessian",
                                           "adahessian+blk9"};
    const int v = kind == OPTK_CURVATURE_ADAHESSIAN && block > 1 ? 3 : (int)kind;
    bench_describe(out, ctx, "curvature", variants[v], n, 1, reps);
    /* Sophia: read h, z, H z, write h; GNB: no z; AdaHessian: read z, H z, write D. */
    const double per_element = kind == OPTK_CURVATURE_SOPHIA_H ? 16.0 : 12.0;
    out->bytes = per_element * (double)n;
    out->gbps = out->bytes / out->median_s * 1e-9;
    out->roofline_gbps = roofline_gbps;
    return OPTK_OK;
}

/* The SGEMM the estimator contains (H Z, n x n by n x k), alone, on the context's stream. */
static optk_status time_gemm(optk_context *ctx, const float *h, int64_t n, int k, int reps,
                             double *median_s) {
    double min_s = 0.0;
    float *zz = NULL;
    const size_t bytes = 2 * (size_t)n * (size_t)k * sizeof(float);
    optk_status s = optk_mem_alloc(ctx, bytes, (void **)&zz);
    if (s == OPTK_OK) s = optk_mem_set(ctx, zz, 0, bytes);
    const bench_sgemm_shape g = {false, (int)n,     k,      (int)n, h,
                                 zz,    zz + n * k, (int)n, (int)n, (int)n};
    if (s == OPTK_OK) s = bench_time_sgemm(ctx, &g, 3, reps, median_s, &min_s);
    optk_mem_free(ctx, zz);
    return s;
}

optk_status bench_dense_estimator(optk_context *ctx, int64_t n, int probes, int reps,
                                  bench_result *out) {
    const size_t bytes = (size_t)n * (size_t)n * sizeof(float);
    float *h = NULL;
    memset(out, 0, sizeof *out);
    optk_status s = optk_mem_alloc(ctx, bytes, (void **)&h);
    if (s == OPTK_OK) s = optk_mem_set(ctx, h, 0x3c, bytes);
    diag_args a = {
        .source = {.dense = h},
        .options = {.kind = OPTK_PROBE_RADEMACHER, .seed = 1, .probes = probes, .chunk = probes},
        .n = n};
    if (s == OPTK_OK) s = optk_mem_alloc(ctx, (size_t)n * sizeof(float), (void **)&a.diag);
    if (s == OPTK_OK) s = bench_time(ctx, run_diag, &a, 2, reps, &out->median_s, &out->min_s);
    /* The baseline: on CUDA the SGEMM alone; on the CPU the estimator without its H Z (a
     * callback that does nothing), so that the difference is the CPU's own product. */
    const bool cuda = optk_context_backend(ctx) == OPTK_BACKEND_CUDA;
    if (s == OPTK_OK && cuda) {
        s = time_gemm(ctx, h, n, probes, reps, &out->baseline_s);
    } else if (s == OPTK_OK) {
        diag_args none = a;
        none.source = (optk_hvp_source){.callback = no_hvp};
        double min_s = 0.0;
        s = bench_time(ctx, run_diag, &none, 2, reps, &out->baseline_s, &min_s);
    }
    optk_mem_free(ctx, a.diag);
    optk_mem_free(ctx, h);
    if (s != OPTK_OK) return s;
    bench_describe(out, ctx, "hessian_diag", "dense", n, 1, reps);
    out->baseline = cuda ? "sgemm" : "no-op hvp";
    out->flops = 2.0 * (double)n * (double)n * probes;
    out->bytes = (double)bytes;
    out->gbps = out->bytes / out->median_s * 1e-9;
    return OPTK_OK;
}
