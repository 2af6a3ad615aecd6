/* cuda_memory.cu — device memory helpers, all on the context's stream. */
#include "cuda_check.cuh"

using namespace optk_cuda;

extern "C" optk_status optk_cuda_mem_alloc(optk_context *ctx, size_t bytes, void **out) {
    static const char op[] = "mem_alloc";
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    cudaError_t err = cudaMalloc(out, bytes); /* 256-byte aligned */
    if (err != cudaSuccess) {
        *out = nullptr;
        return fail(ctx, err, op, "cudaMalloc");
    }
    return OPTK_OK;
}

extern "C" optk_status optk_cuda_mem_free(optk_context *ctx, void *ptr) {
    static const char op[] = "mem_free";
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    cudaError_t err = cudaFree(ptr);
    return err == cudaSuccess ? OPTK_OK : fail(ctx, err, op, "cudaFree");
}

/* A copy on the stream; with wait, the host waits for it (and all queued work) to finish. */
static optk_status copy(optk_context *ctx, const char *op, void *dst, const void *src, size_t bytes,
                        cudaMemcpyKind kind, bool wait) {
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    cudaError_t err = cudaMemcpyAsync(dst, src, bytes, kind, stream_of(ctx));
    if (err != cudaSuccess) return fail(ctx, err, op, "cudaMemcpyAsync");
    if (wait && (err = cudaStreamSynchronize(stream_of(ctx))) != cudaSuccess) {
        return fail(ctx, err, op, "cudaStreamSynchronize");
    }
    return OPTK_OK;
}

extern "C" optk_status optk_cuda_mem_upload(optk_context *ctx, void *dst, const void *src,
                                            size_t bytes) {
    return copy(ctx, "mem_upload", dst, src, bytes, cudaMemcpyHostToDevice, true);
}

extern "C" optk_status optk_cuda_mem_download(optk_context *ctx, void *dst, const void *src,
                                              size_t bytes) {
    return copy(ctx, "mem_download", dst, src, bytes, cudaMemcpyDeviceToHost, true);
}

extern "C" optk_status optk_cuda_mem_copy(optk_context *ctx, void *dst, const void *src,
                                          size_t bytes) {
    return copy(ctx, "mem_copy", dst, src, bytes, cudaMemcpyDeviceToDevice, false);
}

extern "C" optk_status optk_cuda_mem_set(optk_context *ctx, void *dst, int value, size_t bytes) {
    static const char op[] = "mem_set";
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    cudaError_t err = cudaMemsetAsync(dst, value, bytes, stream_of(ctx));
    return err == cudaSuccess ? OPTK_OK : fail(ctx, err, op, "cudaMemsetAsync");
}
