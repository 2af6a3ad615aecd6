/* optkern/memory.h — backend-agnostic memory helpers for tests, examples and bindings.
 *
 * The library itself never allocates on the hot path: callers own all tensors (host
 * memory for the CPU backend, device memory for CUDA). These helpers let code that does
 * not want to know the backend allocate and move such buffers.
 */
#ifndef OPTKERN_MEMORY_H
#define OPTKERN_MEMORY_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Allocates bytes (> 0) of backend memory, aligned to at least 256 bytes, into *out. */
optk_status optk_mem_alloc(optk_context *ctx, size_t bytes, void **out);

/** Frees memory from optk_mem_alloc on the same context. Accepts NULL. */
optk_status optk_mem_free(optk_context *ctx, void *ptr);

/** Copies bytes from host memory to backend memory; complete when it returns. */
optk_status optk_mem_upload(optk_context *ctx, void *dst, const void *host_src, size_t bytes);

/** Copies bytes from backend memory to host memory; waits for queued work on the
 *  context's stream first, and is complete when it returns. */
optk_status optk_mem_download(optk_context *ctx, void *host_dst, const void *src, size_t bytes);

/** Copies bytes between two non-overlapping backend buffers, queued on the stream. */
optk_status optk_mem_copy(optk_context *ctx, void *dst, const void *src, size_t bytes);

/** Sets bytes of backend memory to the byte value (0..255), queued on the stream. */
optk_status optk_mem_set(optk_context *ctx, void *dst, int value, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif /* OPTKERN_MEMORY_H */
