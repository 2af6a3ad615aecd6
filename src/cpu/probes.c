/* probes.c — Hutchinson probes on the CPU: the shared Philox words, and for Gaussian probes
 * cuRAND's host Box-Muller formula (libm's logf, sinf, cosf). */
#include "cpu_backend.h"
#include "../common/philox.h"
#include "../common/probes.h"
#include "mixed_precision.h" /* OPTK_CPU_HOT_LOOP */

#include <math.h>

/* One Philox block (four words) serves 128 entries; a full word's 32 entries are a loop of
 * constant trip count, which vectorises. */
OPTK_CPU_HOT_LOOP static void rademacher(uint64_t seed, uint64_t sub, float *out, int64_t n) {
    for (int64_t b = 0; b * 128 < n; ++b) {
        uint32_t x[4];
        optk_philox_block(seed, sub, (uint64_t)b, x);
        for (int w = 0; w < 4 && b * 128 + w * 32 < n; ++w) {
            float *at = out + b * 128 + w * 32;
            if (b * 128 + w * 32 + 32 <= n) {
                for (int i = 0; i < 32; ++i)
                    at[i] = optk_rademacher(x[w], i);
            } else {
                for (int64_t i = 0; i < n - (b * 128 + w * 32); ++i)
                    at[i] = optk_rademacher(x[w], i);
            }
        }
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
