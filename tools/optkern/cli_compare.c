/* cli_compare.c — what the commands share: reproducible inputs, and for validate the --ops
 * filter, error measures and the table. */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

uint64_t cli_random_u64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

float cli_uniform(uint64_t *state, float lo, float hi) {
    return lo + (hi - lo) * (float)((double)(cli_random_u64(state) >> 40) * 0x1.0p-24);
}

bool cli_listed(const char *list, const char *name) {
    size_t len = strlen(name);
    for (const char *at = list; at && *at;) {
        const char *comma = strchr(at, ',');
        size_t n = comma ? (size_t)(comma - at) : strlen(at);
        if (n == len && strncmp(at, name, n) == 0) return true;
        at = comma ? comma + 1 : NULL;
    }
    return false;
}

/* Distance in units in the last place between two floats (NaN vs non-NaN: huge). */
static uint64_t ulp_distance(float a, float b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b) ? 0 : UINT64_MAX;
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    int64_t oa = ia < 0 ? (int64_t)INT32_MIN - ia : ia, ob = ib < 0 ? (int64_t)INT32_MIN - ib : ib;
    return (uint64_t)(oa > ob ? oa - ob : ob - oa);
}

/* Folds one element into c. */
static void account(cli_comparison *c, float got, double want) {
    const float want_f = (float)want;
    if (memcmp(&got, &want_f, 4) != 0) c->exact = false;
    const double abs_err = fabs((double)got - want);
    const double rel = abs_err / fmax(fabs(want), 1e-30);
    if (abs_err > c->max_abs) c->max_abs = abs_err;
    if (rel > c->max_rel) c->max_rel = rel;
    const uint64_t u = ulp_distance(got, want_f);
    if (u > c->max_ulp) c->max_ulp = u;
}

cli_comparison cli_compare(const float *got, const float *want, size_t n) {
    cli_comparison c = {0.0, 0.0, 0, true};
    for (size_t i = 0; i < n; ++i)
        account(&c, got[i], (double)want[i]);
    return c;
}

cli_comparison cli_compare64(const float *got, const double *want, size_t n) {
    cli_comparison c = {0.0, 0.0, 0, true};
    for (size_t i = 0; i < n; ++i)
        account(&c, got[i], want[i]);
    return c;
}

void cli_print_row(const char *op, const char *check, const cli_comparison *c, bool ok) {
    printf("%-30s %-12s %12.3g %12.3g %10llu %-6s %s\n", op, check, c->max_abs, c->max_rel,
           (unsigned long long)c->max_ulp, c->exact ? "yes" : "no", ok ? "pass" : "FAIL");
}
