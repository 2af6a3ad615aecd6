/* test_es.c — EGGROLL and full-rank ES on every backend: the normal transform against a
 * float64 erfinv; factors regenerated bit for bit (any slice of pairs, CUDA = CPU); the
 * low-rank and full-rank forwards equal the explicit W + sigma E_i forward; the gradient
 * equals the explicit sum; fitness shaping (ties by index); two contexts give bit-identical
 * updates from the same seeds and fitness; the low-rank estimator's error approaches
 * full-rank ES's as the rank grows; bad input refused with nothing written. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "harness.h"
#include "cpu/cpu_backend.h"
#include "common/es.h"
#include "common/gaussian.h"
#include "common/philox.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* sqrt(2) erfinv(t) in double: Newton on erf from a good start. */
static double normal_quantile(double t) {
    double x = 0.0;
    for (int k = 0; k < 60; ++k) {
        const double e = erf(x) - t;
        x -= e / (2.0 / sqrt(3.14159265358979323846) * exp(-x * x));
    }
    return 1.4142135623730951 * x;
}

Test(es, normal_transform_matches_float64) {
    double worst = 0.0;
    for (uint64_t k = 0; k <= 4096; ++k) {
        /* spread over the words, both tails included */
        const uint32_t word =
            k == 4096 ? 0xffffffffu : (uint32_t)(k * 1048576u + (k * 7919u % 1000u));
        const double t = ((double)word * 2.0 + 1.0) * 0x1p-32 - 1.0;
        const double tf =
            (double)(float)(t > 0.99999994 ? 0.99999994 : (t < -0.99999994 ? -0.99999994 : t));
        const double want = normal_quantile(tf);
        const float got = optk_normal_from_word(word);
        const double err = fabs(got - want) / fmax(fabs(want), 1e-3);
        worst = fmax(worst, err);
        cr_assert(isfinite(got), "word %u", word);
    }
    cr_log_info("normal transform: worst relative error %.3g", worst);
    cr_assert(worst < 2e-6, "worst relative error %g", worst);
    cr_assert(fabsf(optk_normal_from_word(0x7fffffffu)) < 1e-6f);
}

/* Backend buffers from the host and back. */
static float *to_device(optk_context *ctx, const float *host, size_t n) {
    void *d = NULL;
    cr_assert_eq(optk_mem_alloc(ctx, n * 4 + 4, &d), OPTK_OK);
    if (host) cr_assert_eq(optk_mem_upload(ctx, d, host, n * 4), OPTK_OK);
    return d;
}

static float *to_host(optk_context *ctx, const float *dev, size_t n) {
    float *h = malloc(n * 4);
    cr_assert_eq(optk_mem_download(ctx, h, dev, n * 4), OPTK_OK);
    return h;
}

static float *factors(optk_context *ctx, const optk_es_key *key, int64_t m, int64_t n, int r,
                      int64_t first, int64_t count, bool want_a) {
    float *d = to_device(ctx, NULL, (size_t)(count * (want_a ? m : n) * r));
    cr_assert_eq(
        optk_es_factors(ctx, key, m, n, r, first, count, want_a ? d : NULL, want_a ? NULL : d),
        OPTK_OK, "%s", optk_context_last_error(ctx));
    float *h = to_host(ctx, d, (size_t)(count * (want_a ? m : n) * r));
    optk_mem_free(ctx, d);
    return h;
}

/* Every noise entry is its definition — the normal of word e of the pair's Philox stream —
 * computed here one word at a time: pairs of 5000 entries (two of the CPU's pieces of 4096
 * words, its 64-word groups and a tail) and B factors, which start mid-stream (a head before
 * the first group). */
BACKEND_TEST(es, noise_is_the_normal_of_its_philox_word) {
    optk_context *ctx = test_context(backend);
    const optk_es_key key = {2026, 4, 1};
    enum { SIZE = 5000, FIRST = 3, COUNT = 3, M = 13, N = 150, R = 3 };
    float *d = to_device(ctx, NULL, COUNT * SIZE);
    cr_assert_eq(optk_es_noise(ctx, &key, SIZE, FIRST, COUNT, d), OPTK_OK, "%s",
                 optk_context_last_error(ctx));
    float *noise = to_host(ctx, d, COUNT * SIZE);
    float *b = factors(ctx, &key, M, N, R, FIRST, COUNT, false);
    for (int c = 0; c < COUNT; ++c) {
        const uint64_t sub = optk_es_subsequence(key.generation, key.layer, FIRST + c);
        for (int e = 0; e < SIZE; ++e) {
            const float want = optk_normal_from_word(optk_philox_u32(key.seed, sub, (uint64_t)e));
            cr_assert_eq(noise[c * SIZE + e], want, "pair %d entry %d", FIRST + c, e);
        }
        for (int e = 0; e < N * R; ++e) { /* B: words M R .. (M + N) R - 1 */
            const uint64_t word = (uint64_t)(M * R + e);
            cr_assert_eq(b[c * N * R + e],
                         optk_normal_from_word(optk_philox_u32(key.seed, sub, word)),
                         "pair %d, B entry %d", FIRST + c, e);
        }
    }
    optk_mem_free(ctx, d);
    free(noise), free(b);
    optk_context_free(ctx);
}

BACKEND_TEST(es, factors_regenerate_bit_for_bit) {
    optk_context *ctx = test_context(backend);
    const optk_es_key key = {77, 5, 3};
    enum { M = 13, N = 9, R = 3 };
    float *all = factors(ctx, &key, M, N, R, 0, 40, true);
    float *again = factors(ctx, &key, M, N, R, 0, 40, true);
    float *slice = factors(ctx, &key, M, N, R, 17, 5, true);
    test_assert_bits_equal(again, all, 40 * M * R, 4, "A regenerated");
    test_assert_bits_equal(slice, all + 17 * M * R, 5 * M * R, 4, "A of pairs 17..21");
    double mean = 0.0, var = 0.0;
    for (int k = 0; k < 40 * M * R; ++k)
        mean += all[k] / (40.0 * M * R);
    for (int k = 0; k < 40 * M * R; ++k)
        var += (all[k] - mean) * (all[k] - mean) / (40.0 * M * R);
    cr_assert(fabs(mean) < 0.06 && fabs(var - 1.0) < 0.08, "mean %g var %g", mean, var);
    /* B follows A in the pair's stream: the noise of size (M + N) R holds both. */
    float *b = factors(ctx, &key, M, N, R, 2, 1, false);
    float *d = to_device(ctx, NULL, (M + N) * R);
    cr_assert_eq(optk_es_noise(ctx, &key, (M + N) * R, 2, 1, d), OPTK_OK);
    float *stream = to_host(ctx, d, (M + N) * R);
    test_assert_bits_equal(b, stream + M * R, N * R, 4, "B is the stream after A");
    test_assert_bits_equal(all + 2 * M * R, stream, M * R, 4, "A is the stream's start");
    if (backend != OPTK_BACKEND_CPU) { /* the CPU's bits */
        optk_context *cpu = test_context(OPTK_BACKEND_CPU);
        float *ref = factors(cpu, &key, M, N, R, 0, 40, true);
        test_assert_bits_equal(all, ref, 40 * M * R, 4, "A on the CPU");
        free(ref);
        optk_context_free(cpu);
    }
    optk_mem_free(ctx, d);
    free(all), free(again), free(slice), free(b), free(stream);
    optk_context_free(ctx);
}

/* A small layer with a bias and its explicit per-member weights. */
typedef struct layer_case {
    int64_t m, n, members, batch;
    int rank;
    double sigma;
    float *W, *bias, *X;
} layer_case;

static layer_case make_case(int rank) {
    layer_case c = {7, 5, 6, 3, rank, 0.3, NULL, NULL, NULL};
    c.W = malloc((size_t)(c.m * c.n) * 4), c.bias = malloc((size_t)c.m * 4);
    c.X = malloc((size_t)(c.members * c.batch * c.n) * 4);
    test_fill_uniform(c.W, (size_t)(c.m * c.n), -1.0f, 1.0f, 1);
    test_fill_uniform(c.bias, (size_t)c.m, -1.0f, 1.0f, 2);
    test_fill_uniform(c.X, (size_t)(c.members * c.batch * c.n), -1.0f, 1.0f, 3);
    return c;
}

/* E_p (m x n) of every pair in double, from the library's own factors or noise. */
static double *explicit_noise(optk_context *ctx, const optk_es_key *key, const layer_case *c) {
    const int64_t pairs = c->members / 2, mn = c->m * c->n;
    double *E = calloc((size_t)(pairs * mn), sizeof *E);
    if (c->rank == 0) {
        float *d = to_device(ctx, NULL, (size_t)(pairs * mn));
        cr_assert_eq(optk_es_noise(ctx, key, mn, 0, pairs, d), OPTK_OK);
        float *h = to_host(ctx, d, (size_t)(pairs * mn));
        for (int64_t k = 0; k < pairs * mn; ++k)
            E[k] = h[k];
        free(h);
        optk_mem_free(ctx, d);
        return E;
    }
    float *A = factors(ctx, key, c->m, c->n, c->rank, 0, pairs, true);
    float *B = factors(ctx, key, c->m, c->n, c->rank, 0, pairs, false);
    for (int64_t p = 0; p < pairs; ++p)
        for (int64_t o = 0; o < c->m; ++o)
            for (int64_t j = 0; j < c->n; ++j)
                for (int k = 0; k < c->rank; ++k)
                    E[p * mn + o * c->n + j] += (double)A[(p * c->m + o) * c->rank + k] *
                                                B[(p * c->n + j) * c->rank + k] / sqrt(c->rank);
    free(A), free(B);
    return E;
}

static double *bias_noise(optk_context *ctx, const optk_es_key *key, const layer_case *c) {
    const optk_es_key bias_key = {key->seed, key->generation, key->layer + 32768};
    float *d = to_device(ctx, NULL, (size_t)(c->members / 2 * c->m));
    cr_assert_eq(optk_es_noise(ctx, &bias_key, c->m, 0, c->members / 2, d), OPTK_OK);
    float *h = to_host(ctx, d, (size_t)(c->members / 2 * c->m));
    double *e = malloc((size_t)(c->members / 2 * c->m) * sizeof *e);
    for (int64_t k = 0; k < c->members / 2 * c->m; ++k)
        e[k] = h[k];
    free(h);
    optk_mem_free(ctx, d);
    return e;
}

static void check_forward(optk_backend backend, int rank) {
    optk_context *ctx = test_context(backend);
    const optk_es_key key = {11, 2, 1};
    layer_case c = make_case(rank);
    float *dW = to_device(ctx, c.W, (size_t)(c.m * c.n)), *db = to_device(ctx, c.bias, (size_t)c.m);
    float *dX = to_device(ctx, c.X, (size_t)(c.members * c.batch * c.n));
    test_buffer Y = test_buffer_new(ctx, (size_t)(c.members * c.batch * c.m), 4, NULL);
    const optk_es_layer layer = {c.m, c.n, c.rank, c.sigma, dW, db};
    cr_assert_eq(optk_es_forward(ctx, &key, &layer, c.members, c.batch, dX, Y.data), OPTK_OK, "%s",
                 optk_context_last_error(ctx));
    float *y = malloc(Y.bytes);
    test_buffer_read(&Y, y);
    test_buffer_check_guards(&Y, "Y");
    double *E = explicit_noise(ctx, &key, &c), *e = bias_noise(ctx, &key, &c);
    double worst = 0.0;
    for (int64_t i = 0; i < c.members; ++i) {
        const double s = i % 2 ? -c.sigma : c.sigma;
        for (int64_t b = 0; b < c.batch; ++b) {
            for (int64_t o = 0; o < c.m; ++o) {
                double want = c.bias[o] + s * e[(i / 2) * c.m + o];
                for (int64_t j = 0; j < c.n; ++j)
                    want += (c.W[o * c.n + j] + s * E[(i / 2) * c.m * c.n + o * c.n + j]) *
                            c.X[(i * c.batch + b) * c.n + j];
                worst =
                    fmax(worst, fabs(y[(i * c.batch + b) * c.m + o] - want) / (1.0 + fabs(want)));
            }
        }
    }
    cr_log_info("rank %d forward on %s: within %.3g of the explicit one", rank,
                optk_backend_name(backend), worst);
    cr_assert(worst < 1e-5, "rank %d: %g from the explicit forward", rank, worst);
    free(y), free(E), free(e), free(c.W), free(c.bias), free(c.X);
    optk_mem_free(ctx, dW), optk_mem_free(ctx, db), optk_mem_free(ctx, dX);
    test_buffer_free(&Y);
    optk_context_free(ctx);
}

BACKEND_TEST(es, lowrank_forward_equals_the_explicit_perturbed_forward) {
    check_forward(backend, 2);
}

BACKEND_TEST(es, fullrank_forward_equals_the_explicit_perturbed_forward) {
    check_forward(backend, 0);
}

/* Y for X and W (host copies) on the backend. */
static float *forward_of(optk_context *ctx, const layer_case *c, const float *W, const float *X) {
    const optk_es_key key = {11, 2, 1};
    float *dW = to_device(ctx, W, (size_t)(c->m * c->n)),
          *db = to_device(ctx, c->bias, (size_t)c->m);
    float *dX = to_device(ctx, X, (size_t)(c->members * c->batch * c->n));
    float *dY = to_device(ctx, NULL, (size_t)(c->members * c->batch * c->m));
    const optk_es_layer layer = {c->m, c->n, c->rank, c->sigma, dW, db};
    cr_assert_eq(optk_es_forward(ctx, &key, &layer, c->members, c->batch, dX, dY), OPTK_OK, "%s",
                 optk_context_last_error(ctx));
    float *y = to_host(ctx, dY, (size_t)(c->members * c->batch * c->m));
    optk_mem_free(ctx, dW), optk_mem_free(ctx, db), optk_mem_free(ctx, dX), optk_mem_free(ctx, dY);
    return y;
}

/* A NaN in X spoils its own output row only (every output of that member's batch row); a NaN
 * in W[o][j] spoils output o of every row; every other output keeps its bits. */
static void check_forward_nan(optk_backend backend, int rank) {
    optk_context *ctx = test_context(backend);
    layer_case c = make_case(rank);
    float *clean = forward_of(ctx, &c, c.W, c.X);
    enum { MEMBER = 3, ROW = 1, OUT = 4 };
    float *x = &c.X[(MEMBER * c.batch + ROW) * c.n + 2];
    const float kept = *x;
    *x = NAN;
    float *bad_x = forward_of(ctx, &c, c.W, c.X);
    *x = kept;
    c.W[OUT * c.n + 1] = NAN;
    float *bad_w = forward_of(ctx, &c, c.W, c.X);
    for (int64_t r = 0; r < c.members * c.batch; ++r) {
        for (int64_t o = 0; o < c.m; ++o) {
            const int64_t k = r * c.m + o;
            if (r == MEMBER * c.batch + ROW)
                cr_assert(isnan(bad_x[k]), "rank %d, NaN in X: output %lld", rank, (long long)o);
            else
                test_assert_bits_equal(&bad_x[k], &clean[k], 1, 4, "NaN in X: another row");
            if (o == OUT)
                cr_assert(isnan(bad_w[k]), "rank %d, NaN in W: row %lld", rank, (long long)r);
            else
                test_assert_bits_equal(&bad_w[k], &clean[k], 1, 4, "NaN in W: another output");
        }
    }
    free(clean), free(bad_x), free(bad_w), free(c.W), free(c.bias), free(c.X);
    optk_context_free(ctx);
}

BACKEND_TEST(es, a_nan_input_spoils_only_its_outputs) {
    check_forward_nan(backend, 2);
    check_forward_nan(backend, 0);
}

static void check_gradient(optk_backend backend, int rank) {
    optk_context *ctx = test_context(backend);
    const optk_es_key key = {21, 9, 4};
    layer_case c = make_case(rank);
    float fit[6] = {0.3f, -0.1f, 0.25f, 0.5f, -0.4f, 0.05f};
    float *dW = to_device(ctx, c.W, (size_t)(c.m * c.n)), *db = to_device(ctx, c.bias, (size_t)c.m);
    float *df = to_device(ctx, fit, 6);
    test_buffer G = test_buffer_new(ctx, (size_t)(c.m * c.n), 4, NULL),
                gb = test_buffer_new(ctx, (size_t)c.m, 4, NULL);
    const optk_es_layer layer = {c.m, c.n, c.rank, c.sigma, dW, db};
    cr_assert_eq(optk_es_gradient(ctx, &key, &layer, c.members, df, 1.0, false, G.data, gb.data),
                 OPTK_OK, "%s", optk_context_last_error(ctx));
    float *g = malloc(G.bytes), *gbias = malloc(gb.bytes);
    test_buffer_read(&G, g);
    test_buffer_read(&gb, gbias);
    test_buffer_check_guards(&G, "G");
    test_buffer_check_guards(&gb, "bias gradient");
    double *E = explicit_noise(ctx, &key, &c), *e = bias_noise(ctx, &key, &c);
    double worst = 0.0;
    for (int64_t k = 0; k < c.m * c.n; ++k) {
        double want = 0.0;
        for (int64_t i = 0; i < c.members; ++i)
            want += fit[i] * (i % 2 ? -1.0 : 1.0) * E[(i / 2) * c.m * c.n + k];
        want /= c.members * c.sigma;
        worst = fmax(worst, fabs(g[k] - want) / (1.0 + fabs(want)));
    }
    for (int64_t o = 0; o < c.m; ++o) {
        double want = 0.0;
        for (int64_t i = 0; i < c.members; ++i)
            want += fit[i] * (i % 2 ? -1.0 : 1.0) * e[(i / 2) * c.m + o];
        want /= c.members * c.sigma;
        worst = fmax(worst, fabs(gbias[o] - want) / (1.0 + fabs(want)));
    }
    cr_log_info("rank %d gradient on %s: within %.3g of the explicit sum", rank,
                optk_backend_name(backend), worst);
    cr_assert(worst < 1e-5, "rank %d: %g from the explicit sum", rank, worst);
    /* W += lr G in place equals W + lr G. */
    cr_assert_eq(optk_es_gradient(ctx, &key, &layer, c.members, df, 0.5, true, dW, NULL), OPTK_OK);
    float *w = to_host(ctx, dW, (size_t)(c.m * c.n));
    for (int64_t k = 0; k < c.m * c.n; ++k)
        cr_assert(fabsf(w[k] - (c.W[k] + 0.5f * g[k])) <= 1e-6f, "W[%lld]", (long long)k);
    free(w), free(g), free(gbias), free(E), free(e), free(c.W), free(c.bias), free(c.X);
    optk_mem_free(ctx, dW), optk_mem_free(ctx, db), optk_mem_free(ctx, df);
    test_buffer_free(&G), test_buffer_free(&gb);
    optk_context_free(ctx);
}

BACKEND_TEST(es, lowrank_gradient_equals_the_explicit_sum) {
    check_gradient(backend, 2);
}

BACKEND_TEST(es, fullrank_gradient_equals_the_explicit_sum) {
    check_gradient(backend, 0);
}

BACKEND_TEST(es, fitness_shaping) {
    optk_context *ctx = test_context(backend);
    const float R[6] = {3.0f, -1.0f, 3.0f, 7.0f, 0.0f, 3.0f};
    float *dR = to_device(ctx, R, 6), *df = to_device(ctx, NULL, 6);
    cr_assert_eq(optk_es_shape(ctx, OPTK_ES_CENTERED_RANKS, dR, 6, df), OPTK_OK);
    float *f = to_host(ctx, df, 6);
    /* ranks: -1 -> 0, 0 -> 1, the three 3s by index -> 2, 3, 4, 7 -> 5; f = rank / 5 - 0.5 */
    const float want[6] = {-0.1f, -0.5f, 0.1f, 0.5f, -0.3f, 0.3f};
    for (int i = 0; i < 6; ++i)
        cr_assert(fabsf(f[i] - want[i]) < 1e-7f, "rank of %d: %g", i, (double)f[i]);
    free(f);
    cr_assert_eq(optk_es_shape(ctx, OPTK_ES_ZSCORE, dR, 6, df), OPTK_OK);
    f = to_host(ctx, df, 6);
    double mean = 0.0, var = 0.0;
    for (int i = 0; i < 6; ++i)
        mean += R[i] / 6.0;
    for (int i = 0; i < 6; ++i)
        var += (R[i] - mean) * (R[i] - mean) / 6.0;
    for (int i = 0; i < 6; ++i)
        cr_assert(fabs(f[i] - (R[i] - mean) / sqrt(var + 1e-5)) < 1e-6, "z %d", i);
    free(f);
    const float bad[6] = {1, 2, NAN, 4, 5, 6};
    float poison[6] = {-7, -7, -7, -7, -7, -7};
    cr_assert_eq(optk_mem_upload(ctx, dR, bad, sizeof bad), OPTK_OK);
    cr_assert_eq(optk_mem_upload(ctx, df, poison, sizeof poison), OPTK_OK);
    cr_assert_eq(optk_es_shape(ctx, OPTK_ES_RAW, dR, 6, df), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "R[2] is NaN"));
    /* Infinite fitness: ranked by centred ranks, refused where a mean or the value is used. */
    const float infinite[6] = {1, -INFINITY, 3, INFINITY, 5, 6};
    cr_assert_eq(optk_mem_upload(ctx, dR, infinite, sizeof infinite), OPTK_OK);
    for (int kind = OPTK_ES_ZSCORE; kind <= OPTK_ES_RAW; ++kind) {
        cr_assert_eq(optk_es_shape(ctx, (optk_es_shaping)kind, dR, 6, df),
                     OPTK_ERR_INVALID_ARGUMENT);
        cr_assert(strstr(optk_context_last_error(ctx), "R[1] is infinite"), "%s",
                  optk_context_last_error(ctx));
    }
    cr_assert_eq(optk_es_shape(ctx, (optk_es_shaping)5, dR, 6, df), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_es_shape(ctx, OPTK_ES_RAW, dR, 1, df), OPTK_ERR_INVALID_ARGUMENT);
    f = to_host(ctx, df, 6);
    test_assert_bits_equal(f, poison, 6, 4, "f after refused calls");
    free(f);
    cr_assert_eq(optk_es_shape(ctx, OPTK_ES_CENTERED_RANKS, dR, 6, df), OPTK_OK);
    f = to_host(ctx, df, 6);
    const float ranks[6] = {-0.3f, -0.5f, -0.1f, 0.5f, 0.1f, 0.3f};
    for (int i = 0; i < 6; ++i)
        cr_assert(fabsf(f[i] - ranks[i]) < 1e-7f, "rank of %g: %g", (double)infinite[i],
                  (double)f[i]);
    free(f);
    optk_mem_free(ctx, dR), optk_mem_free(ctx, df);
    optk_context_free(ctx);
}

/* Workers that exchange only fitness rebuild each other's update: two contexts, the same
 * seeds and fitness, the same bits. */
BACKEND_TEST(es, two_contexts_give_bit_identical_updates) {
    optk_context *one = test_context(backend), *two = test_context(backend);
    const optk_es_key key = {1234, 77, 2};
    enum { M = 64, N = 48, MEMBERS = 200 };
    static float W[M * N], fit[MEMBERS];
    test_fill_uniform(W, M * N, -1.0f, 1.0f, 8);
    test_fill_uniform(fit, MEMBERS, -1.0f, 1.0f, 9);
    float *results[2];
    optk_context *ctxs[2] = {one, two};
    for (int k = 0; k < 2; ++k) {
        float *dW = to_device(ctxs[k], W, M * N), *df = to_device(ctxs[k], fit, MEMBERS);
        const optk_es_layer layer = {M, N, 4, 0.02, dW, NULL};
        cr_assert_eq(optk_es_gradient(ctxs[k], &key, &layer, MEMBERS, df, 0.1, true, dW, NULL),
                     OPTK_OK);
        results[k] = to_host(ctxs[k], dW, M * N);
        optk_mem_free(ctxs[k], dW), optk_mem_free(ctxs[k], df);
    }
    test_assert_bits_equal(results[0], results[1], M * N, 4, "W after the update");
    free(results[0]), free(results[1]);
    optk_context_free(one), optk_context_free(two);
}

/* f_i = <C, W + sigma E_i>: E[G] = C for every rank and for full-rank noise. With many
 * members the low-rank estimate's error approaches full-rank ES's as the rank grows. */
BACKEND_TEST(es, lowrank_statistics_approach_fullrank_as_rank_grows) {
    optk_context *ctx = test_context(backend);
    enum { M = 8, N = 8, MEMBERS = 4000 };
    static float C[M * N], zeros[M * N], fit[MEMBERS];
    test_fill_uniform(C, M * N, -1.0f, 1.0f, 12);
    const double sigma = 0.1;
    const int ranks[3] = {1, 8, 0};
    double errors[3];
    for (int q = 0; q < 3; ++q) {
        const optk_es_key key = {99, (uint64_t)q, 0};
        layer_case c = {M, N, MEMBERS, 1, ranks[q], sigma, zeros, NULL, NULL};
        double *E = explicit_noise(ctx, &key, &c);
        for (int64_t i = 0; i < MEMBERS; ++i) { /* <C, sigma s_i E_p> (W = 0) */
            double dot = 0.0;
            for (int k = 0; k < M * N; ++k)
                dot += C[k] * E[(i / 2) * M * N + k];
            fit[i] = (float)((i % 2 ? -sigma : sigma) * dot);
        }
        float *dW = to_device(ctx, zeros, M * N), *df = to_device(ctx, fit, MEMBERS);
        float *dG = to_device(ctx, NULL, M * N);
        const optk_es_layer layer = {M, N, ranks[q], sigma, dW, NULL};
        cr_assert_eq(optk_es_gradient(ctx, &key, &layer, MEMBERS, df, 1.0, false, dG, NULL),
                     OPTK_OK);
        float *G = to_host(ctx, dG, M * N);
        double err = 0.0, norm = 0.0;
        for (int k = 0; k < M * N; ++k)
            err += (G[k] - C[k]) * (G[k] - C[k]), norm += C[k] * C[k];
        errors[q] = sqrt(err / norm);
        cr_log_info("rank %d: relative error of the gradient estimate %.3f", ranks[q], errors[q]);
        free(G), free(E);
        optk_mem_free(ctx, dW), optk_mem_free(ctx, df), optk_mem_free(ctx, dG);
    }
    /* Full rank: about sqrt(M N / (N_pairs)) ~ 0.18; rank 1 is worse, rank 8 close to full. */
    cr_assert(errors[2] < 0.3, "full rank %g", errors[2]);
    cr_assert(errors[1] < 1.5 * errors[2], "rank 8 %g vs full rank %g", errors[1], errors[2]);
    cr_assert(errors[0] > errors[1], "rank 1 %g should be noisier than rank 8 %g", errors[0],
              errors[1]);
    optk_context_free(ctx);
}

BACKEND_TEST(es, bad_arguments_are_refused_and_nothing_is_written) {
    optk_context *ctx = test_context(backend);
    enum { M = 4, N = 3, MEMBERS = 4, BATCH = 2 };
    float W[M * N], X[MEMBERS * BATCH * N], fit[MEMBERS] = {1, 2, 3, 4}, poison[64];
    test_fill_uniform(W, M * N, -1.0f, 1.0f, 1);
    test_fill_uniform(X, MEMBERS * BATCH * N, -1.0f, 1.0f, 2);
    for (int k = 0; k < 64; ++k)
        poison[k] = -7.0f;
    float *dW = to_device(ctx, W, M * N), *dX = to_device(ctx, X, MEMBERS * BATCH * N);
    float *df = to_device(ctx, fit, MEMBERS), *dY = to_device(ctx, poison, 64);
    const optk_es_key key = {1, 2, 3}, bad_key = {1, 1u << 24, 3}, bias_key = {1, 2, 40000};
    const optk_es_layer good = {M, N, 1, 0.1, dW, NULL};
    optk_es_layer l = good;
    cr_assert_eq(optk_es_forward(ctx, &bad_key, &good, MEMBERS, BATCH, dX, dY),
                 OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "generation must be < 2^24"));
    cr_assert_eq(optk_es_forward(ctx, &bias_key, &good, MEMBERS, BATCH, dX, dY),
                 OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_es_forward(ctx, &key, &good, 3, BATCH, dX, dY), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "members must be even"));
    cr_assert_eq(optk_es_forward(ctx, &key, &good, MEMBERS, 0, dX, dY), OPTK_ERR_INVALID_ARGUMENT);
    l.sigma = 0.0;
    cr_assert_eq(optk_es_forward(ctx, &key, &l, MEMBERS, BATCH, dX, dY), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "sigma"));
    l = good, l.rank = 5; /* > min(m, n) */
    cr_assert_eq(optk_es_forward(ctx, &key, &l, MEMBERS, BATCH, dX, dY), OPTK_ERR_INVALID_ARGUMENT);
    l = good, l.W = NULL;
    cr_assert_eq(optk_es_forward(ctx, &key, &l, MEMBERS, BATCH, dX, dY), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_es_forward(ctx, &key, &good, MEMBERS, BATCH, dX, dX + 1),
                 OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "Y overlaps"));
    cr_assert_eq(optk_es_gradient(ctx, &key, &good, MEMBERS, df, NAN, false, dY, NULL),
                 OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_es_gradient(ctx, &key, &good, MEMBERS, df, 1.0, false, dY, dY + 20),
                 OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "bias_out needs"));
    cr_assert_eq(optk_es_gradient(ctx, &key, &good, MEMBERS, df, 1.0, false, df, NULL),
                 OPTK_ERR_INVALID_ARGUMENT);
    /* Fitness that makes a pair's weight NaN or infinite would spoil every entry of G. */
    const float spoiled[2][MEMBERS] = {{1, 2, NAN, 4}, {1, 2, 3, INFINITY}};
    for (int k = 0; k < 2; ++k) {
        cr_assert_eq(optk_mem_upload(ctx, df, spoiled[k], sizeof spoiled[k]), OPTK_OK);
        cr_assert_eq(optk_es_gradient(ctx, &key, &good, MEMBERS, df, 1.0, true, dY, NULL),
                     OPTK_ERR_INVALID_ARGUMENT);
        cr_assert(strstr(optk_context_last_error(ctx), "pair 1's weight is not finite"), "%s",
                  optk_context_last_error(ctx));
    }
    const float huge[MEMBERS] = {1, 2, 3e38f, -3e38f}; /* finite, but the weight overflows */
    cr_assert_eq(optk_mem_upload(ctx, df, huge, sizeof huge), OPTK_OK);
    cr_assert_eq(optk_es_gradient(ctx, &key, &good, MEMBERS, df, 1.0, true, dY, NULL),
                 OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_es_factors(ctx, &key, M, N, 0, 0, 1, dY, NULL), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_es_factors(ctx, &key, M, N, 1, (1 << 24) - 1, 2, dY, NULL),
                 OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_es_noise(ctx, &key, 0, 0, 1, dY), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_es_forward(NULL, &key, &good, MEMBERS, BATCH, dX, dY),
                 OPTK_ERR_INVALID_ARGUMENT);
    float *y = to_host(ctx, dY, 64);
    test_assert_bits_equal(y, poison, 64, 4, "outputs after refused calls");
    free(y);
    optk_mem_free(ctx, dW), optk_mem_free(ctx, dX), optk_mem_free(ctx, df), optk_mem_free(ctx, dY);
    optk_context_free(ctx);
}

/* The estimate handed to an optimizer rule: scale -1 makes it a loss gradient, and Adam's
 * first step then moves every weight by lr along the sign of G (ascent on fitness). */
BACKEND_TEST(es, the_estimate_feeds_an_optimizer_rule) {
    optk_context *ctx = test_context(backend);
    enum { M = 16, N = 12, MEMBERS = 64 };
    static float W[M * N], fit[MEMBERS], zeros[M * N];
    test_fill_uniform(W, M * N, -1.0f, 1.0f, 31);
    test_fill_uniform(fit, MEMBERS, -1.0f, 1.0f, 32);
    float *dW = to_device(ctx, W, M * N), *df = to_device(ctx, fit, MEMBERS);
    float *dG = to_device(ctx, NULL, M * N), *dgrad = to_device(ctx, NULL, M * N);
    float *dm = to_device(ctx, zeros, M * N), *dv = to_device(ctx, zeros, M * N);
    const optk_es_key key = {5, 6, 7};
    const optk_es_layer layer = {M, N, 2, 0.1, dW, NULL};
    cr_assert_eq(optk_es_gradient(ctx, &key, &layer, MEMBERS, df, 1.0, false, dG, NULL), OPTK_OK);
    cr_assert_eq(optk_es_gradient(ctx, &key, &layer, MEMBERS, df, -1.0, false, dgrad, NULL),
                 OPTK_OK);
    optk_optim_options o = optk_optim_default_options(OPTK_RULE_ADAM);
    o.lr = 0.01;
    o.eps = 1e-12;
    optk_optimizer *opt = NULL;
    cr_assert_eq(optk_optimizer_create(ctx, &o, &opt), OPTK_OK);
    const optk_param_tensor t = {M * N, dW, dgrad, {dm, dv}, NULL};
    cr_assert_eq(optk_optimizer_step(opt, &t, 1), OPTK_OK, "%s", optk_context_last_error(ctx));
    float *G = to_host(ctx, dG, M * N), *after = to_host(ctx, dW, M * N);
    for (int k = 0; k < M * N; ++k) {
        const float moved = after[k] - W[k];
        cr_assert(fabsf(moved - (G[k] > 0 ? 0.01f : -0.01f)) < 1e-6f, "weight %d moved %g, G %g", k,
                  (double)moved, (double)G[k]);
    }
    free(G), free(after);
    optk_optimizer_free(opt);
    float *bufs[] = {dW, df, dG, dgrad, dm, dv};
    for (int k = 0; k < 6; ++k)
        optk_mem_free(ctx, bufs[k]);
    optk_context_free(ctx);
}

/* The CPU splits its GEMM's row blocks over threads: 1, 2 and 3 threads give the same bits
 * (each output whole on one thread), for the low-rank and the full-rank forward. */
Test(es, cpu_thread_count_changes_no_bit) {
    optk_context *ctx = test_context(OPTK_BACKEND_CPU);
    enum { M = 96, NIN = 130, MEMBERS = 16, BATCH = 64 }; /* 1024 x 96 x 130: threaded */
    float *w = malloc(M * NIN * 4), *x = malloc(MEMBERS * BATCH * NIN * 4), *bias = malloc(M * 4);
    test_fill_uniform(w, M * NIN, -1.0f, 1.0f, 1);
    test_fill_uniform(x, MEMBERS * BATCH * NIN, -1.0f, 1.0f, 2);
    test_fill_uniform(bias, M, -1.0f, 1.0f, 3);
    static const char *threads[3] = {"1", "2", "3"};
    static const int ranks[3] = {0, 2, 5}; /* rank 5: the low-rank correction threaded too */
    for (int q = 0; q < 3; ++q) {
        const int rank = ranks[q];
        float *y[3];
        for (int k = 0; k < 3; ++k) {
            setenv("OPTKERN_CPU_THREADS", threads[k], 1);
            const optk_es_key key = {7, 3, 1};
            const optk_es_layer layer = {M, NIN, rank, 0.05, w, bias};
            y[k] = malloc(MEMBERS * BATCH * M * 4);
            cr_assert_eq(optk_es_forward(ctx, &key, &layer, MEMBERS, BATCH, x, y[k]), OPTK_OK, "%s",
                         optk_context_last_error(ctx));
        }
        unsetenv("OPTKERN_CPU_THREADS");
        for (int k = 1; k < 3; ++k)
            test_assert_bits_equal(y[k], y[0], MEMBERS * BATCH * M, 4, "forward");
        for (int k = 0; k < 3; ++k)
            free(y[k]);
    }
    /* The noise fill splits rows over the cores from 2^16 entries: 3 pairs of 70001. */
    enum { SIZE = 70001 };
    float *noise[3];
    for (int k = 0; k < 3; ++k) {
        setenv("OPTKERN_CPU_THREADS", threads[k], 1);
        const optk_es_key key = {8, 2, 0};
        noise[k] = malloc(3 * SIZE * 4);
        cr_assert_eq(optk_es_noise(ctx, &key, SIZE, 5, 3, noise[k]), OPTK_OK);
    }
    unsetenv("OPTKERN_CPU_THREADS");
    for (int k = 1; k < 3; ++k)
        test_assert_bits_equal(noise[k], noise[0], 3 * SIZE, 4, "noise");
    const uint64_t sub = optk_es_subsequence(2, 0, 7); /* the last pair's last entry */
    cr_assert_eq(noise[0][3 * SIZE - 1],
                 optk_normal_from_word(optk_philox_u32(8, sub, (uint64_t)(SIZE - 1))));
    for (int k = 0; k < 3; ++k)
        free(noise[k]);
    free(w), free(x), free(bias);
    optk_context_free(ctx);
}

/* The CPU's GEMM sums every element in k order with fmaf, whatever the blocking (register
 * tiles of 6 or 4 rows x 64 columns, the rest by rows): the full-rank forward equals that
 * arithmetic spelled out here — Y = X W^T, then Y_i += (sigma s_i X_i) E_p^T — bit for bit,
 * at sizes with full tiles and tails in both directions: 44 rows of the base product (seven
 * tiles of 6, two rows left), 11 of each member's (a tile of 6, one of 4, a row left), 70
 * columns (a tile's 64, six left). */
Test(es, cpu_fullrank_forward_is_the_k_order_fma_sums) {
    optk_context *ctx = test_context(OPTK_BACKEND_CPU);
    enum { M = 70, NIN = 37, MEMBERS = 4, BATCH = 11, ROWS = MEMBERS * BATCH };
    const double sigma = 0.3;
    float w[M * NIN], x[ROWS * NIN], y[ROWS * M], want[ROWS * M], e[2 * M * NIN];
    test_fill_uniform(w, M * NIN, -1.0f, 1.0f, 4);
    test_fill_uniform(x, ROWS * NIN, -1.0f, 1.0f, 5);
    const optk_es_key key = {9, 1, 2};
    cr_assert_eq(optk_es_noise(ctx, &key, M * NIN, 0, 2, e), OPTK_OK);
    const optk_es_layer layer = {M, NIN, 0, sigma, w, NULL};
    cr_assert_eq(optk_es_forward(ctx, &key, &layer, MEMBERS, BATCH, x, y), OPTK_OK, "%s",
                 optk_context_last_error(ctx));
    for (int r = 0; r < ROWS; ++r) {
        const int member = r / BATCH;
        const float alpha = (float)(sigma * optk_es_sign(member));
        const float *ep = e + (member / 2) * M * NIN;
        for (int o = 0; o < M; ++o) {
            float c = 0.0f;
            for (int k = 0; k < NIN; ++k)
                c = fmaf(1.0f * x[r * NIN + k], w[o * NIN + k], c);
            for (int k = 0; k < NIN; ++k)
                c = fmaf(alpha * x[r * NIN + k], ep[o * NIN + k], c);
            want[r * M + o] = c;
        }
    }
    test_assert_bits_equal(y, want, ROWS * M, 4, "full-rank forward");
    optk_context_free(ctx);
}

/* The CPU's GEMM against the plain triple loop — C = beta C (0 where beta is 0), then for k in
 * order C = fmaf(alpha A[i][k], B(k, j), C) — bit for bit. */
static void check_gemm(optk_context *ctx, int64_t M, int64_t N, int64_t K, bool trans_b,
                       float beta) {
    const float alpha = 0.7f;
    float *a = malloc((size_t)(M * K) * 4), *b = malloc((size_t)(K * N) * 4);
    float *c = malloc((size_t)(M * N) * 4), *want = malloc((size_t)(M * N) * 4);
    test_fill_uniform(a, (size_t)(M * K), -1.0f, 1.0f, 21);
    test_fill_uniform(b, (size_t)(K * N), -1.0f, 1.0f, 22);
    test_fill_uniform(c, (size_t)(M * N), -1.0f, 1.0f, 23);
    for (int64_t i = 0; i < M; ++i) {
        for (int64_t j = 0; j < N; ++j) {
            float acc = beta == 0.0f ? 0.0f : beta * c[i * N + j];
            for (int64_t k = 0; k < K; ++k)
                acc = fmaf(alpha * a[i * K + k], trans_b ? b[j * K + k] : b[k * N + j], acc);
            want[i * N + j] = acc;
        }
    }
    cr_assert_eq(optk_cpu_gemm(ctx, trans_b, M, N, K, alpha, a, K, b, trans_b ? K : N, beta, c, N),
                 OPTK_OK);
    char what[80];
    snprintf(what, sizeof what, "%lld x %lld x %lld, trans_b %d, beta %g", (long long)M,
             (long long)N, (long long)K, trans_b, (double)beta);
    test_assert_bits_equal(c, want, (size_t)(M * N), 4, what);
    free(a), free(b), free(c), free(want);
}

/* At shapes that reach each of the GEMM's paths: 6-row tiles, a 4-row tile (blocks of 4 and 5
 * rows), rows and columns no tile takes, with B given transposed the short-A path (up to 32
 * rows: one or two blocks of 16) as well as the tiles, and at K = 4096 row blocks in groups
 * of five (the 40 rows: a group of five blocks, a group of one, a block of 4). */
Test(es, cpu_gemm_is_the_k_order_fma_sums) {
    optk_context *ctx = test_context(OPTK_BACKEND_CPU);
    static const int64_t rows[] = {1, 4, 5, 6, 11, 16, 17, 33, 40};
    static const int64_t cols[] = {3, 64, 70, 131};
    for (size_t mi = 0; mi < sizeof rows / sizeof *rows; ++mi)
        for (size_t ni = 0; ni < sizeof cols / sizeof *cols; ++ni)
            for (int variant = 0; variant < 4; ++variant)
                check_gemm(ctx, rows[mi], cols[ni], 37, variant & 1, variant & 2 ? 0.5f : 0.0f);
    check_gemm(ctx, 40, 70, 4096, false, 0.5f);
    check_gemm(ctx, 40, 70, 4096, true, 0.0f);
    optk_context_free(ctx);
}
