/* divergence_flow.c — move point clouds onto target shapes by gradient descent on the Sinkhorn
 * divergence (GeomLoss's "gradient flow" demonstration), on either backend.
 *
 * Each of B problems starts with N points in a small blob and has a target of M points on a
 * ring. Every step one optk_sinkhorn_divergence call solves the three problems of every pair
 * (x against y, and the self problems by the symmetric update) and returns S and its gradient
 * in the points x; each point then moves by -lr grad_i / a_i (the gradient in the metric of
 * the weights, so each point's step does not shrink with its weight). The example prints S per
 * step for each problem, falling from the blob's distance to the ring to nearly 0.
 *
 * Usage: optkern_example_divergence_flow [cpu|cuda]   (default: the best backend available)
 * Exits non-zero unless every problem's divergence fell below 0.1% of where it started.
 */
#include <math.h>
#include <optkern.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B = 4, N = 96, M = 80, D = 2, STEPS = 12 };

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s) {
    return (double)(splitmix(s) >> 11) * 0x1p-53;
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        if ((call) != OPTK_OK) {                                                                   \
            fprintf(stderr, "%s failed: %s\n", #call, optk_context_last_error(ctx));               \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv) {
    optk_backend backend = OPTK_BACKEND_AUTO;
    if (argc > 1) backend = strcmp(argv[1], "cuda") == 0 ? OPTK_BACKEND_CUDA : OPTK_BACKEND_CPU;
    optk_context *ctx = NULL;
    if (optk_context_create(&ctx, backend, 0) != OPTK_OK) {
        fprintf(stderr, "no context: %s\n", optk_context_last_error(NULL));
        return 1;
    }
    /* Blobs of radius 0.15 around (-0.5, 0); rings of radius 0.3 + 0.1 p around (0.4, 0.1 p). */
    static float x[B][N][D], y[B][M][D], a[B][N], b[B][M], grad[B][N][D];
    uint64_t s = 11;
    for (int p = 0; p < B; ++p) {
        for (int i = 0; i < N; ++i) {
            const double r = 0.15 * sqrt(uniform(&s)), t = 6.283185307179586 * uniform(&s);
            x[p][i][0] = (float)(-0.5 + r * cos(t));
            x[p][i][1] = (float)(r * sin(t));
            a[p][i] = 1.0f / N;
        }
        for (int j = 0; j < M; ++j) {
            const double t = 6.283185307179586 * (j + 0.5) / M, r = 0.3 + 0.1 * p;
            y[p][j][0] = (float)(0.4 + r * cos(t));
            y[p][j][1] = (float)(0.1 * p + r * sin(t));
            b[p][j] = 1.0f / M;
        }
    }
    float *dx, *dy, *da, *db, *dgrad, *ddiv;
    CHECK(optk_mem_alloc(ctx, sizeof x, (void **)&dx));
    CHECK(optk_mem_alloc(ctx, sizeof y, (void **)&dy));
    CHECK(optk_mem_alloc(ctx, sizeof a, (void **)&da));
    CHECK(optk_mem_alloc(ctx, sizeof b, (void **)&db));
    CHECK(optk_mem_alloc(ctx, sizeof grad, (void **)&dgrad));
    CHECK(optk_mem_alloc(ctx, B * sizeof(float), (void **)&ddiv));
    CHECK(optk_mem_upload(ctx, dy, y, sizeof y));
    CHECK(optk_mem_upload(ctx, da, a, sizeof a));
    CHECK(optk_mem_upload(ctx, db, b, sizeof b));
    const optk_ot_problem problem = {B, N, M, da, db, OPTK_COST_SQEUCLIDEAN, NULL, dx, dy, D};
    optk_sinkhorn_options o = optk_sinkhorn_default_options(0.005);
    o.epsilon_start = 1.0; /* epsilon-scaling: halving from 1 to 0.005 */
    o.max_iter = 5000;
    const optk_divergence_outputs out = {.divergence = ddiv, .grad_x = dgrad};
    /* |x - y|^2 has gradient 2 (x_i - T(x_i)) a_i: lr 0.25 moves a point halfway to where the
     * plan sends it. */
    const float lr = 0.25f;
    float first[B], divergence[B];
    printf("backend %s: %d problems, %d blob points against %d ring points, eps %.3g\n",
           optk_backend_name(optk_context_backend(ctx)), B, N, M, o.epsilon);
    printf("step  divergence per problem\n");
    for (int step = 0; step <= STEPS; ++step) {
        CHECK(optk_mem_upload(ctx, dx, x, sizeof x));
        CHECK(optk_sinkhorn_divergence(ctx, &problem, &o, &out));
        CHECK(optk_mem_download(ctx, divergence, ddiv, sizeof divergence));
        CHECK(optk_mem_download(ctx, grad, dgrad, sizeof grad));
        printf("%4d ", step);
        for (int p = 0; p < B; ++p)
            printf(" %10.3e", (double)divergence[p]);
        printf("\n");
        if (step == 0) memcpy(first, divergence, sizeof first);
        for (int p = 0; p < B; ++p)
            for (int i = 0; i < N; ++i)
                for (int k = 0; k < D; ++k)
                    x[p][i][k] -= lr * grad[p][i][k] / a[p][i];
    }
    int failed = 0;
    for (int p = 0; p < B; ++p) {
        if (!(divergence[p] < 1e-3f * first[p])) {
            fprintf(stderr, "problem %d: the divergence went from %g to %g\n", p, (double)first[p],
                    (double)divergence[p]);
            failed = 1;
        }
    }
    optk_mem_free(ctx, dx), optk_mem_free(ctx, dy), optk_mem_free(ctx, da);
    optk_mem_free(ctx, db), optk_mem_free(ctx, dgrad), optk_mem_free(ctx, ddiv);
    optk_context_free(ctx);
    return failed;
}
