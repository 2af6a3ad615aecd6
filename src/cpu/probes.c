/* probes.c — Hutchinson probes on the CPU: the shared Philox words, and for Gaussian probes
 * cuRAND's Box-Muller formula, vectorised (the shared optk_logf and a polynomial sincos in
 * place of libm's) and split over the cores. */
#include "cpu_backend.h"
#include "../common/philox.h"
#include "../common/probes.h"
#include "mixed_precision.h" /* OPTK_CPU_HOT_LOOP */
#include "parallel.h"
#include "philox_lanes.h"

#include <math.h>

/* Blocks [b0, b1) of a Rademacher probe of n entries: one Philox block (four words) serves
 * 128 entries; a full word's 32 entries are a loop of constant trip count, which vectorises. */
OPTK_CPU_HOT_LOOP static void rademacher_blocks(uint64_t seed, uint64_t sub, float *out, int64_t n,
                                                int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
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

/* ---- Gaussian probes: cuRAND's Box-Muller, eight Philox blocks at a time --------------- */

/* sin v and cos v for v in (0, 2 pi): v = k pi/2 + t with |t| <= pi/4 (k = 0..4, pi/2 in
 * two parts so that t keeps its bits), Taylor polynomials to t^9 and t^10 (truncation below
 * 2e-9), the quadrant by selects. Branch-free, so the loop over lanes vectorises; within
 * 1.5e-7 of sin and cos of the float v (libm's sinf/cosf, which this replaces, are within
 * an ulp: both far inside the 2e-5 contract against cuRAND's fast intrinsic). */
static inline void sincos_2pi(float v, float *sin_v, float *cos_v) {
    const float k = rintf(v * 0.636619772f);
    float t = fmaf(-k, 1.57079637f, v);
    t = fmaf(-k, -4.37113883e-08f, t);
    const float t2 = t * t;
    float sp = 2.75573192e-06f; /* 1/9! */
    sp = fmaf(sp, t2, -1.98412698e-04f);
    sp = fmaf(sp, t2, 8.33333333e-03f);
    sp = fmaf(sp, t2, -1.66666667e-01f);
    const float st = fmaf(sp * t2, t, t);
    float cp = -2.75573192e-07f; /* -1/10! */
    cp = fmaf(cp, t2, 2.48015873e-05f);
    cp = fmaf(cp, t2, -1.38888889e-03f);
    cp = fmaf(cp, t2, 4.16666667e-02f);
    cp = fmaf(cp, t2, -0.5f);
    const float ct = fmaf(cp, t2, 1.0f);
    const int q = (int)k & 3;
    const float s = (q & 1) ? ct : st, c = (q & 1) ? st : ct;
    *sin_v = (q == 2 || q == 3) ? -s : s;
    *cos_v = (q == 1 || q == 2) ? -c : c;
}

/* Blocks [b0, b1) of a Gaussian probe of n entries: per block (x, y, z, w), entries
 * (sin, cos)(v(y)) * sqrt(-2 ln u(x)) and the same of (z, w) — curand_normal4's formula. */
OPTK_CPU_HOT_LOOP static void gaussian_blocks(uint64_t seed, uint64_t sub, float *out, int64_t n,
                                              int64_t b0, int64_t b1) {
    const int64_t end = b1 * 4 < n ? b1 * 4 : n; /* the slice's entries end here */
    for (int64_t b = b0; b < b1; b += OPTK_PHILOX_LANES) {
        uint32_t x[4][OPTK_PHILOX_LANES];
        optk_philox_lanes(seed, sub, (uint64_t)b, x);
        float zs[2][OPTK_PHILOX_LANES], zc[2][OPTK_PHILOX_LANES];
        for (int pair = 0; pair < 2; ++pair) {
            for (int l = 0; l < OPTK_PHILOX_LANES; ++l) {
                const float r = sqrtf(-2.0f * optk_logf(optk_box_muller_u(x[2 * pair][l])));
                float sin_v, cos_v;
                sincos_2pi(optk_box_muller_v(x[2 * pair + 1][l]), &sin_v, &cos_v);
                zs[pair][l] = sin_v * r;
                zc[pair][l] = cos_v * r;
            }
        }
        float *group = out + 4 * b; /* block b + l: entries 4 l .. 4 l + 3 of the group */
        if (4 * (b + OPTK_PHILOX_LANES) <= end) {
            /* A whole group: an interleave of constant shape, which vectorises into shuffles
             * and full-width stores (scalar stores here cost a third of the generation). */
            for (int l = 0; l < OPTK_PHILOX_LANES; ++l) {
                group[4 * l] = zs[0][l];
                group[4 * l + 1] = zc[0][l];
                group[4 * l + 2] = zs[1][l];
                group[4 * l + 3] = zc[1][l];
            }
        } else {
            for (int l = 0; l < OPTK_PHILOX_LANES; ++l) {
                const float z[4] = {zs[0][l], zc[0][l], zs[1][l], zc[1][l]};
                for (int64_t k = 0, e = 4 * (b + l); k < 4 && e + k < end; ++k)
                    out[e + k] = z[k];
            }
        }
    }
}

typedef struct probe_job {
    uint64_t seed, sub;
    float *out;
    int64_t n;
    int64_t entries_per_block, blocks_per_item;
    void (*blocks)(uint64_t seed, uint64_t sub, float *out, int64_t n, int64_t b0, int64_t b1);
} probe_job;

/* Items [begin, end): each item is blocks_per_item Philox blocks. */
static int probe_slice(void *arg, int64_t begin, int64_t end, int worker) {
    (void)worker;
    const probe_job *job = arg;
    const int64_t blocks = (job->n + job->entries_per_block - 1) / job->entries_per_block;
    const int64_t b1 = end * job->blocks_per_item < blocks ? end * job->blocks_per_item : blocks;
    job->blocks(job->seed, job->sub, job->out, job->n, begin * job->blocks_per_item, b1);
    return 0;
}

/* Entries are independent: the cores share the blocks (2^16 entries or more), Gaussian ones
 * cut at multiples of OPTK_PHILOX_LANES blocks. */
optk_status optk_cpu_probe_fill(optk_context *ctx, optk_probe_kind kind, uint64_t seed,
                                uint64_t step, uint64_t probe, float *out, int64_t n) {
    (void)ctx;
    const bool rad = kind == OPTK_PROBE_RADEMACHER;
    probe_job job = {.seed = seed,
                     .sub = optk_probe_subsequence(step, probe),
                     .out = out,
                     .n = n,
                     .entries_per_block = rad ? 128 : 4,
                     .blocks_per_item = rad ? 1 : OPTK_PHILOX_LANES,
                     .blocks = rad ? rademacher_blocks : gaussian_blocks};
    const int64_t per_item = job.entries_per_block * job.blocks_per_item;
    const int64_t items = (n + per_item - 1) / per_item;
    const int workers = n >= (1 << 16) ? optk_cpu_workers(items) : 1;
    optk_cpu_parallel(items, workers, probe_slice, &job);
    return OPTK_OK;
}
