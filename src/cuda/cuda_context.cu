/* cuda_context.cu — the CUDA backend's context: device selection, stream, synchronisation. */
#include "cuda_check.cuh"

#include <cublas_v2.h>
#include <cstdio>
#include <cstdlib>

using namespace optk_cuda;

extern "C" int optk_cuda_device_count(void) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError(); /* clear the sticky "no driver" error for later callers */
        return 0;
    }
    return count;
}

extern "C" optk_status optk_cuda_init(optk_context *ctx, int device) {
    static const char op[] = "context_create";
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        cudaGetLastError();
        return optk_fail(ctx, OPTK_ERR_NO_DEVICE, "%s: no CUDA device is usable: %s (%s)", op,
                         cudaGetErrorString(err), cudaGetErrorName(err));
    }
    if (device >= count) {
        return optk_fail(ctx, OPTK_ERR_NO_DEVICE, "%s: CUDA device %d requested, %d present", op,
                         device, count);
    }
    cudaDeviceProp prop;
    if ((err = cudaSetDevice(device)) != cudaSuccess) return fail(ctx, err, op, "cudaSetDevice");
    if ((err = cudaGetDeviceProperties(&prop, device)) != cudaSuccess) {
        return fail(ctx, err, op, "cudaGetDeviceProperties");
    }
    auto *state = static_cast<optk_cuda_state *>(std::calloc(1, sizeof(optk_cuda_state)));
    if (!state) return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    state->sm_count = prop.multiProcessorCount;
    state->compute_major = prop.major;
    state->shared_optin = prop.sharedMemPerBlockOptin;
    ctx->backend_data = state;
    std::snprintf(ctx->device_name, sizeof ctx->device_name, "%s (sm_%d%d, %d SMs)", prop.name,
                  prop.major, prop.minor, prop.multiProcessorCount);
    ctx->stream = nullptr;
    return OPTK_OK;
}

extern "C" optk_status optk_cuda_workspace(optk_context *ctx, size_t bytes, void **out) {
    auto *state = static_cast<optk_cuda_state *>(ctx->backend_data);
    if (state->workspace_bytes < bytes) {
        /* Queued work may still use the old buffer: cudaFree waits for the device. */
        cudaFree(state->workspace);
        state->workspace = nullptr;
        state->workspace_bytes = 0;
        cudaError_t err = cudaMalloc(&state->workspace, bytes);
        if (err != cudaSuccess) return fail(ctx, err, "workspace", "cudaMalloc");
        state->workspace_bytes = bytes;
    }
    *out = state->workspace;
    return OPTK_OK;
}

extern "C" optk_status optk_cuda_cublas(optk_context *ctx, const char *op, void **out) {
    auto *state = static_cast<optk_cuda_state *>(ctx->backend_data);
    if (!state->cublas) {
        cublasHandle_t handle = nullptr;
        if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) {
            return optk_fail(ctx, OPTK_ERR_DEVICE, "%s: cublasCreate failed", op);
        }
        state->cublas = handle;
    }
    if (cublasSetStream(static_cast<cublasHandle_t>(state->cublas), stream_of(ctx)) !=
        CUBLAS_STATUS_SUCCESS) {
        return optk_fail(ctx, OPTK_ERR_DEVICE, "%s: cublasSetStream failed", op);
    }
    *out = state->cublas;
    return OPTK_OK;
}

extern "C" void optk_cuda_release(optk_context *ctx) {
    auto *state = static_cast<optk_cuda_state *>(ctx->backend_data);
    if (state) {
        cudaFree(state->workspace);
        if (state->cublas) cublasDestroy(static_cast<cublasHandle_t>(state->cublas));
    }
    std::free(ctx->backend_data);
    ctx->backend_data = nullptr;
}

extern "C" optk_status optk_cuda_set_stream(optk_context *ctx, void *stream) {
    ctx->stream = stream;
    return OPTK_OK;
}

extern "C" optk_status optk_cuda_synchronize(optk_context *ctx) {
    static const char op[] = "context_synchronize";
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    cudaError_t err = cudaStreamSynchronize(stream_of(ctx));
    return err == cudaSuccess ? OPTK_OK : fail(ctx, err, op, "cudaStreamSynchronize");
}
