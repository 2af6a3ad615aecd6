/* test_curand_host.c — our Philox stream against cuRAND's own Philox4x32-10, through the
 * host generator (curandCreateGeneratorHost needs no GPU).
 *
 * cuRAND's host generator interleaves 65536 device-API streams: its output i is element
 * 4 * (q / 65536) + i % 4 of the stream (seed, subsequence q % 65536), q = i / 4. Checking
 * that mapping over millions of outputs, at an offset too, pins src/common/philox.h to the
 * bits cuRAND's device API produces on the GPU.
 */
#include "harness.h"
#include "common/philox.h"

#include <curand.h>
#include <stdlib.h>

static uint32_t host_generator_element(uint64_t seed, uint64_t i) {
    const uint64_t q = i / 4;
    return optk_philox_u32(seed, q % 65536, 4 * (q / 65536) + i % 4);
}

static void check_against_host_generator(uint64_t seed, uint64_t offset, size_t n) {
    curandGenerator_t gen;
    cr_assert_eq(curandCreateGeneratorHost(&gen, CURAND_RNG_PSEUDO_PHILOX4_32_10),
                 CURAND_STATUS_SUCCESS);
    cr_assert_eq(curandSetPseudoRandomGeneratorSeed(gen, seed), CURAND_STATUS_SUCCESS);
    cr_assert_eq(curandSetGeneratorOffset(gen, offset), CURAND_STATUS_SUCCESS);
    unsigned int *out = malloc(n * sizeof *out);
    cr_assert_eq(curandGenerate(gen, out, n), CURAND_STATUS_SUCCESS);
    for (size_t i = 0; i < n; ++i) {
        uint32_t want = host_generator_element(seed, offset + i);
        cr_assert_eq(out[i], want, "seed %llu offset %llu output %zu: cuRAND %08x, ours %08x",
                     (unsigned long long)seed, (unsigned long long)offset, i, out[i], want);
    }
    free(out);
    curandDestroyGenerator(gen);
}

Test(curand_host, philox_stream_matches_curand_bits) {
    check_against_host_generator(1234, 0, 7);
    check_against_host_generator(0xdeadbeefcafeull, 0, (size_t)1 << 22);
    check_against_host_generator(0xdeadbeefcafeull, 1000003, 300001);
    check_against_host_generator(UINT64_MAX, 17, 4 * 65536 + 9);
}
