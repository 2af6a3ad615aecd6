/* es.c — EGGROLL and full-rank ES: argument checks, then the steps as backend ops (noise
 * fills, GEMMs, the fused low-rank correction), with the population's scalars (the pairs'
 * antithetic differences) derived on the host in double. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>

enum { CHUNK_BYTES = 64 << 20 }; /* workspace for regenerated noise in the gradient */

/* Layers below 2^15 are weights; layer + 2^15 keys the same layer's bias noise, which
 * optk_es_noise may draw (layers < 2^16). */
static optk_status check_key_below(optk_context *ctx, const char *op, const optk_es_key *key,
                                   uint32_t layers) {
    if (!key) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: key is NULL", op);
    if (key->generation >= OPTK_ES_MAX_GENERATION || key->layer >= layers) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: generation must be < 2^24 and layer < %u, got %llu and %u", op,
                         layers, (unsigned long long)key->generation, key->layer);
    }
    return OPTK_OK;
}

static optk_status check_key(optk_context *ctx, const char *op, const optk_es_key *key) {
    return check_key_below(ctx, op, key, OPTK_ES_MAX_LAYER / 2);
}

static bool overlaps(const void *x, size_t x_bytes, const void *y, size_t y_bytes) {
    const uintptr_t a = (uintptr_t)x, b = (uintptr_t)y;
    return x && y && a < b + y_bytes && b < a + x_bytes;
}

static bool misaligned(const void *p) {
    return ((uintptr_t)p & 3u) != 0;
}

optk_status optk_es_factors(optk_context *ctx, const optk_es_key *key, int64_t m, int64_t n,
                            int rank, int64_t first_pair, int64_t count, float *A, float *B) {
    static const char op[] = "es_factors";
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    optk_status s = check_key(ctx, op, key);
    if (s != OPTK_OK) return s;
    if (m < 1 || n < 1 || rank < 1 || count < 1 || first_pair < 0 ||
        first_pair + count > OPTK_ES_MAX_PAIR || (double)(m + n) * rank * count > 0x1p56) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: need m, n, rank, count >= 1 and pairs within [0, 2^24), got m %lld "
                         "n %lld rank %d pairs %lld + %lld",
                         op, (long long)m, (long long)n, rank, (long long)first_pair,
                         (long long)count);
    }
    if (misaligned(A) || misaligned(B) ||
        overlaps(A, (size_t)(count * m * rank) * 4, B, (size_t)(count * n * rank) * 4)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: A and B must be 4-byte aligned and must not overlap", op);
    }
    if (A) {
        s = ctx->ops->es_fill(ctx, key->seed, key->generation, key->layer, first_pair, count, m,
                              rank, 0, m * rank, rank, NULL, A);
    }
    if (s == OPTK_OK && B) {
        s = ctx->ops->es_fill(ctx, key->seed, key->generation, key->layer, first_pair, count, n,
                              rank, m * rank, n * rank, rank, NULL, B);
    }
    return s;
}

optk_status optk_es_noise(optk_context *ctx, const optk_es_key *key, int64_t size,
                          int64_t first_pair, int64_t count, float *E) {
    static const char op[] = "es_noise";
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    optk_status s = check_key_below(ctx, op, key, OPTK_ES_MAX_LAYER);
    if (s != OPTK_OK) return s;
    if (size < 1 || count < 1 || first_pair < 0 || first_pair + count > OPTK_ES_MAX_PAIR ||
        (double)size * count > 0x1p56) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: need size, count >= 1 and pairs within [0, 2^24)", op);
    }
    if (!E || misaligned(E)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: E is NULL or misaligned", op);
    }
    return ctx->ops->es_fill(ctx, key->seed, key->generation, key->layer, first_pair, count, 1,
                             size, 0, size, size, NULL, E);
}

static optk_status check_layer(optk_context *ctx, const char *op, const optk_es_layer *l,
                               int64_t members) {
    if (!l) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: layer is NULL", op);
    if (l->m < 1 || l->n < 1 || l->m > INT32_MAX || l->n > INT32_MAX || l->rank < 0 ||
        (l->rank > 0 && (int64_t)l->rank > (l->m < l->n ? l->m : l->n))) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: need 1 <= m, n < 2^31 and 0 <= rank <= min(m, n), got m %lld n %lld "
                         "rank %d",
                         op, (long long)l->m, (long long)l->n, l->rank);
    }
    if (!(isfinite(l->sigma) && l->sigma > 0.0)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: sigma must be finite and > 0, got %g",
                         op, l->sigma);
    }
    if (members < 2 || members % 2 != 0 || members / 2 > OPTK_ES_MAX_PAIR) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: members must be even, >= 2 and <= 2^25 (antithetic pairs), got %lld",
                         op, (long long)members);
    }
    if (!l->W || misaligned(l->W) || misaligned(l->bias)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: W is NULL or a buffer misaligned",
                         op);
    }
    return OPTK_OK;
}

optk_status optk_es_forward(optk_context *ctx, const optk_es_key *key, const optk_es_layer *l,
                            int64_t members, int64_t batch, const float *X, float *Y) {
    static const char op[] = "es_forward";
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    optk_status s = check_key(ctx, op, key);
    if (s == OPTK_OK) s = check_layer(ctx, op, l, members);
    if (s != OPTK_OK) return s;
    const int64_t rows = members * batch;
    if (batch < 1 || (double)rows * (double)(l->m > l->n ? l->m : l->n) > 0x1p56 ||
        rows > INT32_MAX) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: batch must be >= 1 and members x batch < 2^31, got %lld", op,
                         (long long)batch);
    }
    const size_t x_bytes = (size_t)(rows * l->n) * 4, y_bytes = (size_t)(rows * l->m) * 4;
    if (!X || !Y || misaligned(X) || misaligned(Y)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: X or Y is NULL or misaligned", op);
    }
    if (overlaps(Y, y_bytes, X, x_bytes) || overlaps(Y, y_bytes, l->W, (size_t)(l->m * l->n) * 4) ||
        overlaps(Y, y_bytes, l->bias, (size_t)l->m * 4)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: Y overlaps an input", op);
    }
    /* The base product of every member's rows: Y = X W^T. */
    s = ctx->ops->gemm(ctx, true, rows, l->m, l->n, 1.0f, X, l->n, l->W, l->n, 0.0f, Y, l->m);
    if (s == OPTK_OK && l->rank > 0) {
        const float scale = (float)(l->sigma / sqrt((double)l->rank));
        s = ctx->ops->es_lowrank_add(ctx, key->seed, key->generation, key->layer, l->m, l->n,
                                     l->rank, scale, members, batch, X, Y);
    } else if (s == OPTK_OK) { /* full rank: E_p per pair, Y_i += sigma s_i X_i E_p^T */
        float *E = NULL;
        s = ctx->ops->workspace(ctx, (size_t)(l->m * l->n) * 4, (void **)&E);
        for (int64_t p = 0; p < members / 2 && s == OPTK_OK; ++p) {
            s = ctx->ops->es_fill(ctx, key->seed, key->generation, key->layer, p, 1, l->m, l->n, 0,
                                  l->m * l->n, l->n, NULL, E);
            for (int64_t i = 2 * p; i < 2 * p + 2 && s == OPTK_OK; ++i) {
                s = ctx->ops->gemm(ctx, true, batch, l->m, l->n,
                                   (float)(l->sigma * optk_es_sign(i)), X + i * batch * l->n, l->n,
                                   E, l->n, 1.0f, Y + i * batch * l->m, l->m);
            }
        }
    }
    if (s == OPTK_OK && l->bias) {
        s = ctx->ops->es_bias_add(ctx, key->seed, key->generation,
                                  key->layer + OPTK_ES_MAX_LAYER / 2, l->m, (float)l->sigma,
                                  members, batch, l->bias, Y);
    }
    return s;
}

/* Shaping, in double on the host. */
typedef struct ranked {
    float value;
    int64_t index;
} ranked;

static int compare_ranked(const void *x, const void *y) {
    const ranked *a = x, *b = y;
    if (a->value != b->value) return a->value < b->value ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index); /* ties: by member index */
}

optk_status optk_es_shape(optk_context *ctx, optk_es_shaping kind, const float *R, int64_t members,
                          float *f) {
    static const char op[] = "es_shape";
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    if (kind != OPTK_ES_CENTERED_RANKS && kind != OPTK_ES_ZSCORE && kind != OPTK_ES_RAW) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: unknown shaping %d", op, (int)kind);
    }
    if (members < 2 || members > ((int64_t)1 << 30)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: members must be in [2, 2^30], got %lld", op, (long long)members);
    }
    if (!R || !f || misaligned(R) || misaligned(f) ||
        overlaps(R, (size_t)members * 4, f, (size_t)members * 4)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: R and f must be given, aligned and apart", op);
    }
    float *host = malloc((size_t)members * sizeof *host);
    ranked *order = malloc((size_t)members * sizeof *order);
    optk_status s = host && order
                        ? OPTK_OK
                        : optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    if (s == OPTK_OK) s = ctx->ops->mem_download(ctx, host, R, (size_t)members * 4);
    for (int64_t i = 0; i < members && s == OPTK_OK; ++i) {
        if (isnan(host[i])) {
            s = optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: R[%lld] is NaN", op, (long long)i);
        } else if (isinf(host[i]) && kind != OPTK_ES_CENTERED_RANKS) {
            /* A rank is defined for +-Inf (a failed rollout ranks last); a mean is not. */
            s = optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                          "%s: R[%lld] is infinite, which only centred ranks take", op,
                          (long long)i);
        }
    }
    if (s == OPTK_OK && kind == OPTK_ES_CENTERED_RANKS) {
        for (int64_t i = 0; i < members; ++i)
            order[i] = (ranked){host[i], i};
        qsort(order, (size_t)members, sizeof *order, compare_ranked);
        for (int64_t r = 0; r < members; ++r)
            host[order[r].index] = (float)((double)r / (double)(members - 1) - 0.5);
    } else if (s == OPTK_OK && kind == OPTK_ES_ZSCORE) {
        double mean = 0.0, var = 0.0;
        for (int64_t i = 0; i < members; ++i)
            mean += host[i];
        mean /= (double)members;
        for (int64_t i = 0; i < members; ++i)
            var += ((double)host[i] - mean) * ((double)host[i] - mean);
        var /= (double)members;
        for (int64_t i = 0; i < members; ++i)
            host[i] = (float)(((double)host[i] - mean) / sqrt(var + 1e-5));
    }
    if (s == OPTK_OK) s = ctx->ops->mem_upload(ctx, f, host, (size_t)members * 4);
    free(host);
    free(order);
    return s;
}

optk_status optk_es_gradient(optk_context *ctx, const optk_es_key *key, const optk_es_layer *l,
                             int64_t members, const float *f, double scale, bool accumulate,
                             float *out, float *bias_out) {
    static const char op[] = "es_gradient";
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    optk_status s = check_key(ctx, op, key);
    if (s == OPTK_OK) s = check_layer(ctx, op, l, members);
    if (s != OPTK_OK) return s;
    const int64_t m = l->m, n = l->n, pairs = members / 2;
    if (!isfinite(scale)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: scale must be finite", op);
    }
    if (!f || !out || misaligned(f) || misaligned(out) || misaligned(bias_out)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: f or out is NULL or misaligned", op);
    }
    if (bias_out && !l->bias) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: bias_out needs the layer's bias (its noise is keyed with it)", op);
    }
    const size_t out_bytes = (size_t)(m * n) * 4;
    if (overlaps(out, out_bytes, f, (size_t)members * 4) ||
        overlaps(bias_out, (size_t)m * 4, f, (size_t)members * 4) ||
        overlaps(out, out_bytes, bias_out, (size_t)m * 4)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: out, bias_out and f overlap", op);
    }
    /* The pairs' weights scale (f_2p - f_2p+1) / (N sigma) (times 1/sqrt(r) for factors). */
    float *host_f = malloc((size_t)members * sizeof *host_f);
    float *coef = malloc((size_t)pairs * sizeof *coef);
    if (!host_f || !coef) {
        free(host_f);
        free(coef);
        return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    }
    s = ctx->ops->mem_download(ctx, host_f, f, (size_t)members * 4);
    const double base = scale / ((double)members * l->sigma);
    const double factor = l->rank > 0 ? base / sqrt((double)l->rank) : base;
    for (int64_t p = 0; p < pairs && s == OPTK_OK; ++p) {
        const double difference = (double)host_f[2 * p] - (double)host_f[2 * p + 1];
        coef[p] = (float)(difference * factor);
        /* A weight that is not finite would make every entry of G (or the bias's) NaN or
         * infinite. */
        if (!isfinite(coef[p]) || (bias_out && !isfinite((float)(difference * base)))) {
            s = optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                          "%s: pair %lld's weight is not finite in float (f[%lld] = %g, "
                          "f[%lld] = %g)",
                          op, (long long)p, (long long)(2 * p), (double)host_f[2 * p],
                          (long long)(2 * p + 1), (double)host_f[2 * p + 1]);
        }
    }
    /* Workspace: the coefficients, then one chunk of regenerated noise. */
    const int64_t per_pair = l->rank > 0 ? (m + n) * l->rank : m * n;
    int64_t chunk = CHUNK_BYTES / (4 * per_pair);
    chunk = chunk < 1 ? 1 : (chunk > pairs ? pairs : chunk);
    const int64_t coef_floats = (pairs + 63) / 64 * 64; /* the noise starts 256-byte aligned */
    int64_t bias_chunk = CHUNK_BYTES / (4 * m);
    bias_chunk = bias_chunk < 1 ? 1 : (bias_chunk > pairs ? pairs : bias_chunk);
    const int64_t noise_floats =
        bias_out && bias_chunk * m > chunk * per_pair ? bias_chunk * m : chunk * per_pair;
    void *work = NULL;
    if (s == OPTK_OK) s = ctx->ops->workspace(ctx, (size_t)(coef_floats + noise_floats) * 4, &work);
    float *dcoef = work, *noise = dcoef + coef_floats;
    if (s == OPTK_OK) s = ctx->ops->mem_upload(ctx, dcoef, coef, (size_t)pairs * 4);
    for (int64_t p0 = 0; p0 < pairs && s == OPTK_OK; p0 += chunk) {
        const int64_t c = pairs - p0 < chunk ? pairs - p0 : chunk;
        const float beta = (accumulate || p0 > 0) ? 1.0f : 0.0f;
        if (l->rank > 0) {
            /* Ahat (m x c r): coef_p A_p in columns p r .. p r + r - 1; Bhat (n x c r). */
            const int64_t K = c * l->rank;
            float *Ahat = noise, *Bhat = noise + m * K;
            s = ctx->ops->es_fill(ctx, key->seed, key->generation, key->layer, p0, c, m, l->rank, 0,
                                  l->rank, K, dcoef + p0, Ahat);
            if (s == OPTK_OK) {
                s = ctx->ops->es_fill(ctx, key->seed, key->generation, key->layer, p0, c, n,
                                      l->rank, m * l->rank, l->rank, K, NULL, Bhat);
            }
            if (s == OPTK_OK) {
                s = ctx->ops->gemm(ctx, true, m, n, K, 1.0f, Ahat, K, Bhat, K, beta, out, n);
            }
        } else { /* G as a 1 x (m n) row: coef (1 x c) times E (c x m n) */
            s = ctx->ops->es_fill(ctx, key->seed, key->generation, key->layer, p0, c, 1, m * n, 0,
                                  m * n, m * n, NULL, noise);
            if (s == OPTK_OK) {
                s = ctx->ops->gemm(ctx, false, 1, m * n, c, 1.0f, dcoef + p0, c, noise, m * n, beta,
                                   out, m * n);
            }
        }
    }
    /* The bias: coef (scaled without 1/sqrt(r)) times its full-rank noise. */
    for (int64_t p = 0; p < pairs && s == OPTK_OK && bias_out; ++p) {
        coef[p] = (float)(((double)host_f[2 * p] - (double)host_f[2 * p + 1]) * base);
    }
    if (s == OPTK_OK && bias_out) s = ctx->ops->mem_upload(ctx, dcoef, coef, (size_t)pairs * 4);
    for (int64_t p0 = 0; p0 < pairs && s == OPTK_OK && bias_out; p0 += bias_chunk) {
        const int64_t c = pairs - p0 < bias_chunk ? pairs - p0 : bias_chunk;
        s = ctx->ops->es_fill(ctx, key->seed, key->generation, key->layer + OPTK_ES_MAX_LAYER / 2,
                              p0, c, 1, m, 0, m, m, NULL, noise);
        if (s == OPTK_OK) {
            s = ctx->ops->gemm(ctx, false, 1, m, c, 1.0f, dcoef + p0, c, noise, m,
                               (accumulate || p0 > 0) ? 1.0f : 0.0f, bias_out, m);
        }
    }
    free(host_f);
    free(coef);
    return s;
}
