/* hutchinson.c — the CPU side of Hutchinson's estimator: a dense symmetric H z with double
 * accumulation, and the shared per-coordinate sums. */
#include "cpu_backend.h"
#include "parallel.h"
#include "mixed_precision.h" /* OPTK_CPU_HOT_LOOP */

/* H Z with every output summed in double in index order, as the plain loop
 *     for c < n: acc += (double)H[r][c] * (double)z_j[c]
 * writes it (the products are exact in double; each sum is rounded term by term, no FMA).
 * That loop is one long chain of dependent adds per output, so it ran at the latency of an
 * add. Here a row's sums for eight probes sit side by side in a vector, against Z transposed
 * into doubles (zt[c][j], the probes padded to a multiple of eight with zeros), and eight rows
 * go at once: 64 sums in flight, each still added in index order, so the bits are the plain
 * loop's. */
enum { HVP_LANES = 8, HVP_ROWS = 8 };

typedef struct hvp_job {
    const float *h;
    const double *zt; /* n x kp */
    float *hz;
    int64_t n, kp;
    int k;
} hvp_job;

/* Rows [r0, r0 + rows) of H against probes [j0, j0 + HVP_LANES), rows <= HVP_ROWS. */
OPTK_CPU_HOT_LOOP static void hvp_tile(const hvp_job *job, int64_t r0, int rows, int64_t j0) {
    const int64_t n = job->n;
    double acc[HVP_ROWS][HVP_LANES] = {{0.0}};
    for (int64_t c = 0; c < n; ++c) {
        const double *restrict zc = job->zt + c * job->kp + j0;
        for (int r = 0; r < HVP_ROWS; ++r) {
            const double hrc = r < rows ? (double)job->h[(r0 + r) * n + c] : 0.0;
            for (int l = 0; l < HVP_LANES; ++l)
                acc[r][l] += hrc * zc[l];
        }
    }
    for (int l = 0; l < HVP_LANES && j0 + l < job->k; ++l)
        for (int r = 0; r < rows; ++r)
            job->hz[(j0 + l) * n + r0 + r] = (float)acc[r][l];
}

/* Row blocks [b0, b1) of HVP_ROWS rows, every probe (each output whole on one thread: the
 * thread count changes no bit). */
static int hvp_slice(void *arg, int64_t b0, int64_t b1, int worker) {
    (void)worker;
    const hvp_job *job = arg;
    for (int64_t b = b0; b < b1; ++b) {
        const int64_t r0 = b * HVP_ROWS;
        const int rows = job->n - r0 < HVP_ROWS ? (int)(job->n - r0) : HVP_ROWS;
        for (int64_t j0 = 0; j0 < job->kp; j0 += HVP_LANES)
            hvp_tile(job, r0, rows, j0);
    }
    return 0;
}

optk_status optk_cpu_dense_hvp(optk_context *ctx, const float *h, const float *z, float *hz,
                               int64_t n, int k) {
    const int64_t kp = ((int64_t)k + HVP_LANES - 1) / HVP_LANES * HVP_LANES;
    double *zt = NULL;
    const optk_status s = optk_cpu_scratch(ctx, (size_t)(n * kp) * sizeof *zt, (void **)&zt);
    if (s != OPTK_OK) return s;
    for (int64_t c = 0; c < n; ++c)
        for (int64_t j = 0; j < kp; ++j)
            zt[c * kp + j] = j < k ? (double)z[j * n + c] : 0.0;
    hvp_job job = {h, zt, hz, n, kp, k};
    const int64_t blocks = (n + HVP_ROWS - 1) / HVP_ROWS;
    const int workers = (double)k * (double)n * (double)n >= 1e7 ? optk_cpu_workers(blocks) : 1;
    optk_cpu_parallel(blocks, workers, hvp_slice, &job);
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
