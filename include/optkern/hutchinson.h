/* optkern/hutchinson.h — Hutchinson estimation of Hessian diagonals: probe vectors, the
 * estimate with error bars, and the fused curvature updates Sophia and AdaHessian read.
 *
 * A probe z is a pure function of (seed, step, probe index): it can be regenerated anywhere,
 * on any backend, and never has to be stored.
 */
#ifndef OPTKERN_HUTCHINSON_H
#define OPTKERN_HUTCHINSON_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum optk_probe_kind {
    OPTK_PROBE_RADEMACHER = 0, /* z_i in {-1, +1}, one Philox bit each */
    OPTK_PROBE_GAUSSIAN = 1    /* z_i ~ N(0, 1), cuRAND's Box-Muller on Philox words */
} optk_probe_kind;

/** Largest probe index + 1 (probes are keyed in 24 bits of the Philox subsequence). */
#define OPTK_MAX_PROBES (1 << 24)

/** Writes probe `probe` of step `step` (n >= 1 floats, backend memory):
 *  the Philox4x32-10 stream (seed, subsequence step * 2^24 + probe), element i:
 *  Rademacher: +1 if bit i % 32 of word i / 32 is set, else -1 — identical bits on every
 *  backend; Gaussian: word block b = i / 4 gives (x, y, z, w), elements 4b, 4b+1 =
 *  (sin v, cos v) * sqrt(-2 ln u) from (x, y) and 4b+2, 4b+3 the same from (z, w), with
 *  u = x 2^-32 + 2^-33 and v = 2 pi (y 2^-32 + 2^-33) — cuRAND's curand_normal4. On CUDA
 *  through cuRAND itself (its fast sincos intrinsic), on the CPU with the library's own
 *  vectorised log and a polynomial sincos (within 4.05e-7 of the formula in double): the two
 *  agree to within 2e-5 absolute.
 *  Errors: OPTK_ERR_INVALID_ARGUMENT for a NULL or misaligned out, n < 1, probe >=
 *  OPTK_MAX_PROBES, step >= 2^40, or an unknown kind. */
optk_status optk_probe_fill(optk_context *ctx, optk_probe_kind kind, uint64_t seed, uint64_t step,
                            uint64_t probe, float *out, int64_t n);

/** A Hessian-times-probes product: hz = H z for k probes of n entries, column-major (probe j
 *  at z + j n), backend memory, called on the context's stream (synchronise on it if the
 *  callback works elsewhere). Return 0 on success; anything else aborts the estimate with
 *  OPTK_ERR_CALLBACK. */
typedef int (*optk_hvp_fn)(void *user, const float *z, float *hz, int64_t n, int k);

/** Where H z comes from: a dense symmetric n x n matrix in backend memory (one cuBLAS SGEMM
 *  per chunk of probes on CUDA), or, when dense is NULL, a callback (matrix-free). */
typedef struct optk_hvp_source {
    const float *dense;
    optk_hvp_fn callback;
    void *user;
} optk_hvp_source;

typedef struct optk_diag_options {
    optk_probe_kind kind;
    uint64_t seed;
    uint64_t step; /* the probes are (seed, step, 0 .. probes - 1) */
    int probes;    /* k >= 1; >= 2 when a variance is asked for */
    int chunk;     /* probes per H z call, 1 .. probes (0: all, or as many as fit 64 MiB) */
    bool bekas;    /* divide by sum_j z_j * z_j instead of k (Bekas et al.) */
} optk_diag_options;

/** Hutchinson's estimate of diag(H): diag[i] = (1/k) sum_j z_ij (H z_j)_i over k probes (or
 *  the Bekas ratio sum_j z_ij (H z_j)_i / sum_j z_ij^2), and, if variance is not NULL, the
 *  sample variance over j of the single-probe estimates z_ij (H z_j)_i — the error bar
 *  (Rademacher probes: sum_{j != i} H_ij^2; Gaussian: 2 H_ii^2 + sum_{j != i} H_ij^2).
 *  Sums are kept in double in a fixed order. diag and variance (n floats, backend memory) are
 *  written only when every probe succeeded. A NaN in H z makes its coordinate's diag and
 *  variance NaN, an Inf its diag infinite and its variance NaN; other coordinates are
 *  unaffected. */
optk_status optk_hessian_diag(optk_context *ctx, const optk_hvp_source *hvp, int64_t n,
                              const optk_diag_options *options, float *diag, float *variance);

/** The exact diagonal of a dense n x n matrix h (row-major, backend memory): diag[i] =
 *  h[i n + i] — what an estimate is validated against. diag: n floats, backend memory. */
optk_status optk_hessian_diag_exact(optk_context *ctx, const float *h, int64_t n, float *diag);

/* ---- The curvature the second-order optimizers read, fused --------------------------- */

typedef enum optk_curvature_kind {
    /* Sophia-H: h = beta2 h + (1 - beta2) hhat, hhat = z * hz (z: the probe, hz: H z), or
     * hhat = hz when z is NULL (hz then holds an estimate, e.g. optk_hessian_diag's). */
    OPTK_CURVATURE_SOPHIA_H = 0,
    /* Sophia Gauss-Newton-Bartlett: the same EMA with hhat = hz * hz, hz being the gradient
     * of the loss at labels sampled from the model's own softmax; z must be NULL. (The
     * batch size enters the Sophia step as rho * batch_tokens * h.) */
    OPTK_CURVATURE_SOPHIA_GNB = 1,
    /* AdaHessian: D = |z * hz| (|hz| when z is NULL), averaged over contiguous blocks of
     * `block` elements and broadcast back; beta2 is unused (the RMS EMA of D is in the step). */
    OPTK_CURVATURE_ADAHESSIAN = 2
} optk_curvature_kind;

/** One tensor's curvature update. For an optimizer's tensor, curvature is Sophia's state[1]
 *  (h) or AdaHessian's state[2] (D). All fp32, backend memory, 4-byte aligned; curvature
 *  may not overlap z or hz. */
typedef struct optk_curvature_tensor {
    int64_t numel;
    float *curvature; /* written */
    const float *z;   /* the probe (see optk_probe_fill), or NULL */
    const float *hz;  /* H z, an estimate, or GNB's sampled-label gradient */
    int64_t block;    /* AdaHessian: numel % block == 0; 0 or 1: no averaging. Others: 0/1 */
} optk_curvature_tensor;

/** Updates the curvature of count tensors in one fused pass (see optk_curvature_kind), e.g.
 *  every k-th step for Sophia (k = 10 in the paper), every step for AdaHessian. beta2 in
 *  [0, 1) (Sophia's default 0.99). Element-wise in fp32 with one fma, identical bits on
 *  every backend; block means summed in double in element order. NaN or Inf in z or hz
 *  propagates into the curvature (of its element, or its whole block), as in PyTorch.
 *  Refused with nothing written: count < 1, numel < 1, a NULL or misaligned buffer,
 *  overlaps, a z with GNB, a bad block, beta2 out of range, an unknown kind. */
optk_status optk_curvature_update(optk_context *ctx, optk_curvature_kind kind, double beta2,
                                  const optk_curvature_tensor *tensors, int count);

/** AdaHessian's block for a weight of this shape, as the official implementation averages:
 *  shape[2] * shape[3] (the spatial dims) for a 4-D convolution weight, else 1 (no
 *  averaging). 0 for a NULL shape, ndim < 0 or a non-positive dim. */
int64_t optk_adahessian_block_size(const int64_t *shape, int ndim);

#ifdef __cplusplus
}
#endif

#endif /* OPTKERN_HUTCHINSON_H */
