/* test_probes.c — Hutchinson probes on every backend: Rademacher entries are the Philox bits
 * (identical everywhere), Gaussian entries follow cuRAND's curand_normal4 (on CUDA within
 * 2e-5 of the CPU, which uses cuRAND's host formula), both are keyed by (seed, step, probe),
 * and they have the right distribution. */
#include "harness.h"
#include "common/philox.h"
#include "common/probes.h"
#include "cpu/box_muller_lanes.h"

#include <math.h>
#include <stdlib.h>

static float *draw(optk_context *ctx, optk_probe_kind kind, uint64_t seed, uint64_t step,
                   uint64_t probe, int64_t n) {
    float *host = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; ++i)
        host[i] = NAN; /* poison: every entry must be written */
    test_buffer buf = test_buffer_new(ctx, (size_t)n, 4, host);
    cr_assert_eq(optk_probe_fill(ctx, kind, seed, step, probe, buf.data, n), OPTK_OK, "%s",
                 optk_context_last_error(ctx));
    test_buffer_read(&buf, host);
    test_buffer_check_guards(&buf, "probe");
    test_buffer_free(&buf);
    return host;
}

BACKEND_TEST(probes, rademacher_entries_are_the_philox_bits) {
    optk_context *ctx = test_context(backend);
    static const int64_t sizes[] = {1, 31, 33, 1000003};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; ++k) {
        const int64_t n = sizes[k];
        float *z = draw(ctx, OPTK_PROBE_RADEMACHER, 77, 123456, 42, n);
        const uint64_t sub = optk_probe_subsequence(123456, 42);
        for (int64_t i = 0; i < n; ++i) {
            const uint32_t word = optk_philox_u32(77, sub, (uint64_t)(i / 32));
            const float want = ((word >> (i % 32)) & 1u) ? 1.0f : -1.0f;
            cr_assert_eq(z[i], want, "n %lld, entry %lld: %g", (long long)n, (long long)i,
                         (double)z[i]);
        }
        free(z);
    }
    optk_context_free(ctx);
}

BACKEND_TEST(probes, gaussian_entries_follow_curand_normal4) {
    optk_context *ctx = test_context(backend);
    const int64_t n = 100003;
    float *z = draw(ctx, OPTK_PROBE_GAUSSIAN, 5, 9, 3, n);
    const uint64_t sub = optk_probe_subsequence(9, 3);
    double worst = 0.0;
    for (int64_t b = 0; b * 4 < n; ++b) {
        uint32_t x[4];
        optk_philox_block(5, sub, (uint64_t)b, x);
        for (int pair = 0; pair < 2; ++pair) {
            /* In double: the reference the float formula approximates. */
            const double u = (double)optk_box_muller_u(x[2 * pair]);
            const double v = (double)optk_box_muller_v(x[2 * pair + 1]);
            const double s = sqrt(-2.0 * log(u));
            const double want[2] = {sin(v) * s, cos(v) * s};
            for (int k = 0; k < 2; ++k) {
                const int64_t i = b * 4 + 2 * pair + k;
                if (i >= n) continue;
                const double err = fabs((double)z[i] - want[k]);
                if (err > worst) worst = err;
            }
        }
    }
    /* CUDA's fast sincos intrinsic is within 2^-21.4 of sin/cos, times s <= 6.7: 2e-5 covers
     * it. The CPU's shared log and polynomial sincos land within a few float ulp of |z| <= 6.7
     * (4e-7 measured): it is held to 1e-6. */
    cr_log_info("%s: worst |z - double reference| %.3g", optk_backend_name(backend), worst);
    const double bound = backend == OPTK_BACKEND_CPU ? 1e-6 : 2e-5;
    cr_assert(worst <= bound, "%s: Gaussian entry off the reference by %g (bound %g)",
              optk_backend_name(backend), worst, bound);
    if (backend != OPTK_BACKEND_CPU) {
        optk_context *cpu = test_context(OPTK_BACKEND_CPU);
        float *c = draw(cpu, OPTK_PROBE_GAUSSIAN, 5, 9, 3, n);
        for (int64_t i = 0; i < n; ++i) {
            cr_assert(fabsf(z[i] - c[i]) <= 2e-5f, "entry %lld: cuda %a cpu %a", (long long)i,
                      (double)z[i], (double)c[i]);
        }
        free(c);
        optk_context_free(cpu);
    }
    free(z);
    optk_context_free(ctx);
}

BACKEND_TEST(probes, distributions_and_independence) {
    optk_context *ctx = test_context(backend);
    const int64_t n = 1 << 20;
    const double tolerance = 6.0 / sqrt((double)n); /* six standard errors of a mean */
    float *r = draw(ctx, OPTK_PROBE_RADEMACHER, 1, 2, 0, n);
    float *g = draw(ctx, OPTK_PROBE_GAUSSIAN, 1, 2, 0, n);
    float *g2 = draw(ctx, OPTK_PROBE_GAUSSIAN, 1, 2, 1, n); /* next probe */
    float *g3 = draw(ctx, OPTK_PROBE_GAUSSIAN, 1, 3, 0, n); /* next step */
    double rm = 0, gm = 0, g2m = 0, g4m = 0, c12 = 0, c13 = 0;
    for (int64_t i = 0; i < n; ++i) {
        rm += r[i];
        gm += g[i];
        g2m += (double)g[i] * g[i];
        g4m += (double)g[i] * g[i] * g[i] * g[i];
        c12 += (double)g[i] * g2[i];
        c13 += (double)g[i] * g3[i];
    }
    rm /= n, gm /= n, g2m /= n, g4m /= n, c12 /= n, c13 /= n;
    cr_assert(fabs(rm) < tolerance, "Rademacher mean %g", rm);
    cr_assert(fabs(gm) < tolerance, "Gaussian mean %g", gm);
    cr_assert(fabs(g2m - 1.0) < tolerance * sqrt(2.0), "Gaussian variance %g", g2m);
    cr_assert(fabs(g4m - 3.0) < tolerance * sqrt(96.0), "Gaussian fourth moment %g", g4m);
    cr_assert(fabs(c12) < tolerance && fabs(c13) < tolerance,
              "probes of other indices or steps correlate: %g, %g", c12, c13);
    free(r), free(g), free(g2), free(g3);
    optk_context_free(ctx);
}

BACKEND_TEST(probes, bad_arguments_are_refused_and_nothing_is_written) {
    optk_context *ctx = test_context(backend);
    float host[8] = {1, 2, 3, 4, 5, 6, 7, 8}, back[8];
    test_buffer buf = test_buffer_new(ctx, 8, 4, host);
    cr_assert_eq(optk_probe_fill(ctx, (optk_probe_kind)5, 1, 1, 1, buf.data, 8),
                 OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "unknown probe kind 5") != NULL);
    cr_assert_eq(optk_probe_fill(ctx, OPTK_PROBE_GAUSSIAN, 1, 1, 1, NULL, 8),
                 OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_probe_fill(ctx, OPTK_PROBE_GAUSSIAN, 1, 1, 1, buf.data, 0),
                 OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_probe_fill(ctx, OPTK_PROBE_RADEMACHER, 1, 1, OPTK_MAX_PROBES, buf.data, 8),
                 OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "probe must be < 2^24") != NULL);
    cr_assert_eq(optk_probe_fill(ctx, OPTK_PROBE_RADEMACHER, 1, (uint64_t)1 << 40, 0, buf.data, 8),
                 OPTK_ERR_INVALID_ARGUMENT);
    /* A deliberately misaligned pointer: the refusal is what is tested. */
    // cppcheck-suppress invalidPointerCast
    float *misaligned = (float *)((char *)buf.data + 2);
    cr_assert_eq(optk_probe_fill(ctx, OPTK_PROBE_RADEMACHER, 1, 1, 0, misaligned, 4),
                 OPTK_ERR_INVALID_ARGUMENT);
    test_buffer_read(&buf, back);
    test_assert_bits_equal(back, host, 8, 4, "buffer after refused calls");
    test_buffer_free(&buf);
    optk_context_free(ctx);
}

/* A probe is the same bits wherever it lies: one float past a 16-byte boundary (where CUDA's
 * Gaussian entries go one at a time, not four to a store) as at one, tails included. */
BACKEND_TEST(probes, a_probe_is_the_same_at_any_alignment) {
    optk_context *ctx = test_context(backend);
    const int64_t n = 4099;
    float *base = NULL;
    cr_assert_eq(optk_mem_alloc(ctx, (size_t)(2 * n + 8) * 4, (void **)&base), OPTK_OK);
    cr_assert_eq((uintptr_t)base & 15u, 0u, "the allocator's alignment changed");
    cr_assert_eq(((uintptr_t)(base + n + 6)) & 15u, 4u, "one float past a boundary");
    float *aligned = base, *off = base + n + 6; /* 4 (n + 6) bytes in: 16 k + 4 */
    float got[2][4099];
    for (int kind = 0; kind < 2; ++kind) {
        cr_assert_eq(optk_mem_set(ctx, base, 0xff, (size_t)(2 * n + 8) * 4), OPTK_OK);
        for (int k = 0; k < 2; ++k) {
            cr_assert_eq(optk_probe_fill(ctx, (optk_probe_kind)kind, 8, 2, 1, k ? off : aligned, n),
                         OPTK_OK, "%s", optk_context_last_error(ctx));
            cr_assert_eq(optk_mem_download(ctx, got[k], k ? off : aligned, (size_t)n * 4), OPTK_OK);
        }
        for (int64_t i = 0; i < n; ++i)
            cr_assert(!isnan(got[1][i]), "kind %d entry %lld written", kind, (long long)i);
        test_assert_bits_equal(got[1], got[0], (size_t)n, 4, kind ? "gaussian" : "rademacher");
    }
    optk_mem_free(ctx, base);
    optk_context_free(ctx);
}

/* The CPU writes probes of 2^24 entries or more with non-temporal stores (where it has
 * AVX-512) when the buffer is 64-byte aligned: the same bits as the plain stores, which a
 * buffer one float off alignment takes, for both kinds, the tail included. */
Test(probes, cpu_streamed_probes_equal_plain_ones) {
    optk_context *ctx = test_context(OPTK_BACKEND_CPU);
    const int64_t n = ((int64_t)1 << 24) + 13;
    float *aligned = NULL, *spare = NULL;
    cr_assert_eq(optk_mem_alloc(ctx, (size_t)n * 4, (void **)&aligned), OPTK_OK);
    cr_assert_eq(optk_mem_alloc(ctx, (size_t)(n + 1) * 4, (void **)&spare), OPTK_OK);
    cr_assert_eq((uintptr_t)aligned & 63u, 0u, "the allocator's alignment changed");
    float *off = spare + ((uintptr_t)spare & 63u ? 0 : 1); /* not 64-byte aligned */
    for (int kind = 0; kind < 2; ++kind) {
        for (int64_t i = 0; i < n; ++i)
            aligned[i] = off[i] = NAN;
        cr_assert_eq(optk_probe_fill(ctx, (optk_probe_kind)kind, 3, 1, 2, aligned, n), OPTK_OK);
        cr_assert_eq(optk_probe_fill(ctx, (optk_probe_kind)kind, 3, 1, 2, off, n), OPTK_OK);
        test_assert_bits_equal(aligned, off, (size_t)n, 4, kind ? "gaussian" : "rademacher");
    }
    optk_mem_free(ctx, aligned);
    optk_mem_free(ctx, spare);
    optk_context_free(ctx);
}

/* The CPU's AVX-512 Gaussian path (four groups of Philox blocks interleaved, fused with the
 * transform and the transpose) gives the bits of the portable one: Philox block by block,
 * the transform's loop over lanes, the plain transpose. Block indices include groups that
 * straddle a carry into the counter's high word; stored plainly and streamed. */
Test(probes, cpu_avx512_gaussians_are_the_portable_formula) {
#ifdef OPTK_HAVE_PHILOX_AVX2
    if (!__builtin_cpu_supports("avx512f"))
        cr_skip_test("this CPU has no AVX-512: Gaussian probes take the portable path alone");
    static const uint64_t starts[] = {0, 5, 12345, 0xffffffffull - 37, 0x3ffffffffffull};
    _Alignas(64) float got[4 * OPTK_GAUSSIAN_BLOCKS], streamed[4 * OPTK_GAUSSIAN_BLOCKS];
    for (size_t s = 0; s < sizeof starts / sizeof *starts; ++s) {
        const uint64_t seed = 0x5eed0000u + s, sub = optk_probe_subsequence(s, 3);
        optk_gaussian_blocks_avx512(seed, sub, starts[s], got, false);
        optk_gaussian_blocks_avx512(seed, sub, starts[s], streamed, true);
        _mm_sfence();
        for (int b = 0; b < OPTK_GAUSSIAN_BLOCKS; b += OPTK_PHILOX_LANES) {
            uint32_t words[4][OPTK_PHILOX_LANES];
            float lanes[4][OPTK_PHILOX_LANES], want[4 * OPTK_PHILOX_LANES];
            optk_philox_lanes_plain(seed, sub, starts[s] + (uint64_t)b, words);
            optk_box_muller_lanes(words, lanes);
            optk_lanes_to_elements_plain(lanes, want);
            char what[64];
            snprintf(what, sizeof what, "start %llu, block %d", (unsigned long long)starts[s], b);
            test_assert_bits_equal(got + 4 * b, want, 4 * OPTK_PHILOX_LANES, 4, what);
            test_assert_bits_equal(streamed + 4 * b, want, 4 * OPTK_PHILOX_LANES, 4, what);
        }
    }
#else
    cr_skip_test("not an x86-64 GNU C build: there is no AVX-512 path");
#endif
}
