/* cpu_backend.h — the CPU backend's entry points, gathered into its table by cpu_backend.c. */
#ifndef OPTK_CPU_BACKEND_H
#define OPTK_CPU_BACKEND_H

#include "../internal.h"

optk_status optk_cpu_random_fill_u32(optk_context *ctx, uint64_t seed, uint64_t subsequence,
                                     uint64_t offset, uint32_t *out, int64_t n);
/* A host buffer of the context's own for a CPU op's intermediate (a GEMM's transposed B):
 * grown as needed, kept until the context is freed, apart from the dispatch layer's
 * workspace (which may be an input of the same op). */
optk_status optk_cpu_scratch(optk_context *ctx, size_t bytes, void **out);
optk_status optk_cpu_exp_chain(optk_context *ctx, float *x, int64_t n, int rounds);
optk_status optk_cpu_element_apply(optk_context *ctx, const optk_element_launch *launch);
optk_status optk_cpu_probe_fill(optk_context *ctx, optk_probe_kind kind, uint64_t seed,
                                uint64_t step, uint64_t probe, float *out, int64_t n);
optk_status optk_cpu_dense_hvp(optk_context *ctx, const float *h, const float *z, float *hz,
                               int64_t n, int k);
optk_status optk_cpu_diag_accumulate(optk_context *ctx, const float *z, const float *hz, int64_t n,
                                     int k, double *acc, const optk_diag_pass *pass);
optk_status optk_cpu_abs_block_mean(optk_context *ctx, const float *z, const float *hz, float *out,
                                    int64_t numel, int64_t block);
optk_status optk_cpu_strided_copy(optk_context *ctx, float *dst, const float *src, int64_t n,
                                  int64_t stride);
optk_status optk_cpu_ot_cost_fill(optk_context *ctx, const optk_ot_view *view, int64_t batch,
                                  bool gemm, float *c);
optk_status optk_cpu_ot_weights_check(optk_context *ctx, const float *w, int64_t rows, int64_t cols,
                                      int64_t *bad_row, int *why);
optk_status optk_cpu_plan_apply(optk_context *ctx, const optk_ot_view *view, int64_t batch,
                                float eps, const float *f, const float *g, bool transpose,
                                const float *v, int64_t k, float *out);
optk_status optk_cpu_plan_gradient(optk_context *ctx, const optk_ot_view *view, int64_t batch,
                                   float eps, const float *f, const float *g, bool transpose,
                                   float *out);
optk_status optk_cpu_ctransform(optk_context *ctx, const optk_ot_view *view, int64_t batch,
                                float eps, float tau, const float *h, const float *w,
                                bool transpose, float *out);
optk_status optk_cpu_es_fill(optk_context *ctx, uint64_t seed, uint64_t generation, uint32_t layer,
                             int64_t first_pair, int64_t count, int64_t rows, int64_t cols,
                             int64_t offset, int64_t pair_stride, int64_t row_stride,
                             const float *coef, float *out);
optk_status optk_cpu_gemm(optk_context *ctx, bool trans_b, int64_t M, int64_t N, int64_t K,
                          float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                          float beta, float *C, int64_t ldc);
optk_status optk_cpu_es_lowrank_add(optk_context *ctx, uint64_t seed, uint64_t generation,
                                    uint32_t layer, int64_t m, int64_t n, int rank, float scale,
                                    int64_t members, int64_t batch, const float *X, float *Y);
optk_status optk_cpu_es_bias_add(optk_context *ctx, uint64_t seed, uint64_t generation,
                                 uint32_t layer, int64_t m, float sigma, int64_t members,
                                 int64_t batch, const float *bias, float *Y);
optk_status optk_cpu_sinkhorn(optk_context *ctx, const optk_sinkhorn_job *job);
optk_status optk_cpu_sinkhorn_newton(optk_context *ctx, const optk_sinkhorn_job *job,
                                     const void *warm);
optk_status optk_cpu_grad_sum_squares(optk_context *ctx, const optk_param_tensor *tensors,
                                      int count, optk_dtype grad_dtype, double *out);
optk_status optk_cpu_grad_sum_squares_to(optk_context *ctx, const optk_param_tensor *tensors,
                                         int count, optk_dtype grad_dtype, double *out,
                                         double *partials);
optk_status optk_cpu_capture_prepare(optk_context *ctx, const optk_capture_params *params,
                                     optk_step_scalars *sc, optk_capture_area *area);

#endif /* OPTK_CPU_BACKEND_H */
