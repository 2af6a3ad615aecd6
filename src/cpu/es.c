/* es.c — the CPU side of EGGROLL: noise from the shared Philox and normal transform, the
 * fused low-rank correction and the bias (the products go through gemm.c). */
#include "cpu_backend.h"
#include "mixed_precision.h" /* OPTK_CPU_HOT_LOOP */
#include "parallel.h"
#include "../common/philox.h"
#include "philox_lanes.h"

#include <stdlib.h>

/* out[k] = the normal of word e0 + k of stream sub (times scale), k < len: sixteen Philox
 * blocks (64 words) at a time in between a scalar head and tail, so that the transform's loop
 * over the lanes vectorises (hot: Giles' erfinv is a chain of fmaf, which baseline x86-64
 * would call into libm for). The transform runs on the words as Philox leaves them and the
 * normals are put in element order after (optk_lanes_to_elements): transforming
 * optk_philox_words' element order instead kept GCC 12 from vectorising it (the full-rank ES
 * forward took 1140-1290 ms against 330-480). */
OPTK_CPU_HOT_LOOP static void normals(uint64_t seed, uint64_t sub, int64_t e0, int64_t len,
                                      bool scaled, float scale, float *out) {
    enum { GROUP = 4 * OPTK_PHILOX_LANES };
    int64_t k = 0;
    for (; k < len && (e0 + k) % GROUP != 0; ++k) {
        const float z = optk_normal_from_word(optk_philox_u32(seed, sub, (uint64_t)(e0 + k)));
        out[k] = scaled ? scale * z : z;
    }
    for (; k + GROUP <= len; k += GROUP) {
        uint32_t words[4][OPTK_PHILOX_LANES];
        optk_philox_lanes(seed, sub, (uint64_t)(e0 + k) / 4, words);
        float z[4][OPTK_PHILOX_LANES]; /* word w of block l: entry 4 l + w */
        for (int w = 0; w < 4; ++w)
            for (int l = 0; l < OPTK_PHILOX_LANES; ++l)
                z[w][l] = optk_normal_from_word(words[w][l]);
        if (scaled) /* apart: with the select in the loop above, GCC 12 vectorised neither */
            for (int w = 0; w < 4; ++w)
                for (int l = 0; l < OPTK_PHILOX_LANES; ++l)
                    z[w][l] *= scale;
        optk_lanes_to_elements(z, out + k);
    }
    for (; k < len; ++k) {
        const float z = optk_normal_from_word(optk_philox_u32(seed, sub, (uint64_t)(e0 + k)));
        out[k] = scaled ? scale * z : z;
    }
}

/* A pair's noise is `rows` runs of `cols` words. Where the rows also lie back to back in
 * memory (row_stride == cols: every factor and every matrix of noise the library fills) the
 * pair is one run, cut into pieces of FILL_PIECE words instead: a rank-1 factor's rows are one
 * word each, and a row at a time they all took the scalar head path (a Philox block per
 * word), which was a tenth of the rank-1 ES forward. The bits are the same either way: every
 * word's normal is a function of its index alone. */
enum { FILL_PIECE = 4096 }; /* a multiple of the 64 words of sixteen Philox blocks */

typedef struct fill_job {
    uint64_t seed, generation;
    uint32_t layer;
    int64_t first_pair, offset, pair_stride;
    int64_t pieces, piece, words; /* per pair: pieces of `piece` words, `words` in all */
    int64_t piece_stride;         /* where piece q of a pair starts: q piece_stride floats in */
    const float *coef;
    float *out;
} fill_job;

/* Pieces [q0, q1) of all the pairs' pieces (piece q: pair q / pieces, piece q % pieces). */
static int fill_pieces(void *arg, int64_t q0, int64_t q1, int worker) {
    (void)worker;
    const fill_job *j = arg;
    for (int64_t q = q0; q < q1; ++q) {
        const int64_t c = q / j->pieces, w = q % j->pieces * j->piece;
        const int64_t len = j->words - w < j->piece ? j->words - w : j->piece;
        const uint64_t sub = optk_es_subsequence(j->generation, j->layer, j->first_pair + c);
        normals(j->seed, sub, j->offset + w, len, j->coef != NULL, j->coef ? j->coef[c] : 1.0f,
                j->out + c * j->pair_stride + q % j->pieces * j->piece_stride);
    }
    return 0;
}

/* The job that fills count pairs' noise (see fill_job). */
static fill_job fill_job_of(uint64_t seed, uint64_t generation, uint32_t layer, int64_t first_pair,
                            int64_t rows, int64_t cols, int64_t offset, int64_t pair_stride,
                            int64_t row_stride, const float *coef, float *out) {
    const bool one_run = row_stride == cols;
    const int64_t words = rows * cols, piece = one_run ? FILL_PIECE : cols;
    return (fill_job){.seed = seed,
                      .generation = generation,
                      .layer = layer,
                      .first_pair = first_pair,
                      .offset = offset,
                      .pair_stride = pair_stride,
                      .pieces = one_run ? (words + piece - 1) / piece : rows,
                      .piece = piece,
                      .words = words,
                      .piece_stride = one_run ? piece : row_stride,
                      .coef = coef,
                      .out = out};
}

/* Entries are independent: the cores share the pieces (2^16 entries or more). */
optk_status optk_cpu_es_fill(optk_context *ctx, uint64_t seed, uint64_t generation, uint32_t layer,
                             int64_t first_pair, int64_t count, int64_t rows, int64_t cols,
                             int64_t offset, int64_t pair_stride, int64_t row_stride,
                             const float *coef, float *out) {
    (void)ctx;
    fill_job job = fill_job_of(seed, generation, layer, first_pair, rows, cols, offset, pair_stride,
                               row_stride, coef, out);
    const int64_t items = count * job.pieces;
    const int workers =
        (double)count * (double)job.words >= (double)(1 << 16) ? optk_cpu_workers(items) : 1;
    optk_cpu_parallel(items, workers, fill_pieces, &job);
    return OPTK_OK;
}

/* Y_i += coef (X_i B) A^T for one member (U: batch x r scratch). */
OPTK_CPU_HOT_LOOP static void lowrank_member(const float *x, float *y, const float *A,
                                             const float *B, float *U, int64_t m, int64_t n,
                                             int64_t r, int64_t batch, float coef) {
    for (int64_t b = 0; b < batch; ++b) {
        for (int64_t k = 0; k < r; ++k) { /* U = X_i B_p */
            float u = 0.0f;
            for (int64_t j = 0; j < n; ++j)
                u = fmaf(x[b * n + j], B[j * r + k], u);
            U[b * r + k] = coef * u;
        }
        for (int64_t o = 0; o < m; ++o) { /* Y_i += coef U A_p^T */
            float add = 0.0f;
            for (int64_t k = 0; k < r; ++k)
                add = fmaf(U[b * r + k], A[o * r + k], add);
            y[b * m + o] += add;
        }
    }
}

typedef struct lowrank_job {
    uint64_t seed, generation;
    uint32_t layer;
    int64_t m, n, r, batch;
    float scale;
    const float *X;
    float *Y;
} lowrank_job;

/* Pairs [p0, p1): each pair's factors regenerated into this worker's buffers (on this thread),
 * then both members' corrections. Members are independent and each is computed whole by one
 * thread, so the thread count changes no bit. */
static int lowrank_slice(void *arg, int64_t p0, int64_t p1, int worker) {
    (void)worker;
    const lowrank_job *j = arg;
    const int64_t m = j->m, n = j->n, r = j->r;
    float *A = malloc((size_t)(m * r) * sizeof *A), *B = malloc((size_t)(n * r) * sizeof *B);
    float *U = malloc((size_t)(j->batch * r) * sizeof *U);
    const int failed = !A || !B || !U;
    for (int64_t p = p0; p < p1 && !failed; ++p) {
        fill_job fa = fill_job_of(j->seed, j->generation, j->layer, p, m, r, 0, m * r, r, NULL, A);
        fill_job fb =
            fill_job_of(j->seed, j->generation, j->layer, p, n, r, m * r, n * r, r, NULL, B);
        fill_pieces(&fa, 0, fa.pieces, 0);
        fill_pieces(&fb, 0, fb.pieces, 0);
        for (int64_t i = 2 * p; i < 2 * p + 2; ++i) {
            lowrank_member(j->X + i * j->batch * n, j->Y + i * j->batch * m, A, B, U, m, n, r,
                           j->batch, j->scale * optk_es_sign(i));
        }
    }
    free(A), free(B), free(U);
    return failed;
}

/* The pairs are split over the cores (about a million multiply-adds or more). */
optk_status optk_cpu_es_lowrank_add(optk_context *ctx, uint64_t seed, uint64_t generation,
                                    uint32_t layer, int64_t m, int64_t n, int rank, float scale,
                                    int64_t members, int64_t batch, const float *X, float *Y) {
    lowrank_job job = {seed, generation, layer, m, n, rank, batch, scale, X, Y};
    const int64_t pairs = members / 2;
    const double work = (double)members * (double)batch * (double)(m + n) * rank;
    if (optk_cpu_parallel(pairs, work >= 1e6 ? optk_cpu_workers(pairs) : 1, lowrank_slice, &job))
        return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "es_forward: out of host memory");
    return OPTK_OK;
}

/* Y_i += s e + bias over the member's batch rows. */
OPTK_CPU_HOT_LOOP static void bias_member(float *y, const float *e, const float *bias, float s,
                                          int64_t m, int64_t batch) {
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t o = 0; o < m; ++o)
            y[b * m + o] += fmaf(s, e[o], bias[o]);
}

optk_status optk_cpu_es_bias_add(optk_context *ctx, uint64_t seed, uint64_t generation,
                                 uint32_t layer, int64_t m, float sigma, int64_t members,
                                 int64_t batch, const float *bias, float *Y) {
    float *e = malloc((size_t)m * sizeof *e);
    if (!e) return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "es_forward: out of host memory");
    for (int64_t i = 0; i < members; ++i) {
        if (i % 2 == 0)
            optk_cpu_es_fill(ctx, seed, generation, layer, i / 2, 1, 1, m, 0, m, m, NULL, e);
        bias_member(Y + i * batch * m, e, bias, sigma * optk_es_sign(i), m, batch);
    }
    free(e);
    return OPTK_OK;
}
