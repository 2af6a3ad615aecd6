/* context.c — versions, names, errors and the context's life. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPTK_STR2(x) #x
#define OPTK_STR(x) OPTK_STR2(x)

/* The message of the last failed optk_context_create on this thread (there is no context
 * to keep it in). */
static _Thread_local char create_error[512];

optk_status optk_fail(optk_context *ctx, optk_status status, const char *fmt, ...) {
    char *buf = ctx ? ctx->last_error : create_error;
    size_t len = ctx ? sizeof ctx->last_error : sizeof create_error;
    va_list args;
    va_start(args, fmt);
    vsnprintf(buf, len, fmt, args);
    va_end(args);
    return status;
}

int optk_version(void) {
    return OPTK_VERSION;
}

const char *optk_version_string(void) {
    return OPTK_STR(OPTK_VERSION_MAJOR) "." OPTK_STR(OPTK_VERSION_MINOR) "." OPTK_STR(
        OPTK_VERSION_PATCH);
}

const char *optk_build_info(void) {
    return "optkern " OPTK_STR(OPTK_VERSION_MAJOR) "." OPTK_STR(OPTK_VERSION_MINOR) "." OPTK_STR(
        OPTK_VERSION_PATCH) ", C compiler " OPTK_C_COMPILER_ID
#ifdef OPTK_HAVE_CUDA
                            ", CUDA backend: toolkit " OPTK_CUDA_VERSION
                            ", architectures " OPTK_CUDA_ARCHS
#else
                            ", CUDA backend: not built"
#endif
        ;
}

const char *optk_status_string(optk_status status) {
    switch (status) {
    case OPTK_OK:
        return "OPTK_OK";
    case OPTK_ERR_INVALID_ARGUMENT:
        return "OPTK_ERR_INVALID_ARGUMENT";
    case OPTK_ERR_UNSUPPORTED:
        return "OPTK_ERR_UNSUPPORTED";
    case OPTK_ERR_BACKEND_UNAVAILABLE:
        return "OPTK_ERR_BACKEND_UNAVAILABLE";
    case OPTK_ERR_NO_DEVICE:
        return "OPTK_ERR_NO_DEVICE";
    case OPTK_ERR_OUT_OF_MEMORY:
        return "OPTK_ERR_OUT_OF_MEMORY";
    case OPTK_ERR_DEVICE:
        return "OPTK_ERR_DEVICE";
    case OPTK_ERR_INTERNAL:
        return "OPTK_ERR_INTERNAL";
    case OPTK_ERR_CALLBACK:
        return "OPTK_ERR_CALLBACK";
    }
    return "OPTK_ERR_UNKNOWN_STATUS";
}

const char *optk_backend_name(optk_backend backend) {
    switch (backend) {
    case OPTK_BACKEND_AUTO:
        return "auto";
    case OPTK_BACKEND_CPU:
        return "cpu";
    case OPTK_BACKEND_CUDA:
        return "cuda";
    }
    return "unknown";
}

const char *optk_dtype_name(optk_dtype dtype) {
    switch (dtype) {
    case OPTK_F32:
        return "f32";
    case OPTK_F16:
        return "f16";
    case OPTK_BF16:
        return "bf16";
    }
    return "unknown";
}

size_t optk_dtype_size(optk_dtype dtype) {
    switch (dtype) {
    case OPTK_F32:
        return 4;
    case OPTK_F16:
        return 2;
    case OPTK_BF16:
        return 2;
    }
    return 0;
}

bool optk_backend_compiled(optk_backend backend) {
    switch (backend) {
    case OPTK_BACKEND_AUTO:
    case OPTK_BACKEND_CPU:
        return true;
    case OPTK_BACKEND_CUDA:
#ifdef OPTK_HAVE_CUDA
        return true;
#else
        return false;
#endif
    }
    return false;
}

int optk_device_count(optk_backend backend) {
    switch (backend) {
    case OPTK_BACKEND_CPU:
        return 1;
    case OPTK_BACKEND_CUDA:
#ifdef OPTK_HAVE_CUDA
        return optk_cuda_device_count();
#else
        return 0;
#endif
    case OPTK_BACKEND_AUTO:
        break;
    }
    return 0;
}

static const optk_backend_ops *backend_table(optk_backend backend) {
    switch (backend) {
    case OPTK_BACKEND_CPU:
        return &optk_cpu_backend;
    case OPTK_BACKEND_CUDA:
#ifdef OPTK_HAVE_CUDA
        return &optk_cuda_backend;
#else
        return NULL;
#endif
    case OPTK_BACKEND_AUTO:
        break;
    }
    return NULL;
}

optk_status optk_context_create(optk_context **out, optk_backend backend, int device) {
    if (!out) return optk_fail(NULL, OPTK_ERR_INVALID_ARGUMENT, "context_create: out is NULL");
    *out = NULL;
    if (backend == OPTK_BACKEND_AUTO) {
        backend = optk_device_count(OPTK_BACKEND_CUDA) > 0 ? OPTK_BACKEND_CUDA : OPTK_BACKEND_CPU;
    }
    if (backend != OPTK_BACKEND_CPU && backend != OPTK_BACKEND_CUDA) {
        return optk_fail(NULL, OPTK_ERR_INVALID_ARGUMENT, "context_create: unknown backend %d",
                         (int)backend);
    }
    const optk_backend_ops *ops = backend_table(backend);
    if (!ops) {
        return optk_fail(NULL, OPTK_ERR_BACKEND_UNAVAILABLE,
                         "context_create: the %s backend is not compiled into this build "
                         "(configure with OPTKERN_CUDA=ON and a CUDA toolkit)",
                         optk_backend_name(backend));
    }
    if (device < 0) {
        return optk_fail(NULL, OPTK_ERR_INVALID_ARGUMENT,
                         "context_create: device must be >= 0, got %d", device);
    }
    optk_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return optk_fail(NULL, OPTK_ERR_OUT_OF_MEMORY, "context_create: out of host memory");
    ctx->ops = ops;
    ctx->backend = backend;
    ctx->device = device;
    optk_status status = ops->init(ctx, device);
    if (status != OPTK_OK) {
        /* init explained itself in ctx->last_error; move that to the thread's message. */
        optk_fail(NULL, status, "%s", ctx->last_error);
        free(ctx);
        return status;
    }
    *out = ctx;
    return OPTK_OK;
}

void optk_context_free(optk_context *ctx) {
    if (!ctx) return;
    ctx->ops->release(ctx);
    free(ctx);
}

optk_backend optk_context_backend(const optk_context *ctx) {
    return ctx ? ctx->backend : OPTK_BACKEND_AUTO;
}

int optk_context_device(const optk_context *ctx) {
    return ctx ? ctx->device : -1;
}

const char *optk_context_device_name(const optk_context *ctx) {
    return ctx ? ctx->device_name : "";
}

optk_status optk_context_set_stream(optk_context *ctx, void *stream) {
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    if (ctx->backend == OPTK_BACKEND_CPU && stream) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "context_set_stream: the cpu backend has no streams; pass NULL");
    }
    return ctx->ops->set_stream(ctx, stream);
}

void *optk_context_stream(const optk_context *ctx) {
    return ctx ? ctx->stream : NULL;
}

optk_status optk_context_synchronize(optk_context *ctx) {
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    return ctx->ops->synchronize(ctx);
}

const char *optk_context_last_error(const optk_context *ctx) {
    return ctx ? ctx->last_error : create_error;
}
