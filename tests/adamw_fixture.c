/* adamw_fixture.c — see adamw_fixture.h. */
#include "adamw_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static test_buffer new_buffer(optk_context *ctx, int64_t n, bool misalign, const float *init) {
    size_t pad = misalign ? 1 : 0;
    float *host = calloc((size_t)n + pad, sizeof(float));
    if (init) memcpy(host + pad, init, (size_t)n * sizeof(float));
    test_buffer b = test_buffer_new(ctx, (size_t)n + pad, sizeof(float), host);
    free(host);
    return b;
}

static float *data_of(const test_buffer *b, bool misalign) {
    return (float *)b->data + (misalign ? 1 : 0);
}

adamw_fixture adamw_fixture_new(optk_context *ctx, int count, const int64_t *numel, int nstate,
                                uint64_t seed, bool misalign) {
    adamw_fixture f = {.ctx = ctx, .count = count, .nstate = nstate};
    f.numel = malloc(count * sizeof *f.numel);
    f.param = malloc(count * sizeof *f.param);
    f.grad = malloc(count * sizeof *f.grad);
    for (int s = 0; s < nstate; ++s)
        f.state[s] = malloc(count * sizeof *f.state[s]);
    f.tensors = calloc(count, sizeof *f.tensors);
    f.host_param = malloc(count * sizeof *f.host_param);
    f.host_grad = malloc(count * sizeof *f.host_grad);
    for (int t = 0; t < count; ++t) {
        const int64_t n = numel[t];
        f.numel[t] = n;
        f.host_param[t] = malloc((size_t)n * sizeof(float));
        f.host_grad[t] = calloc((size_t)n, sizeof(float));
        test_fill_uniform(f.host_param[t], (size_t)n, -1.0f, 1.0f, seed * 1000003u + (uint64_t)t);
        f.param[t] = new_buffer(ctx, n, misalign, f.host_param[t]);
        f.grad[t] = new_buffer(ctx, n, misalign, NULL);
        f.tensors[t].numel = n;
        f.tensors[t].param = data_of(&f.param[t], misalign);
        f.tensors[t].grad = data_of(&f.grad[t], misalign);
        for (int s = 0; s < nstate; ++s) {
            f.state[s][t] = new_buffer(ctx, n, misalign, NULL);
            f.tensors[t].state[s] = data_of(&f.state[s][t], misalign);
        }
    }
    return f;
}

void adamw_fixture_set_grads(adamw_fixture *f, int64_t step, uint64_t seed) {
    for (int t = 0; t < f->count; ++t) {
        float *g = f->host_grad[t];
        test_fill_uniform(g, (size_t)f->numel[t], -1.0f, 1.0f,
                          seed ^ ((uint64_t)step << 40) ^ ((uint64_t)t << 20));
        for (int64_t i = 0; i < f->numel[t]; ++i)
            g[i] = copysignf(1e-3f + fabsf(g[i]), g[i]);
        cr_assert_eq(optk_mem_upload(f->ctx, (float *)f->tensors[t].grad, g,
                                     (size_t)f->numel[t] * sizeof(float)),
                     OPTK_OK);
    }
}

void adamw_fixture_read(const adamw_fixture *f, int t, int s, float *out) {
    const float *src = s < 0 ? f->tensors[t].param : f->tensors[t].state[s];
    cr_assert_eq(optk_mem_download(f->ctx, out, src, (size_t)f->numel[t] * sizeof(float)), OPTK_OK);
}

void adamw_fixture_check_guards(const adamw_fixture *f) {
    char what[64];
    for (int t = 0; t < f->count; ++t) {
        snprintf(what, sizeof what, "tensors[%d].param", t);
        test_buffer_check_guards(&f->param[t], what);
        snprintf(what, sizeof what, "tensors[%d].grad", t);
        test_buffer_check_guards(&f->grad[t], what);
        for (int s = 0; s < f->nstate; ++s) {
            snprintf(what, sizeof what, "tensors[%d].state[%d]", t, s);
            test_buffer_check_guards(&f->state[s][t], what);
        }
    }
}

void adamw_fixture_free(adamw_fixture *f) {
    for (int t = 0; t < f->count; ++t) {
        test_buffer_free(&f->param[t]);
        test_buffer_free(&f->grad[t]);
        for (int s = 0; s < f->nstate; ++s)
            test_buffer_free(&f->state[s][t]);
        free(f->host_param[t]);
        free(f->host_grad[t]);
    }
    for (int s = 0; s < f->nstate; ++s)
        free(f->state[s]);
    free(f->numel);
    free(f->param);
    free(f->grad);
    free(f->tensors);
    free(f->host_param);
    free(f->host_grad);
}
