/* cuda_check.cuh — turning CUDA runtime errors into optkern statuses with a message. */
#ifndef OPTK_CUDA_CHECK_CUH
#define OPTK_CUDA_CHECK_CUH

#include "cuda_backend.h"

#include <cuda_runtime.h>

namespace optk_cuda {

inline optk_status status_of(cudaError_t err) {
    switch (err) {
    case cudaSuccess:
        return OPTK_OK;
    case cudaErrorMemoryAllocation:
        return OPTK_ERR_OUT_OF_MEMORY;
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInvalidDevice:
        return OPTK_ERR_NO_DEVICE;
    default:
        return OPTK_ERR_DEVICE;
    }
}

/* Records "<op>: <what>: <CUDA's message>" on ctx and returns the matching status. */
inline optk_status fail(optk_context *ctx, cudaError_t err, const char *op, const char *what) {
    return optk_fail(ctx, status_of(err), "%s: %s: %s (%s)", op, what, cudaGetErrorString(err),
                     cudaGetErrorName(err));
}

/* Makes ctx's device current on this thread: a thread may hold contexts on several GPUs. */
inline optk_status enter(optk_context *ctx, const char *op) {
    cudaError_t err = cudaSetDevice(ctx->device);
    return err == cudaSuccess ? OPTK_OK : fail(ctx, err, op, "cudaSetDevice");
}

/* Blocks of per_block threads for `work` items, a thread each (the last block partly idle). */
inline unsigned blocks_for(int64_t work, int per_block) {
    return (unsigned)((work + per_block - 1) / per_block);
}

inline cudaStream_t stream_of(const optk_context *ctx) {
    return static_cast<cudaStream_t>(ctx->stream);
}

/* Checks the launch just queued (bad configuration, missing kernel image). */
inline optk_status check_launch(optk_context *ctx, const char *op) {
    cudaError_t err = cudaGetLastError();
    return err == cudaSuccess ? OPTK_OK : fail(ctx, err, op, "kernel launch");
}

} // namespace optk_cuda

#endif /* OPTK_CUDA_CHECK_CUH */
