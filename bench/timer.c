/* timer.c — host-clock timing for the CPU backend; CUDA events for CUDA (when built). */
#define _POSIX_C_SOURCE 199309L
#include "timer.h"

#include <stdlib.h>
#include <time.h>

#ifdef OPTK_BENCH_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

struct bench_timer {
    optk_context *ctx;
    struct timespec begin;
#ifdef OPTK_BENCH_HAVE_CUDA
    cudaEvent_t start, stop;
#endif
};

static bool on_cuda(const bench_timer *t) {
    return optk_context_backend(t->ctx) == OPTK_BACKEND_CUDA;
}

optk_status bench_timer_new(optk_context *ctx, bench_timer **out) {
    bench_timer *t = calloc(1, sizeof *t);
    if (!t) return OPTK_ERR_OUT_OF_MEMORY;
    t->ctx = ctx;
#ifdef OPTK_BENCH_HAVE_CUDA
    if (on_cuda(t) &&
        (cudaEventCreate(&t->start) != cudaSuccess || cudaEventCreate(&t->stop) != cudaSuccess)) {
        free(t);
        return OPTK_ERR_DEVICE;
    }
#else
    if (on_cuda(t)) {
        free(t);
        return OPTK_ERR_BACKEND_UNAVAILABLE;
    }
#endif
    *out = t;
    return OPTK_OK;
}

optk_status bench_timer_start(bench_timer *t) {
#ifdef OPTK_BENCH_HAVE_CUDA
    if (on_cuda(t)) {
        cudaStream_t stream = (cudaStream_t)optk_context_stream(t->ctx);
        return cudaEventRecord(t->start, stream) == cudaSuccess ? OPTK_OK : OPTK_ERR_DEVICE;
    }
#endif
    clock_gettime(CLOCK_MONOTONIC, &t->begin);
    return OPTK_OK;
}

optk_status bench_timer_stop(bench_timer *t, double *seconds) {
#ifdef OPTK_BENCH_HAVE_CUDA
    if (on_cuda(t)) {
        cudaStream_t stream = (cudaStream_t)optk_context_stream(t->ctx);
        float ms = 0.0f;
        if (cudaEventRecord(t->stop, stream) != cudaSuccess ||
            cudaEventSynchronize(t->stop) != cudaSuccess ||
            cudaEventElapsedTime(&ms, t->start, t->stop) != cudaSuccess) {
            return OPTK_ERR_DEVICE;
        }
        *seconds = ms * 1e-3;
        return OPTK_OK;
    }
#endif
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    *seconds =
        (double)(end.tv_sec - t->begin.tv_sec) + 1e-9 * (double)(end.tv_nsec - t->begin.tv_nsec);
    return OPTK_OK;
}

void bench_timer_free(bench_timer *t) {
    if (!t) return;
#ifdef OPTK_BENCH_HAVE_CUDA
    if (on_cuda(t)) {
        cudaEventDestroy(t->start);
        cudaEventDestroy(t->stop);
    }
#endif
    free(t);
}
