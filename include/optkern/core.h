/* optkern/core.h — versions, status codes, dtypes, backends and the context.
 *
 * Every optkern call takes an optk_context: it names the backend (CPU or CUDA) and the
 * device, holds the CUDA stream the library runs on, and keeps the last detailed error
 * message. Every call returns an optk_status; on failure nothing was written.
 */
#ifndef OPTKERN_CORE_H
#define OPTKERN_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OPTK_VERSION_MAJOR 0
#define OPTK_VERSION_MINOR 1
#define OPTK_VERSION_PATCH 0
/** Compile-time version as one number: major * 10000 + minor * 100 + patch. */
#define OPTK_VERSION (OPTK_VERSION_MAJOR * 10000 + OPTK_VERSION_MINOR * 100 + OPTK_VERSION_PATCH)

/** What a call did. OPTK_OK is zero; every other value means nothing was written. */
typedef enum optk_status {
    OPTK_OK = 0,
    OPTK_ERR_INVALID_ARGUMENT = 1,    /* a null pointer, bad size, out-of-range value, overlap */
    OPTK_ERR_UNSUPPORTED = 2,         /* a valid request this build or op does not provide */
    OPTK_ERR_BACKEND_UNAVAILABLE = 3, /* the backend was not compiled into this library */
    OPTK_ERR_NO_DEVICE = 4,           /* the backend is compiled but no usable device exists */
    OPTK_ERR_OUT_OF_MEMORY = 5,
    OPTK_ERR_DEVICE = 6, /* a CUDA runtime or library call failed */
    OPTK_ERR_INTERNAL = 7,
    OPTK_ERR_CALLBACK = 8 /* a user callback reported failure */
} optk_status;

/** Where the work runs. AUTO picks CUDA when a device is present, else the CPU. */
typedef enum optk_backend {
    OPTK_BACKEND_AUTO = 0,
    OPTK_BACKEND_CPU = 1,
    OPTK_BACKEND_CUDA = 2
} optk_backend;

/** Element types of tensors. */
typedef enum optk_dtype { OPTK_F32 = 0, OPTK_F16 = 1, OPTK_BF16 = 2 } optk_dtype;

/** An opaque handle: backend, device, stream, last error. Not safe to share between
 *  threads that call into it concurrently; create one per thread instead. */
typedef struct optk_context optk_context;

/** Run-time version as one number (same encoding as OPTK_VERSION). */
int optk_version(void);

/** Run-time version as "major.minor.patch". */
const char *optk_version_string(void);

/** One line describing the build: compiler, CUDA toolkit version and architectures. */
const char *optk_build_info(void);

/** A short constant name for a status ("OPTK_ERR_INVALID_ARGUMENT"); never NULL. */
const char *optk_status_string(optk_status status);

/** "auto", "cpu" or "cuda"; "unknown" for other values. */
const char *optk_backend_name(optk_backend backend);

/** "f32", "f16" or "bf16"; "unknown" for other values. */
const char *optk_dtype_name(optk_dtype dtype);

/** Size in bytes of one element of dtype, or 0 for an unknown dtype. */
size_t optk_dtype_size(optk_dtype dtype);

/** Whether this library was built with the given backend (AUTO and CPU: always). */
bool optk_backend_compiled(optk_backend backend);

/** Number of usable devices of a backend: 1 for the CPU, the CUDA device count for CUDA
 *  (0 when CUDA is not compiled, no driver is loaded or no GPU is present). */
int optk_device_count(optk_backend backend);

/** Creates a context on backend and device (device index; 0 for the CPU).
 *  Returns OPTK_ERR_BACKEND_UNAVAILABLE when the backend was not compiled in,
 *  OPTK_ERR_NO_DEVICE when there is no such device; never aborts. On failure *out is NULL
 *  and optk_context_last_error(NULL) gives the reason. */
optk_status optk_context_create(optk_context **out, optk_backend backend, int device);

/** Releases a context and its backend resources. Accepts NULL. */
void optk_context_free(optk_context *ctx);

/** The backend the context runs on (never AUTO). */
optk_backend optk_context_backend(const optk_context *ctx);

/** Device index of the context. */
int optk_context_device(const optk_context *ctx);

/** Human-readable device name ("NVIDIA H100 80GB HBM3", "x86_64 CPU"). */
const char *optk_context_device_name(const optk_context *ctx);

/** Makes the library run on the caller's stream (a cudaStream_t; NULL is the default
 *  stream). The CPU backend accepts only NULL. */
optk_status optk_context_set_stream(optk_context *ctx, void *stream);

/** The stream the context runs on (a cudaStream_t, or NULL). */
void *optk_context_stream(const optk_context *ctx);

/** Waits until all work queued on the context's stream is done, and reports any
 *  asynchronous device error that happened meanwhile. */
optk_status optk_context_synchronize(optk_context *ctx);

/** The detailed message of the last failed call on ctx ("" if none), e.g.
 *  "adamw_step: tensors[2].grad is NULL". With ctx NULL: the message of the last failed
 *  optk_context_create on this thread. The text stays valid until the next call. */
const char *optk_context_last_error(const optk_context *ctx);

#ifdef __cplusplus
}
#endif

#endif /* OPTKERN_CORE_H */
