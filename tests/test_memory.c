/* test_memory.c — the backend-agnostic memory helpers on every backend. */
#include "harness.h"

#include <stdlib.h>

BACKEND_TEST(memory, upload_copy_set_download_round_trip) {
    optk_context *ctx = test_context(backend);
    enum { N = 1027 };
    float host[N], back[N];
    test_fill_uniform(host, N, -3.0f, 3.0f, 11);
    test_buffer a = test_buffer_new(ctx, N, sizeof(float), host);
    test_buffer b = test_buffer_new(ctx, N, sizeof(float), NULL);

    cr_assert_eq(optk_mem_copy(ctx, b.data, a.data, sizeof host), OPTK_OK);
    test_buffer_read(&b, back);
    test_assert_bits_equal(back, host, N, sizeof(float), "copied buffer");

    cr_assert_eq(optk_mem_set(ctx, (float *)b.data + 5, 0, 7 * sizeof(float)), OPTK_OK);
    test_buffer_read(&b, back);
    for (int i = 0; i < N; ++i) {
        float want = (i >= 5 && i < 12) ? 0.0f : host[i];
        cr_assert_eq(back[i], want, "element %d", i);
    }
    test_buffer_check_guards(&a, "source");
    test_buffer_check_guards(&b, "destination");
    test_buffer_free(&a);
    test_buffer_free(&b);
    optk_context_free(ctx);
}

BACKEND_TEST(memory, allocations_are_aligned_for_vector_loads) {
    optk_context *ctx = test_context(backend);
    for (size_t bytes = 1; bytes < 5000; bytes = bytes * 3 + 1) {
        void *p = NULL;
        cr_assert_eq(optk_mem_alloc(ctx, bytes, &p), OPTK_OK);
        cr_assert_eq((uintptr_t)p % 256, 0, "%zu bytes at %p", bytes, p);
        cr_assert_eq(optk_mem_free(ctx, p), OPTK_OK);
    }
    cr_assert_eq(optk_mem_free(ctx, NULL), OPTK_OK);
    optk_context_free(ctx);
}

BACKEND_TEST(memory, bad_arguments_are_refused_and_nothing_is_written) {
    optk_context *ctx = test_context(backend);
    enum { N = 64 };
    float host[N], back[N];
    test_fill_uniform(host, N, -1.0f, 1.0f, 5);
    test_buffer a = test_buffer_new(ctx, N, sizeof(float), host);
    void *p = (void *)&p;

    cr_assert_eq(optk_mem_alloc(ctx, 0, &p), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_null(p);
    cr_assert(strstr(optk_context_last_error(ctx), "bytes must be > 0") != NULL);
    cr_assert_eq(optk_mem_alloc(ctx, 16, NULL), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_mem_copy(ctx, (float *)a.data + 1, a.data, 8 * sizeof(float)),
                 OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "overlap") != NULL);
    cr_assert_eq(optk_mem_set(ctx, a.data, 256, 4), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_mem_set(ctx, a.data, -1, 4), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_mem_upload(ctx, NULL, host, 4), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_mem_download(ctx, back, NULL, 4), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_mem_copy(ctx, a.data, NULL, 4), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_mem_alloc(NULL, 16, &p), OPTK_ERR_INVALID_ARGUMENT);
    /* Zero-byte transfers are no-ops, as with memcpy. */
    cr_assert_eq(optk_mem_copy(ctx, a.data, NULL, 0), OPTK_OK);

    test_buffer_read(&a, back);
    test_assert_bits_equal(back, host, N, sizeof(float), "buffer after refused calls");
    test_buffer_check_guards(&a, "buffer after refused calls");
    test_buffer_free(&a);
    optk_context_free(ctx);
}
