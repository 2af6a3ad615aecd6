/* sinkhorn_matching.c — match a batch of point clouds to shuffled, slightly moved copies of
 * themselves with entropic optimal transport, on either backend.
 *
 * Each of B problems has N points in the plane; its partner is the same points stretched and
 * shifted (the gradient of a convex function, so by Brenier's theorem the optimal transport
 * map) plus a little noise, in a random order. One optk_sinkhorn call solves all B problems
 * (squared-Euclidean costs computed on the fly, epsilon-scaling from 1 down to 2e-3), and
 * optk_sinkhorn_apply maps every point to its barycentric image sum_j P_ij y_j / a_i without
 * forming P. Then new points, never seen by the solve, go through the entropic map: their
 * potentials from optk_sinkhorn_ctransform, their images sum_j P_ij y_j from
 * optk_sinkhorn_apply, against where the true map sends them. The example prints, per problem,
 * the iterations, the transport cost, how many points the plan sends mostly to their true
 * partner, and the new points' mean distance from their true images.
 *
 * Usage: optkern_example_sinkhorn [cpu|cuda]   (default: the best backend available)
 * Exits non-zero unless every problem converges, 95% of the points are matched and the new
 * points land, on average, within twice the distance from a true image to its nearest sample
 * (at this small epsilon the map sends a point to about one sample).
 */
#include <math.h>
#include <optkern.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B = 8, N = 128, D = 2, NEW = 64 };

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
    /* Points x (B x N x D), partners y = S x + t + noise in shuffled order: y[perm[i]] ~ x[i]. */
    static float x[B][N][D], y[B][N][D], w[B][N], mapped[B][N][D];
    static float fresh[B][NEW][D], truth[B][NEW][D], images[B][NEW][D];
    static int perm[B][N];
    uint64_t s = 7;
    for (int p = 0; p < B; ++p) {
        const double sx = 1.0 + 0.05 * p, sy = 1.0 - 0.04 * p, tx = 0.05 * p, ty = -0.03 * p;
        for (int i = 0; i < N; ++i)
            perm[p][i] = i;
        for (int i = N - 1; i > 0; --i) { /* Fisher-Yates */
            const int k = (int)(splitmix(&s) % (uint64_t)(i + 1)), t = perm[p][i];
            perm[p][i] = perm[p][k], perm[p][k] = t;
        }
        for (int i = 0; i < N; ++i) {
            x[p][i][0] = (float)(2.0 * uniform(&s) - 1.0);
            x[p][i][1] = (float)(2.0 * uniform(&s) - 1.0);
            const double nx = 0.01 * (uniform(&s) - 0.5), ny = 0.01 * (uniform(&s) - 0.5);
            y[p][perm[p][i]][0] = (float)(sx * x[p][i][0] + tx + nx);
            y[p][perm[p][i]][1] = (float)(sy * x[p][i][1] + ty + ny);
            w[p][i] = 1.0f / N;
        }
        for (int i = 0; i < NEW; ++i) { /* inside the square, away from its edges */
            fresh[p][i][0] = (float)(1.6 * uniform(&s) - 0.8);
            fresh[p][i][1] = (float)(1.6 * uniform(&s) - 0.8);
            truth[p][i][0] = (float)(sx * fresh[p][i][0] + tx);
            truth[p][i][1] = (float)(sy * fresh[p][i][1] + ty);
        }
    }
    float *dx, *dy, *da, *db, *f, *g, *cost, *err, *out, *dnew, *fnew, *dimg;
    int32_t *its, *ok;
    CHECK(optk_mem_alloc(ctx, sizeof x, (void **)&dx));
    CHECK(optk_mem_alloc(ctx, sizeof y, (void **)&dy));
    CHECK(optk_mem_alloc(ctx, sizeof w, (void **)&da));
    CHECK(optk_mem_alloc(ctx, sizeof w, (void **)&db));
    CHECK(optk_mem_alloc(ctx, sizeof w, (void **)&f));
    CHECK(optk_mem_alloc(ctx, sizeof w, (void **)&g));
    CHECK(optk_mem_alloc(ctx, B * sizeof(float), (void **)&cost));
    CHECK(optk_mem_alloc(ctx, B * sizeof(float), (void **)&err));
    CHECK(optk_mem_alloc(ctx, B * sizeof(int32_t), (void **)&its));
    CHECK(optk_mem_alloc(ctx, B * sizeof(int32_t), (void **)&ok));
    CHECK(optk_mem_alloc(ctx, sizeof mapped, (void **)&out));
    CHECK(optk_mem_alloc(ctx, sizeof fresh, (void **)&dnew));
    CHECK(optk_mem_alloc(ctx, B * NEW * sizeof(float), (void **)&fnew));
    CHECK(optk_mem_alloc(ctx, sizeof images, (void **)&dimg));
    CHECK(optk_mem_upload(ctx, dnew, fresh, sizeof fresh));
    CHECK(optk_mem_upload(ctx, dx, x, sizeof x));
    CHECK(optk_mem_upload(ctx, dy, y, sizeof y));
    CHECK(optk_mem_upload(ctx, da, w, sizeof w));
    CHECK(optk_mem_upload(ctx, db, w, sizeof w));

    const optk_ot_problem problem = {.batch = B,
                                     .n = N,
                                     .m = N,
                                     .a = da,
                                     .b = db,
                                     .cost = OPTK_COST_SQEUCLIDEAN,
                                     .x = dx,
                                     .y = dy,
                                     .dim = D};
    optk_sinkhorn_options o = optk_sinkhorn_default_options(2e-3);
    o.epsilon_start = 1.0; /* epsilon-scaling: 1, 0.5, 0.25, ... down to 2e-3 */
    o.max_iter = 3000;
    /* In fp32 a potential near 0.5 is known to ~6e-8, so each plan entry only to ~6e-8 / eps
     * relative: at eps = 2e-3 the marginal error cannot go much below 3e-5. */
    o.tol = 1e-4;
    const optk_sinkhorn_outputs outputs = {
        .f = f, .g = g, .iterations = its, .error = err, .converged = ok, .cost = cost};
    CHECK(optk_sinkhorn(ctx, &problem, &o, &outputs));
    /* The barycentric map: (P y)_i / a_i, with P never formed. */
    CHECK(optk_sinkhorn_apply(ctx, &problem, o.epsilon, f, g, false, dy, D, out));
    /* The entropic map at new points: y, b and g as solved, the new points where x was. */
    optk_ot_problem beyond = problem;
    beyond.n = NEW, beyond.x = dnew, beyond.a = NULL;
    CHECK(optk_sinkhorn_ctransform(ctx, &beyond, o.epsilon, 0.0, g, false, fnew));
    CHECK(optk_sinkhorn_apply(ctx, &beyond, o.epsilon, fnew, g, false, dy, D, dimg));

    int32_t h_its[B], h_ok[B];
    float h_cost[B], h_err[B];
    CHECK(optk_mem_download(ctx, h_its, its, sizeof h_its));
    CHECK(optk_mem_download(ctx, h_ok, ok, sizeof h_ok));
    CHECK(optk_mem_download(ctx, h_cost, cost, sizeof h_cost));
    CHECK(optk_mem_download(ctx, h_err, err, sizeof h_err));
    CHECK(optk_mem_download(ctx, mapped, out, sizeof mapped));
    CHECK(optk_mem_download(ctx, images, dimg, sizeof images));
    printf("%d point-cloud matchings of %d points, %s backend, epsilon 2e-3 (scaled from 1)\n", B,
           N, optk_backend_name(optk_context_backend(ctx)));
    int all_ok = 1;
    for (int p = 0; p < B; ++p) {
        int matched = 0;
        for (int i = 0; i < N; ++i) { /* the nearest y to the image of x_i is its partner? */
            const float mx = mapped[p][i][0] * N, my = mapped[p][i][1] * N;
            int best = 0;
            float best_d = INFINITY;
            for (int j = 0; j < N; ++j) {
                const float dx0 = y[p][j][0] - mx, dy0 = y[p][j][1] - my;
                const float d = dx0 * dx0 + dy0 * dy0;
                if (d < best_d) best_d = d, best = j;
            }
            matched += best == perm[p][i];
        }
        /* The new points' mean distance from their true images, against the mean distance from
         * a true image to its nearest y (a map onto N samples is only that fine). */
        double miss = 0.0, grain = 0.0;
        for (int i = 0; i < NEW; ++i) {
            miss += hypot(images[p][i][0] - truth[p][i][0], images[p][i][1] - truth[p][i][1]) / NEW;
            double nearest = INFINITY;
            for (int j = 0; j < N; ++j)
                nearest =
                    fmin(nearest, hypot(y[p][j][0] - truth[p][i][0], y[p][j][1] - truth[p][i][1]));
            grain += nearest / NEW;
        }
        printf("  problem %d: %4d iterations, error %.1e, cost %.5f, %3d/%d matched, new points "
               "%.3f from their images (nearest sample %.3f)\n",
               p, h_its[p], (double)h_err[p], (double)h_cost[p], matched, N, miss, grain);
        all_ok = all_ok && h_ok[p] && matched >= N * 95 / 100 && miss < 2.0 * grain;
    }
    void *bufs[] = {dx, dy, da, db, f, g, cost, err, its, ok, out, dnew, fnew, dimg};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; ++k)
        optk_mem_free(ctx, bufs[k]);
    optk_context_free(ctx);
    return all_ok ? 0 : 1;
}
