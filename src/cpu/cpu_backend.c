/* cpu_backend.c — the CPU backend's table, context and memory: plain host memory, no
 * streams, everything complete when a call returns. */
#include "cpu_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The CPU context's scratch memory (grown on demand, reused). */
typedef struct cpu_state {
    void *workspace; /* the dispatch layer's (ops->workspace) */
    size_t workspace_bytes;
    void *scratch; /* the CPU ops' own (optk_cpu_scratch) */
    size_t scratch_bytes;
} cpu_state;

/* The CPU's model name from /proc/cpuinfo where there is one. */
static void read_cpu_name(char *buf, size_t len) {
    snprintf(buf, len, "host CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            colon += 1 + strspn(colon + 1, " \t");
            colon[strcspn(colon, "\n")] = '\0';
            snprintf(buf, len, "%s", colon);
            break;
        }
    }
    fclose(f);
}

static optk_status cpu_init(optk_context *ctx, int device) {
    if (device != 0) {
        return optk_fail(ctx, OPTK_ERR_NO_DEVICE,
                         "context_create: the cpu backend has one device "
                         "(0), got %d",
                         device);
    }
    read_cpu_name(ctx->device_name, sizeof ctx->device_name);
    ctx->backend_data = calloc(1, sizeof(cpu_state));
    if (!ctx->backend_data) {
        return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "context_create: out of host memory");
    }
    return OPTK_OK;
}

static void cpu_release(optk_context *ctx) {
    cpu_state *state = ctx->backend_data;
    if (state) free(state->workspace), free(state->scratch);
    free(state);
    ctx->backend_data = NULL;
}

/* *buffer of at least bytes (256-byte aligned), grown by replacing it (contents not kept). */
static optk_status grow(optk_context *ctx, void **buffer, size_t *have, size_t bytes,
                        const char *what) {
    if (*have < bytes) {
        const size_t align = 256, rounded = (bytes + align - 1) / align * align;
        void *grown = aligned_alloc(align, rounded);
        if (!grown) {
            return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "%s: %zu bytes of host memory", what,
                             bytes);
        }
        free(*buffer);
        *buffer = grown;
        *have = rounded;
    }
    return OPTK_OK;
}

static optk_status cpu_workspace(optk_context *ctx, size_t bytes, void **out) {
    cpu_state *state = ctx->backend_data;
    const optk_status s = grow(ctx, &state->workspace, &state->workspace_bytes, bytes, "workspace");
    *out = state->workspace;
    return s;
}

optk_status optk_cpu_scratch(optk_context *ctx, size_t bytes, void **out) {
    cpu_state *state = ctx->backend_data;
    const optk_status s = grow(ctx, &state->scratch, &state->scratch_bytes, bytes, "scratch");
    *out = state->scratch;
    return s;
}

static optk_status cpu_set_stream(optk_context *ctx, void *stream) {
    ctx->stream = stream; /* always NULL: the dispatch layer refuses others */
    return OPTK_OK;
}

static optk_status cpu_synchronize(optk_context *ctx) {
    (void)ctx;
    return OPTK_OK;
}

static optk_status cpu_mem_alloc(optk_context *ctx, size_t bytes, void **out) {
    const size_t align = 256;
    size_t rounded = (bytes + align - 1) / align * align;
    if (rounded < bytes) {
        return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "mem_alloc: %zu bytes is too large", bytes);
    }
    *out = aligned_alloc(align, rounded);
    if (!*out) {
        return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "mem_alloc: %zu bytes of host memory", bytes);
    }
    return OPTK_OK;
}

static optk_status cpu_mem_free(optk_context *ctx, void *ptr) {
    (void)ctx;
    free(ptr);
    return OPTK_OK;
}

static optk_status cpu_mem_copy(optk_context *ctx, void *dst, const void *src, size_t bytes) {
    (void)ctx;
    memcpy(dst, src, bytes);
    return OPTK_OK;
}

static optk_status cpu_mem_set(optk_context *ctx, void *dst, int value, size_t bytes) {
    (void)ctx;
    memset(dst, value, bytes);
    return OPTK_OK;
}

const optk_backend_ops optk_cpu_backend = {
    .name = "cpu",
    .init = cpu_init,
    .release = cpu_release,
    .set_stream = cpu_set_stream,
    .synchronize = cpu_synchronize,
    .mem_alloc = cpu_mem_alloc,
    .mem_free = cpu_mem_free,
    .mem_upload = cpu_mem_copy,
    .mem_download = cpu_mem_copy,
    .mem_copy = cpu_mem_copy,
    .mem_set = cpu_mem_set,
    .random_fill_u32 = optk_cpu_random_fill_u32,
    .exp_chain = optk_cpu_exp_chain,
    .element_apply = optk_cpu_element_apply,
    .grad_sum_squares = optk_cpu_grad_sum_squares,
    .grad_sum_squares_to = optk_cpu_grad_sum_squares_to,
    .reduce_tile = 0,
    .capture_prepare = optk_cpu_capture_prepare,
    .probe_fill = optk_cpu_probe_fill,
    .workspace = cpu_workspace,
    .dense_hvp = optk_cpu_dense_hvp,
    .diag_accumulate = optk_cpu_diag_accumulate,
    .abs_block_mean = optk_cpu_abs_block_mean,
    .strided_copy = optk_cpu_strided_copy,
    .ot_weights_check = optk_cpu_ot_weights_check,
    .sinkhorn = optk_cpu_sinkhorn,
    .sinkhorn_newton = optk_cpu_sinkhorn_newton,
    .ot_cost_fill = optk_cpu_ot_cost_fill,
    .plan_apply = optk_cpu_plan_apply,
    .plan_gradient = optk_cpu_plan_gradient,
    .ctransform = optk_cpu_ctransform,
    .es_fill = optk_cpu_es_fill,
    .gemm = optk_cpu_gemm,
    .es_lowrank_add = optk_cpu_es_lowrank_add,
    .es_bias_add = optk_cpu_es_bias_add,
};
