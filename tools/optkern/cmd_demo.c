/* cmd_demo.c — `optkern demo`: a short end-to-end session of every capability on the best
 * backend (or --backend): least squares trained with AdamW and with Sophia (curvature from
 * Hutchinson probes through an HVP callback), a batch of optimal-transport problems, EGGROLL
 * generations on a linear map, the fused AdamW step's throughput, and graph-capturable steps
 * against host steps. Under a minute on two CPU cores. Exit status 1 if any part fails or does not
 * improve. */
#define _POSIX_C_SOURCE 199309L
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Every call of the demo goes through here: a failure prints its message and ends the part. */
#define TRY(call)                                                                                  \
    do {                                                                                           \
        if ((call) != OPTK_OK) {                                                                   \
            fprintf(stderr, "demo: %s failed: %s\n", #call, optk_context_last_error(ctx));         \
            return false;                                                                          \
        }                                                                                          \
    } while (0)

/* ---- 1. Least squares with AdamW and Sophia ---------------------------------------------- */

enum { LS_D = 48, LS_S = 1024, LS_STEPS = 300 };

typedef struct least_squares {
    optk_context *ctx;
    float x[LS_S][LS_D], y[LS_S];
} least_squares;

/* loss = |X w - y|^2 / (2 S); gradient X^T (X w - y) / S. */
static double ls_loss(const least_squares *q, const float *w, float *grad) {
    double loss = 0.0, g[LS_D] = {0};
    for (int s = 0; s < LS_S; ++s) {
        double r = -q->y[s];
        for (int j = 0; j < LS_D; ++j)
            r += (double)q->x[s][j] * w[j];
        loss += 0.5 * r * r / LS_S;
        for (int j = 0; j < LS_D; ++j)
            g[j] += r * q->x[s][j] / LS_S;
    }
    for (int j = 0; j < LS_D; ++j)
        grad[j] = (float)g[j];
    return loss;
}

/* The HVP callback: H z = X^T X z / S for k probes, through the host. */
static int ls_hvp(void *user, const float *z, float *hz, int64_t n, int k) {
    const least_squares *q = user;
    float zh[LS_D], out[LS_D];
    for (int c = 0; c < k; ++c) {
        if (optk_mem_download(q->ctx, zh, z + (int64_t)c * n, sizeof zh) != OPTK_OK) return 1;
        double acc[LS_D] = {0};
        for (int s = 0; s < LS_S; ++s) {
            double xz = 0.0;
            for (int j = 0; j < LS_D; ++j)
                xz += (double)q->x[s][j] * zh[j];
            for (int j = 0; j < LS_D; ++j)
                acc[j] += xz * q->x[s][j] / LS_S;
        }
        for (int j = 0; j < LS_D; ++j)
            out[j] = (float)acc[j];
        if (optk_mem_upload(q->ctx, hz + (int64_t)c * n, out, sizeof out) != OPTK_OK) return 2;
    }
    return 0;
}

static bool train(optk_context *ctx, least_squares *q, optk_rule rule, double *last) {
    optk_optim_options o = optk_optim_default_options(rule);
    o.lr = 0.05;
    o.weight_decay = 0.0;
    o.rho = 0.05;
    o.batch_tokens = 1.0;
    float *buf = NULL; /* w, grad, state 0, state 1, estimate */
    static const float zeros[5 * LS_D];
    TRY(optk_mem_alloc(ctx, sizeof zeros, (void **)&buf));
    TRY(optk_mem_upload(ctx, buf, zeros, sizeof zeros));
    const optk_param_tensor t = {LS_D, buf, buf + LS_D, {buf + 2 * LS_D, buf + 3 * LS_D}, NULL};
    optk_optimizer *opt = NULL;
    TRY(optk_optimizer_create(ctx, &o, &opt));
    TRY(optk_optimizer_init_state(opt, &t, 1));
    float w[LS_D], g[LS_D];
    const double t0 = now();
    printf("  %-7s", rule == OPTK_RULE_SOPHIA ? "Sophia" : "AdamW");
    for (int step = 0; step <= LS_STEPS; ++step) {
        TRY(optk_mem_download(ctx, w, buf, sizeof w));
        *last = ls_loss(q, w, g);
        if (step % 100 == 0) printf("  step %3d: %.5f", step, *last);
        if (step == LS_STEPS) break;
        TRY(optk_mem_upload(ctx, buf + LS_D, g, sizeof g));
        if (rule == OPTK_RULE_SOPHIA && step % 10 == 0) {
            const optk_hvp_source src = {.callback = ls_hvp, .user = q};
            const optk_diag_options d = {
                .kind = OPTK_PROBE_RADEMACHER, .seed = 5, .step = (uint64_t)step, .probes = 4};
            TRY(optk_hessian_diag(ctx, &src, LS_D, &d, buf + 4 * LS_D, NULL));
            const optk_curvature_tensor c = {LS_D, buf + 3 * LS_D, NULL, buf + 4 * LS_D, 0};
            TRY(optk_curvature_update(ctx, OPTK_CURVATURE_SOPHIA_H, o.beta2, &c, 1));
        }
        TRY(optk_optimizer_step(opt, &t, 1));
    }
    printf("   (%.2f ms/step with the host's gradient)\n", (now() - t0) / LS_STEPS * 1e3);
    optk_optimizer_free(opt);
    optk_mem_free(ctx, buf);
    return true;
}

static bool demo_optimizers(optk_context *ctx) {
    static least_squares q;
    q.ctx = ctx;
    uint64_t s = 3;
    float truth[LS_D];
    for (int j = 0; j < LS_D; ++j)
        truth[j] = cli_uniform(&s, -1.0f, 1.0f);
    for (int i = 0; i < LS_S; ++i) {
        q.y[i] = 0.0f;
        for (int j = 0; j < LS_D; ++j) { /* column scales from 0.1 to 3: a stretched problem */
            q.x[i][j] = cli_uniform(&s, -1.0f, 1.0f) * (0.1f + 2.9f * (float)j / LS_D);
            q.y[i] += q.x[i][j] * truth[j];
        }
        q.y[i] += cli_uniform(&s, -0.01f, 0.01f);
    }
    printf("1. least squares, %d features (scales 0.1 .. 3), %d samples\n", LS_D, LS_S);
    double adamw = 0.0, sophia = 0.0;
    if (!train(ctx, &q, OPTK_RULE_ADAMW, &adamw) || !train(ctx, &q, OPTK_RULE_SOPHIA, &sophia)) {
        return false;
    }
    return adamw < 0.1 && sophia < 0.1;
}

/* ---- 2. A batch of optimal-transport problems ---------------------------------------------- */

/* What one solve of the demo's batch gave. */
typedef struct ot_summary {
    int converged, most;
    double mean_its, mean_cost, worst, ms;
} ot_summary;

enum { OT_B = 64, OT_N = 96, OT_M = 80, OT_D = 3 };

/* Solves p with o, outputs in out (backend memory), and sums up. */
static bool solve_batch(optk_context *ctx, const optk_ot_problem *p, const optk_sinkhorn_options *o,
                        const optk_sinkhorn_outputs *out, ot_summary *sum) {
    static float cost[OT_B], err[OT_B];
    static int32_t its[OT_B], ok[OT_B];
    const double t0 = now();
    TRY(optk_sinkhorn(ctx, p, o, out));
    TRY(optk_context_synchronize(ctx));
    const double seconds = now() - t0;
    TRY(optk_mem_download(ctx, cost, out->cost, sizeof cost));
    TRY(optk_mem_download(ctx, err, out->error, sizeof err));
    TRY(optk_mem_download(ctx, its, out->iterations, sizeof its));
    TRY(optk_mem_download(ctx, ok, out->converged, sizeof ok));
    *sum = (ot_summary){0, 0, 0.0, 0.0, 0.0, seconds * 1e3};
    for (int k = 0; k < OT_B; ++k) {
        sum->converged += ok[k];
        sum->mean_cost += cost[k] / OT_B;
        sum->mean_its += (double)its[k] / OT_B;
        sum->most = its[k] > sum->most ? its[k] : sum->most;
        sum->worst = err[k] > sum->worst ? err[k] : sum->worst;
    }
    return true;
}

/* A few steps of the Sinkhorn divergence's gradient flow: p's x (host copy x) moved by
 * -lr grad / a towards y; the first and last step's mean divergence and the time per step. */
enum { FLOW_STEPS = 8 };

static bool divergence_flow(optk_context *ctx, const optk_ot_problem *p, float *x, double *first,
                            double *last, double *ms) {
    enum { B = OT_B, N = OT_N, D = OT_D };
    static float grad[B * N * D], div[B];
    float *mem = NULL;
    TRY(optk_mem_alloc(ctx, sizeof grad + sizeof div, (void **)&mem));
    optk_sinkhorn_options o = optk_sinkhorn_default_options(0.01);
    o.epsilon_start = 1.0;
    o.max_iter = 2000;
    o.tol = 1e-4;
    const optk_divergence_outputs out = {.divergence = mem + B * N * D, .grad_x = mem};
    const float lr = 0.25f; /* halfway to where the plan sends each point */
    bool ok = true;
    const double t0 = now();
    for (int step = 0; step < FLOW_STEPS && ok; ++step) {
        ok = optk_mem_upload(ctx, (void *)p->x, x, sizeof grad) == OPTK_OK &&
             optk_sinkhorn_divergence(ctx, p, &o, &out) == OPTK_OK &&
             optk_mem_download(ctx, grad, out.grad_x, sizeof grad) == OPTK_OK &&
             optk_mem_download(ctx, div, out.divergence, sizeof div) == OPTK_OK;
        double mean = 0.0;
        for (int k = 0; k < B; ++k)
            mean += div[k] / B;
        *(step == 0 ? first : last) = mean;
        for (int k = 0; k < B * N * D; ++k)
            x[k] -= lr * grad[k] * N; /* / a_i = 1 / N */
    }
    *ms = (now() - t0) / FLOW_STEPS * 1e3;
    if (!ok)
        fprintf(stderr, "demo: the divergence flow failed: %s\n", optk_context_last_error(ctx));
    optk_mem_free(ctx, mem);
    return ok;
}

static bool demo_sinkhorn(optk_context *ctx) {
    enum { B = OT_B, N = OT_N, M = OT_M, D = OT_D };
    static float x[B * N * D], y[B * M * D], a[B * N], b[B * M];
    uint64_t s = 11;
    for (int k = 0; k < B * N * D; ++k) /* a uniform cube against a shifted Gaussian-ish blob */
        x[k] = cli_uniform(&s, -1.0f, 1.0f);
    for (int k = 0; k < B * M * D; ++k)
        y[k] = 0.5f + 0.3f * (cli_uniform(&s, -1.0f, 1.0f) + cli_uniform(&s, -1.0f, 1.0f));
    for (int k = 0; k < B * N; ++k)
        a[k] = 1.0f / N;
    for (int k = 0; k < B * M; ++k)
        b[k] = 1.0f / M;
    float *mem = NULL;
    const size_t floats = B * N * D + B * M * D + B * N + B * M + B * N + B * M + 4 * B;
    TRY(optk_mem_alloc(ctx, floats * 4, (void **)&mem));
    float *dx = mem, *dy = dx + B * N * D, *da = dy + B * M * D, *db = da + B * N;
    float *f = db + B * M, *g = f + B * N, *dcost = g + B * M, *derr = dcost + B;
    int32_t *dits = (int32_t *)(void *)(derr + B), *dok = dits + B;
    TRY(optk_mem_upload(ctx, dx, x, sizeof x));
    TRY(optk_mem_upload(ctx, dy, y, sizeof y));
    TRY(optk_mem_upload(ctx, da, a, sizeof a));
    TRY(optk_mem_upload(ctx, db, b, sizeof b));
    const optk_ot_problem p = {.batch = B,
                               .n = N,
                               .m = M,
                               .a = da,
                               .b = db,
                               .cost = OPTK_COST_SQEUCLIDEAN,
                               .x = dx,
                               .y = dy,
                               .dim = D};
    optk_sinkhorn_options o = optk_sinkhorn_default_options(0.01);
    o.epsilon_start = 1.0;
    o.max_iter = 2000;
    o.tol = 1e-4;
    const optk_sinkhorn_outputs out = {
        .f = f, .g = g, .iterations = dits, .error = derr, .converged = dok, .cost = dcost};
    ot_summary scaled, plain, sns;
    bool ok = solve_batch(ctx, &p, &o, &out, &scaled);
    /* The same batch to a tight tol at a small eps, without and with Newton steps. */
    o = optk_sinkhorn_default_options(0.002);
    o.max_iter = 5000;
    o.tol = 1e-6;
    ok = ok && solve_batch(ctx, &p, &o, &out, &plain);
    o.solver = OPTK_SINKHORN_SNS;
    ok = ok && solve_batch(ctx, &p, &o, &out, &sns);
    double flow_first = 0.0, flow_last = 0.0, flow_ms = 0.0;
    ok = ok && divergence_flow(ctx, &p, x, &flow_first, &flow_last, &flow_ms);
    optk_mem_free(ctx, mem);
    if (!ok) return false;
    printf("2. Sinkhorn: %d problems of %d x %d points in 3-D, eps 0.01 (scaled from 1)\n", B, N,
           M);
    printf("   converged %d/%d, iterations mean %.0f max %d, worst marginal error %.1e, "
           "mean <P, C> %.4f, %.1f ms for the batch\n",
           scaled.converged, B, scaled.mean_its, scaled.most, scaled.worst, scaled.mean_cost,
           scaled.ms);
    printf("   eps 0.002 to tol 1e-6, at most %d iterations: plain Sinkhorn converged %d/%d "
           "(%.0f iterations on average, %.1f ms),\n",
           o.max_iter, plain.converged, B, plain.mean_its, plain.ms);
    printf("   Sinkhorn-Newton-Sparse %d/%d (%.0f iterations on average, 20 of them Sinkhorn, "
           "%.1f ms)\n",
           sns.converged, B, sns.mean_its, sns.ms);
    printf("   Sinkhorn divergence flow, the cube's points moved by the divergence's gradient: "
           "mean S %.4f -> %.2e in %d steps, %.1f ms per step\n",
           flow_first, flow_last, FLOW_STEPS - 1, flow_ms);
    return scaled.converged == B && sns.converged == B && flow_last < 0.01 * flow_first;
}

/* ---- 3. EGGROLL on a linear map ------------------------------------------------------------- */

static bool demo_es(optk_context *ctx) {
    enum { IN = 16, OUT = 8, MEMBERS = 128, BATCH = 32, GENERATIONS = 120 };
    static float target[OUT * IN], x[MEMBERS * BATCH * IN], yy[MEMBERS * BATCH * OUT];
    static float fit[MEMBERS], w[OUT * IN], batch[BATCH * IN];
    uint64_t s = 17;
    for (int k = 0; k < OUT * IN; ++k)
        target[k] = cli_uniform(&s, -1.0f, 1.0f);
    float *mem = NULL;
    const size_t floats = OUT * IN + MEMBERS * BATCH * (IN + OUT) + 2 * MEMBERS;
    TRY(optk_mem_alloc(ctx, floats * 4, (void **)&mem));
    float *dw = mem, *dx = dw + OUT * IN, *dy = dx + MEMBERS * BATCH * IN;
    float *dfit = dy + MEMBERS * BATCH * OUT, *dshaped = dfit + MEMBERS;
    memset(w, 0, sizeof w);
    TRY(optk_mem_upload(ctx, dw, w, sizeof w));
    const optk_es_layer layer = {OUT, IN, 2, 0.05, dw, NULL};
    printf("3. EGGROLL: learn an %d x %d linear map from rewards only, %d members, rank 2\n", OUT,
           IN, MEMBERS);
    printf("  ");
    double first = 0.0, last = 0.0;
    const double t0 = now();
    for (int gen = 0; gen < GENERATIONS; ++gen) {
        for (int k = 0; k < BATCH * IN; ++k)
            batch[k] = cli_uniform(&s, -1.0f, 1.0f);
        for (int i = 0; i < MEMBERS; ++i)
            memcpy(x + (size_t)i * BATCH * IN, batch, sizeof batch);
        TRY(optk_mem_upload(ctx, dx, x, sizeof x));
        const optk_es_key key = {99, (uint64_t)gen, 0};
        TRY(optk_es_forward(ctx, &key, &layer, MEMBERS, BATCH, dx, dy));
        TRY(optk_mem_download(ctx, yy, dy, sizeof yy));
        double mean = 0.0;
        for (int i = 0; i < MEMBERS; ++i) { /* reward: -|y - target x|^2 per sample */
            double loss = 0.0;
            for (int b = 0; b < BATCH; ++b)
                for (int o = 0; o < OUT; ++o) {
                    double want = 0.0;
                    for (int j = 0; j < IN; ++j)
                        want += (double)target[o * IN + j] * batch[b * IN + j];
                    const double e = yy[((size_t)i * BATCH + b) * OUT + o] - want;
                    loss += e * e / BATCH;
                }
            fit[i] = (float)-loss;
            mean += -loss / MEMBERS;
        }
        if (gen == 0) first = mean;
        last = mean;
        if (gen % 30 == 0 || gen == GENERATIONS - 1) printf("  gen %3d: %.3f", gen, mean);
        TRY(optk_mem_upload(ctx, dfit, fit, sizeof fit));
        TRY(optk_es_shape(ctx, OPTK_ES_CENTERED_RANKS, dfit, MEMBERS, dshaped));
        TRY(optk_es_gradient(ctx, &key, &layer, MEMBERS, dshaped, 0.02, true, dw, NULL));
    }
    printf("\n   mean fitness (higher is better), %.2f ms per generation\n",
           (now() - t0) / GENERATIONS * 1e3);
    optk_mem_free(ctx, mem);
    return last > 0.5 * first; /* fitness is negative: closer to 0 */
}

/* ---- 4. The fused AdamW step's throughput --------------------------------------------------- */

static bool demo_throughput(optk_context *ctx) {
    const int64_t n = (int64_t)1 << 22;
    float *mem = NULL;
    TRY(optk_mem_alloc(ctx, (size_t)n * 4 * 4, (void **)&mem));
    TRY(optk_mem_set(ctx, mem, 0, (size_t)n * 4 * 4));
    const optk_param_tensor t = {n, mem, mem + n, {mem + 2 * n, mem + 3 * n}, NULL};
    const optk_adamw_options o = optk_adamw_default_options();
    TRY(optk_adamw_step(ctx, &o, 1, &t, 1));
    TRY(optk_context_synchronize(ctx));
    enum { REPS = 20 };
    const double t0 = now();
    for (int k = 0; k < REPS; ++k)
        TRY(optk_adamw_step(ctx, &o, 2 + k, &t, 1));
    TRY(optk_context_synchronize(ctx));
    const double seconds = (now() - t0) / REPS;
    optk_mem_free(ctx, mem);
    printf("4. fused AdamW step on 2^22 parameters: %.3f ms, %.1f GB/s (28 bytes per parameter;\n"
           "   `optkern bench` measures every rule against the roofline)\n",
           seconds * 1e3, 28.0 * (double)n / seconds * 1e-9);
    return true;
}

/* ---- 5. Graph-capturable steps ------------------------------------------------------------ */

/* AdamW with a changing learning rate, once as host steps and once as capturable steps whose
 * step counter, lr and loss scale live in backend memory: the bytes must agree, and a step
 * with an Inf gradient must be skipped on the device without a word from the host. */
static bool demo_capturable(optk_context *ctx) {
    enum { N = 4099, STEPS = 5, BUFFERS = 4 };
    float *mem[2] = {NULL, NULL};
    optk_optimizer *opt[2] = {NULL, NULL};
    optk_step_scalars *sc = NULL;
    float host[BUFFERS * N], other[BUFFERS * N];
    for (int i = 0; i < BUFFERS * N; ++i)
        host[i] = i < N ? cosf((float)i) : (i < 2 * N ? 1e-2f * sinf(0.7f * (float)i) : 0.0f);
    optk_param_tensor t[2];
    const optk_optim_options o = optk_optim_default_options(OPTK_RULE_ADAMW);
    for (int k = 0; k < 2; ++k) {
        TRY(optk_mem_alloc(ctx, sizeof host, (void **)&mem[k]));
        TRY(optk_mem_upload(ctx, mem[k], host, sizeof host));
        t[k] = (optk_param_tensor){N, mem[k], mem[k] + N, {mem[k] + 2 * N, mem[k] + 3 * N}, NULL};
        TRY(optk_optimizer_create(ctx, &o, &opt[k]));
    }
    TRY(optk_mem_alloc(ctx, sizeof *sc, (void **)&sc));
    const optk_param_group group = {&t[1], 1, 1.0, 1.0};
    const optk_capture_options guard = {.guard = true, .max_norm = 0.0};
    for (int step = 0; step < STEPS; ++step) {
        const double lr = 1e-3 * (1.0 + step);
        TRY(optk_optimizer_set_lr(opt[0], lr));
        TRY(optk_optimizer_step(opt[0], &t[0], 1));
        const optk_step_scalars in = {.lr = lr, .inv_scale = 1.0, .step = step};
        TRY(optk_mem_upload(ctx, sc, &in, sizeof in));
        TRY(optk_optimizer_step_capturable(opt[1], &group, 1, &guard, sc));
    }
    TRY(optk_mem_download(ctx, host, mem[0], sizeof host));
    TRY(optk_mem_download(ctx, other, mem[1], sizeof other));
    const bool same = memcmp(host, other, sizeof host) == 0;
    const float inf = INFINITY;
    TRY(optk_mem_upload(ctx, mem[1] + N + 7, &inf, sizeof inf)); /* one gradient overflows */
    TRY(optk_optimizer_step_capturable(opt[1], &group, 1, &guard, sc));
    optk_step_scalars out;
    TRY(optk_mem_download(ctx, &out, sc, sizeof out));
    TRY(optk_mem_download(ctx, other, mem[1], sizeof other));
    other[N + 7] = host[N + 7];
    const bool untouched = memcmp(host, other, sizeof host) == 0;
    for (int k = 0; k < 2; ++k) {
        optk_optimizer_free(opt[k]);
        optk_mem_free(ctx, mem[k]);
    }
    optk_mem_free(ctx, sc);
    printf("5. graph-capturable AdamW (step, lr and loss scale read from backend memory):\n"
           "   %d steps %s to host steps; a step with an Inf gradient: found_inf %d, counter "
           "kept at %lld, %s\n",
           STEPS, same ? "bit-identical" : "DIFFERENT", (int)out.found_inf, (long long)out.step,
           untouched ? "nothing written" : "BUFFERS CHANGED");
    return same && untouched && out.found_inf == 1 && out.step == STEPS;
}

static void usage(FILE *f) {
    fprintf(f, "usage: optkern demo [--backend cpu|cuda|auto]\n\n"
               "A short end-to-end session of every capability: least squares with AdamW and\n"
               "with Sophia (Hutchinson curvature through an HVP callback), a batch of 64\n"
               "optimal-transport problems, EGGROLL generations, the fused AdamW step's\n"
               "throughput, and graph-capturable steps against host steps. On CUDA when a\n"
               "device is present, else on the CPU.\n");
}

int cmd_demo(int argc, char **argv) {
    optk_backend backend = OPTK_BACKEND_AUTO;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc &&
                   cli_parse_backend(argv[i + 1], &backend)) {
            ++i;
        } else {
            fprintf(stderr, "optkern demo: bad argument '%s'\n\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    optk_context *ctx = cli_open_context(backend);
    if (!ctx) return 1;
    printf("optkern %s demo on the %s backend (%s)\n\n", optk_version_string(),
           optk_backend_name(optk_context_backend(ctx)), optk_context_device_name(ctx));
    const double t0 = now();
    bool (*const parts[])(optk_context *) = {demo_optimizers, demo_sinkhorn, demo_es,
                                             demo_throughput, demo_capturable};
    int failed = 0;
    for (size_t k = 0; k < sizeof parts / sizeof parts[0]; ++k) {
        if (!parts[k](ctx)) {
            printf("   ^ this part did not do what it should\n");
            ++failed;
        }
        printf("\n");
    }
    printf("done in %.1f s: %s\n", now() - t0, failed ? "SOME PARTS FAILED" : "every part worked");
    optk_context_free(ctx);
    return failed ? 1 : 0;
}
