/* divergence_unbalanced.c — see divergence_unbalanced.h. Both steps run on the host over the
 * downloaded weights and potentials (a few floats per point), in double. */
#include "divergence_unbalanced.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

optk_status optk_unbalanced_weights(optk_context *ctx, const char *op, const char *name,
                                    const float *w, int64_t count, float tau, float *out) {
    const size_t bytes = (size_t)count * sizeof(float);
    float *host = malloc(bytes);
    if (!host) return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    optk_status s = optk_mem_download(ctx, host, w, bytes);
    for (int64_t k = 0; k < count && s == OPTK_OK; ++k) {
        if (host[k] == 0.0f) continue;
        const double power = exp(log((double)host[k]) / (double)tau);
        if (!(power >= FLT_MIN && power <= FLT_MAX)) {
            s = optk_fail(ctx, OPTK_ERR_UNSUPPORTED,
                          "%s: %s weight %g to the power 1 / tau = 1 + eps / rho (%g) leaves the "
                          "float range: the KL-relaxed divergence cannot be solved in float",
                          op, name, (double)host[k], 1.0 / (double)tau);
        }
        host[k] = (float)power;
    }
    if (s == OPTK_OK) s = optk_mem_upload(ctx, out, host, bytes);
    free(host);
    return s;
}

/* sum_k w_k (e^{-(self_k - eps log w_k) / rho} - e^{-(cross_k - eps log w_k) / rho}) over one
 * side of a problem, zero weights skipped (their potentials are -Inf). */
static double side_sum(const float *w, const float *self, const float *cross, int64_t count,
                       double eps, double rho) {
    double sum = 0.0;
    for (int64_t k = 0; k < count; ++k) {
        if (w[k] == 0.0f) continue;
        const double log_w = eps * log((double)w[k]);
        const double s = (double)self[k] - log_w, c = (double)cross[k] - log_w;
        sum += (double)w[k] * exp(-s / rho) * -expm1((s - c) / rho); /* e^{-s/r} - e^{-c/r} */
    }
    return sum;
}

optk_status optk_unbalanced_divergence(optk_context *ctx, const char *op, const optk_ot_problem *p,
                                       double eps, double rho, const optk_divergence_potentials *w,
                                       float *divergence) {
    const size_t n = (size_t)(p->batch * p->n), m = (size_t)(p->batch * p->m);
    float *a = malloc(n * 4), *b = malloc(m * 4), *f_ab = malloc(n * 4), *g_ab = malloc(m * 4);
    float *f_aa = malloc(n * 4), *f_bb = malloc(m * 4);
    optk_status s = a && b && f_ab && g_ab && f_aa && f_bb
                        ? OPTK_OK
                        : optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    if (s == OPTK_OK) s = optk_mem_download(ctx, a, p->a, n * 4);
    if (s == OPTK_OK) s = optk_mem_download(ctx, b, p->b, m * 4);
    if (s == OPTK_OK) s = optk_mem_download(ctx, f_ab, w->f_ab, n * 4);
    if (s == OPTK_OK) s = optk_mem_download(ctx, g_ab, w->g_ab, m * 4);
    if (s == OPTK_OK) s = optk_mem_download(ctx, f_aa, w->f_aa, n * 4);
    if (s == OPTK_OK) s = optk_mem_download(ctx, f_bb, w->f_bb, m * 4);
    for (int64_t q = 0; q < p->batch && s == OPTK_OK; ++q) {
        const int64_t i0 = q * p->n, j0 = q * p->m;
        const double x_side = side_sum(a + i0, f_aa + i0, f_ab + i0, p->n, eps, rho);
        const double y_side = side_sum(b + j0, f_bb + j0, g_ab + j0, p->m, eps, rho);
        divergence[q] = (float)((rho + 0.5 * eps) * (x_side + y_side));
    }
    free(a), free(b), free(f_ab), free(g_ab), free(f_aa), free(f_bb);
    return s;
}
