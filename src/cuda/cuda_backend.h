/* cuda_backend.h — the CUDA backend's entry points (C linkage), gathered into its table by
 * cuda_backend.c, and the helpers its .cu files share. */
#ifndef OPTK_CUDA_BACKEND_H
#define OPTK_CUDA_BACKEND_H

#include "../internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Elements per thread block in the multi-tensor kernels (multi_tensor.cuh's kTile): the
 * norm of a capturable step needs one partial sum per tile. */
#define OPTK_CUDA_TILE 2048

/* What a CUDA context holds beside the common fields. */
typedef struct optk_cuda_state {
    int sm_count;
    int compute_major;   /* the device's compute capability, major part */
    size_t shared_optin; /* shared memory one block may opt in to, bytes */
    void *workspace;     /* device scratch for reductions; grows, never shrinks */
    size_t workspace_bytes;
    void *cublas; /* cublasHandle_t, created on first need */
} optk_cuda_state;

/* At least bytes of device scratch owned by ctx (allocated on first need, then reused: no
 * allocation per call once it is large enough). */
optk_status optk_cuda_workspace(optk_context *ctx, size_t bytes, void **out);

/* The context's cuBLAS handle (created on first need), bound to its stream. */
optk_status optk_cuda_cublas(optk_context *ctx, const char *op, void **out);

optk_status optk_cuda_init(optk_context *ctx, int device);
void optk_cuda_release(optk_context *ctx);
optk_status optk_cuda_set_stream(optk_context *ctx, void *stream);
optk_status optk_cuda_synchronize(optk_context *ctx);

optk_status optk_cuda_mem_alloc(optk_context *ctx, size_t bytes, void **out);
optk_status optk_cuda_mem_free(optk_context *ctx, void *ptr);
optk_status optk_cuda_mem_upload(optk_context *ctx, void *dst, const void *src, size_t bytes);
optk_status optk_cuda_mem_download(optk_context *ctx, void *dst, const void *src, size_t bytes);
optk_status optk_cuda_mem_copy(optk_context *ctx, void *dst, const void *src, size_t bytes);
optk_status optk_cuda_mem_set(optk_context *ctx, void *dst, int value, size_t bytes);

optk_status optk_cuda_random_fill_u32(optk_context *ctx, uint64_t seed, uint64_t subsequence,
                                      uint64_t offset, uint32_t *out, int64_t n);
optk_status optk_cuda_exp_chain(optk_context *ctx, float *x, int64_t n, int rounds);
optk_status optk_cuda_element_apply(optk_context *ctx, const optk_element_launch *launch);
optk_status optk_cuda_probe_fill(optk_context *ctx, optk_probe_kind kind, uint64_t seed,
                                 uint64_t step, uint64_t probe, float *out, int64_t n);
optk_status optk_cuda_dense_hvp(optk_context *ctx, const float *h, const float *z, float *hz,
                                int64_t n, int k);
optk_status optk_cuda_diag_accumulate(optk_context *ctx, const float *z, const float *hz, int64_t n,
                                      int k, double *acc, const optk_diag_pass *pass);
optk_status optk_cuda_abs_block_mean(optk_context *ctx, const float *z, const float *hz, float *out,
                                     int64_t numel, int64_t block);
optk_status optk_cuda_strided_copy(optk_context *ctx, float *dst, const float *src, int64_t n,
                                   int64_t stride);
optk_status optk_cuda_ot_cost_fill(optk_context *ctx, const optk_ot_view *view, int64_t batch,
                                   bool gemm, float *c);
optk_status optk_cuda_ot_weights_check(optk_context *ctx, const float *w, int64_t rows,
                                       int64_t cols, int64_t *bad_row, int *why);
optk_status optk_cuda_plan_apply(optk_context *ctx, const optk_ot_view *view, int64_t batch,
                                 float eps, const float *f, const float *g, bool transpose,
                                 const float *v, int64_t k, float *out);
optk_status optk_cuda_plan_gradient(optk_context *ctx, const optk_ot_view *view, int64_t batch,
                                    float eps, const float *f, const float *g, bool transpose,
                                    float *out);
optk_status optk_cuda_ctransform(optk_context *ctx, const optk_ot_view *view, int64_t batch,
                                 float eps, float tau, const float *h, const float *w,
                                 bool transpose, float *out);
optk_status optk_cuda_es_fill(optk_context *ctx, uint64_t seed, uint64_t generation, uint32_t layer,
                              int64_t first_pair, int64_t count, int64_t rows, int64_t cols,
                              int64_t offset, int64_t pair_stride, int64_t row_stride,
                              const float *coef, float *out);
optk_status optk_cuda_gemm(optk_context *ctx, bool trans_b, int64_t M, int64_t N, int64_t K,
                           float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                           float beta, float *C, int64_t ldc);
optk_status optk_cuda_es_lowrank_add(optk_context *ctx, uint64_t seed, uint64_t generation,
                                     uint32_t layer, int64_t m, int64_t n, int rank, float scale,
                                     int64_t members, int64_t batch, const float *X, float *Y);
optk_status optk_cuda_es_bias_add(optk_context *ctx, uint64_t seed, uint64_t generation,
                                  uint32_t layer, int64_t m, float sigma, int64_t members,
                                  int64_t batch, const float *bias, float *Y);
optk_status optk_cuda_sinkhorn(optk_context *ctx, const optk_sinkhorn_job *job);
optk_status optk_cuda_sinkhorn_newton(optk_context *ctx, const optk_sinkhorn_job *job,
                                      const void *warm);
optk_status optk_cuda_grad_sum_squares(optk_context *ctx, const optk_param_tensor *tensors,
                                       int count, optk_dtype grad_dtype, double *out);
optk_status optk_cuda_grad_sum_squares_to(optk_context *ctx, const optk_param_tensor *tensors,
                                          int count, optk_dtype grad_dtype, double *out,
                                          double *partials);
optk_status optk_cuda_capture_prepare(optk_context *ctx, const optk_capture_params *params,
                                      optk_step_scalars *sc, optk_capture_area *area);

#ifdef __cplusplus
}
#endif

#endif /* OPTK_CUDA_BACKEND_H */
