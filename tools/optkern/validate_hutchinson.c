/* validate_hutchinson.c — `optkern validate` for the Hutchinson ops: probes, the estimate
 * with a dense matrix, and the fused curvature updates. With a GPU each runs on CUDA and on
 * the CPU and the two are compared under the numerics contract (the same bits for probe bits
 * and element-wise updates; Gaussian probes within 2e-5; the estimate within 1e-4 relative,
 * cuBLAS summing in float where the CPU sums in double). Without one the CPU is compared with
 * float64 references computed here from the raw Philox words (optk_random_fill_u32). */
#include "cli.h"
#include "validate_op.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PROBE_N = (1 << 20) + 7, PROBES = 3, DENSE_N = 257, DENSE_PROBES = 64 };
static const double BETA2 = 0.99;

/* ---- Probes ----------------------------------------------------------------------------- */

static output run_probes(optk_context *ctx, uint64_t seed, optk_probe_kind kind) {
    output o = {malloc((size_t)PROBES * PROBE_N * sizeof(float)), (size_t)PROBES * PROBE_N};
    void *dev = NULL;
    optk_status s = optk_mem_alloc(ctx, PROBE_N * sizeof(float), &dev);
    for (int p = 0; p < PROBES && s == OPTK_OK; ++p) {
        s = optk_probe_fill(ctx, kind, seed, 5, (uint64_t)p, dev, PROBE_N);
        if (s == OPTK_OK) s = optk_mem_download(ctx, o.got + (size_t)p * PROBE_N, dev, PROBE_N * 4);
    }
    optk_mem_free(ctx, dev);
    return s == OPTK_OK ? o : validate_failed(ctx, "probes", o);
}

static output run_rademacher(optk_context *ctx, uint64_t seed) {
    return run_probes(ctx, seed, OPTK_PROBE_RADEMACHER);
}

static output run_gaussian(optk_context *ctx, uint64_t seed) {
    return run_probes(ctx, seed, OPTK_PROBE_GAUSSIAN);
}

/* The raw Philox words of probe p (seed, subsequence 5 * 2^24 + p), through the random fill. */
static uint32_t *probe_words(optk_context *cpu, uint64_t seed, int p, int64_t n) {
    uint32_t *w = malloc((size_t)n * sizeof *w);
    if (optk_random_fill_u32(cpu, seed, ((uint64_t)5 << 24) | (uint64_t)p, 0, w, n) != OPTK_OK) {
        free(w);
        return NULL;
    }
    return w;
}

static reference ref_probes(optk_context *cpu, uint64_t seed, optk_probe_kind kind) {
    reference r = {malloc((size_t)PROBES * PROBE_N * sizeof(double)),
                   calloc((size_t)PROBES * PROBE_N, sizeof(double)), (size_t)PROBES * PROBE_N};
    for (int p = 0; p < PROBES; ++p) {
        double *want = r.want + (size_t)p * PROBE_N, *tol = r.tol + (size_t)p * PROBE_N;
        const int64_t words = kind == OPTK_PROBE_RADEMACHER ? PROBE_N / 32 + 1 : PROBE_N + 4;
        uint32_t *w = probe_words(cpu, seed, p, words);
        if (!w) {
            free(r.want);
            free(r.tol);
            return (reference){NULL, NULL, 0};
        }
        for (int64_t i = 0; i < PROBE_N; ++i) {
            if (kind == OPTK_PROBE_RADEMACHER) {
                want[i] = (w[i / 32] >> (i % 32)) & 1u ? 1.0 : -1.0;
            } else { /* Box-Muller in double on the pair (x, y) of the element's half block */
                const int64_t pair = i / 2 * 2;
                const double u = w[pair] * 0x1p-32 + 0x1p-33;
                const double v = 2.0 * 3.14159265358979323846 * (w[pair + 1] * 0x1p-32 + 0x1p-33);
                const double radius = sqrt(-2.0 * log(u));
                want[i] = (i % 2 == 0 ? sin(v) : cos(v)) * radius;
                tol[i] = 2e-5;
            }
        }
        free(w);
    }
    return r;
}

static reference ref_rademacher(optk_context *cpu, uint64_t seed) {
    return ref_probes(cpu, seed, OPTK_PROBE_RADEMACHER);
}

static reference ref_gaussian(optk_context *cpu, uint64_t seed) {
    return ref_probes(cpu, seed, OPTK_PROBE_GAUSSIAN);
}

/* ---- Hutchinson's estimate with a dense matrix --------------------------------------- */

/* A symmetric matrix with entries in [-1, 1] and a diagonal in [2, 3]. */
static float *make_matrix(uint64_t seed) {
    float *h = malloc((size_t)DENSE_N * DENSE_N * sizeof *h);
    uint64_t state = seed ^ 0xD1A6;
    for (int r = 0; r < DENSE_N; ++r) {
        for (int c = 0; c <= r; ++c) {
            const float v =
                r == c ? cli_uniform(&state, 2.0f, 3.0f) : cli_uniform(&state, -1.0f, 1.0f);
            h[r * DENSE_N + c] = h[c * DENSE_N + r] = v;
        }
    }
    return h;
}

static output run_diag(optk_context *ctx, uint64_t seed) {
    output o = {malloc(2 * DENSE_N * sizeof(float)), 2 * DENSE_N};
    float *h = make_matrix(seed);
    void *dh = NULL, *dd = NULL;
    optk_status s = optk_mem_alloc(ctx, (size_t)DENSE_N * DENSE_N * 4, &dh);
    if (s == OPTK_OK) s = optk_mem_alloc(ctx, 2 * DENSE_N * 4, &dd);
    if (s == OPTK_OK) s = optk_mem_upload(ctx, dh, h, (size_t)DENSE_N * DENSE_N * 4);
    const optk_hvp_source src = {.dense = dh};
    const optk_diag_options d = {
        .kind = OPTK_PROBE_RADEMACHER, .seed = seed, .step = 5, .probes = DENSE_PROBES};
    if (s == OPTK_OK) s = optk_hessian_diag(ctx, &src, DENSE_N, &d, dd, (float *)dd + DENSE_N);
    if (s == OPTK_OK) s = optk_mem_download(ctx, o.got, dd, 2 * DENSE_N * 4);
    optk_mem_free(ctx, dh);
    optk_mem_free(ctx, dd);
    free(h);
    return s == OPTK_OK ? o : validate_failed(ctx, "hessian_diag", o);
}

/* The estimate and its sample variance in double from the same Rademacher probes. */
static reference ref_diag(optk_context *cpu, uint64_t seed) {
    reference r = {calloc(2 * DENSE_N, sizeof(double)), malloc(2 * DENSE_N * sizeof(double)),
                   2 * DENSE_N};
    float *h = make_matrix(seed);
    double *sq = calloc(DENSE_N, sizeof(double));
    for (int p = 0; p < DENSE_PROBES; ++p) {
        uint32_t *w = probe_words(cpu, seed, p, DENSE_N / 32 + 1);
        double z[DENSE_N];
        for (int i = 0; i < DENSE_N; ++i)
            z[i] = (w[i / 32] >> (i % 32)) & 1u ? 1.0 : -1.0;
        free(w);
        for (int i = 0; i < DENSE_N; ++i) {
            double hz = 0.0;
            for (int j = 0; j < DENSE_N; ++j)
                hz += (double)h[i * DENSE_N + j] * z[j];
            r.want[i] += z[i] * hz;
            sq[i] += (z[i] * hz) * (z[i] * hz);
        }
    }
    for (int i = 0; i < DENSE_N; ++i) {
        const double mean = r.want[i] / DENSE_PROBES;
        r.want[i] = mean;
        r.want[DENSE_N + i] = (sq[i] - DENSE_PROBES * mean * mean) / (DENSE_PROBES - 1);
        r.tol[i] = 1e-5 * (fabs(mean) + 1.0);
        r.tol[DENSE_N + i] = 1e-5 * (fabs(r.want[DENSE_N + i]) + 1.0);
    }
    free(sq);
    free(h);
    return r;
}

/* ---- Curvature updates ----------------------------------------------------------------- */

enum { CURVATURE_TENSORS = 3 };
static const int64_t curvature_sizes[CURVATURE_TENSORS] = {1017, 4095, (1 << 20) + 7};
static const int64_t adahessian_blocks[CURVATURE_TENSORS] = {9, 9, 0};

/* Tensor t's starting h, probe z and H z (the same on every backend). */
static void curvature_inputs(uint64_t seed, int t, float *h, float *z, float *hz) {
    uint64_t state = seed ^ ((uint64_t)(t + 1) << 40);
    for (int64_t i = 0; i < curvature_sizes[t]; ++i) {
        h[i] = cli_uniform(&state, 0.0f, 2.0f);
        z[i] = cli_uniform(&state, -1.5f, 1.5f);
        hz[i] = cli_uniform(&state, -3.0f, 3.0f);
    }
}

static output run_curvature(optk_context *ctx, uint64_t seed, optk_curvature_kind kind) {
    size_t total = 0;
    for (int t = 0; t < CURVATURE_TENSORS; ++t)
        total += (size_t)curvature_sizes[t];
    output o = {malloc(total * sizeof(float)), total};
    const size_t most = (size_t)curvature_sizes[CURVATURE_TENSORS - 1];
    float *h = malloc(most * 4), *z = malloc(most * 4), *hz = malloc(most * 4);
    void *buf[CURVATURE_TENSORS][3] = {{0}};
    optk_curvature_tensor list[CURVATURE_TENSORS];
    optk_status s = OPTK_OK;
    for (int t = 0; t < CURVATURE_TENSORS && s == OPTK_OK; ++t) {
        const size_t bytes = (size_t)curvature_sizes[t] * 4;
        curvature_inputs(seed, t, h, z, hz);
        const float *host[3] = {h, z, hz};
        for (int b = 0; b < 3 && s == OPTK_OK; ++b) {
            s = optk_mem_alloc(ctx, bytes, &buf[t][b]);
            if (s == OPTK_OK) s = optk_mem_upload(ctx, buf[t][b], host[b], bytes);
        }
        const bool gnb = kind == OPTK_CURVATURE_SOPHIA_GNB;
        list[t] = (optk_curvature_tensor){
            curvature_sizes[t], buf[t][0], gnb ? NULL : buf[t][1], buf[t][2],
            kind == OPTK_CURVATURE_ADAHESSIAN ? adahessian_blocks[t] : 0};
    }
    if (s == OPTK_OK) s = optk_curvature_update(ctx, kind, BETA2, list, CURVATURE_TENSORS);
    size_t at = 0;
    for (int t = 0; t < CURVATURE_TENSORS; ++t) {
        if (s == OPTK_OK) s = optk_mem_download(ctx, o.got + at, buf[t][0], curvature_sizes[t] * 4);
        at += (size_t)curvature_sizes[t];
        for (int b = 0; b < 3; ++b)
            optk_mem_free(ctx, buf[t][b]);
    }
    free(h);
    free(z);
    free(hz);
    return s == OPTK_OK ? o : validate_failed(ctx, "curvature_update", o);
}

/* The update in double; tolerance a few float roundings of the terms' magnitudes. */
static reference ref_curvature(uint64_t seed, optk_curvature_kind kind) {
    size_t total = 0;
    for (int t = 0; t < CURVATURE_TENSORS; ++t)
        total += (size_t)curvature_sizes[t];
    reference r = {malloc(total * sizeof(double)), malloc(total * sizeof(double)), total};
    const size_t most = (size_t)curvature_sizes[CURVATURE_TENSORS - 1];
    float *h = malloc(most * 4), *z = malloc(most * 4), *hz = malloc(most * 4);
    const double b2 = (float)BETA2,
                 one_minus = (float)(1.0 - BETA2); /* as the update rounds them */
    size_t at = 0;
    for (int t = 0; t < CURVATURE_TENSORS; ++t) {
        curvature_inputs(seed, t, h, z, hz);
        const int64_t n = curvature_sizes[t];
        const int64_t block = kind == OPTK_CURVATURE_ADAHESSIAN && adahessian_blocks[t] > 1
                                  ? adahessian_blocks[t]
                                  : 1;
        for (int64_t first = 0; first < n; first += block) {
            double mean = 0.0;
            for (int64_t i = first; i < first + block; ++i)
                mean += fabs((double)z[i] * hz[i]) / (double)block;
            for (int64_t i = first; i < first + block; ++i) {
                const double zhz = (double)z[i] * hz[i], g2 = (double)hz[i] * hz[i];
                const double term = one_minus * (kind == OPTK_CURVATURE_SOPHIA_GNB ? g2 : zhz);
                double *want = &r.want[at + (size_t)i], *tol = &r.tol[at + (size_t)i];
                if (kind == OPTK_CURVATURE_ADAHESSIAN) {
                    *want = mean;
                    *tol = 0x1p-22 * mean;
                } else {
                    *want = b2 * h[i] + term;
                    *tol = 0x1p-22 * (fabs(b2 * h[i]) + fabs(term));
                }
            }
        }
        at += (size_t)n;
    }
    free(h);
    free(z);
    free(hz);
    return r;
}

#define CURVATURE_OP(name, kind)                                                                   \
    static output run_##name(optk_context *ctx, uint64_t seed) {                                   \
        return run_curvature(ctx, seed, kind);                                                     \
    }                                                                                              \
    static reference ref_##name(optk_context *cpu, uint64_t seed) {                                \
        (void)cpu;                                                                                 \
        return ref_curvature(seed, kind);                                                          \
    }
CURVATURE_OP(sophia_h, OPTK_CURVATURE_SOPHIA_H)
CURVATURE_OP(sophia_gnb, OPTK_CURVATURE_SOPHIA_GNB)
CURVATURE_OP(adahessian, OPTK_CURVATURE_ADAHESSIAN)
#undef CURVATURE_OP

static const validate_op ops[] = {
    {"probe_rademacher", run_rademacher, ref_rademacher, 0.0, 0.0},
    {"probe_gaussian", run_gaussian, ref_gaussian, 2e-5, 0.0},
    {"hessian_diag", run_diag, ref_diag, 1e-4, 1e-4},
    {"curvature_sophia_h", run_sophia_h, ref_sophia_h, 0.0, 0.0},
    {"curvature_sophia_gnb", run_sophia_gnb, ref_sophia_gnb, 0.0, 0.0},
    {"curvature_adahessian", run_adahessian, ref_adahessian, 0.0, 0.0},
};

int validate_hutchinson(optk_context *cpu, optk_context *cuda, uint64_t seed, const char *only,
                        int *ran) {
    return validate_run_ops(ops, sizeof ops / sizeof ops[0], cpu, cuda, seed, only, ran);
}
