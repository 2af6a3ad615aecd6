/* validate_ot_cost.c — `optkern validate` for optk_ot_cost_fill: 3 problems of 70 x 50 points
 * in [-1, 1]^48 (two 32-coordinate chunks, partial CUDA tiles), squared-Euclidean, by the
 * direct method (CUDA: the CPU's bits) and the GEMM method (CUDA within the expansion's bound
 * for these points, (2 dim + 4) 2^-24 (|x|^2 + |y|^2) <= 6e-4). Without a GPU: the CPU against
 * the exact cost in double (direct: within its dim + 2 roundings of the entry; GEMM: one
 * rounding, the sums being in double). */
#include "validate_op.h"

#include <math.h>
#include <stdlib.h>

enum { B = 3, N = 70, M = 50, D = 48 };

static void make_points(float *x, float *y, uint64_t seed) {
    uint64_t s = seed ^ 0xC057;
    for (int k = 0; k < B * N * D; ++k)
        x[k] = cli_uniform(&s, -1.0f, 1.0f);
    for (int k = 0; k < B * M * D; ++k)
        y[k] = cli_uniform(&s, -1.0f, 1.0f);
}

static output run_method(optk_context *ctx, uint64_t seed, optk_cost_method method) {
    const size_t nx = B * N * D, ny = B * M * D, nc = B * N * M;
    output o = {malloc(nc * sizeof(float)), nc};
    float *x = malloc((nx + ny) * sizeof(float)), *y = x + nx;
    make_points(x, y, seed);
    float *mem = NULL;
    optk_status s = optk_mem_alloc(ctx, (nx + ny + nc) * sizeof(float), (void **)&mem);
    float *dx = mem, *dy = dx + nx, *c = dy + ny;
    if (s == OPTK_OK) s = optk_mem_upload(ctx, dx, x, (nx + ny) * sizeof(float));
    const optk_ot_problem p = {
        .batch = B, .n = N, .m = M, .cost = OPTK_COST_SQEUCLIDEAN, .x = dx, .y = dy, .dim = D};
    if (s == OPTK_OK) s = optk_ot_cost_fill(ctx, &p, method, c);
    if (s == OPTK_OK) s = optk_mem_download(ctx, o.got, c, nc * sizeof(float));
    optk_mem_free(ctx, mem);
    free(x);
    return s == OPTK_OK ? o : validate_failed(ctx, "ot_cost_fill", o);
}

static reference ref_method(uint64_t seed, bool gemm) {
    const size_t nc = B * N * M;
    reference r = {malloc(nc * sizeof(double)), malloc(nc * sizeof(double)), nc};
    float *x = malloc((B * N * D + B * M * D) * sizeof(float)), *y = x + B * N * D;
    make_points(x, y, seed);
    for (int p = 0; p < B; ++p) {
        for (int i = 0; i < N; ++i) {
            for (int j = 0; j < M; ++j) {
                const float *xi = x + (p * N + i) * D, *yj = y + (p * M + j) * D;
                double d2 = 0.0;
                for (int k = 0; k < D; ++k)
                    d2 += ((double)xi[k] - yj[k]) * ((double)xi[k] - yj[k]);
                const size_t e = (size_t)((p * N + i) * M + j);
                r.want[e] = d2;
                r.tol[e] = (gemm ? 1.0 : D + 2.0) * 0x1p-24 * d2 + 1e-12;
            }
        }
    }
    free(x);
    return r;
}

static output run_direct(optk_context *ctx, uint64_t seed) {
    return run_method(ctx, seed, OPTK_COST_METHOD_DIRECT);
}
static output run_gemm(optk_context *ctx, uint64_t seed) {
    return run_method(ctx, seed, OPTK_COST_METHOD_GEMM);
}
static reference ref_direct(optk_context *cpu, uint64_t seed) {
    (void)cpu;
    return ref_method(seed, false);
}
static reference ref_gemm(optk_context *cpu, uint64_t seed) {
    (void)cpu;
    return ref_method(seed, true);
}

static const validate_op ops[] = {
    {"ot_cost_direct", run_direct, ref_direct, 0.0, 0.0},
    {"ot_cost_gemm", run_gemm, ref_gemm, 6e-4, 0.0},
};

int validate_ot_cost(optk_context *cpu, optk_context *cuda, uint64_t seed, const char *only,
                     int *ran) {
    return validate_run_ops(ops, sizeof ops / sizeof ops[0], cpu, cuda, seed, only, ran);
}
