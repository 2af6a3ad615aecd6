/* test_context.c — versions, names, and creating contexts on every backend, including the
 * clear refusals when a backend is missing or has no device. */
#include "harness.h"

#include <stdio.h>

Test(version, runtime_matches_header) {
    cr_assert_eq(optk_version(), OPTK_VERSION);
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", OPTK_VERSION_MAJOR, OPTK_VERSION_MINOR,
             OPTK_VERSION_PATCH);
    cr_assert_str_eq(optk_version_string(), expected);
    cr_assert(strstr(optk_build_info(), expected) != NULL, "build info: %s", optk_build_info());
}

Test(names, statuses_backends_and_dtypes_have_names) {
    cr_assert_str_eq(optk_status_string(OPTK_OK), "OPTK_OK");
    cr_assert_str_eq(optk_status_string(OPTK_ERR_NO_DEVICE), "OPTK_ERR_NO_DEVICE");
    cr_assert_str_eq(optk_status_string((optk_status)99), "OPTK_ERR_UNKNOWN_STATUS");
    cr_assert_str_eq(optk_backend_name(OPTK_BACKEND_CUDA), "cuda");
    cr_assert_str_eq(optk_dtype_name(OPTK_BF16), "bf16");
    cr_assert_eq(optk_dtype_size(OPTK_F32), 4);
    cr_assert_eq(optk_dtype_size(OPTK_F16), 2);
    cr_assert_eq(optk_dtype_size(OPTK_BF16), 2);
    cr_assert_eq(optk_dtype_size((optk_dtype)7), 0);
}

BACKEND_TEST(context, creates_and_describes_itself) {
    optk_context *ctx = test_context(backend);
    cr_assert_eq(optk_context_backend(ctx), backend);
    cr_assert_eq(optk_context_device(ctx), 0);
    cr_assert(strlen(optk_context_device_name(ctx)) > 0);
    cr_assert_str_eq(optk_context_last_error(ctx), "");
    cr_assert_eq(optk_context_synchronize(ctx), OPTK_OK);
    optk_context_free(ctx);
}

BACKEND_TEST(context, refuses_a_device_that_does_not_exist) {
    optk_context *probe = test_context(backend); /* skips when the backend is absent */
    optk_context_free(probe);
    optk_context *ctx = (optk_context *)&ctx; /* must be overwritten with NULL */
    int missing = optk_device_count(backend);
    cr_assert_eq(optk_context_create(&ctx, backend, missing), OPTK_ERR_NO_DEVICE);
    cr_assert_null(ctx);
    cr_assert(strstr(optk_context_last_error(NULL), "device") != NULL, "message: %s",
              optk_context_last_error(NULL));
    cr_assert_eq(optk_context_create(&ctx, backend, -1), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_null(ctx);
}

Test(context, cuda_without_device_or_build_is_a_clear_status) {
    optk_context *ctx = (optk_context *)&ctx;
    optk_status s = optk_context_create(&ctx, OPTK_BACKEND_CUDA, 0);
    if (!optk_backend_compiled(OPTK_BACKEND_CUDA)) {
        cr_assert_eq(s, OPTK_ERR_BACKEND_UNAVAILABLE);
    } else if (optk_device_count(OPTK_BACKEND_CUDA) == 0) {
        cr_assert_eq(s, OPTK_ERR_NO_DEVICE, "got %s", optk_status_string(s));
    } else {
        cr_skip_test("a CUDA device is present: the refusal path cannot be exercised here");
    }
    cr_assert_null(ctx);
    cr_assert(strlen(optk_context_last_error(NULL)) > 0);
}

Test(context, auto_picks_cuda_when_a_device_exists_else_cpu) {
    optk_context *ctx = NULL;
    cr_assert_eq(optk_context_create(&ctx, OPTK_BACKEND_AUTO, 0), OPTK_OK);
    optk_backend want =
        optk_device_count(OPTK_BACKEND_CUDA) > 0 ? OPTK_BACKEND_CUDA : OPTK_BACKEND_CPU;
    cr_assert_eq(optk_context_backend(ctx), want);
    optk_context_free(ctx);
}

Test(context, refuses_unknown_backend_and_null_out) {
    optk_context *ctx = NULL;
    cr_assert_eq(optk_context_create(&ctx, (optk_backend)42, 0), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(NULL), "unknown backend 42") != NULL);
    cr_assert_eq(optk_context_create(NULL, OPTK_BACKEND_CPU, 0), OPTK_ERR_INVALID_ARGUMENT);
}

Test(context, cpu_refuses_a_stream_and_free_accepts_null) {
    optk_context *ctx = test_context(OPTK_BACKEND_CPU);
    int not_a_stream;
    cr_assert_eq(optk_context_set_stream(ctx, &not_a_stream), OPTK_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(optk_context_last_error(ctx), "no streams") != NULL);
    cr_assert_null(optk_context_stream(ctx));
    cr_assert_eq(optk_context_set_stream(ctx, NULL), OPTK_OK);
    optk_context_free(ctx);
    optk_context_free(NULL);
}
