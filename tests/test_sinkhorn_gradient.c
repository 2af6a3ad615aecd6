/* test_sinkhorn_gradient.c — the points' gradients on every backend: optk_sinkhorn_gradient is
 * the plan-weighted cost gradient (against a float64 sum over the solve's plan, with padding
 * and coincident points) and the derivative of the objective (central differences of
 * re-solved problems, squared-Euclidean and Euclidean); the weights' derivative is the
 * potential (the README's claim, by central differences too); the divergence's gradients are the
 * combination of the three solves' and its derivative; non-finite points; bad calls refused
 * with nothing written; CUDA bit-equal to the CPU. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "sinkhorn_fixture.h"

#include <math.h>
#include <stdlib.h>

/* The gradients of h at host potentials f, g through the backend (poisoned outputs, guards
 * checked); gx or gy NULL: not asked for. */
static optk_status gradient_of(optk_context *ctx, const host_problem *h, double eps, const float *f,
                               const float *g, float *gx, float *gy) {
    const size_t B = (size_t)h->batch, n = (size_t)h->n, m = (size_t)h->m, d = (size_t)h->dim;
    const bool self = h->x == h->y;
    test_buffer x = test_buffer_new(ctx, B * n * d, 4, h->x);
    test_buffer y = test_buffer_new(ctx, B * m * d, 4, h->y);
    test_buffer bf = test_buffer_new(ctx, B * n, 4, f), bg = test_buffer_new(ctx, B * m, 4, g);
    float *poison = malloc(B * (n > m ? n : m) * d * 4);
    for (size_t k = 0; k < B * (n > m ? n : m) * d; ++k)
        poison[k] = -7.0f;
    test_buffer ox = test_buffer_new(ctx, B * n * d, 4, poison);
    test_buffer oy = test_buffer_new(ctx, B * m * d, 4, poison);
    const optk_ot_problem p = {
        h->batch, h->n, h->m, NULL, NULL, h->cost, NULL, x.data, self ? x.data : y.data, h->dim};
    const optk_status s = optk_sinkhorn_gradient(ctx, &p, eps, bf.data, bg.data,
                                                 gx ? ox.data : NULL, gy ? oy.data : NULL);
    if (gx) test_buffer_read(&ox, gx);
    if (gy) test_buffer_read(&oy, gy);
    test_buffer *all[] = {&x, &y, &bf, &bg, &ox, &oy};
    for (int k = 0; k < 6; ++k) {
        test_buffer_check_guards(all[k], "gradient buffers");
        test_buffer_free(all[k]);
    }
    free(poison);
    return s;
}

/* sum_j P_ij d/dz C(z, w_j) in float64 for every point z of one side (rows) against the other
 * (cols), with the plan given row-major as rows x cols (transposed: cols x rows). */
static void reference_gradient(const host_problem *h, int64_t p, const float *plan, bool transposed,
                               double *out) {
    const int64_t rows = transposed ? h->m : h->n, cols = transposed ? h->n : h->m;
    const float *z = (transposed ? h->y : h->x) + p * rows * h->dim;
    const float *w = (transposed ? h->x : h->y) + p * cols * h->dim;
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t k = 0; k < h->dim; ++k)
            out[r * h->dim + k] = 0.0;
        for (int64_t c = 0; c < cols; ++c) {
            const double pij = transposed ? plan[c * rows + r] : plan[r * cols + c];
            double d2 = 0.0;
            for (int64_t k = 0; k < h->dim; ++k) {
                const double d = (double)z[r * h->dim + k] - w[c * h->dim + k];
                d2 += d * d;
            }
            const double scale =
                h->cost == OPTK_COST_SQEUCLIDEAN ? 2.0 : (d2 > 0 ? 1 / sqrt(d2) : 0);
            for (int64_t k = 0; k < h->dim; ++k)
                out[r * h->dim + k] +=
                    pij * scale * ((double)z[r * h->dim + k] - w[c * h->dim + k]);
        }
    }
}

static double max_abs(const float *v, size_t count) {
    double m = 0.0;
    for (size_t k = 0; k < count; ++k)
        m = fmax(m, fabs(v[k]));
    return m;
}

/* Both sides' gradients against the float64 sums over the solve's own plan: squared-Euclidean
 * with a padded point on each side (its plan row and column are 0, its gradient 0), and a
 * Euclidean cloud against itself (coincident points: their terms are 0, not NaN). */
BACKEND_TEST(sinkhorn_gradient, is_the_plan_weighted_cost_gradient) {
    optk_context *ctx = test_context(backend);
    for (int set = 0; set < 2; ++set) {
        host_problem h = set == 0 ? random_problem(3, 17, 13, OPTK_COST_SQEUCLIDEAN, 3, 0.0f, 901)
                                  : random_problem(2, 15, 15, OPTK_COST_EUCLIDEAN, 2, 0.0f, 902);
        if (set == 0) {
            h.a[2] = 0.0f, h.b[13 + 5] = 0.0f; /* padding in problems 0 and 1, rebalanced */
            for (int64_t p = 0; p < h.batch; ++p) {
                double sa = 0, sb = 0;
                for (int64_t i = 0; i < h.n; ++i)
                    sa += h.a[p * h.n + i];
                for (int64_t j = 0; j < h.m; ++j)
                    sb += h.b[p * h.m + j];
                for (int64_t j = 0; j < h.m; ++j)
                    h.b[p * h.m + j] = (float)(h.b[p * h.m + j] * sa / sb);
            }
        } else {
            free(h.y), free(h.b);
            h.y = h.x, h.b = h.a;
        }
        optk_sinkhorn_options o = optk_sinkhorn_default_options(0.05);
        host_result r;
        cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &r), OPTK_OK, "%s",
                     optk_context_last_error(ctx));
        const size_t nx = (size_t)(h.batch * h.n * h.dim), ny = (size_t)(h.batch * h.m * h.dim);
        float *gx = malloc(nx * 4), *gy = malloc(ny * 4);
        cr_assert_eq(gradient_of(ctx, &h, o.epsilon, r.f, r.g, gx, gy), OPTK_OK, "%s",
                     optk_context_last_error(ctx));
        double *want = malloc((nx > ny ? nx : ny) * sizeof(double));
        for (int side = 0; side < 2; ++side) {
            const float *got = side == 0 ? gx : gy;
            const int64_t rows = side == 0 ? h.n : h.m;
            const double scale = max_abs(got, side == 0 ? nx : ny);
            cr_assert(scale > 1e-3, "set %d side %d: a gradient at all (%g)", set, side, scale);
            for (int64_t p = 0; p < h.batch; ++p) {
                reference_gradient(&h, p, r.plan + p * h.n * h.m, side == 1, want);
                for (int64_t e = 0; e < rows * h.dim; ++e) {
                    const float v = got[p * rows * h.dim + e];
                    cr_assert(fabs(v - want[e]) <= 1e-6 * scale,
                              "set %d side %d problem %lld "
                              "entry %lld: %.9g, float64 %.9g",
                              set, side, (long long)p, (long long)e, (double)v, want[e]);
                }
            }
        }
        if (set == 0) { /* the padded points' gradients are exactly 0 */
            for (int64_t k = 0; k < h.dim; ++k) {
                cr_assert_eq(gx[2 * h.dim + k], 0.0f);
                cr_assert_eq(gy[(13 + 5) * h.dim + k], 0.0f);
            }
        }
        free(want), free(gx), free(gy);
        result_free(&r);
        if (set == 1) h.y = NULL, h.b = NULL;
        free_problem(&h);
    }
    optk_context_free(ctx);
}

/* The central-difference tests' solves: eps 0.5, to tol 1e-6 checked every iteration. */
static optk_sinkhorn_options tight_options(void) {
    optk_sinkhorn_options o = optk_sinkhorn_default_options(0.5);
    o.tol = 1e-6, o.check_every = 1, o.max_iter = 100000;
    return o;
}

/* KL(r | w) = sum r log(r / w) - r + w. */
static double kl(const double *r, const float *w, int64_t count) {
    double sum = 0.0;
    for (int64_t k = 0; k < count; ++k)
        sum += (r[k] > 0.0 ? r[k] * log(r[k] / w[k]) : 0.0) - r[k] + w[k];
    return sum;
}

/* The value of h's problem p solved to a tight tolerance: the objective output, or for an
 * unbalanced problem the whole KL-relaxed objective, <P, C> - eps H(P) + rho KL(P 1 | a) +
 * rho KL(P^T 1 | b), from the plan in double. */
static double objective_of(optk_context *ctx, const host_problem *h, const optk_sinkhorn_options *o,
                           int64_t p) {
    host_result r;
    cr_assert_eq(solve(ctx, h, o, NULL, NULL, &r), OPTK_OK, "%s", optk_context_last_error(ctx));
    cr_assert(r.converged[p], "the re-solve converged");
    double v = r.objective[p];
    if (o->rho > 0.0) {
        double *rows = calloc((size_t)h->n, sizeof(double)), *cols = calloc((size_t)h->m, 8);
        v = 0.0;
        for (int64_t i = 0; i < h->n; ++i) {
            for (int64_t j = 0; j < h->m; ++j) {
                const double pij = r.plan[(p * h->n + i) * h->m + j];
                double d2 = 0.0;
                for (int64_t k = 0; k < h->dim; ++k) {
                    const double d = (double)h->x[(p * h->n + i) * h->dim + k] -
                                     h->y[(p * h->m + j) * h->dim + k];
                    d2 += d * d;
                }
                const double c = h->cost == OPTK_COST_SQEUCLIDEAN ? d2 : sqrt(d2);
                v += pij * c + (pij > 0.0 ? o->epsilon * pij * (log(pij) - 1.0) : 0.0);
                rows[i] += pij, cols[j] += pij;
            }
        }
        v += o->rho * (kl(rows, h->a + p * h->n, h->n) + kl(cols, h->b + p * h->m, h->m));
        free(rows), free(cols);
    }
    result_free(&r);
    return v;
}

/* The gradient is the derivative of the objective: central differences of re-solved problems
 * (step 1e-2 in points of [-1, 1]^2, eps 0.5, tol 1e-6) agree within 0.2% of the gradient's
 * size, for every coordinate of a few points on each side, both costs, and an unbalanced
 * problem (rho 1: the derivative of its whole KL-relaxed objective). */
BACKEND_TEST(sinkhorn_gradient, is_the_derivative_of_the_objective) {
    optk_context *ctx = test_context(backend);
    for (int set = 0; set < 3; ++set) {
        const optk_ot_cost cost = set == 1 ? OPTK_COST_EUCLIDEAN : OPTK_COST_SQEUCLIDEAN;
        host_problem h = random_problem(2, 9, 11, cost, 2, 0.0f, 911 + (uint64_t)set);
        optk_sinkhorn_options o = tight_options();
        o.rho = set == 2 ? 1.0 : 0.0;
        host_result r;
        cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &r), OPTK_OK);
        float gx[2 * 9 * 2], gy[2 * 11 * 2];
        cr_assert_eq(gradient_of(ctx, &h, o.epsilon, r.f, r.g, gx, gy), OPTK_OK);
        const double size = fmax(max_abs(gx, 36), max_abs(gy, 44));
        const float step = 1e-2f;
        double worst = 0.0;
        for (int side = 0; side < 2; ++side) {
            for (int64_t point = 0; point < 3; ++point) {
                for (int64_t k = 0; k < 2; ++k) {
                    const int64_t p = 1, rows = side == 0 ? h.n : h.m;
                    float *coord = (side == 0 ? h.x : h.y) + (p * rows + point * 4) * 2 + k;
                    const float kept = *coord;
                    *coord = kept + step;
                    const double up = objective_of(ctx, &h, &o, p);
                    *coord = kept - step;
                    const double down = objective_of(ctx, &h, &o, p);
                    *coord = kept;
                    const double fd = (up - down) / (2.0 * (double)step);
                    const float g = (side == 0 ? gx : gy)[(p * rows + point * 4) * 2 + k];
                    worst = fmax(worst, fabs(fd - g) / size);
                    cr_assert(fabs(fd - g) <= 2e-3 * size,
                              "cost %d side %d point %lld coordinate %lld: gradient %.6g, "
                              "differences %.6g",
                              (int)cost, side, (long long)(point * 4), (long long)k, (double)g, fd);
                }
            }
        }
        cr_log_info("cost %d rho %g: differences within %.3g of the gradient's size %.3g",
                    (int)cost, o.rho, worst, size);
        result_free(&r);
        free_problem(&h);
    }
    optk_context_free(ctx);
}

/* The derivative with respect to the weights is the potential: moving mass h from a_k to a_i
 * (the total kept, as a balanced problem needs) changes the objective by h (f_i - f_k), and
 * likewise for b and g (central differences of re-solved problems, within 0.2% of the
 * potentials' spread). */
BACKEND_TEST(sinkhorn_gradient, the_weights_derivative_is_the_potential) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(1, 9, 11, OPTK_COST_SQEUCLIDEAN, 2, 0.0f, 951);
    optk_sinkhorn_options o = tight_options();
    host_result r;
    cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &r), OPTK_OK);
    const float step = 1e-3f;
    double worst = 0.0, spread = 0.0;
    for (int side = 0; side < 2; ++side) {
        float *w = side == 0 ? h.a : h.b;
        const float *pot = side == 0 ? r.f : r.g;
        const int pairs[3][2] = {{0, 5}, {2, 7}, {8, 3}};
        for (int k = 0; k < 3; ++k) {
            const int i = pairs[k][0], j = pairs[k][1];
            const float wi = w[i], wj = w[j];
            w[i] = wi + step, w[j] = wj - step;
            const double up = objective_of(ctx, &h, &o, 0);
            w[i] = wi - step, w[j] = wj + step;
            const double down = objective_of(ctx, &h, &o, 0);
            w[i] = wi, w[j] = wj;
            const double fd = (up - down) / (2.0 * (double)step), want = pot[i] - pot[j];
            spread = fmax(spread, fabs(want));
            worst = fmax(worst, fabs(fd - want));
            cr_assert(fabs(fd - want) <= 2e-3 * fabs(want) + 1e-4,
                      "side %d, mass from %d to %d: differences %.6g, potentials %.6g", side, j, i,
                      fd, want);
        }
    }
    cr_log_info("the weights: differences within %.3g (potentials' differences up to %.3g)", worst,
                spread);
    result_free(&r);
    free_problem(&h);
    optk_context_free(ctx);
}

/* A divergence problem on the backend: h's buffers, its gradients and value. */
typedef struct divergence_case {
    host_problem h;
    test_buffer a, b, x, y, gx, gy, div;
    optk_ot_problem p;
} divergence_case;

static divergence_case divergence_case_new(optk_context *ctx, host_problem h) {
    const size_t B = (size_t)h.batch, n = (size_t)h.n, m = (size_t)h.m, d = (size_t)h.dim;
    divergence_case c = {.h = h,
                         .a = test_buffer_new(ctx, B * n, 4, h.a),
                         .b = test_buffer_new(ctx, B * m, 4, h.b),
                         .x = test_buffer_new(ctx, B * n * d, 4, h.x),
                         .y = test_buffer_new(ctx, B * m * d, 4, h.y),
                         .gx = test_buffer_new(ctx, B * n * d, 4, NULL),
                         .gy = test_buffer_new(ctx, B * m * d, 4, NULL),
                         .div = test_buffer_new(ctx, B, 4, NULL)};
    c.p = (optk_ot_problem){h.batch, h.n,  h.m,      c.a.data, c.b.data,
                            h.cost,  NULL, c.x.data, c.y.data, h.dim};
    return c;
}

static void divergence_case_free(divergence_case *c) {
    test_buffer *all[] = {&c->a, &c->b, &c->x, &c->y, &c->gx, &c->gy, &c->div};
    for (int k = 0; k < 7; ++k) {
        test_buffer_check_guards(all[k], "divergence buffers");
        test_buffer_free(all[k]);
    }
    free_problem(&c->h);
}

/* The divergence's gradients (its other outputs NULL) into got_x, got_y. */
static void divergence_gradients(optk_context *ctx, divergence_case *c,
                                 const optk_sinkhorn_options *o, float *got_x, float *got_y) {
    const optk_divergence_outputs only_grads = {.grad_x = c->gx.data, .grad_y = c->gy.data};
    cr_assert_eq(optk_sinkhorn_divergence(ctx, &c->p, o, &only_grads), OPTK_OK, "%s",
                 optk_context_last_error(ctx));
    test_buffer_read(&c->gx, got_x);
    test_buffer_read(&c->gy, got_y);
}

/* Central differences (step 1e-2) of the divergence of the last problem along a few
 * coordinates of each side, against the gradients got_x, got_y: within 0.2% of their size
 * (returned: the largest difference over that size). */
static double divergence_differences(optk_context *ctx, divergence_case *c,
                                     const optk_sinkhorn_options *o, const float *got_x,
                                     const float *got_y) {
    host_problem *h = &c->h;
    const int64_t p = h->batch - 1;
    const double size = fmax(max_abs(got_x, (size_t)(h->batch * h->n * h->dim)),
                             max_abs(got_y, (size_t)(h->batch * h->m * h->dim)));
    cr_assert(size > 0.01, "a gradient at all: %g", size);
    const optk_divergence_outputs value = {.divergence = c->div.data};
    const float step = 1e-2f;
    double worst = 0.0;
    for (int side = 0; side < 2; ++side) {
        float *points = side == 0 ? h->x : h->y;
        test_buffer *buf = side == 0 ? &c->x : &c->y;
        for (int64_t point = 0; point < 3; ++point) {
            const int64_t rows = side == 0 ? h->n : h->m;
            const int64_t e = (p * rows + point * 3) * h->dim + (point % h->dim);
            const float kept = points[e];
            float s[8];
            double v[2];
            for (int k = 0; k < 2; ++k) {
                points[e] = kept + (k == 0 ? step : -step);
                cr_assert_eq(optk_mem_upload(ctx, buf->data, points, buf->bytes), OPTK_OK);
                cr_assert_eq(optk_sinkhorn_divergence(ctx, &c->p, o, &value), OPTK_OK);
                test_buffer_read(&c->div, s);
                v[k] = s[p];
            }
            points[e] = kept;
            cr_assert_eq(optk_mem_upload(ctx, buf->data, points, buf->bytes), OPTK_OK);
            const double fd = (v[0] - v[1]) / (2.0 * (double)step);
            const float g = (side == 0 ? got_x : got_y)[e];
            worst = fmax(worst, fabs(fd - g) / size);
            cr_assert(fabs(fd - g) <= 2e-3 * size,
                      "rho %g side %d entry %lld: gradient %.6g, differences %.6g", o->rho, side,
                      (long long)e, (double)g, fd);
        }
    }
    return worst;
}

/* The divergence's gradients are, bit for bit, x against y's gradient less the self problem's
 * (solved as OPTK_SINKHORN_SYMMETRIC), and the derivative of the divergence. */
BACKEND_TEST(sinkhorn_gradient, of_the_divergence) {
    optk_context *ctx = test_context(backend);
    divergence_case c =
        divergence_case_new(ctx, random_problem(2, 10, 8, OPTK_COST_SQEUCLIDEAN, 2, 0.0f, 921));
    const host_problem h = c.h;
    optk_sinkhorn_options o = tight_options();
    float got_x[20 * 2], got_y[16 * 2];
    divergence_gradients(ctx, &c, &o, got_x, got_y);
    /* The combination. */
    host_problem xx = h, yy = h;
    xx.m = xx.n, xx.y = xx.x, xx.b = xx.a;
    yy.n = yy.m, yy.x = yy.y, yy.a = yy.b;
    optk_sinkhorn_options sym = o;
    sym.solver = OPTK_SINKHORN_SYMMETRIC;
    host_result rab, raa, rbb;
    cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &rab), OPTK_OK);
    cr_assert_eq(solve(ctx, &xx, &sym, NULL, NULL, &raa), OPTK_OK);
    cr_assert_eq(solve(ctx, &yy, &sym, NULL, NULL, &rbb), OPTK_OK);
    float ab_x[40], ab_y[32], aa_x[40], bb_y[32];
    cr_assert_eq(gradient_of(ctx, &h, o.epsilon, rab.f, rab.g, ab_x, ab_y), OPTK_OK);
    cr_assert_eq(gradient_of(ctx, &xx, o.epsilon, raa.f, raa.g, aa_x, NULL), OPTK_OK);
    cr_assert_eq(gradient_of(ctx, &yy, o.epsilon, rbb.f, rbb.g, bb_y, NULL), OPTK_OK);
    for (int e = 0; e < 40; ++e) {
        const float want = (float)((double)ab_x[e] - (double)aa_x[e]);
        test_assert_bits_equal(&got_x[e], &want, 1, 4, "grad_x");
    }
    for (int e = 0; e < 32; ++e) {
        const float want = (float)((double)ab_y[e] - (double)bb_y[e]);
        test_assert_bits_equal(&got_y[e], &want, 1, 4, "grad_y");
    }
    const double worst = divergence_differences(ctx, &c, &o, got_x, got_y);
    cr_log_info("the divergence: differences within %.3g of the gradient's size", worst);
    result_free(&rab), result_free(&raa), result_free(&rbb);
    divergence_case_free(&c);
    optk_context_free(ctx);
}

/* With KL-relaxed marginals (rho 1, clouds of masses 1 and 1.6) too, the gradients are the
 * derivative of the divergence (central differences as above). */
BACKEND_TEST(sinkhorn_gradient, of_the_unbalanced_divergence) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(2, 10, 8, OPTK_COST_SQEUCLIDEAN, 2, 0.0f, 922);
    for (int64_t e = 0; e < h.batch * h.m; ++e)
        h.b[e] *= 1.6f;
    divergence_case c = divergence_case_new(ctx, h);
    optk_sinkhorn_options o = tight_options();
    o.rho = 1.0;
    float got_x[20 * 2], got_y[16 * 2];
    divergence_gradients(ctx, &c, &o, got_x, got_y);
    const double worst = divergence_differences(ctx, &c, &o, got_x, got_y);
    cr_log_info("the unbalanced divergence: differences within %.3g of the gradient's size", worst);
    divergence_case_free(&c);
    optk_context_free(ctx);
}

/* Non-finite points, at the potentials of the clean solve: a NaN coordinate of a weighted
 * point makes its own gradient and every other-side gradient NaN (its plan entries are NaN)
 * and leaves the other same-side gradients' bits; a padded point (potential -Inf) adds
 * nothing, whatever its coordinates, and gets 0. */
BACKEND_TEST(sinkhorn_gradient, non_finite_points) {
    optk_context *ctx = test_context(backend);
    host_problem h = random_problem(1, 6, 5, OPTK_COST_SQEUCLIDEAN, 2, 0.0f, 941);
    optk_sinkhorn_options o = optk_sinkhorn_default_options(0.1);
    host_result r;
    cr_assert_eq(solve(ctx, &h, &o, NULL, NULL, &r), OPTK_OK);
    float clean_x[12], clean_y[10], gx[12], gy[10];
    cr_assert_eq(gradient_of(ctx, &h, o.epsilon, r.f, r.g, clean_x, clean_y), OPTK_OK);
    h.x[3 * 2 + 1] = NAN; /* point 3 of x */
    cr_assert_eq(gradient_of(ctx, &h, o.epsilon, r.f, r.g, gx, gy), OPTK_OK);
    for (int i = 0; i < 6; ++i) {
        for (int k = 0; k < 2; ++k) {
            if (i == 3)
                cr_assert(isnan(gx[i * 2 + k]), "the NaN point's own gradient: %g",
                          (double)gx[i * 2 + k]);
            else
                test_assert_bits_equal(&gx[i * 2 + k], &clean_x[i * 2 + k], 1, 4, "other x");
        }
    }
    for (int e = 0; e < 10; ++e)
        cr_assert(isnan(gy[e]), "y gradient %d: %g", e, (double)gy[e]);
    /* The same point padded: potential -Inf, its plan row 0. */
    r.f[3] = -INFINITY;
    h.x[3 * 2] = INFINITY;
    cr_assert_eq(gradient_of(ctx, &h, o.epsilon, r.f, r.g, gx, gy), OPTK_OK);
    cr_assert(gx[6] == 0.0f && gx[7] == 0.0f, "the padded point's gradient: %g, %g", (double)gx[6],
              (double)gx[7]);
    for (int e = 0; e < 10; ++e)
        cr_assert(isfinite(gy[e]), "y gradient %d: %g", e, (double)gy[e]);
    result_free(&r);
    free_problem(&h);
    optk_context_free(ctx);
}

/* A dense cost, no output, a bad epsilon, a NULL potential, an output overlapping an input or
 * the other output, a bad size: refused with a message, nothing written. */
BACKEND_TEST(sinkhorn_gradient, bad_calls_are_refused_with_nothing_written) {
    optk_context *ctx = test_context(backend);
    enum { B = 2, N = 5, M = 4, D = 3 };
    float poison[B * N * D], zeros[B * N * M] = {0}; /* M > D: the largest buffer */
    for (int k = 0; k < B * N * D; ++k)
        poison[k] = -7.0f;
    test_buffer x = test_buffer_new(ctx, B * N * D, 4, zeros),
                y = test_buffer_new(ctx, B * M * D, 4, zeros);
    test_buffer f = test_buffer_new(ctx, B * N, 4, zeros),
                g = test_buffer_new(ctx, B * M, 4, zeros);
    test_buffer c = test_buffer_new(ctx, B * N * M, 4, zeros);
    test_buffer gx = test_buffer_new(ctx, B * N * D, 4, poison),
                gy = test_buffer_new(ctx, B * M * D, 4, poison);
    const optk_ot_problem good = {B,    N,      M,      NULL, NULL, OPTK_COST_EUCLIDEAN,
                                  NULL, x.data, y.data, D};
    optk_ot_problem dense = good, empty = good;
    dense.cost = OPTK_COST_DENSE, dense.c = c.data, dense.x = dense.y = NULL, dense.dim = 0;
    empty.n = 0;
    struct {
        const optk_ot_problem *p;
        double eps;
        const float *f;
        float *gx, *gy;
        const char *message;
    } cases[] = {
        {&dense, 0.1, f.data, gx.data, gy.data, "needs point clouds"},
        {&good, 0.1, f.data, NULL, NULL, "both NULL"},
        {&good, 0.0, f.data, gx.data, gy.data, "epsilon"},
        {&good, NAN, f.data, gx.data, gy.data, "epsilon"},
        {&good, 0.1, NULL, gx.data, gy.data, "f is NULL"},
        {&good, 0.1, f.data, x.data, gy.data, "overlaps"},
        {&good, 0.1, f.data, gx.data, gx.data, "overlaps"},
        {&empty, 0.1, f.data, gx.data, gy.data, "must be >= 1"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) {
        cr_assert_eq(optk_sinkhorn_gradient(ctx, cases[k].p, cases[k].eps, cases[k].f, g.data,
                                            cases[k].gx, cases[k].gy),
                     OPTK_ERR_INVALID_ARGUMENT, "case %zu accepted", k);
        cr_assert(strstr(optk_context_last_error(ctx), cases[k].message), "case %zu: \"%s\"", k,
                  optk_context_last_error(ctx));
    }
    cr_assert_eq(optk_sinkhorn_gradient(ctx, NULL, 0.1, f.data, g.data, gx.data, NULL),
                 OPTK_ERR_INVALID_ARGUMENT);
    cr_assert_eq(optk_sinkhorn_gradient(NULL, &good, 0.1, f.data, g.data, gx.data, NULL),
                 OPTK_ERR_INVALID_ARGUMENT);
    float got[B * N * D];
    test_buffer_read(&gx, got);
    test_assert_bits_equal(got, poison, B * N * D, 4, "grad_x after refused calls");
    test_buffer_read(&gy, got);
    test_assert_bits_equal(got, poison, B * M * D, 4, "grad_y after refused calls");
    test_buffer *all[] = {&x, &y, &f, &g, &c, &gx, &gy};
    for (int k = 0; k < 7; ++k) {
        test_buffer_check_guards(all[k], "buffer");
        test_buffer_free(all[k]);
    }
    optk_context_free(ctx);
}

/* The backend against the CPU, bit for bit (on the CPU: two threads against one): both costs,
 * a wide dimension (more coordinates than a CUDA thread's group), the divergence's
 * gradients. */
BACKEND_TEST(sinkhorn_gradient, backends_agree_with_the_cpu) {
    optk_context *ctx = test_context(backend);
    optk_context *cpu = test_context(OPTK_BACKEND_CPU);
    host_problem sets[2] = {random_problem(3, 40, 31, OPTK_COST_SQEUCLIDEAN, 3, 0.0f, 931),
                            random_problem(2, 70, 90, OPTK_COST_EUCLIDEAN, 19, 0.0f, 932)};
    for (int k = 0; k < 2; ++k) {
        const host_problem *h = &sets[k];
        optk_sinkhorn_options o = optk_sinkhorn_default_options(0.05);
        host_result r;
        cr_assert_eq(solve(cpu, h, &o, NULL, NULL, &r), OPTK_OK);
        const size_t nx = (size_t)(h->batch * h->n * h->dim),
                     ny = (size_t)(h->batch * h->m * h->dim);
        float *rx = malloc(nx * 4), *ry = malloc(ny * 4), *mx = malloc(nx * 4),
              *my = malloc(ny * 4);
        setenv("OPTKERN_CPU_THREADS", "1", 1);
        cr_assert_eq(gradient_of(cpu, h, o.epsilon, r.f, r.g, rx, ry), OPTK_OK);
        setenv("OPTKERN_CPU_THREADS", "2", 1);
        cr_assert_eq(gradient_of(ctx, h, o.epsilon, r.f, r.g, mx, my), OPTK_OK, "%s",
                     optk_context_last_error(ctx));
        unsetenv("OPTKERN_CPU_THREADS");
        test_assert_bits_equal(mx, rx, nx, 4, "grad_x");
        test_assert_bits_equal(my, ry, ny, 4, "grad_y");
        /* The divergence's. */
        float *dx[2] = {rx, mx}, *dy[2] = {ry, my};
        optk_context *on[2] = {cpu, ctx};
        for (int c = 0; c < 2; ++c) {
            test_buffer a = test_buffer_new(on[c], (size_t)(h->batch * h->n), 4, h->a),
                        b = test_buffer_new(on[c], (size_t)(h->batch * h->m), 4, h->b);
            test_buffer x = test_buffer_new(on[c], nx, 4, h->x),
                        y = test_buffer_new(on[c], ny, 4, h->y);
            test_buffer gx = test_buffer_new(on[c], nx, 4, NULL),
                        gy = test_buffer_new(on[c], ny, 4, NULL);
            const optk_ot_problem p = {h->batch, h->n, h->m,   a.data, b.data,
                                       h->cost,  NULL, x.data, y.data, h->dim};
            const optk_divergence_outputs out = {.grad_x = gx.data, .grad_y = gy.data};
            setenv("OPTKERN_CPU_THREADS", c == 0 ? "1" : "2", 1);
            cr_assert_eq(optk_sinkhorn_divergence(on[c], &p, &o, &out), OPTK_OK);
            unsetenv("OPTKERN_CPU_THREADS");
            test_buffer_read(&gx, dx[c]);
            test_buffer_read(&gy, dy[c]);
            test_buffer *all[] = {&a, &b, &x, &y, &gx, &gy};
            for (int t = 0; t < 6; ++t)
                test_buffer_free(all[t]);
        }
        test_assert_bits_equal(mx, rx, nx, 4, "the divergence's grad_x");
        test_assert_bits_equal(my, ry, ny, 4, "the divergence's grad_y");
        free(rx), free(ry), free(mx), free(my);
        result_free(&r);
    }
    for (int k = 0; k < 2; ++k)
        free_problem(&sets[k]);
    optk_context_free(cpu);
    optk_context_free(ctx);
}
