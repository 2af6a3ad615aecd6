/* cuda_backend.c — the CUDA backend's table. The entry points live in the .cu files of this
 * folder, one concept each. */
#include "cuda_backend.h"

const optk_backend_ops optk_cuda_backend = {
    .name = "cuda",
    .init = optk_cuda_init,
    .release = optk_cuda_release,
    .set_stream = optk_cuda_set_stream,
    .synchronize = optk_cuda_synchronize,
    .mem_alloc = optk_cuda_mem_alloc,
    .mem_free = optk_cuda_mem_free,
    .mem_upload = optk_cuda_mem_upload,
    .mem_download = optk_cuda_mem_download,
    .mem_copy = optk_cuda_mem_copy,
    .mem_set = optk_cuda_mem_set,
    .random_fill_u32 = optk_cuda_random_fill_u32,
    .element_apply = optk_cuda_element_apply,
    .grad_sum_squares = optk_cuda_grad_sum_squares,
    .probe_fill = optk_cuda_probe_fill,
    .workspace = optk_cuda_workspace,
    .dense_hvp = optk_cuda_dense_hvp,
    .diag_accumulate = optk_cuda_diag_accumulate,
    .diag_finish = optk_cuda_diag_finish,
    .abs_block_mean = optk_cuda_abs_block_mean,
    .strided_copy = optk_cuda_strided_copy,
    .ot_weights_check = optk_cuda_ot_weights_check,
    .sinkhorn = optk_cuda_sinkhorn,
    .plan_apply = optk_cuda_plan_apply,
    .es_fill = optk_cuda_es_fill,
    .gemm = optk_cuda_gemm,
    .es_lowrank_add = optk_cuda_es_lowrank_add,
    .es_bias_add = optk_cuda_es_bias_add,
};
