/* es.c — the CPU side of EGGROLL: noise from the shared Philox and normal transform, a
 * plain row-major SGEMM (the CPU backend links no BLAS: blocks of eight rows, tiles of 64
 * columns whose sums stay in registers, float sums in k order with fmaf), the fused low-rank
 * correction and the bias. */
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

/* Entries are independent: the cores share the pieces (2^16 entries or more). */
optk_status optk_cpu_es_fill(optk_context *ctx, uint64_t seed, uint64_t generation, uint32_t layer,
                             int64_t first_pair, int64_t count, int64_t rows, int64_t cols,
                             int64_t offset, int64_t pair_stride, int64_t row_stride,
                             const float *coef, float *out) {
    (void)ctx;
    const bool one_run = row_stride == cols;
    const int64_t words = rows * cols, piece = one_run ? FILL_PIECE : cols;
    fill_job job = {.seed = seed,
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
    const int64_t items = count * job.pieces;
    const int workers =
        (double)count * (double)words >= (double)(1 << 16) ? optk_cpu_workers(items) : 1;
    optk_cpu_parallel(items, workers, fill_pieces, &job);
    return OPTK_OK;
}

/* C rows i0 .. i0 + rows - 1 += sum_k A[i][k] B[k][:], k in order (B: K x N row-major). */
OPTK_CPU_HOT_LOOP static void gemm_rows(int rows, int64_t N, int64_t K, float alpha, const float *A,
                                        int64_t lda, const float *B, int64_t ldb, float *C,
                                        int64_t ldc) {
    for (int64_t k = 0; k < K; ++k) {
        const float *restrict b = B + k * ldb;
        for (int r = 0; r < rows; ++r) {
            const float a = alpha * A[r * lda + k];
            float *restrict c = C + r * ldc;
            for (int64_t j = 0; j < N; ++j)
                c[j] = fmaf(a, b[j], c[j]);
        }
    }
}

/* Six rows of C at a time, 512 columns wide where no full tile fits: the C block stays in L1
 * while a row piece of B serves all the rows. Row blocks are split over the cores: each element
 * of C is computed whole by one thread, in k order, so the thread count changes no bit. */
enum { GEMM_ROWS = 6, GEMM_COLS = 512 };

typedef struct gemm_job {
    int64_t N, K;
    float alpha;
    const float *A;
    int64_t lda;
    const float *B;
    int64_t ldb;
    float *C;
    int64_t ldc, M;
    float *packs; /* per worker, K x GEMM_ROWS: a row block's alpha A, k-major */
} gemm_job;

/* A full tile of R rows x 64 columns with its sums held in registers across the whole k loop
 * (for R = 6, 24 vectors of 16 floats in the AVX-512 clone, leaving room for B's four and the
 * broadcast): the same fmaf per element in k order as gemm_rows, without loading and storing C
 * at every k. The rows' alpha A[r][k] come packed (as[k R + r]: the same products, made once
 * per row block instead of once per tile), so each is a broadcast from memory. With the
 * products made here, and eight rows (32 sums: every vector register), the tile ran at
 * 132-152 GFLOP/s on one Zen 5 core; like this, 186-189 (a scratch program). A row block of
 * 4 or 5 rows (the 16 rows of an ES member: 6 + 6 + 4) takes a tile of 4. */
enum { TILE_COLS = 64 };
#define OPTK_GEMM_TILE(name, R)                                                                    \
    OPTK_CPU_HOT_LOOP static void name(int64_t K, const float *restrict as, const float *B,        \
                                       int64_t ldb, float *C, int64_t ldc) {                       \
        float acc[R][TILE_COLS];                                                                   \
        for (int r = 0; r < R; ++r)                                                                \
            for (int j = 0; j < TILE_COLS; ++j)                                                    \
                acc[r][j] = C[r * ldc + j];                                                        \
        for (int64_t k = 0; k < K; ++k) {                                                          \
            const float *restrict b = B + k * ldb;                                                 \
            for (int r = 0; r < R; ++r) {                                                          \
                const float a = as[k * R + r];                                                     \
                for (int j = 0; j < TILE_COLS; ++j)                                                \
                    acc[r][j] = fmaf(a, b[j], acc[r][j]);                                          \
            }                                                                                      \
        }                                                                                          \
        for (int r = 0; r < R; ++r)                                                                \
            for (int j = 0; j < TILE_COLS; ++j)                                                    \
                C[r * ldc + j] = acc[r][j];                                                        \
    }
OPTK_GEMM_TILE(gemm_tile6, GEMM_ROWS)
OPTK_GEMM_TILE(gemm_tile4, 4)

/* Rows [i, i + rows) of C, columns [j0, j1), by gemm_rows. */
static void gemm_rows_range(const gemm_job *g, int64_t i, int rows, int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; j += GEMM_COLS) {
        const int64_t cols = j1 - j < GEMM_COLS ? j1 - j : GEMM_COLS;
        gemm_rows(rows, cols, g->K, g->alpha, g->A + i * g->lda, g->lda, g->B + j, g->ldb,
                  g->C + i * g->ldc + j, g->ldc);
    }
}

/* Rows [i, i + rows) of C, rows <= GEMM_ROWS: tiles of 6 or 4 rows over the columns 64 at a
 * time fit; gemm_rows for the rows and columns no tile took. */
static void gemm_block(const gemm_job *g, float *as, int64_t i, int rows) {
    const int tiled = rows == GEMM_ROWS ? GEMM_ROWS : rows >= 4 ? 4 : 0;
    const int64_t tiled_cols = tiled ? g->N / TILE_COLS * TILE_COLS : 0;
    if (tiled_cols > 0) {
        for (int64_t k = 0; k < g->K; ++k)
            for (int r = 0; r < tiled; ++r)
                as[k * tiled + r] = g->alpha * g->A[(i + r) * g->lda + k];
        for (int64_t j = 0; j < tiled_cols; j += TILE_COLS) {
            float *c = g->C + i * g->ldc + j;
            if (tiled == GEMM_ROWS)
                gemm_tile6(g->K, as, g->B + j, g->ldb, c, g->ldc);
            else
                gemm_tile4(g->K, as, g->B + j, g->ldb, c, g->ldc);
        }
    }
    if (tiled < rows) gemm_rows_range(g, i + tiled, rows - tiled, 0, tiled_cols);
    gemm_rows_range(g, i, rows, tiled_cols, g->N);
}

static int gemm_slice(void *arg, int64_t b0, int64_t b1, int worker) {
    const gemm_job *g = arg;
    float *as = g->packs + (int64_t)worker * g->K * GEMM_ROWS;
    for (int64_t i = b0 * GEMM_ROWS; i < b1 * GEMM_ROWS && i < g->M; i += GEMM_ROWS)
        gemm_block(g, as, i, g->M - i < GEMM_ROWS ? (int)(g->M - i) : GEMM_ROWS);
    return 0;
}

typedef struct transpose_job {
    const float *B;
    int64_t ldb, N, K;
    float *bt; /* K x N */
} transpose_job;

/* Columns [8 j0, 8 j1) of bt, in 8 x 8 tiles: a plain double loop strides through memory a
 * row length per access (4 KiB apart for 1024 columns, all in one cache set) and took a
 * third of the full-rank ES forward. */
static int transpose_slice(void *arg, int64_t j0, int64_t j1, int worker) {
    (void)worker;
    const transpose_job *t = arg;
    for (int64_t jb = 8 * j0; jb < 8 * j1 && jb < t->N; jb += 8)
        for (int64_t k0 = 0; k0 < t->K; k0 += 8)
            for (int64_t k = k0; k < t->K && k < k0 + 8; ++k)
                for (int64_t j = jb; j < t->N && j < jb + 8; ++j)
                    t->bt[k * t->N + j] = t->B[j * t->ldb + k];
    return 0;
}

optk_status optk_cpu_gemm(optk_context *ctx, bool trans_b, int64_t M, int64_t N, int64_t K,
                          float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                          float beta, float *C, int64_t ldc) {
    /* Enough work to pay for a thread: about a millisecond or more. */
    const bool threads = (double)M * (double)N * (double)K >= 1e7;
    const int64_t blocks = (M + GEMM_ROWS - 1) / GEMM_ROWS;
    const int workers = threads ? optk_cpu_workers(blocks) : 1;
    /* The context's scratch (no page faults of a fresh buffer per call: the full-rank ES
     * forward calls this twice per pair): each worker's packed rows of A, then, with trans_b,
     * B made K x N. */
    const int64_t pack_floats = (int64_t)workers * K * GEMM_ROWS;
    float *scratch = NULL;
    const optk_status s = optk_cpu_scratch(
        ctx, (size_t)(pack_floats + (trans_b ? K * N : 0)) * sizeof *scratch, (void **)&scratch);
    if (s != OPTK_OK) return s;
    if (trans_b) { /* B is N x K */
        float *bt = scratch + pack_floats;
        transpose_job t = {B, ldb, N, K, bt};
        const int64_t column_blocks = (N + 7) / 8;
        optk_cpu_parallel(column_blocks, threads ? optk_cpu_workers(column_blocks) : 1,
                          transpose_slice, &t);
        B = bt;
        ldb = N;
    }
    for (int64_t i = 0; i < M; ++i) {
        for (int64_t j = 0; j < N; ++j)
            C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    }
    gemm_job job = {N, K, alpha, A, lda, B, ldb, C, ldc, M, scratch};
    optk_cpu_parallel(blocks, workers, gemm_slice, &job);
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

optk_status optk_cpu_es_lowrank_add(optk_context *ctx, uint64_t seed, uint64_t generation,
                                    uint32_t layer, int64_t m, int64_t n, int rank, float scale,
                                    int64_t members, int64_t batch, const float *X, float *Y) {
    const int64_t r = rank;
    float *A = malloc((size_t)(m * r) * sizeof *A), *B = malloc((size_t)(n * r) * sizeof *B);
    float *U = malloc((size_t)(batch * r) * sizeof *U);
    if (!A || !B || !U) {
        free(A), free(B), free(U);
        return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "es_forward: out of host memory");
    }
    for (int64_t i = 0; i < members; ++i) {
        if (i % 2 == 0) { /* the pair's factors, shared by both members */
            optk_cpu_es_fill(ctx, seed, generation, layer, i / 2, 1, m, r, 0, m * r, r, NULL, A);
            optk_cpu_es_fill(ctx, seed, generation, layer, i / 2, 1, n, r, m * r, n * r, r, NULL,
                             B);
        }
        lowrank_member(X + i * batch * n, Y + i * batch * m, A, B, U, m, n, r, batch,
                       scale * optk_es_sign(i));
    }
    free(A), free(B), free(U);
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
