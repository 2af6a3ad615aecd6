/* philox_lanes.h — Philox4x32-10 of eight consecutive blocks at once on the CPU, for the
 * loops that need a word per element (Gaussian probes, stochastic rounding): the same bits as
 * common/philox.h's optk_philox_block, the lanes in arrays so that the compiler can use
 * vector registers for them. */
#ifndef OPTK_CPU_PHILOX_LANES_H
#define OPTK_CPU_PHILOX_LANES_H

#include "../common/philox.h"

enum { OPTK_PHILOX_LANES = 8 };

/* Philox4x32-10 of blocks block0 .. block0 + OPTK_PHILOX_LANES - 1 (common/philox.h's rounds, the
 * lanes in arrays so that the 32 x 32 -> 64-bit products vectorise): word w of block block0 + l in
 * out[w][l], the same bits as optk_philox_block. */
static inline void optk_philox_lanes(uint64_t seed, uint64_t sub, uint64_t block0,
                                     uint32_t out[4][OPTK_PHILOX_LANES]) {
    /* 64-bit lanes holding 32-bit words: the products vectorise (vpmuludq) where a
     * 32 x 32 -> 64 widening multiply does not. */
    uint64_t c0[OPTK_PHILOX_LANES], c1[OPTK_PHILOX_LANES], c2[OPTK_PHILOX_LANES],
        c3[OPTK_PHILOX_LANES];
    for (int l = 0; l < OPTK_PHILOX_LANES; ++l) {
        const uint64_t block = block0 + (uint64_t)l;
        c0[l] = block & 0xffffffffu, c1[l] = block >> 32;
        c2[l] = sub & 0xffffffffu, c3[l] = sub >> 32;
    }
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < 10; ++round) {
        for (int l = 0; l < OPTK_PHILOX_LANES; ++l) {
            const uint64_t p0 = OPTK_PHILOX_M0 * c0[l];
            const uint64_t p1 = OPTK_PHILOX_M1 * c2[l];
            const uint64_t n0 = (p1 >> 32) ^ c1[l] ^ k0;
            const uint64_t n2 = (p0 >> 32) ^ c3[l] ^ k1;
            c1[l] = p1 & 0xffffffffu, c3[l] = p0 & 0xffffffffu;
            c0[l] = n0, c2[l] = n2;
        }
        k0 += OPTK_PHILOX_W0;
        k1 += OPTK_PHILOX_W1;
    }
    for (int l = 0; l < OPTK_PHILOX_LANES; ++l) {
        out[0][l] = (uint32_t)c0[l], out[1][l] = (uint32_t)c1[l];
        out[2][l] = (uint32_t)c2[l], out[3][l] = (uint32_t)c3[l];
    }
}

#endif /* OPTK_CPU_PHILOX_LANES_H */
