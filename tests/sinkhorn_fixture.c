/* sinkhorn_fixture.c — see sinkhorn_fixture.h. */
#include "sinkhorn_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void result_free(host_result *r) {
    free(r->f), free(r->g), free(r->plan), free(r->error), free(r->cost), free(r->objective);
    free(r->iterations), free(r->converged);
}

static size_t points(const host_problem *h, bool rows) {
    return (size_t)(h->batch * (rows ? h->n : h->m) * h->dim);
}

/* Uploads h, solves with o (warm: f0, g0 as starting potentials), downloads everything and
 * checks every buffer's guard zones. */
optk_status solve(optk_context *ctx, const host_problem *h, const optk_sinkhorn_options *o,
                  const float *f0, const float *g0, host_result *r) {
    const size_t B = (size_t)h->batch, n = (size_t)h->n, m = (size_t)h->m;
    const bool dense = h->cost == OPTK_COST_DENSE;
    test_buffer a = test_buffer_new(ctx, B * n, 4, h->a), b = test_buffer_new(ctx, B * m, 4, h->b);
    test_buffer c = test_buffer_new(ctx, dense ? B * n * m : 1, 4, dense ? h->c : NULL);
    test_buffer x = test_buffer_new(ctx, dense ? 1 : points(h, true), 4, dense ? NULL : h->x);
    test_buffer y = test_buffer_new(ctx, dense ? 1 : points(h, false), 4, dense ? NULL : h->y);
    test_buffer f = test_buffer_new(ctx, B * n, 4, f0), g = test_buffer_new(ctx, B * m, 4, g0);
    test_buffer plan = test_buffer_new(ctx, B * n * m, 4, NULL);
    test_buffer it = test_buffer_new(ctx, B, 4, NULL), err = test_buffer_new(ctx, B, 4, NULL),
                conv = test_buffer_new(ctx, B, 4, NULL), cost = test_buffer_new(ctx, B, 4, NULL),
                obj = test_buffer_new(ctx, B, 4, NULL);
    /* A self problem on the host (the same arrays on both sides) stays one on the backend. */
    const bool self = !dense && h->x == h->y && h->a == h->b;
    const optk_ot_problem p = {h->batch,
                               h->n,
                               h->m,
                               a.data,
                               self ? a.data : b.data,
                               h->cost,
                               c.data,
                               x.data,
                               self ? x.data : y.data,
                               h->dim};
    const optk_sinkhorn_outputs out = {f.data,    g.data,    it.data,  err.data,
                                       conv.data, cost.data, obj.data, plan.data};
    const optk_status s = optk_sinkhorn(ctx, &p, o, &out);
    *r = (host_result){malloc(B * n * 4), malloc(B * m * 4), malloc(B * n * m * 4), malloc(B * 4),
                       malloc(B * 4),     malloc(B * 4),     malloc(B * 4),         malloc(B * 4)};
    test_buffer_read(&f, r->f);
    test_buffer_read(&g, r->g);
    test_buffer_read(&plan, r->plan);
    test_buffer_read(&err, r->error);
    test_buffer_read(&cost, r->cost);
    test_buffer_read(&obj, r->objective);
    test_buffer_read(&it, r->iterations);
    test_buffer_read(&conv, r->converged);
    test_buffer *all[] = {&a, &b, &c, &x, &y, &f, &g, &plan, &it, &err, &conv, &cost, &obj};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; ++k) {
        test_buffer_check_guards(all[k], "a sinkhorn buffer");
        test_buffer_free(all[k]);
    }
    return s;
}

/* A random balanced batch: weights in [0.2, 1] normalised per problem, costs in [0, range]
 * (dense) or points in [-1, 1]^dim. */
host_problem random_problem(int64_t batch, int64_t n, int64_t m, optk_ot_cost cost, int64_t dim,
                            float range, uint64_t seed) {
    host_problem h = {batch, n,    m,   cost == OPTK_COST_DENSE ? 0 : dim, cost, NULL, NULL,
                      NULL,  NULL, NULL};
    h.a = malloc((size_t)(batch * n) * 4), h.b = malloc((size_t)(batch * m) * 4);
    test_fill_uniform(h.a, (size_t)(batch * n), 0.2f, 1.0f, seed);
    test_fill_uniform(h.b, (size_t)(batch * m), 0.2f, 1.0f, seed + 1);
    for (int64_t p = 0; p < batch; ++p) {
        double sa = 0.0, sb = 0.0;
        for (int64_t i = 0; i < n; ++i)
            sa += h.a[p * n + i];
        for (int64_t j = 0; j < m; ++j)
            sb += h.b[p * m + j];
        for (int64_t i = 0; i < n; ++i)
            h.a[p * n + i] = (float)(h.a[p * n + i] / sa);
        for (int64_t j = 0; j < m; ++j)
            h.b[p * m + j] = (float)(h.b[p * m + j] / sb);
    }
    if (cost == OPTK_COST_DENSE) {
        h.c = malloc((size_t)(batch * n * m) * 4);
        test_fill_uniform(h.c, (size_t)(batch * n * m), 0.0f, range, seed + 2);
    } else {
        h.x = malloc((size_t)(batch * n * dim) * 4), h.y = malloc((size_t)(batch * m * dim) * 4);
        test_fill_uniform(h.x, (size_t)(batch * n * dim), -1.0f, 1.0f, seed + 3);
        test_fill_uniform(h.y, (size_t)(batch * m * dim), -1.0f, 1.0f, seed + 4);
    }
    return h;
}

void free_problem(host_problem *h) {
    free(h->a), free(h->b), free(h->c), free(h->x), free(h->y);
}

host_problem problems_of(const host_problem *h, int64_t first, int64_t count) {
    host_problem q = *h;
    const int64_t n = h->n, m = h->m, d = h->dim;
    q.batch = count;
    q.a = h->a + first * n, q.b = h->b + first * m;
    q.c = h->c ? h->c + first * n * m : NULL;
    q.x = h->x ? h->x + first * n * d : NULL, q.y = h->y ? h->y + first * m * d : NULL;
    return q;
}

host_result result_of(const host_problem *h, const host_result *r, int64_t p) {
    const int64_t n = h->n, m = h->m;
    const host_result part = {r->f + p * n,      r->g + p * m,    r->plan + p * n * m,
                              r->error + p,      r->cost + p,     r->objective + p,
                              r->iterations + p, r->converged + p};
    return part;
}

/* mine (a backend's, in some placement) is ref (the CPU's) bit for bit. */
void assert_same_bits(const host_problem *h, const host_result *mine, const host_result *ref,
                      const char *what) {
    double worst = 0.0;
    for (int64_t e = 0; e < h->batch * h->n; ++e)
        worst = fmax(worst, fabs(mine->f[e] - ref->f[e]) / (1.0 + fabs(ref->f[e])));
    for (int64_t e = 0; e < h->batch * h->m; ++e)
        worst = fmax(worst, fabs(mine->g[e] - ref->g[e]) / (1.0 + fabs(ref->g[e])));
    for (int64_t p = 0; p < h->batch; ++p) {
        worst = fmax(worst, fabs(mine->cost[p] - ref->cost[p]) / fabs(ref->cost[p]));
        cr_assert_eq(mine->converged[p], ref->converged[p], "%s: problem %lld", what, (long long)p);
    }
    cr_log_info("%s: within %.3g of the cpu", what, worst);
    /* Every sum runs in one fixed order on both backends: the same bits. */
    cr_assert_eq(worst, 0.0, "%s: %g from the cpu", what, worst);
    test_assert_bits_equal(mine->f, ref->f, (size_t)(h->batch * h->n), 4, "f");
    test_assert_bits_equal(mine->g, ref->g, (size_t)(h->batch * h->m), 4, "g");
    test_assert_bits_equal(mine->plan, ref->plan, (size_t)(h->batch * h->n * h->m), 4, "plan");
    test_assert_bits_equal(mine->objective, ref->objective, (size_t)h->batch, 4, "objective");
    test_assert_bits_equal(mine->error, ref->error, (size_t)h->batch, 4, "error");
    for (int64_t p = 0; p < h->batch; ++p)
        cr_assert_eq(mine->iterations[p], ref->iterations[p], "%s: iterations", what);
}

void fixture_read_floats(const char *after, const char *key, int64_t p, float *out, size_t count) {
    char prefix[32];
    snprintf(prefix, sizeof prefix, "\n%s %lld ", key, (long long)p);
    const char *at = strstr(after, prefix);
    cr_assert_not_null(at, "no line '%s %lld'", key, (long long)p);
    at += strlen(prefix);
    for (size_t k = 0; k < count; ++k) {
        char *end;
        out[k] = strtof(at, &end);
        cr_assert(end != at, "%s %lld: value %zu missing", key, (long long)p, k);
        at = end;
    }
}

void pad_point(host_problem *h, int64_t p, int side, int64_t index) {
    const int64_t count = side == 0 ? h->n : h->m;
    float *w = (side == 0 ? h->a : h->b) + p * count;
    const double kept = 1.0 - (double)w[index];
    w[index] = 0.0f;
    for (int64_t k = 0; k < count; ++k)
        w[k] = (float)((double)w[k] / kept);
}

/* C_ij of problem p in double: the dense entry, or from the points. */
double cost64(const host_problem *h, int64_t p, int64_t i, int64_t j) {
    if (h->cost == OPTK_COST_DENSE) return h->c[(p * h->n + i) * h->m + j];
    double sum = 0.0;
    for (int64_t k = 0; k < h->dim; ++k) {
        const double d =
            (double)h->x[(p * h->n + i) * h->dim + k] - h->y[(p * h->m + j) * h->dim + k];
        sum += d * d;
    }
    return h->cost == OPTK_COST_SQEUCLIDEAN ? sum : sqrt(sum);
}

/* The c-transform at output r of problem p in double (a running maximum keeps it in range). */
double ctransform64(const host_problem *h, int64_t p, int64_t r, const float *pot, bool transpose,
                    double eps, double tau) {
    const int64_t others = transpose ? h->n : h->m;
    const float *w = (transpose ? h->a : h->b) + p * others;
    double top = -INFINITY, sum = 0.0;
    for (int64_t s = 0; s < others; ++s) {
        if (w[s] == 0.0f) continue;
        const double c = transpose ? cost64(h, p, s, r) : cost64(h, p, r, s);
        const double v = (double)pot[p * others + s] - c;
        if (v > top) {
            sum = sum * exp((top - v) / eps) + 1.0;
            top = v;
        } else {
            sum += exp((v - top) / eps);
        }
    }
    return sum > 0.0 ? -tau * (top + eps * log(sum)) : INFINITY; /* no weight: +Inf */
}
