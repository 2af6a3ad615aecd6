/* harness.c — the shared test helpers (see harness.h). */
#include "harness.h"

#include <math.h>
#include <stdlib.h>

enum { GUARD_BYTES = 256 };
static const unsigned char GUARD_BYTE = 0xA5;

optk_context *test_context(optk_backend backend) {
    if (!optk_backend_compiled(backend)) {
        cr_skip_test("the %s backend is not compiled into this build", optk_backend_name(backend));
    }
    optk_context *ctx = NULL;
    optk_status s = optk_context_create(&ctx, backend, 0);
    if (s == OPTK_ERR_NO_DEVICE) {
        cr_skip_test("no %s device present: %s", optk_backend_name(backend),
                     optk_context_last_error(NULL));
    }
    cr_assert_eq(s, OPTK_OK, "context_create(%s): %s: %s", optk_backend_name(backend),
                 optk_status_string(s), optk_context_last_error(NULL));
    return ctx;
}

test_buffer test_buffer_new(optk_context *ctx, size_t n, size_t elem_size, const void *host_init) {
    return test_buffer_new_shifted(ctx, n, elem_size, host_init, 0);
}

test_buffer test_buffer_new_shifted(optk_context *ctx, size_t n, size_t elem_size,
                                    const void *host_init, size_t shift) {
    test_buffer b = {.ctx = ctx, .bytes = n * elem_size};
    size_t total = b.bytes + 2 * GUARD_BYTES + shift;
    void *base = NULL;
    optk_status s = optk_mem_alloc(ctx, total, &base);
    cr_assert_eq(s, OPTK_OK, "mem_alloc(%zu): %s", total, optk_context_last_error(ctx));
    b.base = base;
    b.data = b.base + GUARD_BYTES + shift;
    cr_assert_eq(optk_mem_set(ctx, b.base, GUARD_BYTE, total), OPTK_OK);
    if (host_init) cr_assert_eq(optk_mem_upload(ctx, b.data, host_init, b.bytes), OPTK_OK);
    return b;
}

void test_buffer_read(const test_buffer *b, void *host_out) {
    optk_status s = optk_mem_download(b->ctx, host_out, b->data, b->bytes);
    cr_assert_eq(s, OPTK_OK, "mem_download: %s", optk_context_last_error(b->ctx));
}

void test_buffer_check_guards(const test_buffer *b, const char *what) {
    unsigned char guard[GUARD_BYTES];
    const unsigned char *data = b->data;
    const unsigned char *zones[2] = {data - GUARD_BYTES, data + b->bytes};
    for (int z = 0; z < 2; ++z) {
        cr_assert_eq(optk_mem_download(b->ctx, guard, zones[z], GUARD_BYTES), OPTK_OK);
        for (int i = 0; i < GUARD_BYTES; ++i) {
            cr_assert_eq(guard[i], GUARD_BYTE, "%s: byte %d of the %s guard zone was written", what,
                         i, z == 0 ? "front" : "back");
        }
    }
}

void test_buffer_free(test_buffer *b) {
    optk_mem_free(b->ctx, b->base);
    b->base = NULL;
    b->data = NULL;
}

uint64_t test_rand_u64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void test_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed) {
    uint64_t state = seed;
    for (size_t i = 0; i < n; ++i) {
        double u = (double)(test_rand_u64(&state) >> 11) * 0x1.0p-53;
        x[i] = (float)(lo + (hi - lo) * u);
    }
}

void test_assert_bits_equal(const void *got, const void *want, size_t n, size_t elem_size,
                            const char *what) {
    const unsigned char *a = got, *b = want;
    for (size_t i = 0; i < n; ++i) {
        if (memcmp(a + i * elem_size, b + i * elem_size, elem_size) != 0) {
            if (elem_size == 4) {
                float fa, fb;
                memcpy(&fa, a + i * 4, 4);
                memcpy(&fb, b + i * 4, 4);
                cr_assert_fail("%s: element %zu differs: got %a (%.9g), want %a (%.9g)", what, i,
                               (double)fa, (double)fa, (double)fb, (double)fb);
            }
            cr_assert_fail("%s: element %zu differs", what, i);
        }
    }
}

void test_assert_close(const float *got, const double *want, size_t n, double atol, double rtol,
                       const char *what) {
    for (size_t i = 0; i < n; ++i) {
        double err = fabs((double)got[i] - want[i]);
        if (!(err <= atol + rtol * fabs(want[i]))) {
            cr_assert_fail(
                "%s: element %zu: got %.9g, want %.9g (error %.3g > %.3g + %.3g * |want|)", what, i,
                (double)got[i], want[i], err, atol, rtol);
        }
    }
}
