/* hutchinson.c — the CPU side of Hutchinson's estimator: a dense symmetric H z with double
 * accumulation, and the shared per-coordinate sums. */
#include "cpu_backend.h"
#include "parallel.h"
#include "mixed_precision.h" /* OPTK_CPU_HOT_LOOP */

typedef struct hvp_job {
    const float *h, *z;
    float *hz;
    int64_t n;
} hvp_job;

/* Outputs [o0, o1) of H Z, output o = j n + r: row r of H against column j of Z, summed in
 * double in index order (each output whole on one thread: the thread count changes no bit). */
OPTK_CPU_HOT_LOOP static int hvp_slice(void *arg, int64_t o0, int64_t o1, int worker) {
    (void)worker;
    const hvp_job *job = arg;
    const int64_t n = job->n;
    for (int64_t o = o0; o < o1; ++o) {
        const float *restrict row = job->h + (o % n) * n, *restrict zj = job->z + (o / n) * n;
        double acc = 0.0;
        for (int64_t c = 0; c < n; ++c)
            acc += (double)row[c] * (double)zj[c];
        job->hz[o] = (float)acc;
    }
    return 0;
}

optk_status optk_cpu_dense_hvp(optk_context *ctx, const float *h, const float *z, float *hz,
                               int64_t n, int k) {
    (void)ctx;
    hvp_job job = {h, z, hz, n};
    const int64_t outputs = (int64_t)k * n;
    const int workers = (double)outputs * (double)n >= 1e7 ? optk_cpu_workers(outputs / 64) : 1;
    optk_cpu_parallel(outputs, workers, hvp_slice, &job);
    return OPTK_OK;
}

/* Coordinates per block: the block's three sums stay in cache (48 KiB) while every probe of
 * the chunk is added, in probe order (the order CUDA adds them in too). */
enum { ACCUMULATE_BLOCK = 2048 };

/* One block of len coordinates: sums from acc (or zero on the first chunk), the chunk's k
 * probes added, then stored back or, on the last chunk, turned into the estimate. */
OPTK_CPU_HOT_LOOP static void accumulate_block(const float *restrict z, const float *restrict hz,
                                               int64_t n, int k, int64_t first, int64_t len,
                                               double *restrict acc, const optk_diag_pass *pass) {
    double sum[ACCUMULATE_BLOCK], sum_sq[ACCUMULATE_BLOCK], zz[ACCUMULATE_BLOCK];
    for (int64_t i = 0; i < len; ++i) {
        sum[i] = pass->first ? 0.0 : acc[first + i];
        sum_sq[i] = pass->first ? 0.0 : acc[n + first + i];
        zz[i] = pass->first ? 0.0 : acc[2 * n + first + i];
    }
    /* Four probes per sweep, added in probe order: eight streams read side by side (which the
     * prefetchers keep up with better than one probe's short runs) and a quarter of the
     * sums' loads and stores. */
    int j = 0;
    for (; j + 4 <= k; j += 4) {
        const float *restrict z0 = z + (int64_t)j * n + first, *restrict h0 =
                                                                   hz + (int64_t)j * n + first;
        const float *restrict z1 = z0 + n, *restrict h1 = h0 + n;
        const float *restrict z2 = z1 + n, *restrict h2 = h1 + n;
        const float *restrict z3 = z2 + n, *restrict h3 = h2 + n;
        for (int64_t i = 0; i < len; ++i) {
            double s = sum[i], sq = sum_sq[i], q = zz[i];
            optk_diag_accumulate(&s, &sq, &q, z0[i], h0[i]);
            optk_diag_accumulate(&s, &sq, &q, z1[i], h1[i]);
            optk_diag_accumulate(&s, &sq, &q, z2[i], h2[i]);
            optk_diag_accumulate(&s, &sq, &q, z3[i], h3[i]);
            sum[i] = s, sum_sq[i] = sq, zz[i] = q;
        }
    }
    for (; j < k; ++j) {
        const float *zj = z + (int64_t)j * n + first, *hzj = hz + (int64_t)j * n + first;
        for (int64_t i = 0; i < len; ++i)
            optk_diag_accumulate(&sum[i], &sum_sq[i], &zz[i], zj[i], hzj[i]);
    }
    if (pass->last) {
        float *variance = pass->variance ? pass->variance + first : NULL;
        for (int64_t i = 0; i < len; ++i) {
            optk_diag_estimate(sum[i], sum_sq[i], zz[i], pass->probes, pass->bekas,
                               pass->diag + first + i, variance ? variance + i : NULL);
        }
    } else {
        for (int64_t i = 0; i < len; ++i) {
            acc[first + i] = sum[i];
            acc[n + first + i] = sum_sq[i];
            acc[2 * n + first + i] = zz[i];
        }
    }
}

typedef struct accumulate_job {
    const float *z, *hz;
    int64_t n;
    int k;
    double *acc;
    const optk_diag_pass *pass;
} accumulate_job;

static int accumulate_slice(void *arg, int64_t b0, int64_t b1, int worker) {
    (void)worker;
    const accumulate_job *job = arg;
    for (int64_t b = b0; b < b1; ++b) {
        const int64_t first = b * ACCUMULATE_BLOCK, rest = job->n - first;
        accumulate_block(job->z, job->hz, job->n, job->k, first,
                         rest < ACCUMULATE_BLOCK ? rest : ACCUMULATE_BLOCK, job->acc, job->pass);
    }
    return 0;
}

/* Coordinates are independent: the cores share the blocks (2^16 coordinates or more). */
optk_status optk_cpu_diag_accumulate(optk_context *ctx, const float *z, const float *hz, int64_t n,
                                     int k, double *acc, const optk_diag_pass *pass) {
    (void)ctx;
    accumulate_job job = {z, hz, n, k, acc, pass};
    const int64_t blocks = (n + ACCUMULATE_BLOCK - 1) / ACCUMULATE_BLOCK;
    const int workers = n >= (1 << 16) ? optk_cpu_workers(blocks) : 1;
    optk_cpu_parallel(blocks, workers, accumulate_slice, &job);
    return OPTK_OK;
}
