/* test_precision.c — the fp32 <-> bf16/fp16 conversions of src/common/precision.h, which both
 * backends will use for mixed-precision parameters: exhaustive round trips, round-to-nearest-
 * even against independent oracles, and stochastic rounding's exact unbiasedness. */
#include "harness.h"
#include "common/precision.h"

#include <math.h>

Test(precision, every_bf16_and_fp16_value_round_trips) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float b = optk_bf16_to_f32((uint16_t)h), f = optk_f16_to_f32((uint16_t)h);
        if (isnan(b)) {
            cr_assert(isnan(optk_bf16_to_f32(optk_f32_to_bf16_rne(b))), "bf16 NaN %04x", h);
        } else {
            cr_assert_eq(optk_f32_to_bf16_rne(b), h, "bf16 %04x", h);
        }
        if (isnan(f)) {
            cr_assert(isnan(optk_f16_to_f32(optk_f32_to_f16_rne(f))), "fp16 NaN %04x", h);
        } else {
            cr_assert_eq(optk_f32_to_f16_rne(f), h, "fp16 %04x -> %a", h, (double)f);
        }
    }
}

/* bf16 nearest-even by an independent route: the two neighbours and double arithmetic. */
static uint16_t bf16_oracle(float x) {
    uint32_t u = optk_f32_bits(x);
    uint16_t down = (uint16_t)(u >> 16), up = (uint16_t)(down + 1);
    double dl = fabs((double)optk_bf16_to_f32(down) - x),
           du = fabs((double)optk_bf16_to_f32(up) - x);
    if (dl < du) return down;
    if (du < dl) return up;
    return (down & 1) ? up : down;
}

Test(precision, nearest_even_matches_independent_oracles) {
    uint64_t state = 12345;
    for (int i = 0; i < 2000000; ++i) {
        uint32_t u = (uint32_t)test_rand_u64(&state);
        float x = optk_f32_from_bits(u);
        if (isnan(x) || isinf(x)) continue;
        if ((u & 0x7f800000u) != 0x7f000000u) { /* the top binade can round to Inf: below */
            cr_assert_eq(optk_f32_to_bf16_rne(x), bf16_oracle(x), "bf16 of %a", (double)x);
        }
#if defined(__FLT16_MAX__) && defined(__x86_64__)
        _Float16 h = (_Float16)x; /* GCC's conversion: correctly rounded, nearest even */
        uint16_t want;
        memcpy(&want, &h, 2);
        cr_assert_eq(optk_f32_to_f16_rne(x), want, "fp16 of %a: %04x, want %04x", (double)x,
                     optk_f32_to_f16_rne(x), want);
#endif
    }
    cr_assert_eq(optk_f32_to_f16_rne(65519.0f), 0x7bff);
    cr_assert_eq(optk_f32_to_f16_rne(65520.0f), 0x7c00);
    cr_assert_eq(optk_f32_to_f16_rne(-0x1p-25f), 0x8000);
    cr_assert_eq(optk_f32_to_f16_rne(0x1.8p-25f), 0x0001);
    cr_assert_eq(optk_f32_to_bf16_rne(INFINITY), 0x7f80);
    cr_assert_eq(optk_f32_to_bf16_rne(-3.4e38f), 0xff80, "-3.4e38 rounds to -Inf in bf16");
    cr_assert_eq(optk_f32_to_bf16_rne(-3.0e38f), 0xff62, "-3e38 is finite in bf16");
}

Test(precision, stochastic_rounding_is_exactly_unbiased) {
    const float xs[] = {1.0f + 0x1p-10f, -3.14159265f, 1e-30f, 7.777e20f, -0x1.00ffp-126f};
    for (size_t k = 0; k < sizeof xs / sizeof *xs; ++k) {
        const float x = xs[k];
        const uint16_t down = (uint16_t)(optk_f32_bits(x) >> 16);
        double sum = 0.0;
        for (uint32_t r = 0; r < 65536; ++r) {
            uint16_t b = optk_f32_to_bf16_sr(x, r);
            cr_assert(b == down || b == (uint16_t)(down + 1), "%a rounded to %04x", (double)x, b);
            sum += optk_bf16_to_f32(b);
        }
        /* Over every value of the 16 random bits the mean is exactly x. */
        cr_assert_eq(sum / 65536.0, (double)x, "mean %.17g, x %.17g", sum / 65536.0, (double)x);
    }
    cr_assert(isnan(optk_bf16_to_f32(optk_f32_to_bf16_sr(NAN, 0xffffu))));
    cr_assert_eq(optk_f32_to_bf16_sr(-INFINITY, 0xffffu), 0xff80);
    cr_assert_eq(optk_f32_to_bf16_sr(2.0f, 0xffffu), 0x4000, "representable values stay");
}
