/* probes.c — Hutchinson probes on the CPU: the shared Philox words, and for Gaussian probes
 * cuRAND's host Box-Muller formula (libm's logf, sinf, cosf). */
#include "cpu_backend.h"
#include "../common/philox.h"
#include "../common/probes.h"

#include <math.h>

static void rademacher(uint64_t seed, uint64_t sub, float *out, int64_t n) {
    for (int64_t w = 0; w * 32 < n; ++w) {
        const uint32_t word = optk_philox_u32(seed, sub, (uint64_t)w);
        const int64_t end = (w + 1) * 32 < n ? (w + 1) * 32 : n;
        for (int64_t i = w * 32; i < end; ++i)
            out[i] = optk_rademacher(word, i);
    }
}

static void gaussian(uint64_t seed, uint64_t sub, float *out, int64_t n) {
    for (int64_t b = 0; b * 4 < n; ++b) {
        uint32_t x[4];
        optk_philox_block(seed, sub, (uint64_t)b, x);
        float z[4];
        for (int pair = 0; pair < 2; ++pair) {
            const float s = sqrtf(-2.0f * logf(optk_box_muller_u(x[2 * pair])));
            const float v = optk_box_muller_v(x[2 * pair + 1]);
            z[2 * pair] = sinf(v) * s;
            z[2 * pair + 1] = cosf(v) * s;
        }
        for (int k = 0; k < 4 && b * 4 + k < n; ++k)
            out[b * 4 + k] = z[k];
    }
}

optk_status optk_cpu_probe_fill(optk_context *ctx, optk_probe_kind kind, uint64_t seed,
                                uint64_t step, uint64_t probe, float *out, int64_t n) {
    (void)ctx;
    const uint64_t sub = optk_probe_subsequence(step, probe);
    if (kind == OPTK_PROBE_RADEMACHER)
        rademacher(seed, sub, out, n);
    else
        gaussian(seed, sub, out, n);
    return OPTK_OK;
}
