/* probes.c — Hutchinson probes on the CPU: the shared Philox words, and for Gaussian probes
 * cuRAND's Box-Muller formula, vectorised (the shared optk_logf and a polynomial sincos in
 * place of libm's); split over the cores, large probes written past the caches. */
#include "cpu_backend.h"
#include "../common/philox.h"
#include "../common/probes.h"
#include "mixed_precision.h" /* OPTK_CPU_HOT_LOOP */
#include "parallel.h"
#include "philox_lanes.h"

#include <math.h>
#include <string.h>

/* Entries [128 b0, 128 b0 + count) of a Rademacher probe into dst[0 .. count): one Philox
 * block (four words) serves 128 entries; a full word's 32 entries are a loop of constant
 * trip count, which vectorises. */
OPTK_CPU_HOT_LOOP static void rademacher_entries(uint64_t seed, uint64_t sub, int64_t b0,
                                                 int64_t count, float *dst) {
    for (int64_t b = 0; b * 128 < count; ++b) {
        uint32_t x[4];
        optk_philox_block(seed, sub, (uint64_t)(b0 + b), x);
        for (int w = 0; w < 4 && b * 128 + w * 32 < count; ++w) {
            float *at = dst + b * 128 + w * 32;
            if (b * 128 + w * 32 + 32 <= count) {
                for (int i = 0; i < 32; ++i)
                    at[i] = optk_rademacher(x[w], i);
            } else {
                for (int64_t i = 0; i < count - (b * 128 + w * 32); ++i)
                    at[i] = optk_rademacher(x[w], i);
            }
        }
    }
}

/* ---- Gaussian probes: cuRAND's Box-Muller, sixteen Philox blocks at a time ------------- */

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

/* Entries [4 b0, 4 b0 + count) of a Gaussian probe into dst[0 .. count): per block (x, y,
 * z, w), entries (sin, cos)(v(y)) * sqrt(-2 ln u(x)) and the same of (z, w) — the formula of
 * curand_normal4; sixteen blocks at a time. */
OPTK_CPU_HOT_LOOP static void gaussian_entries(uint64_t seed, uint64_t sub, int64_t b0,
                                               int64_t count, float *dst) {
    for (int64_t b = 0; 4 * b < count; b += OPTK_PHILOX_LANES) {
        uint32_t x[4][OPTK_PHILOX_LANES];
        optk_philox_lanes(seed, sub, (uint64_t)(b0 + b), x);
        float z[4][OPTK_PHILOX_LANES]; /* entry w of block b + l in z[w][l] */
        for (int pair = 0; pair < 2; ++pair) {
            for (int l = 0; l < OPTK_PHILOX_LANES; ++l) {
                /* u > 0 is a normal float: the log needs none of optk_logf's special cases. */
                const float r = sqrtf(-2.0f * optk_logf_normal(optk_box_muller_u(x[2 * pair][l])));
                float sin_v, cos_v;
                sincos_2pi(optk_box_muller_v(x[2 * pair + 1][l]), &sin_v, &cos_v);
                z[2 * pair][l] = sin_v * r;
                z[2 * pair + 1][l] = cos_v * r;
            }
        }
        if (4 * (b + OPTK_PHILOX_LANES) <= count) {
            optk_lanes_to_elements(z, dst + 4 * b);
        } else {
            for (int64_t e = 4 * b; e < count; ++e)
                dst[e] = z[e % 4][e / 4 - b];
        }
    }
}

/* ---- filling a probe: slices over the cores, streamed past the caches when large ------- */

/* A probe at least this long (64 MiB) is written with non-temporal stores: it cannot stay in
 * cache for the H z that reads it next anyway, and streaming skips reading every line in
 * before overwriting it (half of the write's memory traffic). */
enum { STREAM_MIN_ENTRIES = 1 << 24, STREAM_TILE = 2048 };

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
static bool can_stream(void) {
    return __builtin_cpu_supports("avx");
}

/* dst (32-byte aligned) = src, count floats, through non-temporal stores. */
__attribute__((target("avx"))) static void stream_floats(float *dst, const float *src,
                                                         int64_t count) {
    int64_t i = 0;
    for (; i + 8 <= count; i += 8)
        _mm256_stream_ps(dst + i, _mm256_loadu_ps(src + i));
    for (; i < count; ++i)
        dst[i] = src[i];
}

/* The streamed lines are visible before the worker reports done. */
static void stream_fence(void) {
    _mm_sfence();
}
#else
static bool can_stream(void) {
    return false;
}
static void stream_floats(float *dst, const float *src, int64_t count) {
    memcpy(dst, src, (size_t)count * sizeof(float));
}
static void stream_fence(void) {}
#endif

typedef struct probe_job {
    uint64_t seed, sub;
    float *out;
    int64_t n;
    int64_t entries_per_block, blocks_per_item;
    bool stream;
    void (*entries)(uint64_t seed, uint64_t sub, int64_t b0, int64_t count, float *dst);
} probe_job;

/* Items [begin, end): each item is blocks_per_item Philox blocks. Streamed, the entries are
 * generated a tile at a time into L1 and copied out with non-temporal stores. */
static int probe_slice(void *arg, int64_t begin, int64_t end, int worker) {
    (void)worker;
    const probe_job *job = arg;
    const int64_t per_item = job->entries_per_block * job->blocks_per_item;
    const int64_t e0 = begin * per_item, e1 = end * per_item < job->n ? end * per_item : job->n;
    if (job->stream) {
        float tile[STREAM_TILE]; /* STREAM_TILE: a multiple of every item */
        for (int64_t e = e0; e < e1; e += STREAM_TILE) {
            const int64_t len = e1 - e < STREAM_TILE ? e1 - e : STREAM_TILE;
            job->entries(job->seed, job->sub, e / job->entries_per_block, len, tile);
            stream_floats(job->out + e, tile, len);
        }
        stream_fence();
        return 0;
    }
    job->entries(job->seed, job->sub, e0 / job->entries_per_block, e1 - e0, job->out + e0);
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
                     .entries = rad ? rademacher_entries : gaussian_entries};
    /* Slices start at whole items (multiples of 128 bytes), so an aligned probe streams. */
    job.stream = n >= STREAM_MIN_ENTRIES && ((uintptr_t)out & 31u) == 0 && can_stream();
    const int64_t per_item = job.entries_per_block * job.blocks_per_item;
    const int64_t items = (n + per_item - 1) / per_item;
    const int workers = n >= (1 << 16) ? optk_cpu_workers(items) : 1;
    optk_cpu_parallel(items, workers, probe_slice, &job);
    return OPTK_OK;
}
