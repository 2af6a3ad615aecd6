/* exp_chain.c — the exp throughput op on the CPU: the shared exp over slices of 4096
 * elements (16 KiB, held in L1 through all the rounds), the slices split over the cores,
 * sixteen (AVX-512) or eight (AVX2) elements a vector. */
#include "cpu_backend.h"
#include "mixed_precision.h" /* OPTK_CPU_HOT_LOOP */
#include "parallel.h"
#include "../common/math.h"

enum { SLICE = 4096 }; /* elements per item: big enough to amortise the split */

typedef struct chain_job {
    float *x;
    int64_t n;
    int rounds;
} chain_job;

OPTK_CPU_HOT_LOOP static void chain(float *restrict x, int64_t n, int rounds) {
    for (int r = 0; r < rounds; ++r) {
        for (int64_t i = 0; i < n; ++i)
            x[i] = optk_expf(-fabsf(x[i]));
    }
}

static int chain_items(void *arg, int64_t begin, int64_t end, int worker) {
    (void)worker;
    const chain_job *job = arg;
    for (int64_t item = begin; item < end; ++item) {
        const int64_t at = item * SLICE, len = job->n - at < SLICE ? job->n - at : SLICE;
        chain(job->x + at, len, job->rounds);
    }
    return 0;
}

optk_status optk_cpu_exp_chain(optk_context *ctx, float *x, int64_t n, int rounds) {
    (void)ctx;
    chain_job job = {x, n, rounds};
    const int64_t items = (n + SLICE - 1) / SLICE;
    optk_cpu_parallel(items, optk_cpu_workers(items), chain_items, &job);
    return OPTK_OK;
}
