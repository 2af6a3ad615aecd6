/* test_math.c — the shared element math of src/common/math.h against double precision:
 * exp within 1 ulp and log within 2 ulp over their whole float range, the special values,
 * and sign/min with NaN. These functions run identically on both backends; their accuracy
 * decides diffGrad's and AdaHessian's. Also optk_exp_chain, the exp throughput op: the shared
 * exp's bits on every backend, bad calls refused. */
#include "harness.h"
#include "common/math.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* |got - want| in units of the last place of want rounded to float. */
static double ulps(float got, double want) {
    float w = (float)want;
    double ulp = (double)nextafterf(fabsf(w), INFINITY) - (double)fabsf(w);
    return fabs((double)got - want) / ulp;
}

Test(math, exp_is_within_one_ulp_over_its_normal_range) {
    double worst = 0.0;
    float at = 0.0f;
    for (double x = -87.0; x < 88.7; x += 7.31e-4) {
        double e = ulps(optk_expf((float)x), exp((double)(float)x));
        if (e > worst) worst = e, at = (float)x;
    }
    cr_log_info("optk_expf: worst %.3f ulp at %g", worst, (double)at);
    cr_assert(worst <= 1.0, "optk_expf: %.3f ulp at %a", worst, (double)at);
}

Test(math, exp_special_values) {
    cr_assert_eq(optk_expf(0.0f), 1.0f);
    cr_assert(isinf(optk_expf(89.0f)) && optk_expf(89.0f) > 0);
    cr_assert(isinf(optk_expf(INFINITY)));
    cr_assert_eq(optk_expf(-INFINITY), 0.0f);
    cr_assert_eq(optk_expf(-104.0f), 0.0f);
    cr_assert(isnan(optk_expf(NAN)));
    /* The subnormal range: rounded once, within an ulp of the subnormal grid. */
    float sub = optk_expf(-100.0f);
    cr_assert(fabs((double)sub - exp(-100.0)) <= 1.5e-45, "exp(-100) = %a", (double)sub);
}

Test(math, log_is_within_two_ulp_away_from_one) {
    double worst = 0.0;
    float at = 0.0f;
    for (double x = 1e-44; x < 3e38; x *= 1.000731) {
        double want = log((double)(float)x);
        if (fabs(want) < 1e-2) continue; /* relative accuracy near ln(1) = 0 is not the aim */
        double e = ulps(optk_logf((float)x), want);
        if (e > worst) worst = e, at = (float)x;
    }
    cr_log_info("optk_logf: worst %.3f ulp at %g", worst, (double)at);
    cr_assert(worst <= 2.0, "optk_logf: %.3f ulp at %a", worst, (double)at);
}

Test(math, log_special_values) {
    cr_assert_eq(optk_logf(1.0f), 0.0f);
    cr_assert(isinf(optk_logf(0.0f)) && optk_logf(0.0f) < 0);
    cr_assert(isinf(optk_logf(INFINITY)) && optk_logf(INFINITY) > 0);
    cr_assert(isnan(optk_logf(-1.0f)));
    cr_assert(isnan(optk_logf(NAN)));
    cr_assert(fabs(optk_logf(FLT_TRUE_MIN) - log((double)FLT_TRUE_MIN)) < 1e-5);
}

Test(math, unit_power_is_exact_at_one_and_close_elsewhere) {
    for (float x = 1e-30f; x < 1e30f; x *= 3.7f) {
        cr_assert_eq(optk_powf_unit(x, 1.0f), x);
        for (float k = 0.1f; k < 1.0f; k += 0.3f) {
            double want = pow((double)x, (double)k);
            double rel = fabs(optk_powf_unit(x, k) - want) / want;
            cr_assert(rel < 2e-5, "%g^%g: relative error %g", (double)x, (double)k, rel);
        }
    }
    cr_assert_eq(optk_powf_unit(0.0f, 0.7f), 0.0f);
}

Test(math, sign_and_min_propagate_nan) {
    cr_assert_eq(optk_sign(3.5f), 1.0f);
    cr_assert_eq(optk_sign(-1e-30f), -1.0f);
    cr_assert_eq(optk_sign(0.0f), 0.0f);
    cr_assert(signbit(optk_sign(-0.0f)));
    cr_assert(isnan(optk_sign(NAN)));
    cr_assert_eq(optk_min1_nan(2.0f), 1.0f);
    cr_assert_eq(optk_min1_nan(0.25f), 0.25f);
    cr_assert(isnan(optk_min1_nan(NAN)));
    cr_assert(isnan(optk_max_nan(NAN, 1.0f)) && isnan(optk_max_nan(1.0f, NAN)));
}

/* ---- optk_exp_chain: the exp throughput op ------------------------------------------- */

/* x <- exp(-|x|), rounds times: the host's reference for the op. */
static void exp_chain_reference(float *x, size_t n, int rounds) {
    for (int r = 0; r < rounds; ++r) {
        for (size_t i = 0; i < n; ++i)
            x[i] = optk_expf(-fabsf(x[i]));
    }
}

/* Every backend gives the shared exp's bits, chained, on awkward sizes (past the CPU's
 * 4096-element slices and the CUDA blocks' 1024), with the special values up front. */
BACKEND_TEST(math, exp_chain_is_the_shared_exp_chained) {
    optk_context *ctx = test_context(backend);
    const size_t sizes[] = {1, 3, 1023, 4097, 300001};
    const int rounds[] = {1, 5};
    const float special[] = {NAN,    -NAN,    INFINITY, -INFINITY, 0.0f, -0.0f,
                             1e-45f, -1e-38f, 88.8f,    -104.0f,   1e30f};
    const size_t n_special = sizeof special / sizeof special[0];
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) {
        for (int r = 0; r < 2; ++r) {
            const size_t n = sizes[s];
            float *x = malloc(n * sizeof(float)), *want = malloc(n * sizeof(float));
            float *got = malloc(n * sizeof(float));
            test_fill_uniform(x, n, -100.0f, 100.0f, 7 + s);
            for (size_t k = 0; k < n_special && k < n; ++k)
                x[k] = special[k];
            memcpy(want, x, n * sizeof(float));
            exp_chain_reference(want, n, rounds[r]);
            test_buffer b = test_buffer_new(ctx, n, 4, x);
            cr_assert_eq(optk_exp_chain(ctx, b.data, (int64_t)n, rounds[r]), OPTK_OK, "%s",
                         optk_context_last_error(ctx));
            test_buffer_read(&b, got);
            test_assert_bits_equal(got, want, n, 4, "exp chain");
            test_buffer_check_guards(&b, "exp chain buffer");
            test_buffer_free(&b);
            free(x), free(want), free(got);
        }
    }
    /* What the header promises of the special values, after one round. */
    float one[4] = {NAN, INFINITY, -INFINITY, 0.0f};
    exp_chain_reference(one, 4, 1);
    cr_assert(isnan(one[0]));
    cr_assert_eq(one[1], 0.0f);
    cr_assert_eq(one[2], 0.0f);
    cr_assert_eq(one[3], 1.0f);
    optk_context_free(ctx);
}

BACKEND_TEST(math, exp_chain_refuses_bad_arguments_and_writes_nothing) {
    optk_context *ctx = test_context(backend);
    float init[8] = {1, 2, 3, 4, 5, 6, 7, 8}, got[8];
    test_buffer b = test_buffer_new(ctx, 8, 4, init);
    const struct {
        float *x;
        int64_t n;
        int rounds;
        const char *message;
    } bad[] = {{NULL, 8, 1, "x is NULL"},
               {b.data, 0, 1, "n must be >= 1, got 0"},
               {b.data, 8, 0, "rounds must be >= 1, got 0"},
               {(float *)((uintptr_t)b.data + 2), 4, 1, "x must be 4-byte aligned"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; ++k) {
        cr_assert_eq(optk_exp_chain(ctx, bad[k].x, bad[k].n, bad[k].rounds),
                     OPTK_ERR_INVALID_ARGUMENT, "case %zu", k);
        cr_assert(strstr(optk_context_last_error(ctx), bad[k].message), "case %zu: \"%s\"", k,
                  optk_context_last_error(ctx));
    }
    cr_assert_eq(optk_exp_chain(NULL, b.data, 8, 1), OPTK_ERR_INVALID_ARGUMENT);
    test_buffer_read(&b, got);
    test_assert_bits_equal(got, init, 8, 4, "x after refused calls");
    test_buffer_check_guards(&b, "exp chain buffer");
    test_buffer_free(&b);
    optk_context_free(ctx);
}
