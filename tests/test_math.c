/* test_math.c — the shared element math of src/common/math.h against double precision:
 * exp within 1 ulp and log within 2 ulp over their whole float range, the special values,
 * and sign/min with NaN. These functions run identically on both backends; their accuracy
 * decides diffGrad's and AdaHessian's. */
#include "harness.h"
#include "common/math.h"

#include <float.h>
#include <math.h>

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
