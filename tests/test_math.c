/* test_math.c — the shared element math of src/common/math.h against double precision:
 * exp within 1 ulp and log within 2 ulp over their whole float range, the special values,
 * and sign/min with NaN. These functions run identically on both backends; their accuracy
 * decides diffGrad's and AdaHessian's. Also optk_exp_chain, the exp throughput op: the shared
 * exp's bits on every backend, bad calls refused. */
#include "harness.h"
#include "common/math.h"
#include "common/math_f64.h"

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

/* ulps of a double against a long double truth (the subnormal grid below 2^-1022). */
static double ulps_f64(double got, long double want) {
    const double w = (double)want;
    const long double u =
        fabsl(want) < 0x1p-1022L ? 0x1p-1074L : (long double)(nextafter(w, INFINITY) - w);
    return (double)(fabsl((long double)got - want) / u);
}

Test(math, exp_f64_is_within_one_ulp) {
    double worst = 0.0, at = 0.0;
    for (double x = -745.0; x < 709.7; x += 1.73e-3) {
        const double e = ulps_f64(optk_exp_f64(x), expl((long double)x));
        if (e > worst) worst = e, at = x;
    }
    for (double x = -1.0; x < 1.0; x += 1.1e-5) { /* where the plan's exponents mostly are */
        const double e = ulps_f64(optk_exp_f64(x), expl((long double)x));
        if (e > worst) worst = e, at = x;
    }
    cr_log_info("optk_exp_f64: worst %.3f ulp at %.17g", worst, at);
    cr_assert(worst <= 1.0, "optk_exp_f64: %.3f ulp at %a", worst, at);
}

Test(math, exp_f64_special_values) {
    cr_assert_eq(optk_exp_f64(0.0), 1.0);
    cr_assert(isinf(optk_exp_f64(709.79)) && optk_exp_f64(709.79) > 0);
    cr_assert(isinf(optk_exp_f64(INFINITY)));
    cr_assert_eq(optk_exp_f64(-INFINITY), 0.0);
    cr_assert_eq(optk_exp_f64(-746.0), 0.0);
    cr_assert(isnan(optk_exp_f64(NAN)));
    cr_assert_eq(optk_exp_f64(-745.1), 0x1p-1074); /* the smallest subnormal, rounded once */
    cr_assert(fabs(optk_exp_f64(-740.0) - exp(-740.0)) <= 0x1p-1074, "exp(-740)");
}

Test(math, log_f64_is_within_two_ulp) {
    double worst = 0.0, at = 0.0;
    for (double x = 0x1p-1022; x < 1e308; x *= 1.0137) {
        const long double want = logl((long double)x);
        if (fabsl(want) < 1e-2L) continue; /* relative accuracy near ln(1) = 0 is not the aim */
        const double e = ulps_f64(optk_log_f64(x), want);
        if (e > worst) worst = e, at = x;
    }
    for (double x = 0.5; x < 2.0; x += 3.7e-6) { /* weights and sums: around 1 */
        const long double want = logl((long double)x);
        if (fabsl(want) < 1e-2L) continue;
        const double e = ulps_f64(optk_log_f64(x), want);
        if (e > worst) worst = e, at = x;
    }
    cr_log_info("optk_log_f64: worst %.3f ulp at %.17g", worst, at);
    cr_assert(worst <= 2.0, "optk_log_f64: %.3f ulp at %a", worst, at);
}

Test(math, log_f64_special_values) {
    cr_assert_eq(optk_log_f64(1.0), 0.0);
    cr_assert(isinf(optk_log_f64(0.0)) && optk_log_f64(0.0) < 0);
    cr_assert(isinf(optk_log_f64(INFINITY)) && optk_log_f64(INFINITY) > 0);
    cr_assert(isnan(optk_log_f64(-1.0)));
    cr_assert(isnan(optk_log_f64(NAN)));
    const double subnormals[] = {0x1p-1074, 0x1.8p-1060, 0x1.234p-1030};
    for (int k = 0; k < 3; ++k)
        cr_assert(ulps_f64(optk_log_f64(subnormals[k]), logl((long double)subnormals[k])) <= 2.0,
                  "log(%a)", subnormals[k]);
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
