/* test_hessian_diag.c — Hutchinson's diagonal estimate on every backend: unbiased, with the
 * per-coordinate variance ALGORITHMS.md predicts (Rademacher: sum_{j != i} H_ij^2; Gaussian:
 * 2 H_ii^2 + sum_{j != i} H_ij^2); exact for a diagonal H; the callback source equal to the
 * dense one; callback failures reported with nothing written; chunking invisible; CUDA within
 * 1e-5 of the CPU; the CPU's dense H Z the double sum in index order, bit for bit. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "harness.h"
#include "cpu/cpu_backend.h"

#include <math.h>
#include <stdlib.h>

enum { N = 48 };

/* A random symmetric H with a dominant diagonal (so 2 H_ii^2 matters for Gaussian probes). */
static void make_h(float *h, uint64_t seed, bool diagonal_only) {
    test_fill_uniform(h, N * N, -1.0f, 1.0f, seed);
    for (int r = 0; r < N; ++r) {
        for (int c = 0; c < r; ++c)
            h[r * N + c] = diagonal_only ? 0.0f : h[c * N + r];
        for (int c = r + 1; c < N && diagonal_only; ++c)
            h[r * N + c] = 0.0f;
        h[r * N + r] = 2.0f + (float)r / N;
    }
}

typedef struct estimate {
    float diag[N], variance[N];
} estimate;

static optk_status run(optk_context *ctx, const float *h_host, const optk_hvp_source *src_in,
                       const optk_diag_options *o, estimate *out) {
    test_buffer h = test_buffer_new(ctx, N * N, 4, h_host);
    float poison[N];
    for (int i = 0; i < N; ++i)
        poison[i] = NAN;
    test_buffer d = test_buffer_new(ctx, N, 4, poison), v = test_buffer_new(ctx, N, 4, poison);
    optk_hvp_source src = src_in ? *src_in : (optk_hvp_source){.dense = h.data};
    optk_status s = optk_hessian_diag(ctx, &src, N, o, d.data, v.data);
    test_buffer_read(&d, out->diag);
    test_buffer_read(&v, out->variance);
    test_buffer_check_guards(&d, "diag");
    test_buffer_check_guards(&v, "variance");
    test_buffer_free(&h);
    test_buffer_free(&d);
    test_buffer_free(&v);
    return s;
}

static void check_statistics(optk_backend backend, optk_probe_kind kind) {
    optk_context *ctx = test_context(backend);
    static float h[N * N];
    make_h(h, 3, false);
    const optk_diag_options o = {
        .kind = kind, .seed = 11, .step = 5, .probes = 20000, .chunk = 512};
    estimate e;
    cr_assert_eq(run(ctx, h, NULL, &o, &e), OPTK_OK, "%s", optk_context_last_error(ctx));
    for (int i = 0; i < N; ++i) {
        double off = 0.0;
        for (int j = 0; j < N; ++j)
            off += j == i ? 0.0 : (double)h[i * N + j] * h[i * N + j];
        const double hii = h[i * N + i];
        const double predicted = kind == OPTK_PROBE_RADEMACHER ? off : 2.0 * hii * hii + off;
        /* The mean of k estimates is within six standard errors of H_ii. */
        cr_assert(fabs(e.diag[i] - hii) <= 6.0 * sqrt(predicted / o.probes),
                  "coordinate %d: estimate %g, H_ii %g (sd %g)", i, (double)e.diag[i], hii,
                  sqrt(predicted / o.probes));
        /* The sample variance is within 10% of the formula (its own sd is ~1-3% here). */
        cr_assert(fabs(e.variance[i] - predicted) <= 0.1 * predicted,
                  "coordinate %d: variance %g, predicted %g", i, (double)e.variance[i], predicted);
    }
    optk_context_free(ctx);
}

BACKEND_TEST(hessian_diag, rademacher_is_unbiased_with_the_predicted_variance) {
    check_statistics(backend, OPTK_PROBE_RADEMACHER);
}

BACKEND_TEST(hessian_diag, gaussian_is_unbiased_with_the_predicted_variance) {
    check_statistics(backend, OPTK_PROBE_GAUSSIAN);
}

BACKEND_TEST(hessian_diag, a_diagonal_hessian_is_recovered_exactly) {
    optk_context *ctx = test_context(backend);
    static float h[N * N];
    make_h(h, 4, true);
    const optk_diag_options o = {.kind = OPTK_PROBE_RADEMACHER, .seed = 1, .probes = 7};
    estimate e;
    cr_assert_eq(run(ctx, h, NULL, &o, &e), OPTK_OK);
    for (int i = 0; i < N; ++i) {
        cr_assert_eq(e.diag[i], h[i * N + i], "coordinate %d: %a", i, (double)e.diag[i]);
        cr_assert_eq(e.variance[i], 0.0f, "coordinate %d: variance %g", i, (double)e.variance[i]);
    }
    optk_context_free(ctx);
}

/* A matrix-free source: H z on the host, through the context's memory helpers. */
typedef struct host_hvp {
    optk_context *ctx;
    const float *h;
    int fail_after; /* calls before it reports failure; < 0: never */
    int calls;
    bool spoil; /* coordinate SPOILED_NAN NaN in every H z, SPOILED_INF +Inf in one */
} host_hvp;

enum { SPOILED_NAN = 7, SPOILED_INF = 30 };

static int host_hvp_fn(void *user, const float *z, float *hz, int64_t n, int k) {
    host_hvp *u = user;
    if (u->fail_after >= 0 && u->calls++ >= u->fail_after) return 7;
    float *zh = malloc((size_t)(n * k) * 4), *hh = malloc((size_t)(n * k) * 4);
    if (optk_mem_download(u->ctx, zh, z, (size_t)(n * k) * 4) != OPTK_OK) {
        free(zh);
        free(hh);
        return 1;
    }
    for (int j = 0; j < k; ++j) {
        for (int64_t r = 0; r < n; ++r) {
            double acc = 0.0;
            for (int64_t c = 0; c < n; ++c)
                acc += (double)u->h[r * n + c] * zh[j * n + c];
            hh[j * n + r] = (float)acc;
        }
    }
    if (u->spoil) {
        for (int j = 0; j < k; ++j)
            hh[j * n + SPOILED_NAN] = NAN;
        if (u->calls++ == 1) hh[SPOILED_INF] = INFINITY; /* the second call's first probe */
    }
    int rc = optk_mem_upload(u->ctx, hz, hh, (size_t)(n * k) * 4) == OPTK_OK ? 0 : 1;
    free(zh);
    free(hh);
    return rc;
}

BACKEND_TEST(hessian_diag, callback_source_equals_dense_and_failures_write_nothing) {
    optk_context *ctx = test_context(backend);
    static float h[N * N];
    make_h(h, 5, false);
    const optk_diag_options o = {.kind = OPTK_PROBE_GAUSSIAN, .seed = 2, .probes = 64, .chunk = 10};
    estimate dense, via_callback, failed;
    cr_assert_eq(run(ctx, h, NULL, &o, &dense), OPTK_OK);
    host_hvp u = {.ctx = ctx, .h = h, .fail_after = -1};
    const optk_hvp_source src = {.callback = host_hvp_fn, .user = &u};
    cr_assert_eq(run(ctx, h, &src, &o, &via_callback), OPTK_OK, "%s", optk_context_last_error(ctx));
    cr_assert_eq(u.calls, 0);
    for (int i = 0; i < N; ++i) {
        cr_assert(fabsf(via_callback.diag[i] - dense.diag[i]) <= 1e-5f * fabsf(dense.diag[i]),
                  "coordinate %d: callback %g, dense %g", i, (double)via_callback.diag[i],
                  (double)dense.diag[i]);
    }
    host_hvp bad = {.ctx = ctx, .h = h, .fail_after = 3};
    const optk_hvp_source failing = {.callback = host_hvp_fn, .user = &bad};
    cr_assert_eq(run(ctx, h, &failing, &o, &failed), OPTK_ERR_CALLBACK);
    cr_assert(strstr(optk_context_last_error(ctx),
                     "the HVP callback returned 7 for probes 30..39") != NULL,
              "%s", optk_context_last_error(ctx));
    for (int i = 0; i < N; ++i) {
        cr_assert(isnan(failed.diag[i]) && isnan(failed.variance[i]), "output %d was written", i);
    }
    optk_context_free(ctx);
}

/* A NaN or Inf in H z stays in its coordinate: a NaN gives that coordinate's estimate and
 * variance NaN, an Inf in one probe an infinite estimate and a NaN variance (Inf - Inf), and
 * every other coordinate gets the bits it gets from a clean H z. */
BACKEND_TEST(hessian_diag, a_non_finite_hz_spoils_only_its_coordinate) {
    optk_context *ctx = test_context(backend);
    static float h[N * N];
    make_h(h, 8, false);
    const optk_probe_kind kinds[2] = {OPTK_PROBE_RADEMACHER, OPTK_PROBE_GAUSSIAN};
    for (int q = 0; q < 2; ++q) {
        const optk_diag_options o = {.kind = kinds[q], .seed = 4, .probes = 24, .chunk = 8};
        host_hvp clean = {.ctx = ctx, .h = h, .fail_after = -1};
        host_hvp spoiled = {.ctx = ctx, .h = h, .fail_after = -1, .spoil = true};
        const optk_hvp_source a = {.callback = host_hvp_fn, .user = &clean};
        const optk_hvp_source b = {.callback = host_hvp_fn, .user = &spoiled};
        estimate want, got;
        cr_assert_eq(run(ctx, h, &a, &o, &want), OPTK_OK, "%s", optk_context_last_error(ctx));
        cr_assert_eq(run(ctx, h, &b, &o, &got), OPTK_OK, "%s", optk_context_last_error(ctx));
        cr_assert_eq(spoiled.calls, 3, "three chunks of 8 probes");
        cr_assert(isnan(got.diag[SPOILED_NAN]) && isnan(got.variance[SPOILED_NAN]),
                  "the NaN coordinate: %g, %g", (double)got.diag[SPOILED_NAN],
                  (double)got.variance[SPOILED_NAN]);
        cr_assert(isinf(got.diag[SPOILED_INF]) && isnan(got.variance[SPOILED_INF]),
                  "the Inf coordinate: %g, %g", (double)got.diag[SPOILED_INF],
                  (double)got.variance[SPOILED_INF]);
        for (int i = 0; i < N; ++i) {
            if (i == SPOILED_NAN || i == SPOILED_INF) continue;
            test_assert_bits_equal(&got.diag[i], &want.diag[i], 1, 4, "a clean coordinate");
            test_assert_bits_equal(&got.variance[i], &want.variance[i], 1, 4,
                                   "a clean coordinate's variance");
        }
    }
    optk_context_free(ctx);
}

BACKEND_TEST(hessian_diag, chunking_does_not_change_the_estimate) {
    optk_context *ctx = test_context(backend);
    static float h[N * N];
    make_h(h, 6, false);
    optk_diag_options o = {.kind = OPTK_PROBE_RADEMACHER, .seed = 3, .probes = 50, .chunk = 1};
    estimate one, all, bekas;
    cr_assert_eq(run(ctx, h, NULL, &o, &one), OPTK_OK);
    o.chunk = 0;
    cr_assert_eq(run(ctx, h, NULL, &o, &all), OPTK_OK);
    o.bekas = true; /* with Rademacher probes, sum z^2 = k: the same estimate */
    cr_assert_eq(run(ctx, h, NULL, &o, &bekas), OPTK_OK);
    for (int i = 0; i < N; ++i) {
        /* The CPU's H z is the same per column; cuBLAS may pick another algorithm per chunk. */
        const float tol = backend == OPTK_BACKEND_CPU ? 0.0f : 1e-5f * fabsf(all.diag[i]);
        cr_assert(fabsf(one.diag[i] - all.diag[i]) <= tol, "coordinate %d: %a vs %a", i,
                  (double)one.diag[i], (double)all.diag[i]);
        cr_assert_eq(bekas.diag[i], all.diag[i], "coordinate %d: Bekas %a", i,
                     (double)bekas.diag[i]);
    }
    if (backend != OPTK_BACKEND_CPU) {
        optk_context *cpu = test_context(OPTK_BACKEND_CPU);
        estimate c;
        cr_assert_eq(run(cpu, h, NULL, &o, &c), OPTK_OK);
        for (int i = 0; i < N; ++i) {
            cr_assert(fabsf(c.diag[i] - all.diag[i]) <= 1e-5f * fabsf(c.diag[i]),
                      "coordinate %d: cuda %g cpu %g", i, (double)all.diag[i], (double)c.diag[i]);
        }
        optk_context_free(cpu);
    }
    optk_context_free(ctx);
}

BACKEND_TEST(hessian_diag, bad_arguments_are_refused_and_nothing_is_written) {
    optk_context *ctx = test_context(backend);
    static float h[N * N];
    make_h(h, 7, false);
    test_buffer hb = test_buffer_new(ctx, N * N, 4, h);
    float init[2 * N];
    for (int i = 0; i < 2 * N; ++i)
        init[i] = (float)i;
    test_buffer out = test_buffer_new(ctx, 2 * N, 4, init);
    float *d = out.data, *v = d + N;
    const optk_hvp_source dense = {.dense = hb.data},
                          both = {.dense = hb.data, .callback = host_hvp_fn}, none = {0};
    const optk_diag_options ok = {.kind = OPTK_PROBE_RADEMACHER, .probes = 8};
    optk_diag_options o;
    cr_assert_eq(optk_hessian_diag(ctx, &both, N, &ok, d, v), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "exactly one of") != NULL);
    cr_assert_eq(optk_hessian_diag(ctx, &none, N, &ok, d, v), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_hessian_diag(ctx, NULL, N, &ok, d, v), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_hessian_diag(ctx, &dense, 0, &ok, d, v), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_hessian_diag(ctx, &dense, N, NULL, d, v), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_hessian_diag(ctx, &dense, N, &ok, NULL, v), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_hessian_diag(ctx, &dense, N, &ok, d, d + 5), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "overlap") != NULL);
    o = ok, o.probes = 1;
    cr_assert_eq(optk_hessian_diag(ctx, &dense, N, &o, d, v), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "a variance needs at least 2 probes") != NULL);
    o = ok, o.chunk = 9;
    cr_assert_eq(optk_hessian_diag(ctx, &dense, N, &o, d, v), OPTK_ERR_INVALID_ARGUMENT);
    o = ok, o.kind = (optk_probe_kind)3;
    cr_assert_eq(optk_hessian_diag(ctx, &dense, N, &o, d, v), OPTK_ERR_INVALID_ARGUMENT);
    o = ok, o.probes = 0;
    cr_assert_eq(optk_hessian_diag(ctx, &dense, N, &o, d, v), OPTK_ERR_INVALID_ARGUMENT);
    float back[2 * N];
    test_buffer_read(&out, back);
    test_assert_bits_equal(back, init, 2 * N, 4, "outputs after refused calls");
    test_buffer_free(&hb);
    test_buffer_free(&out);
    optk_context_free(ctx);
}

/* The CPU splits the dense H Z over threads by blocks of rows: 1, 2 and 3 threads give the
 * same estimate and variance bits (each output summed whole by one thread). */
Test(hessian_diag, cpu_thread_count_changes_no_bit) {
    optk_context *ctx = test_context(OPTK_BACKEND_CPU);
    enum { NBIG = 700, K = 24 }; /* 24 x 700 x 700 products: threaded */
    float *h = malloc((size_t)NBIG * NBIG * 4);
    test_fill_uniform(h, (size_t)NBIG * NBIG, -1.0f, 1.0f, 9);
    for (int i = 0; i < NBIG; ++i)
        for (int j = 0; j < i; ++j)
            h[i * NBIG + j] = h[j * NBIG + i]; /* symmetric */
    static const char *threads[3] = {"1", "2", "3"};
    float *d[3], *v[3];
    for (int k = 0; k < 3; ++k) {
        setenv("OPTKERN_CPU_THREADS", threads[k], 1);
        d[k] = malloc(NBIG * 4), v[k] = malloc(NBIG * 4);
        const optk_hvp_source src = {.dense = h};
        const optk_diag_options o = {.kind = OPTK_PROBE_RADEMACHER, .seed = 4, .probes = K};
        cr_assert_eq(optk_hessian_diag(ctx, &src, NBIG, &o, d[k], v[k]), OPTK_OK, "%s",
                     optk_context_last_error(ctx));
    }
    unsetenv("OPTKERN_CPU_THREADS");
    for (int k = 1; k < 3; ++k) {
        test_assert_bits_equal(d[k], d[0], NBIG, 4, "estimate");
        test_assert_bits_equal(v[k], v[0], NBIG, 4, "variance");
    }
    for (int k = 0; k < 3; ++k)
        free(d[k]), free(v[k]);
    free(h);
    optk_context_free(ctx);
}

/* The CPU's dense H Z (rows and probes in vector tiles) gives each output the bits of the plain
 * loop, a double sum in index order, for sizes that leave partial tiles: 53 rows (six blocks
 * of eight and five rows) and 13 probes (two groups of eight lanes, three of them padding).
 * The inputs make the order visible in float: every row starts with two entries 2^50 and the
 * rest are below 1e-3, and z_0 = -z_1 in odd probes, so in index order the big terms cancel
 * first and the small sum survives, where any other order could let 2^50 absorb it. */
Test(hessian_diag, cpu_dense_product_is_the_index_order_double_sum) {
    optk_context *ctx = test_context(OPTK_BACKEND_CPU);
    enum { ODD = 53, K = 13 };
    static float h[ODD * ODD], z[K * ODD], hz[K * ODD];
    test_fill_uniform(h, ODD * ODD, -1e-3f, 1e-3f, 12);
    test_fill_uniform(z, K * ODD, -1.0f, 1.0f, 13);
    for (int r = 0; r < ODD; ++r)
        h[r * ODD] = h[r * ODD + 1] = 0x1p50f;
    for (int j = 0; j < K; ++j)
        z[j * ODD] = 1.0f, z[j * ODD + 1] = j % 2 ? -1.0f : 1.0f;
    cr_assert_eq(optk_cpu_dense_hvp(ctx, h, z, hz, ODD, K), OPTK_OK);
    for (int j = 0; j < K; ++j) {
        for (int r = 0; r < ODD; ++r) {
            double acc = 0.0;
            for (int c = 0; c < ODD; ++c)
                acc += (double)h[r * ODD + c] * (double)z[j * ODD + c];
            cr_assert_eq(hz[j * ODD + r], (float)acc, "probe %d row %d: %a, want %a", j, r,
                         (double)hz[j * ODD + r], acc);
        }
    }
    optk_context_free(ctx);
}

/* H z for H = diag(1 + i mod 7) plus 0.5 on the first superdiagonal, column by column. */
static int banded_hvp(void *user, const float *z, float *hz, int64_t n, int k) {
    (void)user;
    for (int j = 0; j < k; ++j) {
        const float *zj = z + (int64_t)j * n;
        float *hzj = hz + (int64_t)j * n;
        for (int64_t i = 0; i < n; ++i)
            hzj[i] = (float)(1 + i % 7) * zj[i] + (i + 1 < n ? 0.5f * zj[i + 1] : 0.0f);
    }
    return 0;
}

/* The per-coordinate pass on a vector long enough to be split over the CPU's cores (and not
 * a multiple of its 2048-coordinate blocks): 1, 2 and 3 threads, one chunk or chunks of 4
 * (one that starts the sums, one that finishes them) and of 1 give the same bits. */
Test(hessian_diag, cpu_accumulate_split_and_chunks_change_no_bit) {
    optk_context *ctx = test_context(OPTK_BACKEND_CPU);
    enum { NBIG = 3 * 32768 + 5, K = 6, RUNS = 5 };
    static const char *threads[RUNS] = {"1", "2", "3", "2", "2"};
    static const int chunk[RUNS] = {0, 0, 0, 4, 1};
    float *d[RUNS], *v[RUNS];
    for (int r = 0; r < RUNS; ++r) {
        setenv("OPTKERN_CPU_THREADS", threads[r], 1);
        d[r] = malloc(NBIG * 4), v[r] = malloc(NBIG * 4);
        const optk_hvp_source src = {.callback = banded_hvp};
        const optk_diag_options o = {
            .kind = OPTK_PROBE_GAUSSIAN, .seed = 8, .probes = K, .chunk = chunk[r]};
        cr_assert_eq(optk_hessian_diag(ctx, &src, NBIG, &o, d[r], v[r]), OPTK_OK, "%s",
                     optk_context_last_error(ctx));
    }
    unsetenv("OPTKERN_CPU_THREADS");
    for (int r = 1; r < RUNS; ++r) {
        test_assert_bits_equal(d[r], d[0], NBIG, 4, "estimate");
        test_assert_bits_equal(v[r], v[0], NBIG, 4, "variance");
    }
    /* Each coordinate's estimate is a mean of 6 samples of z_i (H z)_i: near 1 + i mod 7, with
     * the variance of a Gaussian probe's (2 H_ii^2 + 0.25) bounding its spread. */
    for (int64_t i = 0; i < NBIG; i += 997) {
        const double hii = (double)(1 + i % 7), sd = sqrt(2 * hii * hii + 0.25);
        cr_assert(fabs(d[0][i] - hii) < 6.0 * sd, "coordinate %lld: %g", (long long)i,
                  (double)d[0][i]);
        cr_assert(v[0][i] > 0.0f, "coordinate %lld: variance %g", (long long)i, (double)v[0][i]);
    }
    for (int r = 0; r < RUNS; ++r)
        free(d[r]), free(v[r]);
    optk_context_free(ctx);
}

/* H z_j = c_j z_j with c = 2^60, 1, -2^60, 1 repeating over the probes (j counted across
 * calls), on the host through the context's memory helpers. */
typedef struct scaled_hvp {
    optk_context *ctx;
    int next_probe;
} scaled_hvp;

static int scaled_hvp_fn(void *user, const float *z, float *hz, int64_t n, int k) {
    scaled_hvp *u = user;
    static const float c[4] = {0x1p60f, 1.0f, -0x1p60f, 1.0f};
    float *host = malloc((size_t)(n * k) * 4);
    int rc = optk_mem_download(u->ctx, host, z, (size_t)(n * k) * 4) == OPTK_OK ? 0 : 1;
    for (int j = 0; j < k; ++j, ++u->next_probe)
        for (int64_t i = 0; i < n; ++i)
            host[j * n + i] *= c[u->next_probe % 4];
    if (rc == 0) rc = optk_mem_upload(u->ctx, hz, host, (size_t)(n * k) * 4) == OPTK_OK ? 0 : 1;
    free(host);
    return rc;
}

/* The sums run in probe order, in every chunking, on every backend: with Rademacher probes
 * each coordinate's single-probe estimates are exactly c_j, and in probe order every 1 that
 * meets a 2^60 vanishes — 2^60, 2^60, 0, 1, 2^60, 2^60, 0, 1 — leaving a sum of 1 and an
 * estimate of 1/8. Orders that add 1s apart from the 2^60s keep more of them (up to 4/8);
 * those that leave the cancellation last keep none (0). */
BACKEND_TEST(hessian_diag, sums_run_in_probe_order) {
    optk_context *ctx = test_context(backend);
    enum { NS = 37 };
    static const int chunks[3] = {0, 3, 1};
    for (int t = 0; t < 3; ++t) {
        scaled_hvp u = {ctx, 0};
        const optk_hvp_source src = {.callback = scaled_hvp_fn, .user = &u};
        const optk_diag_options o = {
            .kind = OPTK_PROBE_RADEMACHER, .seed = 12, .probes = 8, .chunk = chunks[t]};
        test_buffer d = test_buffer_new(ctx, NS, 4, NULL);
        cr_assert_eq(optk_hessian_diag(ctx, &src, NS, &o, d.data, NULL), OPTK_OK, "%s",
                     optk_context_last_error(ctx));
        float got[NS];
        test_buffer_read(&d, got);
        test_buffer_free(&d);
        for (int i = 0; i < NS; ++i)
            cr_assert_eq(got[i], 0.125f, "chunk %d, coordinate %d: %g", chunks[t], i,
                         (double)got[i]);
    }
    optk_context_free(ctx);
}
