/* sophia_logistic.c — logistic regression trained with Sophia, its curvature h estimated by
 * Hutchinson's method through a Hessian-vector-product callback, beside AdamW on the same
 * problem. The model computes its own gradient and H z analytically:
 *   loss(w) = (1/S) sum_s log(1 + exp(-y_s w.x_s)) + (lambda/2) |w|^2,  y in {-1, +1}
 *   H z     = (1/S) sum_s sigma_s (1 - sigma_s) (x_s.z) x_s + lambda z,  sigma_s = sigma(w.x_s)
 * Features come in scales spanning three decades, so the Hessian's diagonal matters.
 *
 * Usage: optkern_example_sophia [cpu|cuda]   (default: the best backend available)
 * Exits non-zero unless both optimizers cut the loss by 40%.
 */
#include <math.h>
#include <optkern.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { D = 64, SAMPLES = 2048, STEPS = 200, HESSIAN_EVERY = 10, PROBES = 8 };
static const double LAMBDA = 1e-3;

/* The data and the host side of the model, which the HVP callback reads. */
typedef struct model {
    optk_context *ctx;
    float x[SAMPLES][D];
    float y[SAMPLES];
    float w[D];           /* the weights of the last loss_and_grad call */
    float curve[SAMPLES]; /* sigma_s (1 - sigma_s) at w */
    int hvp_calls;
} model;

static uint64_t next_random(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s) {
    return (double)(next_random(s) >> 11) * 0x1p-53;
}

static void make_data(model *m) {
    uint64_t s = 2026;
    float truth[D];
    for (int j = 0; j < D; ++j)
        truth[j] = (float)(2.0 * uniform(&s) - 1.0);
    for (int i = 0; i < SAMPLES; ++i) {
        double margin = 0.0;
        for (int j = 0; j < D; ++j) {
            const double scale = pow(10.0, -1.5 + 3.0 * j / (D - 1)); /* 0.03 .. 30 */
            m->x[i][j] = (float)((2.0 * uniform(&s) - 1.0) * scale);
            margin += 3.0 * m->x[i][j] * truth[j] / scale;
        }
        m->y[i] = uniform(&s) < 1.0 / (1.0 + exp(-margin)) ? 1.0f : -1.0f;
    }
}

/* The loss at w, its gradient, and the curvature weights the HVP uses. */
static double loss_and_grad(model *m, const float *w, float *grad) {
    double g[D] = {0}, loss = 0.0;
    memcpy(m->w, w, sizeof m->w);
    for (int i = 0; i < SAMPLES; ++i) {
        double wx = 0.0;
        for (int j = 0; j < D; ++j)
            wx += (double)w[j] * m->x[i][j];
        const double sigma = 1.0 / (1.0 + exp(-wx)), yz = m->y[i] * wx;
        loss += yz > 0 ? log1p(exp(-yz)) : -yz + log1p(exp(yz));
        m->curve[i] = (float)(sigma * (1.0 - sigma));
        const double coef = -m->y[i] / (1.0 + exp(yz)); /* d loss_s / d (w.x_s) */
        for (int j = 0; j < D; ++j)
            g[j] += coef * m->x[i][j];
    }
    double reg = 0.0;
    for (int j = 0; j < D; ++j) {
        grad[j] = (float)(g[j] / SAMPLES + LAMBDA * w[j]);
        reg += 0.5 * LAMBDA * (double)w[j] * w[j];
    }
    return loss / SAMPLES + reg;
}

/* The HVP callback: k probes (columns of n) in backend memory, through the host. */
static int hvp(void *user, const float *z, float *hz, int64_t n, int k) {
    model *m = user;
    static float zh[PROBES][D], out[PROBES][D];
    if (n != D || k > PROBES) return 1;
    if (optk_mem_download(m->ctx, zh, z, sizeof(float) * D * (size_t)k) != OPTK_OK) return 2;
    for (int c = 0; c < k; ++c) {
        double acc[D] = {0};
        for (int i = 0; i < SAMPLES; ++i) {
            double xz = 0.0;
            for (int j = 0; j < D; ++j)
                xz += (double)m->x[i][j] * zh[c][j];
            const double coef = m->curve[i] * xz;
            for (int j = 0; j < D; ++j)
                acc[j] += coef * m->x[i][j];
        }
        for (int j = 0; j < D; ++j)
            out[c][j] = (float)(acc[j] / SAMPLES + LAMBDA * zh[c][j]);
    }
    m->hvp_calls++;
    return optk_mem_upload(m->ctx, hz, out, sizeof(float) * D * (size_t)k) == OPTK_OK ? 0 : 3;
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        if ((call) != OPTK_OK) {                                                                   \
            fprintf(stderr, "%s failed: %s\n", #call, optk_context_last_error(m->ctx));            \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* Trains from w = 0 and returns the final loss; prints the loss every 50 steps. */
static double train(model *m, const optk_optim_options *o, double *first) {
    float *buf[4]; /* param, grad, state[0], state[1] */
    static const float zeros[D];
    for (int b = 0; b < 4; ++b) {
        CHECK(optk_mem_alloc(m->ctx, sizeof zeros, (void **)&buf[b]));
        CHECK(optk_mem_upload(m->ctx, buf[b], zeros, sizeof zeros));
    }
    float *estimate = NULL;
    CHECK(optk_mem_alloc(m->ctx, sizeof zeros, (void **)&estimate));
    const optk_param_tensor t = {D, buf[0], buf[1], {buf[2], buf[3]}, NULL};
    optk_optimizer *opt = NULL;
    CHECK(optk_optimizer_create(m->ctx, o, &opt));
    CHECK(optk_optimizer_init_state(opt, &t, 1));
    const bool sophia = o->rule == OPTK_RULE_SOPHIA;
    printf("%-7s", sophia ? "Sophia" : "AdamW");
    float w[D], grad[D];
    double loss = 0.0;
    for (int step = 0; step <= STEPS; ++step) {
        CHECK(optk_mem_download(m->ctx, w, buf[0], sizeof w));
        loss = loss_and_grad(m, w, grad);
        if (step == 0) *first = loss;
        if (step % 50 == 0) printf("  step %3d: %.4f", step, loss);
        if (step == STEPS) break;
        CHECK(optk_mem_upload(m->ctx, buf[1], grad, sizeof grad));
        if (sophia && step % HESSIAN_EVERY == 0) {
            /* diag(H) from PROBES Rademacher probes in one callback, then h's EMA. */
            const optk_hvp_source src = {.callback = hvp, .user = m};
            const optk_diag_options d = {
                .kind = OPTK_PROBE_RADEMACHER, .seed = 7, .step = (uint64_t)step, .probes = PROBES};
            CHECK(optk_hessian_diag(m->ctx, &src, D, &d, estimate, NULL));
            const optk_curvature_tensor c = {D, buf[3], NULL, estimate, 0};
            CHECK(optk_curvature_update(m->ctx, OPTK_CURVATURE_SOPHIA_H, o->beta2, &c, 1));
        }
        CHECK(optk_optimizer_step(opt, &t, 1));
    }
    printf("\n");
    optk_optimizer_free(opt);
    for (int b = 0; b < 4; ++b)
        optk_mem_free(m->ctx, buf[b]);
    optk_mem_free(m->ctx, estimate);
    return loss;
}

int main(int argc, char **argv) {
    optk_backend backend = OPTK_BACKEND_AUTO;
    if (argc > 1) backend = strcmp(argv[1], "cuda") == 0 ? OPTK_BACKEND_CUDA : OPTK_BACKEND_CPU;
    static model m;
    if (optk_context_create(&m.ctx, backend, 0) != OPTK_OK) {
        fprintf(stderr, "no context: %s\n", optk_context_last_error(NULL));
        return 1;
    }
    make_data(&m);
    printf("logistic regression, %d features (scales 0.03 .. 30), %d samples, %s backend\n", D,
           SAMPLES, optk_backend_name(optk_context_backend(m.ctx)));

    optk_optim_options sophia = optk_optim_default_options(OPTK_RULE_SOPHIA);
    sophia.lr = 0.02;
    sophia.rho = 0.05;
    sophia.batch_tokens = 1.0; /* h is the Hessian of the mean loss already */
    sophia.weight_decay = 0.0; /* the loss has its own L2 term */
    optk_optim_options adamw = optk_optim_default_options(OPTK_RULE_ADAMW);
    adamw.lr = 0.02;
    adamw.weight_decay = 0.0;

    double first_s, first_a;
    const double last_s = train(&m, &sophia, &first_s);
    const double last_a = train(&m, &adamw, &first_a);
    printf("Sophia: %d HVP callbacks of %d probes each\n", m.hvp_calls, PROBES);
    optk_context_free(m.ctx);
    return last_s < 0.6 * first_s && last_a < 0.6 * first_a ? 0 : 1;
}
