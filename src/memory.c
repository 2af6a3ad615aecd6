/* memory.c — argument checks for the memory helpers, then the backend. */
#include "internal.h"

#include <stdint.h>

#define CHECK_CTX(ctx)                                                                             \
    do {                                                                                           \
        if (!(ctx)) return OPTK_ERR_INVALID_ARGUMENT;                                              \
    } while (0)

optk_status optk_mem_alloc(optk_context *ctx, size_t bytes, void **out) {
    CHECK_CTX(ctx);
    if (!out) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "mem_alloc: out is NULL");
    *out = NULL;
    if (bytes == 0)
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "mem_alloc: bytes must be > 0");
    return ctx->ops->mem_alloc(ctx, bytes, out);
}

optk_status optk_mem_free(optk_context *ctx, void *ptr) {
    CHECK_CTX(ctx);
    if (!ptr) return OPTK_OK;
    return ctx->ops->mem_free(ctx, ptr);
}

/* Copies of zero bytes are no-ops; otherwise both pointers must be given. */
static optk_status check_transfer(optk_context *ctx, const char *op, const void *dst,
                                  const void *src, size_t bytes) {
    if (bytes == 0) return OPTK_OK;
    if (!dst) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: dst is NULL", op);
    if (!src) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: src is NULL", op);
    return OPTK_OK;
}

optk_status optk_mem_upload(optk_context *ctx, void *dst, const void *host_src, size_t bytes) {
    CHECK_CTX(ctx);
    optk_status s = check_transfer(ctx, "mem_upload", dst, host_src, bytes);
    if (s != OPTK_OK || bytes == 0) return s;
    return ctx->ops->mem_upload(ctx, dst, host_src, bytes);
}

optk_status optk_mem_download(optk_context *ctx, void *host_dst, const void *src, size_t bytes) {
    CHECK_CTX(ctx);
    optk_status s = check_transfer(ctx, "mem_download", host_dst, src, bytes);
    if (s != OPTK_OK || bytes == 0) return s;
    return ctx->ops->mem_download(ctx, host_dst, src, bytes);
}

optk_status optk_mem_copy(optk_context *ctx, void *dst, const void *src, size_t bytes) {
    CHECK_CTX(ctx);
    optk_status s = check_transfer(ctx, "mem_copy", dst, src, bytes);
    if (s != OPTK_OK || bytes == 0) return s;
    uintptr_t d = (uintptr_t)dst, r = (uintptr_t)src;
    if (d < r + bytes && r < d + bytes) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "mem_copy: dst and src overlap");
    }
    return ctx->ops->mem_copy(ctx, dst, src, bytes);
}

optk_status optk_mem_set(optk_context *ctx, void *dst, int value, size_t bytes) {
    CHECK_CTX(ctx);
    if (value < 0 || value > 255) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "mem_set: value must be a byte (0..255), got %d", value);
    }
    if (bytes == 0) return OPTK_OK;
    if (!dst) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "mem_set: dst is NULL");
    return ctx->ops->mem_set(ctx, dst, value, bytes);
}
