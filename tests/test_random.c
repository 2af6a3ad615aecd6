/* test_random.c — Philox4x32-10: the published known answers, and the random streams of
 * every backend against the shared generator (raw bits identical). */
#include "harness.h"
#include "common/philox.h"
#include "cpu/philox_lanes.h"

#include <stdlib.h>
#include <string.h>

/* Random123's kat_vectors, "philox4x32 10" lines: counter[4], key[2] -> output[4]. */
Test(philox, matches_published_known_answers) {
    static const uint32_t kat[3][10] = {
        {0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x6627e8d5,
         0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
         0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
         0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int v = 0; v < 3; ++v) {
        uint32_t out[4];
        optk_philox4x32_10(&kat[v][0], &kat[v][4], out);
        for (int w = 0; w < 4; ++w) {
            cr_assert_eq(out[w], kat[v][6 + w], "vector %d word %d: got %08x want %08x", v, w,
                         out[w], kat[v][6 + w]);
        }
    }
}

Test(philox, stream_element_is_word_of_counter_block) {
    /* Element k of (seed, subsequence) is word k % 4 of the block at counter
     * subsequence * 2^64 + k / 4 — the layout of cuRAND's curand_init/curand4. */
    const uint64_t seed = 0x0123456789abcdefull, sub = 0xfedcba9876543210ull, k = 0x100000007ull;
    const uint32_t ctr[4] = {(uint32_t)(k / 4), (uint32_t)((k / 4) >> 32), (uint32_t)sub,
                             (uint32_t)(sub >> 32)};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t out[4];
    optk_philox4x32_10(ctr, key, out);
    cr_assert_eq(optk_philox_u32(seed, sub, k), out[k % 4]);
}

/* Every implementation of the CPU's sixteen-block Philox the machine can run — the one
 * optk_philox_lanes picks, AVX-512, AVX2 in two halves, plain — gives optk_philox_block's
 * bits, also where the block index carries into its high word within the sixteen. */
static void check_lanes(const char *which, uint64_t seed, uint64_t sub, uint64_t start,
                        uint32_t lanes[4][OPTK_PHILOX_LANES]) {
    for (int l = 0; l < OPTK_PHILOX_LANES; ++l) {
        uint32_t want[4];
        optk_philox_block(seed, sub, start + (uint64_t)l, want);
        for (int w = 0; w < 4; ++w) {
            cr_assert_eq(lanes[w][l], want[w], "%s: start %#llx seed %#llx lane %d word %d", which,
                         (unsigned long long)start, (unsigned long long)seed, l, w);
        }
    }
}

/* The same for the element-order form (word w of block l at 4 l + w): its transposes. */
static void check_words(const char *which, uint64_t seed, uint64_t sub, uint64_t start,
                        const uint32_t words[4 * OPTK_PHILOX_LANES]) {
    uint32_t lanes[4][OPTK_PHILOX_LANES];
    for (int l = 0; l < OPTK_PHILOX_LANES; ++l)
        for (int w = 0; w < 4; ++w)
            lanes[w][l] = words[4 * l + w];
    check_lanes(which, seed, sub, start, lanes);
}

Test(philox, sixteen_lanes_match_the_shared_rounds) {
    static const uint64_t starts[] = {0, 5, 0xfffffff4ull, 0x1fffffffaull, UINT64_MAX - 15};
    static const uint64_t seeds[] = {0, 20261122, 0xfedcba9876543210ull};
    for (size_t b = 0; b < sizeof starts / sizeof *starts; ++b) {
        for (size_t k = 0; k < sizeof seeds / sizeof *seeds; ++k) {
            const uint64_t sub = 0x0123456789abcdefull * (k + 1);
            uint32_t lanes[4][OPTK_PHILOX_LANES];
            optk_philox_lanes(seeds[k], sub, starts[b], lanes);
            check_lanes("dispatched", seeds[k], sub, starts[b], lanes);
            optk_philox_lanes_plain(seeds[k], sub, starts[b], lanes);
            check_lanes("plain", seeds[k], sub, starts[b], lanes);
            uint32_t words[4 * OPTK_PHILOX_LANES];
            optk_philox_words(seeds[k], sub, starts[b], words);
            check_words("words, dispatched", seeds[k], sub, starts[b], words);
#ifdef OPTK_HAVE_PHILOX_AVX2
            if (__builtin_cpu_supports("avx512f")) {
                optk_philox_lanes_avx512(seeds[k], sub, starts[b], lanes);
                check_lanes("avx512", seeds[k], sub, starts[b], lanes);
                optk_philox_words_avx512(seeds[k], sub, starts[b], words);
                check_words("words, avx512", seeds[k], sub, starts[b], words);
            }
            if (__builtin_cpu_supports("avx2")) {
                optk_philox_lanes_avx2(seeds[k], sub, starts[b], lanes, 0);
                optk_philox_lanes_avx2(seeds[k], sub, starts[b] + 8, lanes, 1);
                check_lanes("avx2", seeds[k], sub, starts[b], lanes);
                optk_philox_words_avx2(seeds[k], sub, starts[b], words);
                optk_philox_words_avx2(seeds[k], sub, starts[b] + 8, words + 32);
                check_words("words, avx2", seeds[k], sub, starts[b], words);
            }
#endif
        }
    }
}

/* Every implementation of the lanes-to-elements transpose the machine can run puts lane l's
 * value w at 4 l + w, from any alignment (the Gaussian probes write it at any element). */
static void check_elements(const char *which, const uint32_t lanes[4][OPTK_PHILOX_LANES],
                           const uint32_t *out) {
    for (int l = 0; l < OPTK_PHILOX_LANES; ++l)
        for (int w = 0; w < 4; ++w)
            cr_assert_eq(out[4 * l + w], lanes[w][l], "%s: lane %d value %d", which, l, w);
}

Test(philox, lanes_go_to_element_order_every_way) {
    uint32_t lanes[4][OPTK_PHILOX_LANES], buffer[4 * OPTK_PHILOX_LANES + 1];
    for (int w = 0; w < 4; ++w)
        for (int l = 0; l < OPTK_PHILOX_LANES; ++l)
            lanes[w][l] = 0x9e3779b9u * (uint32_t)(16 * w + l + 1);
    for (int shift = 0; shift < 2; ++shift) {
        uint32_t *out = buffer + shift;
        optk_lanes_to_elements(lanes, out);
        check_elements("dispatched", lanes, out);
        memset(buffer, 0, sizeof buffer);
        optk_lanes_to_elements_plain(lanes, out);
        check_elements("plain", lanes, out);
#ifdef OPTK_HAVE_PHILOX_AVX2
        if (__builtin_cpu_supports("avx512f")) {
            memset(buffer, 0, sizeof buffer);
            optk_lanes_to_elements_avx512(lanes, out);
            check_elements("avx512", lanes, out);
        }
        if (__builtin_cpu_supports("avx2")) {
            memset(buffer, 0, sizeof buffer);
            optk_lanes_to_elements_avx2(lanes, 0, out);
            optk_lanes_to_elements_avx2(lanes, 1, out);
            check_elements("avx2", lanes, out);
        }
#endif
    }
}

BACKEND_TEST(random, fill_u32_matches_shared_generator_at_awkward_offsets) {
    optk_context *ctx = test_context(backend);
    static const uint64_t offsets[] = {0, 1, 3, 5, 0x100000003ull, UINT64_MAX - 5000};
    static const int64_t sizes[] = {1, 3, 1023, 4099};
    const uint64_t seed = 20261122, sub = 7;
    for (size_t o = 0; o < sizeof offsets / sizeof *offsets; ++o) {
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; ++s) {
            const int64_t n = sizes[s];
            uint32_t *want = malloc((size_t)n * 4), *got = malloc((size_t)n * 4);
            for (int64_t i = 0; i < n; ++i) {
                want[i] = optk_philox_u32(seed, sub, offsets[o] + (uint64_t)i);
                got[i] = ~want[i]; /* poison: every element must be written */
            }
            test_buffer out = test_buffer_new(ctx, (size_t)n, 4, got);
            optk_status st = optk_random_fill_u32(ctx, seed, sub, offsets[o], out.data, n);
            cr_assert_eq(st, OPTK_OK, "%s", optk_context_last_error(ctx));
            test_buffer_read(&out, got);
            char what[96];
            snprintf(what, sizeof what, "%s fill at offset %llu, n %lld",
                     optk_backend_name(backend), (unsigned long long)offsets[o], (long long)n);
            test_assert_bits_equal(got, want, (size_t)n, 4, what);
            test_buffer_check_guards(&out, what);
            test_buffer_free(&out);
            free(want);
            free(got);
        }
    }
    optk_context_free(ctx);
}

BACKEND_TEST(random, seeds_and_subsequences_give_different_streams) {
    optk_context *ctx = test_context(backend);
    enum { N = 256 };
    uint32_t a[N], b[N], c[N];
    test_buffer buf = test_buffer_new(ctx, N, 4, NULL);
    cr_assert_eq(optk_random_fill_u32(ctx, 1, 0, 0, buf.data, N), OPTK_OK);
    test_buffer_read(&buf, a);
    cr_assert_eq(optk_random_fill_u32(ctx, 2, 0, 0, buf.data, N), OPTK_OK);
    test_buffer_read(&buf, b);
    cr_assert_eq(optk_random_fill_u32(ctx, 1, 1, 0, buf.data, N), OPTK_OK);
    test_buffer_read(&buf, c);
    int same_ab = 0, same_ac = 0;
    for (int i = 0; i < N; ++i) {
        same_ab += a[i] == b[i];
        same_ac += a[i] == c[i];
    }
    cr_assert_lt(same_ab, 3);
    cr_assert_lt(same_ac, 3);
    test_buffer_free(&buf);
    optk_context_free(ctx);
}

BACKEND_TEST(random, bad_arguments_are_refused_and_nothing_is_written) {
    optk_context *ctx = test_context(backend);
    enum { N = 16 };
    uint32_t host[N], back[N];
    for (int i = 0; i < N; ++i)
        host[i] = 0xC0FFEE00u + (uint32_t)i;
    test_buffer buf = test_buffer_new(ctx, N, 4, host);
    cr_assert_eq(optk_random_fill_u32(ctx, 1, 0, 0, NULL, N), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_random_fill_u32(ctx, 1, 0, 0, buf.data, 0), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "n must be >= 1") != NULL);
    cr_assert_eq(optk_random_fill_u32(ctx, 1, 0, 0, buf.data, -3), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_random_fill_u32(ctx, 1, 0, UINT64_MAX - 2, buf.data, N),
                 OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "past the end") != NULL);
    cr_assert_eq(optk_random_fill_u32(ctx, 1, 0, 0, (uint32_t *)((char *)buf.data + 2), 4),
                 OPTK_ERR_INVALID_ARGUMENT);
    test_buffer_read(&buf, back);
    test_assert_bits_equal(back, host, N, 4, "buffer after refused calls");
    test_buffer_check_guards(&buf, "buffer after refused calls");
    test_buffer_free(&buf);
    optk_context_free(ctx);
}
