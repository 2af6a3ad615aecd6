/* validate_es.c — `optkern validate` for EGGROLL: the factors (the same bits on both
 * backends), the low-rank and full-rank population forwards and the gradient (CUDA within
 * 1e-5 relative of the CPU: cuBLAS and the CPU's GEMM sum in different orders). Without a GPU
 * the CPU is checked against float64: normals by Newton's method on erf from the raw Philox
 * words, forwards and gradients as explicit W + sigma E_i sums. */
#include "validate_op.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { M = 37, N = 29, RANK = 3, MEMBERS = 10, BATCH = 5, PAIRS = MEMBERS / 2 };
static const double SIGMA = 0.2;

static float host_value(uint64_t seed, int k) { /* inputs: a fixed LCG in [-1, 1) */
    uint64_t s = seed * 6364136223846793005ull + (uint64_t)k * 1442695040888963407ull + 1;
    s ^= s >> 29;
    s *= 0xBF58476D1CE4E5B9ull;
    return (float)((double)(s >> 40) * 0x1.0p-23 - 1.0);
}

static optk_es_key key_of(uint64_t seed) {
    const optk_es_key k = {seed, 3, 2};
    return k;
}

/* ---- The factors ---------------------------------------------------------------------- */

static output run_factors(optk_context *ctx, uint64_t seed) {
    const size_t count = (size_t)PAIRS * (M + N) * RANK;
    output o = {malloc(count * sizeof(float)), count};
    float *d = NULL;
    optk_status s = optk_mem_alloc(ctx, count * 4, (void **)&d);
    const optk_es_key key = key_of(seed);
    if (s == OPTK_OK) {
        s = optk_es_factors(ctx, &key, M, N, RANK, 0, PAIRS, d, d + PAIRS * M * RANK);
    }
    if (s == OPTK_OK) s = optk_mem_download(ctx, o.got, d, count * 4);
    optk_mem_free(ctx, d);
    return s == OPTK_OK ? o : validate_failed(ctx, "es_factors", o);
}

/* sqrt(2) erfinv(t) in double by Newton's method on erf. */
static double quantile(double t) {
    double x = 0.0;
    for (int k = 0; k < 60; ++k)
        x -= (erf(x) - t) / (1.1283791670955126 * exp(-x * x));
    return 1.4142135623730951 * x;
}

/* The normal of word e of pair p's stream of `layer` (generation 3), in double (t clamped as
 * the float transform is). */
static double normal_of_layer(optk_context *cpu, uint64_t seed, uint64_t layer, int64_t p,
                              int64_t e) {
    uint32_t w = 0;
    optk_random_fill_u32(cpu, seed, ((uint64_t)3 << 40) | (layer << 24) | (uint64_t)p, (uint64_t)e,
                         &w, 1);
    double t = ((double)w * 2.0 + 1.0) * 0x1p-32 - 1.0;
    t = (double)(float)t;
    t = t > 0.99999994 ? 0.99999994 : (t < -0.99999994 ? -0.99999994 : t);
    return quantile(t);
}

/* The weights' noise (layer 2). */
static double normal64(optk_context *cpu, uint64_t seed, int64_t p, int64_t e) {
    return normal_of_layer(cpu, seed, 2, p, e);
}

static reference ref_factors(optk_context *cpu, uint64_t seed) {
    const size_t count = (size_t)PAIRS * (M + N) * RANK;
    reference r = {malloc(count * sizeof(double)), malloc(count * sizeof(double)), count};
    for (int64_t p = 0; p < PAIRS; ++p) {
        for (int64_t e = 0; e < (M + N) * RANK; ++e) {
            const bool a = e < M * RANK;
            const size_t at = a ? (size_t)(p * M * RANK + e)
                                : (size_t)(PAIRS * M * RANK + p * N * RANK + (e - M * RANK));
            r.want[at] = normal64(cpu, seed, p, e);
            r.tol[at] = 2e-6 * (1.0 + fabs(r.want[at]));
        }
    }
    return r;
}

/* ---- Forward and gradient ------------------------------------------------------------------ */

/* W, bias, X and the fitness on ctx; runs the forward (gradient: the gradient with its bias
 * gradient after it) and returns Y (or G then g_b). */
static output run_layer(optk_context *ctx, uint64_t seed, int rank, bool gradient) {
    const size_t nw = M * N, nx = (size_t)MEMBERS * BATCH * N, ny = (size_t)MEMBERS * BATCH * M;
    const size_t count = gradient ? nw + M : ny;
    output o = {malloc(count * sizeof(float)), count};
    float *host = malloc((nw + M + nx + MEMBERS) * sizeof(float));
    for (size_t k = 0; k < nw + M + nx + MEMBERS; ++k)
        host[k] = host_value(seed, (int)k);
    float *d = NULL;
    optk_status s = optk_mem_alloc(ctx, (nw + M + nx + MEMBERS + ny + nw + M) * 4, (void **)&d);
    float *W = d, *bias = W + nw, *X = bias + M, *f = X + nx, *Y = f + MEMBERS, *G = Y + ny;
    if (s == OPTK_OK) s = optk_mem_upload(ctx, d, host, (nw + M + nx + MEMBERS) * 4);
    const optk_es_key key = key_of(seed);
    const optk_es_layer layer = {M, N, rank, SIGMA, W, bias};
    if (s == OPTK_OK && !gradient) s = optk_es_forward(ctx, &key, &layer, MEMBERS, BATCH, X, Y);
    if (s == OPTK_OK && gradient) {
        s = optk_es_gradient(ctx, &key, &layer, MEMBERS, f, 1.0, false, G, G + nw);
    }
    if (s == OPTK_OK) s = optk_mem_download(ctx, o.got, gradient ? G : Y, count * 4);
    optk_mem_free(ctx, d);
    free(host);
    return s == OPTK_OK ? o : validate_failed(ctx, gradient ? "es_gradient" : "es_forward", o);
}

/* E_p (M x N) and the bias noise e_p (M) of every pair in double. */
static void noise64(optk_context *cpu, uint64_t seed, int rank, double *E, double *e) {
    for (int64_t p = 0; p < PAIRS; ++p) {
        if (rank == 0) {
            for (int64_t k = 0; k < M * N; ++k)
                E[p * M * N + k] = normal64(cpu, seed, p, k);
        } else {
            double A[M * RANK], B[N * RANK];
            for (int64_t k = 0; k < M * rank; ++k)
                A[k] = normal64(cpu, seed, p, k);
            for (int64_t k = 0; k < N * rank; ++k)
                B[k] = normal64(cpu, seed, p, M * rank + k);
            for (int64_t o = 0; o < M; ++o)
                for (int64_t j = 0; j < N; ++j) {
                    double sum = 0.0;
                    for (int k = 0; k < rank; ++k)
                        sum += A[o * rank + k] * B[j * rank + k];
                    E[p * M * N + o * N + j] = sum / sqrt((double)rank);
                }
        }
        for (int64_t o = 0; o < M; ++o) /* the bias noise: layer 2 + 2^15 */
            e[p * M + o] = normal_of_layer(cpu, seed, 2 + 32768, p, o);
    }
}

static reference ref_layer(optk_context *cpu, uint64_t seed, int rank, bool gradient) {
    const size_t nw = M * N, nx = (size_t)MEMBERS * BATCH * N, ny = (size_t)MEMBERS * BATCH * M;
    const size_t count = gradient ? nw + M : ny;
    reference r = {calloc(count, sizeof(double)), malloc(count * sizeof(double)), count};
    float *host = malloc((nw + M + nx + MEMBERS) * sizeof(float));
    for (size_t k = 0; k < nw + M + nx + MEMBERS; ++k)
        host[k] = host_value(seed, (int)k);
    const float *W = host, *bias = W + nw, *X = bias + M, *f = X + nx;
    double *E = malloc((size_t)PAIRS * nw * sizeof *E), *e = malloc((size_t)PAIRS * M * sizeof *e);
    noise64(cpu, seed, rank, E, e);
    for (int64_t i = 0; i < MEMBERS; ++i) {
        const double sgn = i % 2 ? -1.0 : 1.0, s = SIGMA * sgn;
        if (gradient) {
            for (size_t k = 0; k < nw; ++k)
                r.want[k] += f[i] * sgn * E[(i / 2) * nw + k] / (MEMBERS * SIGMA);
            for (int64_t o = 0; o < M; ++o)
                r.want[nw + o] += f[i] * sgn * e[(i / 2) * M + o] / (MEMBERS * SIGMA);
            continue;
        }
        for (int64_t b = 0; b < BATCH; ++b)
            for (int64_t o = 0; o < M; ++o) {
                double y = bias[o] + s * e[(i / 2) * M + o];
                for (int64_t j = 0; j < N; ++j)
                    y += (W[o * N + j] + s * E[(i / 2) * nw + o * N + j]) *
                         X[(i * BATCH + b) * N + j];
                r.want[(i * BATCH + b) * M + o] = y;
            }
    }
    for (size_t k = 0; k < count; ++k)
        r.tol[k] = 1e-5 * (1.0 + fabs(r.want[k]));
    free(E), free(e), free(host);
    return r;
}

#define LAYER_OP(name, rank, gradient)                                                             \
    static output run_##name(optk_context *ctx, uint64_t seed) {                                   \
        return run_layer(ctx, seed, rank, gradient);                                               \
    }                                                                                              \
    static reference ref_##name(optk_context *cpu, uint64_t seed) {                                \
        return ref_layer(cpu, seed, rank, gradient);                                               \
    }
LAYER_OP(lowrank, RANK, false)
LAYER_OP(fullrank, 0, false)
LAYER_OP(gradient, RANK, true)
LAYER_OP(fullrank_gradient, 0, true)
#undef LAYER_OP

static const validate_op ops[] = {
    {"es_factors", run_factors, ref_factors, 0.0, 0.0},
    {"es_forward_lowrank", run_lowrank, ref_lowrank, 1e-6, 1e-5},
    {"es_forward_fullrank", run_fullrank, ref_fullrank, 1e-6, 1e-5},
    {"es_gradient_lowrank", run_gradient, ref_gradient, 1e-6, 1e-5},
    {"es_gradient_fullrank", run_fullrank_gradient, ref_fullrank_gradient, 1e-6, 1e-5},
};

int validate_es(optk_context *cpu, optk_context *cuda, uint64_t seed, const char *only, int *ran) {
    return validate_run_ops(ops, sizeof ops / sizeof ops[0], cpu, cuda, seed, only, ran);
}
