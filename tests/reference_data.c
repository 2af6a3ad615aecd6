/* reference_data.c — see reference_data.h. */
#include "reference_data.h"
#include "harness.h"

#include <math.h>
#include <stdlib.h>

static uint64_t splitmix64(uint64_t x) {
    uint64_t z = x + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

float ref_input(uint64_t kind, uint64_t config, uint64_t step, uint64_t tensor, uint64_t i) {
    uint64_t h = splitmix64((kind << 56) ^ (config << 48) ^ (step << 32) ^ (tensor << 24) ^ i);
    double scale = ldexp(1.0, -(int)((h >> 8) & 7));
    if (kind == 2) {
        return (float)((double)(((h >> 40) & 0xFFFFFF) + 1) / 16777216.0 * scale + 0x1p-10);
    }
    if ((h & 0xFF) < 8) return 0.0f;
    double mantissa = (double)((h >> 40) & 0xFFFFFF);
    float v = (float)((mantissa - 8388608.0) / 8388608.0 * scale);
    return kind == 3 ? fabsf(v) : v;
}

char *ref_read_data_file(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", OPTK_TEST_DATA_DIR, name);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)len + 1);
    cr_assert_eq(fread(text, 1, (size_t)len, f), (size_t)len);
    text[len] = '\0';
    fclose(f);
    return text;
}
