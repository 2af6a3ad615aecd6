/* es_regression.c — a small MLP (8 -> 32 tanh -> 1) fitted to y = sin(x . u) + 0.5 x_0 x_1
 * by evolution strategies alone, no gradients: EGGROLL (rank-1 perturbations of both layers)
 * and full-rank ES side by side, on either backend.
 *
 * Each generation: the whole population's forward through each layer with optk_es_forward
 * (every member sees the same minibatch), tanh on the host, fitness = -MSE per member,
 * centred ranks, and one optk_es_gradient per layer (weights and bias, W += lr G in place).
 * Every perturbation is regenerated from (seed, generation, layer, pair): nothing per member
 * is stored.
 *
 * Usage: optkern_example_es [cpu|cuda]   (default: the best backend available)
 * Exits non-zero unless EGGROLL cuts the validation MSE by half.
 */
#include <math.h>
#include <optkern.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { IN = 8, HIDDEN = 32, MEMBERS = 256, BATCH = 64, VALID = 512, GENERATIONS = 150 };

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float uniform(uint64_t *s, float lo, float hi) {
    return lo + (hi - lo) * (float)((double)(splitmix(s) >> 40) * 0x1p-24);
}

static float target(const float *x) {
    float dot = 0.0f;
    for (int k = 0; k < IN; ++k)
        dot += x[k] * (0.3f + 0.1f * (float)k);
    return sinf(dot) + 0.5f * x[0] * x[1];
}

/* The unperturbed model's MSE on the validation set (host copies of the weights). */
static double validation_mse(const float *w1, const float *b1, const float *w2, const float *b2,
                             const float (*x)[IN]) {
    double sum = 0.0;
    for (int s = 0; s < VALID; ++s) {
        float y = b2[0];
        for (int h = 0; h < HIDDEN; ++h) {
            float a = b1[h];
            for (int k = 0; k < IN; ++k)
                a += w1[h * IN + k] * x[s][k];
            y += w2[h] * tanhf(a);
        }
        const double e = y - target(x[s]);
        sum += e * e;
    }
    return sum / VALID;
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        if ((call) != OPTK_OK) {                                                                   \
            fprintf(stderr, "%s failed: %s\n", #call, optk_context_last_error(ctx));               \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* Trains from the same start with rank r (0: full-rank ES); returns the last validation MSE. */
static double train(optk_context *ctx, int rank, const float (*valid)[IN], double *first) {
    static float w1[HIDDEN * IN], b1[HIDDEN], w2[HIDDEN], b2[1];
    static float x[MEMBERS][BATCH][IN], h[MEMBERS][BATCH][HIDDEN], y[MEMBERS][BATCH];
    static float fit[MEMBERS], batch_x[BATCH][IN];
    uint64_t s = 42;
    for (int k = 0; k < HIDDEN * IN; ++k)
        w1[k] = uniform(&s, -0.5f, 0.5f);
    for (int k = 0; k < HIDDEN; ++k)
        b1[k] = 0.0f, w2[k] = uniform(&s, -0.3f, 0.3f);
    b2[0] = 0.0f;
    float *dw1, *db1, *dw2, *db2, *dx, *dh, *dy, *dfit, *dshaped;
    CHECK(optk_mem_alloc(ctx, sizeof w1, (void **)&dw1));
    CHECK(optk_mem_alloc(ctx, sizeof b1, (void **)&db1));
    CHECK(optk_mem_alloc(ctx, sizeof w2, (void **)&dw2));
    CHECK(optk_mem_alloc(ctx, sizeof b2, (void **)&db2));
    CHECK(optk_mem_alloc(ctx, sizeof x, (void **)&dx));
    CHECK(optk_mem_alloc(ctx, sizeof h, (void **)&dh));
    CHECK(optk_mem_alloc(ctx, sizeof y, (void **)&dy));
    CHECK(optk_mem_alloc(ctx, sizeof fit, (void **)&dfit));
    CHECK(optk_mem_alloc(ctx, sizeof fit, (void **)&dshaped));
    CHECK(optk_mem_upload(ctx, dw1, w1, sizeof w1));
    CHECK(optk_mem_upload(ctx, db1, b1, sizeof b1));
    CHECK(optk_mem_upload(ctx, dw2, w2, sizeof w2));
    CHECK(optk_mem_upload(ctx, db2, b2, sizeof b2));
    const double sigma = 0.05, lr = 0.05;
    const optk_es_layer l1 = {HIDDEN, IN, rank, sigma, dw1, db1};
    const optk_es_layer l2 = {1, HIDDEN, rank, sigma, dw2, db2};
    printf("%-9s", rank ? "EGGROLL" : "full ES");
    double mse = 0.0;
    for (int gen = 0; gen <= GENERATIONS; ++gen) {
        if (gen % 50 == 0) {
            CHECK(optk_mem_download(ctx, w1, dw1, sizeof w1));
            CHECK(optk_mem_download(ctx, b1, db1, sizeof b1));
            CHECK(optk_mem_download(ctx, w2, dw2, sizeof w2));
            CHECK(optk_mem_download(ctx, b2, db2, sizeof b2));
            mse = validation_mse(w1, b1, w2, b2, valid);
            if (gen == 0) *first = mse;
            printf("  gen %3d: %.4f", gen, mse);
        }
        if (gen == GENERATIONS) break;
        for (int b = 0; b < BATCH; ++b)
            for (int k = 0; k < IN; ++k)
                batch_x[b][k] = uniform(&s, -2.0f, 2.0f);
        for (int i = 0; i < MEMBERS; ++i) /* every member sees the same minibatch */
            memcpy(x[i], batch_x, sizeof batch_x);
        CHECK(optk_mem_upload(ctx, dx, x, sizeof x));
        const optk_es_key k1 = {2026, (uint64_t)gen, 0}, k2 = {2026, (uint64_t)gen, 1};
        CHECK(optk_es_forward(ctx, &k1, &l1, MEMBERS, BATCH, dx, dh));
        CHECK(optk_mem_download(ctx, h, dh, sizeof h));
        for (int i = 0; i < MEMBERS; ++i)
            for (int b = 0; b < BATCH; ++b)
                for (int u = 0; u < HIDDEN; ++u)
                    h[i][b][u] = tanhf(h[i][b][u]);
        CHECK(optk_mem_upload(ctx, dh, h, sizeof h));
        CHECK(optk_es_forward(ctx, &k2, &l2, MEMBERS, BATCH, dh, dy));
        CHECK(optk_mem_download(ctx, y, dy, sizeof y));
        for (int i = 0; i < MEMBERS; ++i) {
            double sum = 0.0;
            for (int b = 0; b < BATCH; ++b) {
                const double e = y[i][b] - target(batch_x[b]);
                sum += e * e;
            }
            fit[i] = (float)(-sum / BATCH);
        }
        CHECK(optk_mem_upload(ctx, dfit, fit, sizeof fit));
        CHECK(optk_es_shape(ctx, OPTK_ES_CENTERED_RANKS, dfit, MEMBERS, dshaped));
        CHECK(optk_es_gradient(ctx, &k1, &l1, MEMBERS, dshaped, lr, true, dw1, db1));
        CHECK(optk_es_gradient(ctx, &k2, &l2, MEMBERS, dshaped, lr, true, dw2, db2));
    }
    printf("\n");
    void *bufs[] = {dw1, db1, dw2, db2, dx, dh, dy, dfit, dshaped};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; ++k)
        optk_mem_free(ctx, bufs[k]);
    return mse;
}

int main(int argc, char **argv) {
    optk_backend backend = OPTK_BACKEND_AUTO;
    if (argc > 1) backend = strcmp(argv[1], "cuda") == 0 ? OPTK_BACKEND_CUDA : OPTK_BACKEND_CPU;
    optk_context *ctx = NULL;
    if (optk_context_create(&ctx, backend, 0) != OPTK_OK) {
        fprintf(stderr, "no context: %s\n", optk_context_last_error(NULL));
        return 1;
    }
    static float valid[VALID][IN];
    uint64_t s = 9;
    for (int v = 0; v < VALID; ++v)
        for (int k = 0; k < IN; ++k)
            valid[v][k] = uniform(&s, -2.0f, 2.0f);
    printf("MLP %d-%d-1 by evolution strategies, %d members, %d generations, %s backend\n", IN,
           HIDDEN, MEMBERS, GENERATIONS, optk_backend_name(optk_context_backend(ctx)));
    printf("validation MSE per 50 generations:\n");
    double first_low, first_full;
    const double low = train(ctx, 1, (const float(*)[IN])valid, &first_low);
    const double full = train(ctx, 0, (const float(*)[IN])valid, &first_full);
    optk_context_free(ctx);
    (void)full;
    return low < 0.5 * first_low ? 0 : 1;
}
