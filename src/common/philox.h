/* philox.h — Philox4x32-10 (Salmon et al., SC'11), shared by the host and the device.
 *
 * The stream layout is cuRAND's device API: after curand_init(seed, subsequence, 0),
 * element k is word k % 4 of Philox4x32-10(counter, key) with
 * counter = (k / 4) + subsequence * 2^64 as four 32-bit words, low word first, and
 * key = (seed low word, seed high word). The CUDA backend draws through cuRAND itself;
 * this file is what the CPU backend and the tests use, and it must give the same bits.
 */
#ifndef OPTK_COMMON_PHILOX_H
#define OPTK_COMMON_PHILOX_H

#include "defs.h"

#define OPTK_PHILOX_M0 0xD2511F53u
#define OPTK_PHILOX_M1 0xCD9E8D57u
#define OPTK_PHILOX_W0 0x9E3779B9u
#define OPTK_PHILOX_W1 0xBB67AE85u

OPTK_HD uint32_t optk_mulhilo32(uint32_t a, uint32_t b, uint32_t *hi) {
#ifdef __CUDA_ARCH__
    *hi = __umulhi(a, b);
    return a * b;
#else
    uint64_t product = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(product >> 32);
    return (uint32_t)product;
#endif
}

/* Ten rounds of Philox4x32 on ctr[4] with key[2]; writes out[4]. */
OPTK_HD void optk_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; ++round) {
        uint32_t hi0, hi1;
        uint32_t lo0 = optk_mulhilo32(OPTK_PHILOX_M0, c0, &hi0);
        uint32_t lo1 = optk_mulhilo32(OPTK_PHILOX_M1, c2, &hi1);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += OPTK_PHILOX_W0;
        k1 += OPTK_PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* The four words of block `block` (= element index / 4) of the stream (seed, subsequence). */
OPTK_HD void optk_philox_block(uint64_t seed, uint64_t subsequence, uint64_t block,
                               uint32_t out[4]) {
    const uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)subsequence,
                             (uint32_t)(subsequence >> 32)};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    optk_philox4x32_10(ctr, key, out);
}

/* Element `index` of the stream (seed, subsequence). */
OPTK_HD uint32_t optk_philox_u32(uint64_t seed, uint64_t subsequence, uint64_t index) {
    uint32_t words[4];
    optk_philox_block(seed, subsequence, index >> 2, words);
    return words[index & 3];
}

#endif /* OPTK_COMMON_PHILOX_H */
