/* gemm.c — the CPU backend's own SGEMM (it links no BLAS), C = alpha A op(B) + beta C with
 * row-major matrices, for the ES forward and update: every element of C is one chain of fmaf
 * over k in order, starting from beta C, whatever the blocking and the thread count, so the
 * bits are a plain triple loop's. Register tiles hold a block of C across the whole k loop;
 * row blocks are split over the cores. */
#include "cpu_backend.h"
#include "mixed_precision.h" /* OPTK_CPU_HOT_LOOP */
#include "parallel.h"

#include <math.h>

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
    float *packs; /* per worker, gemm_group_blocks(K) of K x GEMM_ROWS: alpha A, k-major */
} gemm_job;

/* A full tile of R rows x 64 columns with its sums held in registers across the whole k loop
 * (for R = 6, 24 vectors of 16 floats in the AVX-512 clone, leaving room for B's four and the
 * broadcast): the same fmaf per element in k order as gemm_rows, without loading and storing C
 * at every k. The rows' alpha A[r][k] come packed (as[k R + r]: the same products, made once
 * per row block instead of once per tile), so each is a broadcast from memory. With the
 * products made here, and eight rows (32 sums: every vector register), the tile ran at
 * 132-152 GFLOP/s on one Zen 5 core; like this, 186-189 (a scratch program). A last row block
 * of 4 or 5 rows takes a tile of 4. */
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

/* out[k width + r] = alpha A[r][k] for r < rows, 0 for rows <= r < width: rows of A packed
 * k-major for a tile's broadcasts (the same products the plain loop makes). */
static void pack_rows(float *out, const float *A, int64_t lda, float alpha, int64_t K, int rows,
                      int width) {
    for (int64_t k = 0; k < K; ++k)
        for (int r = 0; r < width; ++r)
            out[k * width + r] = r < rows ? alpha * A[r * lda + k] : 0.0f;
}

/* Rows [i, i + rows) of C, columns [j0, j1), by gemm_rows. */
static void gemm_rows_range(const gemm_job *g, int64_t i, int rows, int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; j += GEMM_COLS) {
        const int64_t cols = j1 - j < GEMM_COLS ? j1 - j : GEMM_COLS;
        gemm_rows(rows, cols, g->K, g->alpha, g->A + i * g->lda, g->lda, g->B + j, g->ldb,
                  g->C + i * g->ldc + j, g->ldc);
    }
}

/* A block no group takes (gemm_slice): the last one, of fewer than GEMM_ROWS rows, or any
 * block where no column panel fits. Four or five rows take a tile of 4 over the columns 64
 * at a time fit; gemm_rows does the rest. */
static void gemm_block(const gemm_job *g, float *as, int64_t i, int rows) {
    const int tiled = rows >= 4 && rows < GEMM_ROWS ? 4 : 0;
    const int64_t tiled_cols = tiled ? g->N / TILE_COLS * TILE_COLS : 0;
    if (tiled_cols > 0) {
        pack_rows(as, g->A + i * g->lda, g->lda, g->alpha, g->K, tiled, tiled);
        for (int64_t j = 0; j < tiled_cols; j += TILE_COLS)
            gemm_tile4(g->K, as, g->B + j, g->ldb, g->C + i * g->ldc + j, g->ldc);
    }
    if (tiled < rows) gemm_rows_range(g, i + tiled, rows - tiled, 0, tiled_cols);
    gemm_rows_range(g, i, rows, tiled_cols, g->N);
}

/* Full row blocks are taken in groups whose packed A (about 512 KiB) stays in L2 beside one
 * column panel of B (K x 64) while every block of the group passes over it, so B comes in
 * from L3 once per group instead of once per block. Block by block, two threads were bound by
 * L3: the 6-row tiles' rank-1 ES forward went from 61.7 ms on one thread to only 49-52 on
 * two. */
enum { GEMM_GROUP_FLOATS = 1 << 17 };

static int64_t gemm_group_blocks(int64_t K) {
    const int64_t blocks = GEMM_GROUP_FLOATS / (GEMM_ROWS * (K > 0 ? K : 1));
    return blocks < 1 ? 1 : blocks;
}

/* Blocks [b0, b1), all full, N >= TILE_COLS: the group's alpha A packed, then column panel by
 * column panel, each block's tile; the columns past the panels by gemm_rows. */
static void gemm_group(const gemm_job *g, float *as, int64_t b0, int64_t b1) {
    const int64_t K = g->K, tiled_cols = g->N / TILE_COLS * TILE_COLS;
    for (int64_t b = b0; b < b1; ++b) {
        pack_rows(as + (b - b0) * K * GEMM_ROWS, g->A + b * GEMM_ROWS * g->lda, g->lda, g->alpha, K,
                  GEMM_ROWS, GEMM_ROWS);
    }
    for (int64_t j = 0; j < tiled_cols; j += TILE_COLS) {
        for (int64_t b = b0; b < b1; ++b) {
            gemm_tile6(K, as + (b - b0) * K * GEMM_ROWS, g->B + j, g->ldb,
                       g->C + b * GEMM_ROWS * g->ldc + j, g->ldc);
        }
    }
    for (int64_t b = b0; b < b1; ++b)
        gemm_rows_range(g, b * GEMM_ROWS, GEMM_ROWS, tiled_cols, g->N);
}

static int gemm_slice(void *arg, int64_t b0, int64_t b1, int worker) {
    const gemm_job *g = arg;
    const int64_t group = gemm_group_blocks(g->K), full = g->M / GEMM_ROWS;
    float *as = g->packs + (int64_t)worker * group * g->K * GEMM_ROWS;
    /* Full blocks in groups where a column panel fits; then a last block of fewer rows, or
     * every block where no panel fits, one at a time. */
    const int64_t grouped = g->N >= TILE_COLS ? (b1 < full ? b1 : full) : b0;
    for (int64_t b = b0; b < grouped; b += group)
        gemm_group(g, as, b, b + group < grouped ? b + group : grouped);
    for (int64_t b = grouped > b0 ? grouped : b0; b < b1; ++b) {
        const int64_t i = b * GEMM_ROWS;
        gemm_block(g, as, i, g->M - i < GEMM_ROWS ? (int)(g->M - i) : GEMM_ROWS);
    }
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

/* With B given transposed (N x K) and few rows of A, transposing B (a pass over K N floats)
 * costs more than the product: the full-rank ES forward, 16 rows per member against a 1024 x
 * 1024 E, spent 44% of its time in it. There the rows of A are transposed instead: alpha A^T
 * packed k-major, NT_ROWS rows to a vector (zeros past M), and each NT_COLS columns of C keep
 * their NT_ROWS sums side by side while their rows of B (contiguous in k) are walked together.
 * Still one fmaf chain per element in k order, so the bits are the tiles'. */
enum { NT_ROWS = 16, NT_COLS = 8, NT_MOST_ROWS = 2 * NT_ROWS };

typedef struct nt_job {
    int64_t M, N, K;
    const float *at; /* per block of NT_ROWS rows: K x NT_ROWS */
    const float *B;
    int64_t ldb;
    float *C;
    int64_t ldc;
} nt_job;

/* Columns [j0, j0 + cols) of rows [i0, i0 + rows) of C, cols <= NT_COLS, rows <= NT_ROWS. The
 * loops run over all NT_COLS columns (a short group's missing ones read column j0's B and are
 * not stored), so that the sums stay in registers. */
OPTK_CPU_HOT_LOOP static void nt_tile(const nt_job *g, const float *restrict at, int64_t i0,
                                      int rows, int64_t j0, int cols) {
    float acc[NT_COLS][NT_ROWS];
    const float *b[NT_COLS];
    for (int c = 0; c < NT_COLS; ++c) {
        b[c] = g->B + (j0 + (c < cols ? c : 0)) * g->ldb;
        for (int r = 0; r < NT_ROWS; ++r)
            acc[c][r] = c < cols && r < rows ? g->C[(i0 + r) * g->ldc + j0 + c] : 0.0f;
    }
    for (int64_t k = 0; k < g->K; ++k) {
        const float *restrict a = at + k * NT_ROWS;
        for (int c = 0; c < NT_COLS; ++c) {
            const float bk = b[c][k];
            for (int r = 0; r < NT_ROWS; ++r)
                acc[c][r] = fmaf(a[r], bk, acc[c][r]);
        }
    }
    for (int c = 0; c < cols; ++c)
        for (int r = 0; r < rows; ++r)
            g->C[(i0 + r) * g->ldc + j0 + c] = acc[c][r];
}

/* Column groups [q0, q1) of NT_COLS columns, every row block. */
static int nt_slice(void *arg, int64_t q0, int64_t q1, int worker) {
    (void)worker;
    const nt_job *g = arg;
    for (int64_t q = q0; q < q1; ++q) {
        const int64_t j0 = q * NT_COLS;
        const int cols = g->N - j0 < NT_COLS ? (int)(g->N - j0) : NT_COLS;
        for (int64_t i0 = 0; i0 < g->M; i0 += NT_ROWS) {
            const int rows = g->M - i0 < NT_ROWS ? (int)(g->M - i0) : NT_ROWS;
            nt_tile(g, g->at + i0 / NT_ROWS * g->K * NT_ROWS, i0, rows, j0, cols);
        }
    }
    return 0;
}

/* C += alpha A B^T for B given N x K and M <= NT_MOST_ROWS (C already scaled by beta); at:
 * room for the packed rows, nt_pack_floats(M, K). */
static int64_t nt_pack_floats(int64_t M, int64_t K) {
    return (M + NT_ROWS - 1) / NT_ROWS * K * NT_ROWS;
}

static void gemm_nt(bool threads, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                    int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc, float *at) {
    for (int64_t i0 = 0; i0 < M; i0 += NT_ROWS) {
        pack_rows(at + i0 / NT_ROWS * K * NT_ROWS, A + i0 * lda, lda, alpha, K,
                  M - i0 < NT_ROWS ? (int)(M - i0) : NT_ROWS, NT_ROWS);
    }
    nt_job job = {M, N, K, at, B, ldb, C, ldc};
    const int64_t groups = (N + NT_COLS - 1) / NT_COLS;
    optk_cpu_parallel(groups, threads ? optk_cpu_workers(groups) : 1, nt_slice, &job);
}

optk_status optk_cpu_gemm(optk_context *ctx, bool trans_b, int64_t M, int64_t N, int64_t K,
                          float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                          float beta, float *C, int64_t ldc) {
    /* Enough work to pay for a thread: about a millisecond or more. */
    const bool threads = (double)M * (double)N * (double)K >= 1e7;
    const bool nt = trans_b && M <= NT_MOST_ROWS;
    const int64_t blocks = (M + GEMM_ROWS - 1) / GEMM_ROWS;
    const int workers = threads ? optk_cpu_workers(blocks) : 1;
    /* The context's scratch (no page faults of a fresh buffer per call: the full-rank ES
     * forward calls this twice per pair), taken before C is touched: the packed rows of A (for
     * the tiles, each worker's), then, with trans_b and the tiles, B made K x N. */
    const int64_t pack_floats =
        nt ? nt_pack_floats(M, K) : (int64_t)workers * gemm_group_blocks(K) * K * GEMM_ROWS;
    float *scratch = NULL;
    const optk_status s = optk_cpu_scratch(
        ctx, (size_t)(pack_floats + (trans_b && !nt ? K * N : 0)) * sizeof *scratch,
        (void **)&scratch);
    if (s != OPTK_OK) return s;
    for (int64_t i = 0; i < M; ++i) {
        for (int64_t j = 0; j < N; ++j)
            C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    }
    if (nt) {
        gemm_nt(threads, M, N, K, alpha, A, lda, B, ldb, C, ldc, scratch);
        return OPTK_OK;
    }
    if (trans_b) { /* B is N x K */
        float *bt = scratch + pack_floats;
        transpose_job t = {B, ldb, N, K, bt};
        const int64_t column_blocks = (N + 7) / 8;
        optk_cpu_parallel(column_blocks, threads ? optk_cpu_workers(column_blocks) : 1,
                          transpose_slice, &t);
        B = bt;
        ldb = N;
    }
    gemm_job job = {N, K, alpha, A, lda, B, ldb, C, ldc, M, scratch};
    optk_cpu_parallel(blocks, workers, gemm_slice, &job);
    return OPTK_OK;
}
