/* optkern/hutchinson.h — Hutchinson estimation of Hessian diagonals: probe vectors.
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
 *  through cuRAND itself (its fast sincos intrinsic), on the CPU with libm's sinf/cosf/logf
 *  (cuRAND's host formula): the two agree to within 2e-5 absolute.
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
 *  written only when every probe succeeded. */
optk_status optk_hessian_diag(optk_context *ctx, const optk_hvp_source *hvp, int64_t n,
                              const optk_diag_options *options, float *diag, float *variance);

#ifdef __cplusplus
}
#endif

#endif /* OPTKERN_HUTCHINSON_H */
