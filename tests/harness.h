/* harness.h — what every optkern test shares: one test per backend, contexts that skip
 * with a reason, guarded device buffers, reproducible random data, bit comparisons.
 *
 * BACKEND_TEST(suite, name) { ... } defines a Criterion test that runs once per backend
 * (cpu, cuda); inside, `backend` names the one in hand and test_context(backend) opens it
 * or skips the test saying why (CUDA not compiled, no GPU present).
 */
#ifndef OPTK_TEST_HARNESS_H
#define OPTK_TEST_HARNESS_H

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "optkern.h"

#define BACKEND_TEST(suite, name)                                                                  \
    static void suite##_##name##_body(optk_backend backend);                                       \
    ParameterizedTestParameters(suite, name) {                                                     \
        static optk_backend backends[] = {OPTK_BACKEND_CPU, OPTK_BACKEND_CUDA};                    \
        return cr_make_param_array(optk_backend, backends, 2);                                     \
    }                                                                                              \
    ParameterizedTest(optk_backend *param, suite, name) {                                          \
        suite##_##name##_body(*param);                                                             \
    }                                                                                              \
    static void suite##_##name##_body(optk_backend backend)

/* Opens a context on backend, or skips the test with the reason. */
optk_context *test_context(optk_backend backend);

/* A backend buffer of n elements of elem_size bytes with guard zones before and after,
 * filled with a sentinel; check_guards fails the test if anything wrote outside. */
typedef struct test_buffer {
    optk_context *ctx;
    unsigned char *base; /* start of the front guard (backend memory) */
    void *data;          /* the n elements */
    size_t bytes;        /* of the data */
} test_buffer;

test_buffer test_buffer_new(optk_context *ctx, size_t n, size_t elem_size, const void *host_init);
/* The same with the data `shift` bytes past an aligned address (the guard zones move with
 * it), so that a backend's aligned-vector path is not taken. */
test_buffer test_buffer_new_shifted(optk_context *ctx, size_t n, size_t elem_size,
                                    const void *host_init, size_t shift);
void test_buffer_read(const test_buffer *b, void *host_out);
void test_buffer_check_guards(const test_buffer *b, const char *what);
void test_buffer_free(test_buffer *b);

/* Reproducible data: splitmix64 streams. */
uint64_t test_rand_u64(uint64_t *state);
void test_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed);

/* Fails the test at the first element whose bits differ, naming it. */
void test_assert_bits_equal(const void *got, const void *want, size_t n, size_t elem_size,
                            const char *what);

/* Fails unless |got - want| <= atol + rtol * |want| everywhere (NaN never passes). */
void test_assert_close(const float *got, const double *want, size_t n, double atol, double rtol,
                       const char *what);

#endif /* OPTK_TEST_HARNESS_H */
