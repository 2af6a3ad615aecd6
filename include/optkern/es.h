/* optkern/es.h — low-rank evolution strategies (EGGROLL): seed-regenerated perturbations
 * W + sigma s_i / sqrt(r) A_i B_i^T, the perturbed forward of a whole population, fitness
 * shaping, and the gradient estimate as one GEMM; full-rank ES as the baseline.
 *
 * Every perturbation is a pure function of (seed, generation, layer, pair): nothing of size
 * population x m x n is ever stored, and workers that exchange only fitness values rebuild
 * each other's updates bit for bit (on the same backend). Member i uses pair i / 2 with sign
 * +1 (even i) or -1 (odd i): antithetic pairs. The normals are sqrt(2) erfinv of Philox
 * words (cuRAND's Philox on CUDA, src/common/philox.h on the CPU): the same bits on both.
 */
#ifndef OPTKERN_ES_H
#define OPTKERN_ES_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Which noise: generation < 2^24, layer < 2^15 (layer + 2^15 keys that layer's bias). */
typedef struct optk_es_key {
    uint64_t seed;
    uint64_t generation;
    uint32_t layer;
} optk_es_key;

/** A linear layer y = W x + bias under perturbation. */
typedef struct optk_es_layer {
    int64_t m, n;      /* W is m x n (outputs x inputs), row-major */
    int rank;          /* r >= 1: low-rank (EGGROLL); 0: full-rank Gaussian noise (the baseline) */
    double sigma;      /* the noise scale, > 0 */
    const float *W;    /* m x n, backend memory */
    const float *bias; /* m, or NULL: then no bias and no bias noise */
} optk_es_layer;

/** The low-rank factors of pairs first .. first + count - 1 (backend memory): A (count x m x
 *  r) and B (count x n x r), row-major per pair. Either may be NULL. */
optk_status optk_es_factors(optk_context *ctx, const optk_es_key *key, int64_t m, int64_t n,
                            int rank, int64_t first_pair, int64_t count, float *A, float *B);

/** Full-rank noise of pairs first .. first + count - 1: count x size (a matrix m n, or a
 *  bias m: a layer's bias noise is drawn with key layer + 2^15; layers < 2^16 here). */
optk_status optk_es_noise(optk_context *ctx, const optk_es_key *key, int64_t size,
                          int64_t first_pair, int64_t count, float *E);

/** The forward of the whole population: Y_i = X_i (W + sigma s_i E_i)^T (+ bias +
 *  sigma s_i e_i) for members i < members (even), X: members x batch x n, Y: members x batch
 *  x m. Low rank: E_i = A_i B_i^T / sqrt(r), computed as X W^T (one GEMM over all members'
 *  rows, cuBLAS on CUDA) plus sigma s_i / sqrt(r) (X_i B_i) A_i^T (fused, the factors
 *  generated on the fly). Full rank: E_i generated per pair and multiplied in (the
 *  baseline). A NaN in X spoils its own row of Y only; a NaN in W[o][j] spoils output o of
 *  every row; the other outputs keep their bits. */
optk_status optk_es_forward(optk_context *ctx, const optk_es_key *key, const optk_es_layer *layer,
                            int64_t members, int64_t batch, const float *X, float *Y);

typedef enum optk_es_shaping {
    OPTK_ES_CENTERED_RANKS = 0, /* rank / (N - 1) - 0.5 in [-0.5, 0.5]; ties by member index */
    OPTK_ES_ZSCORE = 1,         /* (R - mean) / sqrt(var + 1e-5), population variance */
    OPTK_ES_RAW = 2             /* R itself */
} optk_es_shaping;

/** Shaped fitness f (N) from raw fitness R (N), backend memory (computed on the host in
 *  double: the same bits on every backend). NaN fitness is refused; +-Inf (e.g. -Inf for a
 *  failed rollout) is ranked by centred ranks and refused by the other kinds. */
optk_status optk_es_shape(optk_context *ctx, optk_es_shaping kind, const float *R, int64_t members,
                          float *f);

/** The gradient estimate G = 1/(N sigma) sum_i f_i E_i (E_i as in optk_es_forward), written
 *  as out = scale G (accumulate false) or out += scale G (accumulate true): scale = lr,
 *  accumulate = true, out = W for plain ES ascent; scale = -1 to hand a loss gradient to an
 *  optimizer rule. Low rank: the pairs' antithetic differences f_2p - f_2p+1 weight the
 *  factors, and G is one GEMM with inner dimension (N / 2) r, the factors regenerated into
 *  workspace in chunks. bias_out (m, or NULL) gets the bias's the same way. f is read on the
 *  host: a pair whose weight scale (f_2p - f_2p+1) / (N sigma) is not finite in float (NaN or
 *  infinite fitness, or an overflow) is refused with a message, nothing written. */
optk_status optk_es_gradient(optk_context *ctx, const optk_es_key *key, const optk_es_layer *layer,
                             int64_t members, const float *f, double scale, bool accumulate,
                             float *out, float *bias_out);

#ifdef __cplusplus
}
#endif

#endif /* OPTKERN_ES_H */
