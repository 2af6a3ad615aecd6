/* probes.c — Hutchinson probes on the CPU: the shared Philox words, and for Gaussian probes
 * cuRAND's Box-Muller formula (box_muller_lanes.h); split over the cores, large probes
 * written past the caches. */
#include "cpu_backend.h"
#include "../common/philox.h"
#include "../common/probes.h"
#include "mixed_precision.h" /* OPTK_CPU_HOT_LOOP */
#include "parallel.h"
#include "box_muller_lanes.h"
#include "philox_lanes.h"

/* Probes of at least this many entries (64 MiB) are written with non-temporal stores where
 * the machine has AVX-512: they cannot stay in cache for the H z that reads them next anyway,
 * and streaming skips reading every line in before overwriting it. The stores come straight
 * from the registers the entries are made in: copied out of a tile in L1 with 256-bit
 * streaming stores, as before, a Rademacher probe took twice as long as with plain stores on
 * this project's Zen 5 VM. */
enum { STREAM_MIN_ENTRIES = 1 << 24 };

/* Blocks per parallel item: a multiple of the AVX-512 paths' (sixteen Rademacher blocks, 2048
 * entries; OPTK_GAUSSIAN_BLOCKS Gaussian ones), so that every slice starts at 1 KiB steps
 * and only the probe's last slice has a tail. */
enum { RADEMACHER_ITEM_BLOCKS = 16, GAUSSIAN_ITEM_BLOCKS = 64 };

#ifdef OPTK_HAVE_PHILOX_AVX2
_Static_assert(RADEMACHER_ITEM_BLOCKS % OPTK_PHILOX_LANES == 0 &&
                   GAUSSIAN_ITEM_BLOCKS % OPTK_GAUSSIAN_BLOCKS == 0,
               "items of whole AVX-512 groups");

/* The 2048 Rademacher entries of blocks block0 .. block0 + 15: word j of the sixteen blocks
 * (in element order) holds entries 32 j .. 32 j + 31, bit i entry 32 j + i — a 16-bit mask
 * selects +1 or -1 per 512-bit vector. stream: out 64-byte aligned, non-temporal stores. */
__attribute__((target("avx512f"))) static void
rademacher_blocks_avx512(uint64_t seed, uint64_t sub, uint64_t block0, float *out, bool stream) {
    uint32_t words[4 * OPTK_PHILOX_LANES];
    optk_philox_words_avx512(seed, sub, block0, words);
    const __m512 plus = _mm512_set1_ps(1.0f), minus = _mm512_set1_ps(-1.0f);
    for (int h = 0; h < 2 * 4 * OPTK_PHILOX_LANES; ++h) {
        const __mmask16 bits = (__mmask16)(words[h / 2] >> (16 * (h % 2)));
        const __m512 v = _mm512_mask_blend_ps(bits, minus, plus);
        if (stream)
            _mm512_stream_ps(out + 16 * h, v);
        else
            _mm512_storeu_ps(out + 16 * h, v);
    }
}
#endif

/* Entries [128 b0, 128 b0 + count) of a Rademacher probe into dst[0 .. count): sixteen blocks
 * at a time in AVX-512 where the machine has it; else, and for the rest, block by block
 * (four words, 128 entries), a full word's 32 entries a loop of constant trip count, which
 * vectorises. */
OPTK_CPU_HOT_LOOP static void rademacher_entries(uint64_t seed, uint64_t sub, int64_t b0,
                                                 int64_t count, float *dst, bool stream) {
    int64_t b = 0;
#ifdef OPTK_HAVE_PHILOX_AVX2
    if (__builtin_cpu_supports("avx512f")) {
        for (; 128 * (b + OPTK_PHILOX_LANES) <= count; b += OPTK_PHILOX_LANES)
            rademacher_blocks_avx512(seed, sub, (uint64_t)(b0 + b), dst + 128 * b, stream);
    }
#else
    (void)stream;
#endif
    for (; b * 128 < count; ++b) {
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

/* Entries [4 b0, 4 b0 + count) of a Gaussian probe into dst[0 .. count): per block (x, y,
 * z, w), entries (sin, cos)(v(y)) * sqrt(-2 ln u(x)) and the same of (z, w) — the formula of
 * curand_normal4 (box_muller_lanes.h); OPTK_GAUSSIAN_BLOCKS blocks at a time in AVX-512
 * where the machine has it, else (and for the rest) sixteen in the portable loop. */
OPTK_CPU_HOT_LOOP static void gaussian_entries(uint64_t seed, uint64_t sub, int64_t b0,
                                               int64_t count, float *dst, bool stream) {
    int64_t b = 0;
#ifdef OPTK_HAVE_PHILOX_AVX2
    if (__builtin_cpu_supports("avx512f")) {
        for (; 4 * (b + OPTK_GAUSSIAN_BLOCKS) <= count; b += OPTK_GAUSSIAN_BLOCKS)
            optk_gaussian_blocks_avx512(seed, sub, (uint64_t)(b0 + b), dst + 4 * b, stream);
    }
#else
    (void)stream;
#endif
    for (; 4 * b < count; b += OPTK_PHILOX_LANES) {
        uint32_t x[4][OPTK_PHILOX_LANES];
        optk_philox_lanes(seed, sub, (uint64_t)(b0 + b), x);
        float z[4][OPTK_PHILOX_LANES]; /* entry w of block b + l in z[w][l] */
        optk_box_muller_lanes(x, z);
        if (4 * (b + OPTK_PHILOX_LANES) <= count) {
            optk_lanes_to_elements(z, dst + 4 * b);
        } else {
            for (int64_t e = 4 * b; e < count; ++e)
                dst[e] = z[e % 4][e / 4 - b];
        }
    }
}

/* ---- filling a probe: slices over the cores, streamed past the caches when large ------- */

#ifdef OPTK_HAVE_PHILOX_AVX2
/* Whether the AVX-512 paths may stream into out: 64-byte aligned (so is every slice). */
static bool can_stream(const float *out) {
    return ((uintptr_t)out & 63u) == 0 && __builtin_cpu_supports("avx512f");
}

/* The streamed lines are visible before the worker reports done. */
static void stream_fence(void) {
    _mm_sfence();
}
#else
static bool can_stream(const float *out) {
    (void)out;
    return false;
}
static void stream_fence(void) {}
#endif

typedef struct probe_job {
    uint64_t seed, sub;
    float *out;
    int64_t n;
    int64_t entries_per_block, blocks_per_item;
    bool stream;
    void (*entries)(uint64_t seed, uint64_t sub, int64_t b0, int64_t count, float *dst,
                    bool stream);
} probe_job;

/* Items [begin, end): each item is blocks_per_item Philox blocks. */
static int probe_slice(void *arg, int64_t begin, int64_t end, int worker) {
    (void)worker;
    const probe_job *job = arg;
    const int64_t per_item = job->entries_per_block * job->blocks_per_item;
    const int64_t e0 = begin * per_item, e1 = end * per_item < job->n ? end * per_item : job->n;
    job->entries(job->seed, job->sub, e0 / job->entries_per_block, e1 - e0, job->out + e0,
                 job->stream);
    if (job->stream) stream_fence();
    return 0;
}

/* Entries are independent: the cores share the items (2^16 entries or more). */
optk_status optk_cpu_probe_fill(optk_context *ctx, optk_probe_kind kind, uint64_t seed,
                                uint64_t step, uint64_t probe, float *out, int64_t n) {
    (void)ctx;
    const bool rad = kind == OPTK_PROBE_RADEMACHER;
    probe_job job = {.seed = seed,
                     .sub = optk_probe_subsequence(step, probe),
                     .out = out,
                     .n = n,
                     .entries_per_block = rad ? 128 : 4,
                     .blocks_per_item = rad ? RADEMACHER_ITEM_BLOCKS : GAUSSIAN_ITEM_BLOCKS,
                     .entries = rad ? rademacher_entries : gaussian_entries};
    job.stream = n >= STREAM_MIN_ENTRIES && can_stream(out);
    const int64_t per_item = job.entries_per_block * job.blocks_per_item;
    const int64_t items = (n + per_item - 1) / per_item;
    const int workers = n >= (1 << 16) ? optk_cpu_workers(items) : 1;
    optk_cpu_parallel(items, workers, probe_slice, &job);
    return OPTK_OK;
}
