/* internal.h — what the dispatch layer and the backends share: the context, the backend
 * table, the error helper.
 *
 * Each public function validates its arguments once, in the dispatch layer (the .c files of src/),
 * and then calls the backend through ctx->ops. Backends trust their inputs.
 */
#ifndef OPTK_INTERNAL_H
#define OPTK_INTERNAL_H

#include "build_config.h"

#include <string.h>

#include "optkern.h"
#include "common/capture.h"
#include "common/rules.h"
#include "common/es.h"
#include "common/hutchinson.h"
#include "common/sinkhorn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How a parameter is stored. */
typedef enum optk_precision {
    OPTK_PRECISION_F32 = 0,   /* fp32 parameter, no master copy */
    OPTK_PRECISION_MASTER,    /* bf16/fp16 parameter written (nearest even) from an fp32 master */
    OPTK_PRECISION_STOCHASTIC /* bf16 parameter, no master, stochastic rounding */
} optk_precision;

/* One element rule over a tensor list, as the backends receive it: validated tensors and
 * the rule's float scalars for this step. */
typedef struct optk_element_launch {
    optk_element_rule rule;
    optk_element_consts k;
    int nstate;   /* state buffers per tensor */
    int nwritten; /* the first nwritten states are written back, the rest only read */
    /* The machinery feeds the rule g = (g * grad_unscale) * grad_clip (1 and 1: g itself,
     * exactly). Set both through optk_element_launch_for. */
    float grad_unscale, grad_clip;
    /* Precision: how p is loaded and stored (the rule always sees fp32) and the gradient's
     * dtype. Stochastic rounding draws element e of tensor T from the Philox stream
     * (seed, subsequence = sr_stream * 2^20 + tensor_base + T, offset = e). */
    optk_precision precision;
    optk_dtype param_dtype, grad_dtype;
    uint64_t seed;
    uint64_t sr_stream; /* 2t for step t, 2t + 1 for a swap after step t */
    int tensor_base;    /* index of tensors[0] within the call (parameter groups) */
    const optk_param_tensor *tensors;
    int count;
    /* A graph-capturable step's launch: k, grad_unscale, grad_clip and sr_stream are read
     * from here (backend memory) when the launch runs, and nothing is written if its skip
     * is set. NULL: the launch's own fields. */
    const optk_group_step *device_step;
} optk_element_launch;

/* Whether a launch needs the mixed-precision path of the machinery. */
static inline int optk_launch_is_mixed(const optk_element_launch *l) {
    return l->precision != OPTK_PRECISION_F32 || l->grad_dtype != OPTK_F32;
}

/* A launch of rule over the tensors with the gradient taken as it is. */
static inline optk_element_launch
optk_element_launch_for(optk_element_rule rule, const optk_param_tensor *tensors, int count) {
    optk_element_launch l;
    memset(&l, 0, sizeof l); /* no designated initialisers: nvcc reads this header as C++ */
    l.rule = rule;
    l.precision = OPTK_PRECISION_F32;
    l.param_dtype = OPTK_F32;
    l.grad_dtype = OPTK_F32;
    l.grad_unscale = 1.0f;
    l.grad_clip = 1.0f;
    l.tensors = tensors;
    l.count = count;
    return l;
}

/* A validated Sinkhorn solve, as the backends receive it. */
typedef struct optk_sinkhorn_job {
    optk_ot_view view;
    int64_t batch;
    double epsilon, epsilon_start, epsilon_decay, tol, rho;
    int max_iter, check_every;
    bool warm_start;
    bool log_domain_only; /* no kernel-domain blocks (OPTK_SINKHORN_LOG_DOMAIN) */
    /* A self problem (n = m, a = b, C symmetric: points against themselves): the symmetric
     * update f <- (f + T(f)) / 2, g = f, in the log domain (common/sinkhorn.h). */
    bool symmetric;
    optk_sinkhorn_placement placement; /* CUDA only */
    optk_sinkhorn_outputs out;
} optk_sinkhorn_job;

/* Sinkhorn-Newton-Sparse (sinkhorn_sns.c): the warm-up, then the Newton phase, both on the
 * backend. */
optk_status optk_sns_solve(optk_context *ctx, const optk_sinkhorn_job *job, int warmup);

/* The table a backend fills (designated initialisers); NULL slots are unsupported. */
typedef struct optk_backend_ops {
    const char *name;
    /* Context life: init fills ctx->backend_data and ctx->device_name. */
    optk_status (*init)(optk_context *ctx, int device);
    void (*release)(optk_context *ctx);
    optk_status (*set_stream)(optk_context *ctx, void *stream);
    optk_status (*synchronize)(optk_context *ctx);
    /* Memory. */
    optk_status (*mem_alloc)(optk_context *ctx, size_t bytes, void **out);
    optk_status (*mem_free)(optk_context *ctx, void *ptr);
    optk_status (*mem_upload)(optk_context *ctx, void *dst, const void *src, size_t bytes);
    optk_status (*mem_download)(optk_context *ctx, void *dst, const void *src, size_t bytes);
    optk_status (*mem_copy)(optk_context *ctx, void *dst, const void *src, size_t bytes);
    optk_status (*mem_set)(optk_context *ctx, void *dst, int value, size_t bytes);
    /* Ops. */
    optk_status (*random_fill_u32)(optk_context *ctx, uint64_t seed, uint64_t subsequence,
                                   uint64_t offset, uint32_t *out, int64_t n);
    /* x <- exp(-|x|) rounds times on each of n floats (optk_exp_chain). */
    optk_status (*exp_chain)(optk_context *ctx, float *x, int64_t n, int rounds);
    /* Every optimizer rule: one element rule over every element of every tensor. */
    optk_status (*element_apply)(optk_context *ctx, const optk_element_launch *launch);
    /* Hutchinson probe z of (seed, step, probe): n floats. */
    optk_status (*probe_fill)(optk_context *ctx, optk_probe_kind kind, uint64_t seed, uint64_t step,
                              uint64_t probe, float *out, int64_t n);
    /* Scratch memory owned by the context: at least bytes, reused across calls. */
    optk_status (*workspace)(optk_context *ctx, size_t bytes, void **out);
    /* hz = H z for k columns of n: a dense symmetric H. */
    optk_status (*dense_hvp)(optk_context *ctx, const float *h, const float *z, float *hz,
                             int64_t n, int k);
    /* One chunk of k probes into the per-coordinate sums acc[0..n) (z.hz), acc[n..2n)
     * ((z.hz)^2), acc[2n..3n) (z.z), in probe order; the first chunk starts them from zero,
     * the last writes the estimate (pass->diag, pass->variance) in place of the sums. */
    optk_status (*diag_accumulate)(optk_context *ctx, const float *z, const float *hz, int64_t n,
                                   int k, double *acc, const optk_diag_pass *pass);
    /* AdaHessian's block means: out = the mean of |z hz| (|hz|: z NULL) over each block of
     * `block` elements, broadcast over the block; numel % block == 0. */
    optk_status (*abs_block_mean)(optk_context *ctx, const float *z, const float *hz, float *out,
                                  int64_t numel, int64_t block);
    /* dst[i] = src[i * stride] for i < n (the diagonal of a matrix: stride n + 1). */
    optk_status (*strided_copy)(optk_context *ctx, float *dst, const float *src, int64_t n,
                                int64_t stride);
    /* Checks rows x cols weights: every one finite and >= 0, every row's sum > 0. Returns the
     * first bad row in *bad_row (-1: none) and why (0 negative/non-finite, 1 zero sum). */
    optk_status (*ot_weights_check)(optk_context *ctx, const float *w, int64_t rows, int64_t cols,
                                    int64_t *bad_row, int *why);
    /* c = the cost of every problem of view's points (cost kind 1 or 2), directly (the bits of
     * optk_ot_cost_at) or, with gemm, as norms plus a matrix product (see optk_cost_method). */
    optk_status (*ot_cost_fill)(optk_context *ctx, const optk_ot_view *view, int64_t batch,
                                bool gemm, float *c);
    /* out = P v or P^T v for every problem (see optk_sinkhorn_apply). */
    optk_status (*plan_apply)(optk_context *ctx, const optk_ot_view *view, int64_t batch, float eps,
                              const float *f, const float *g, bool transpose, const float *v,
                              int64_t k, float *out);
    /* out = every x point's plan-weighted cost gradient (y's with transpose), batch x rows x
     * dim: optk_plan_gradient_row's bits (see optk_sinkhorn_gradient). Point clouds only. */
    optk_status (*plan_gradient)(optk_context *ctx, const optk_ot_view *view, int64_t batch,
                                 float eps, const float *f, const float *g, bool transpose,
                                 float *out);
    /* The c-transform of one side's potentials h (batch x others, weights w the zero pattern
     * of that side) at every point of the other side: out_r = tau (0 - eps LSE_s ((h_s -
     * C_rs) / eps)) over the s with w_s != 0 — the potential a unit weight at r would get
     * (optk_potential) — for every row r (batch x n, h and w the columns') or with transpose
     * every column (batch x m, h and w the rows'). The f update's order: s in lane s % 16,
     * the lanes merged by optk_lse_tree, so the same bits on every backend. */
    optk_status (*ctransform)(optk_context *ctx, const optk_ot_view *view, int64_t batch, float eps,
                              float tau, const float *h, const float *w, bool transpose,
                              float *out);
    /* ES noise: out[c pair_stride + o row_stride + k] = (coef ? coef[c] : 1) times the normal
     * of word offset + o cols + k of pair first + c's stream, for c < count, o < rows,
     * k < cols (coef: count floats, backend memory). */
    optk_status (*es_fill)(optk_context *ctx, uint64_t seed, uint64_t generation, uint32_t layer,
                           int64_t first_pair, int64_t count, int64_t rows, int64_t cols,
                           int64_t offset, int64_t pair_stride, int64_t row_stride,
                           const float *coef, float *out);
    /* Row-major C (M x N) = alpha A (M x K, lda) B (K x N, or N x K with trans_b) + beta C;
     * beta 0 ignores C's old contents. cuBLAS SGEMM on CUDA. */
    optk_status (*gemm)(optk_context *ctx, bool trans_b, int64_t M, int64_t N, int64_t K,
                        float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                        float beta, float *C, int64_t ldc);
    /* Y_i += scale s_i (X_i B_p) A_p^T for members i (pair p = i / 2), factors of rank r
     * generated from (seed, generation, layer, p); X: members x batch x n, Y: x batch x m. */
    optk_status (*es_lowrank_add)(optk_context *ctx, uint64_t seed, uint64_t generation,
                                  uint32_t layer, int64_t m, int64_t n, int rank, float scale,
                                  int64_t members, int64_t batch, const float *X, float *Y);
    /* Y_i[b][o] += bias[o] + sigma s_i e_p[o], e_p the noise of (seed, generation, layer, p). */
    optk_status (*es_bias_add)(optk_context *ctx, uint64_t seed, uint64_t generation,
                               uint32_t layer, int64_t m, float sigma, int64_t members,
                               int64_t batch, const float *bias, float *Y);
    /* Every problem of a validated Sinkhorn job. */
    optk_status (*sinkhorn)(optk_context *ctx, const optk_sinkhorn_job *job);
    /* The Newton phase of Sinkhorn-Newton-Sparse (common/sinkhorn_newton.h) after the
     * warm-up: job->out.f and g hold the warm-up's potentials, warm (backend memory) its
     * iterations, errors and converged flags (3 x batch words); writes every output. */
    optk_status (*sinkhorn_newton)(optk_context *ctx, const optk_sinkhorn_job *job,
                                   const void *warm);
    /* Sum of the squares of every gradient, in double, in a fixed order; a host value. */
    optk_status (*grad_sum_squares)(optk_context *ctx, const optk_param_tensor *tensors, int count,
                                    optk_dtype grad_dtype, double *out);
    /* The same sum left in backend memory (*out), enqueued without waiting; partials holds
     * one double per reduce_tile elements of each tensor (rounded up; NULL when 0). */
    optk_status (*grad_sum_squares_to)(optk_context *ctx, const optk_param_tensor *tensors,
                                       int count, optk_dtype grad_dtype, double *out,
                                       double *partials);
    int64_t reduce_tile;
    /* Stage 2 of a capturable step (common/capture.h), enqueued: sc and area in backend
     * memory. */
    optk_status (*capture_prepare)(optk_context *ctx, const optk_capture_params *params,
                                   optk_step_scalars *sc, optk_capture_area *area);
} optk_backend_ops;

struct optk_context {
    const optk_backend_ops *ops;
    optk_backend backend;
    int device;
    void *stream;
    void *backend_data;
    char device_name[320];
    char last_error[512];
};

extern const optk_backend_ops optk_cpu_backend;
#ifdef OPTK_HAVE_CUDA
extern const optk_backend_ops optk_cuda_backend;
/* Device count without creating a context (0 on any error). */
int optk_cuda_device_count(void);
#endif

/* Records a formatted message on ctx (or the thread's creation message when ctx is NULL)
 * and returns status, so that callers can write: return optk_fail(ctx, ..., "...", ...). */
optk_status optk_fail(optk_context *ctx, optk_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#ifdef __cplusplus
}
#endif

#endif /* OPTK_INTERNAL_H */
