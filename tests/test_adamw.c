/* test_adamw.c — fused multi-tensor AdamW on every backend: against an independent float64
 * transcription of PyTorch's for-loop AdamW, and CUDA against the CPU bit for bit; awkward
 * sizes, hundreds of tensors, misaligned buffers, guard zones, NaN gradients. */
#include "adamw_fixture.h"

#include <math.h>
#include <stdlib.h>

typedef struct adamw_case {
    int count;
    const int64_t *numel;
    optk_adamw_options opt;
    int steps;
    bool misalign;
    uint64_t seed;
} adamw_case;

/* What a run leaves: every tensor's parameter and states, and the float64 reference. */
typedef struct adamw_result {
    int count, nstate;
    float **got[1 + OPTK_MAX_STATE];   /* [0] param, [1 + s] state s */
    double **want[1 + OPTK_MAX_STATE]; /* same layout */
} adamw_result;

/* PyTorch's torch.optim.AdamW for-loop step, in double. s: m, v, vmax. */
static void reference_step(const optk_adamw_options *o, int64_t t, double *p, const float *gf,
                           double *s[3], int64_t n) {
    const double bc1 = 1.0 - pow(o->beta1, (double)t), bc2 = 1.0 - pow(o->beta2, (double)t);
    for (int64_t i = 0; i < n; ++i) {
        double g = o->maximize ? -(double)gf[i] : (double)gf[i];
        p[i] *= 1.0 - o->lr * o->weight_decay;
        s[0][i] = o->beta1 * s[0][i] + (1.0 - o->beta1) * g;
        s[1][i] = o->beta2 * s[1][i] + (1.0 - o->beta2) * g * g;
        double vv = s[1][i];
        if (o->amsgrad) vv = s[2][i] = fmax(s[2][i], s[1][i]);
        double denom = sqrt(vv) / sqrt(bc2) + o->eps;
        p[i] -= o->lr / bc1 * s[0][i] / denom;
    }
}

static adamw_result run_adamw(optk_context *ctx, const adamw_case *c) {
    const int nstate = optk_adamw_state_count(&c->opt);
    adamw_fixture f = adamw_fixture_new(ctx, c->count, c->numel, nstate, c->seed, c->misalign);
    adamw_result r = {.count = c->count, .nstate = nstate};
    for (int k = 0; k <= nstate; ++k) {
        r.got[k] = malloc(c->count * sizeof(float *));
        r.want[k] = malloc(c->count * sizeof(double *));
        for (int t = 0; t < c->count; ++t) {
            r.got[k][t] = malloc((size_t)c->numel[t] * sizeof(float));
            r.want[k][t] = calloc((size_t)c->numel[t], sizeof(double));
            if (k == 0) {
                for (int64_t i = 0; i < c->numel[t]; ++i)
                    r.want[0][t][i] = f.host_param[t][i];
            }
        }
    }
    for (int64_t step = 1; step <= c->steps; ++step) {
        adamw_fixture_set_grads(&f, step, c->seed);
        optk_status s = optk_adamw_step(ctx, &c->opt, step, f.tensors, c->count);
        cr_assert_eq(s, OPTK_OK, "adamw_step: %s", optk_context_last_error(ctx));
        for (int t = 0; t < c->count; ++t) {
            double *states[3] = {r.want[1][t], r.want[2][t], nstate > 2 ? r.want[3][t] : NULL};
            reference_step(&c->opt, step, r.want[0][t], f.host_grad[t], states, c->numel[t]);
        }
    }
    for (int t = 0; t < c->count; ++t) {
        for (int k = 0; k <= nstate; ++k)
            adamw_fixture_read(&f, t, k - 1, r.got[k][t]);
    }
    adamw_fixture_check_guards(&f);
    adamw_fixture_free(&f);
    return r;
}

static void free_result(adamw_result *r) {
    for (int k = 0; k <= r->nstate; ++k) {
        for (int t = 0; t < r->count; ++t) {
            free(r->got[k][t]);
            free(r->want[k][t]);
        }
        free(r->got[k]);
        free(r->want[k]);
    }
}

/* Runs the case on backend and checks it against float64; a non-CPU backend must also
 * match the CPU backend bit for bit. */
static void check_case(optk_backend backend, const adamw_case *c) {
    static const char *names[] = {"param", "m", "v", "vmax"};
    /* Float rounding of p (|p| <= ~1) and of an update of size ~lr; a wrong formula is
     * off by ~lr = 1e-3. Moments: float rounding relative to their scale. */
    static const double atol[] = {3e-7, 2e-7, 2e-9, 2e-9}, rtol[] = {2e-6, 2e-5, 2e-5, 2e-5};
    optk_context *ctx = test_context(backend);
    adamw_result r = run_adamw(ctx, c);
    char what[96];
    for (int t = 0; t < c->count; ++t) {
        for (int k = 0; k <= r.nstate; ++k) {
            snprintf(what, sizeof what, "%s tensors[%d].%s (numel %lld)",
                     optk_backend_name(backend), t, names[k], (long long)c->numel[t]);
            test_assert_close(r.got[k][t], r.want[k][t], (size_t)c->numel[t], atol[k], rtol[k],
                              what);
        }
    }
    if (backend != OPTK_BACKEND_CPU) {
        optk_context *cpu = test_context(OPTK_BACKEND_CPU);
        adamw_result ref = run_adamw(cpu, c);
        for (int t = 0; t < c->count; ++t) {
            for (int k = 0; k <= r.nstate; ++k) {
                snprintf(what, sizeof what, "%s vs cpu: tensors[%d].%s", optk_backend_name(backend),
                         t, names[k]);
                test_assert_bits_equal(r.got[k][t], ref.got[k][t], (size_t)c->numel[t], 4, what);
            }
        }
        free_result(&ref);
        optk_context_free(cpu);
    }
    free_result(&r);
    optk_context_free(ctx);
}

static const int64_t awkward_sizes[] = {1, 3, 1023, (1 << 20) + 7, 2048, 4096 + 4};

BACKEND_TEST(adamw, awkward_sizes_match_float64_reference) {
    adamw_case c = {.count = 6,
                    .numel = awkward_sizes,
                    .opt = optk_adamw_default_options(),
                    .steps = 3,
                    .seed = 1};
    check_case(backend, &c);
}

BACKEND_TEST(adamw, amsgrad_and_maximize_match_float64_reference) {
    adamw_case c = {.count = 6,
                    .numel = awkward_sizes,
                    .opt = optk_adamw_default_options(),
                    .steps = 4,
                    .seed = 2};
    c.opt.amsgrad = true;
    c.opt.maximize = true;
    c.opt.weight_decay = 0.1;
    check_case(backend, &c);
}

BACKEND_TEST(adamw, unusual_hyperparameters_match_float64_reference) {
    adamw_case c = {.count = 4,
                    .numel = awkward_sizes,
                    .opt = optk_adamw_default_options(),
                    .steps = 5,
                    .seed = 3};
    c.opt.lr = 3e-3;
    c.opt.beta1 = 0.0;
    c.opt.beta2 = 0.5;
    c.opt.eps = 1e-3;
    c.opt.weight_decay = 0.0;
    check_case(backend, &c);
}

BACKEND_TEST(adamw, three_hundred_mixed_tensors_in_one_call) {
    enum { COUNT = 300 };
    int64_t numel[COUNT];
    uint64_t state = 99;
    for (int t = 0; t < COUNT; ++t) {
        /* Mostly small, some exactly one or two tiles, a few larger. */
        uint64_t r = test_rand_u64(&state);
        numel[t] =
            t % 50 == 0 ? 2048 * (1 + t / 50) : (int64_t)(1 + r % (t % 7 == 0 ? 40000 : 700));
    }
    adamw_case c = {
        .count = COUNT, .numel = numel, .opt = optk_adamw_default_options(), .steps = 2, .seed = 4};
    c.opt.amsgrad = true;
    check_case(backend, &c);
}

BACKEND_TEST(adamw, misaligned_buffers_take_the_scalar_path_correctly) {
    adamw_case c = {.count = 4,
                    .numel = awkward_sizes + 2,
                    .opt = optk_adamw_default_options(),
                    .steps = 2,
                    .misalign = true,
                    .seed = 5};
    check_case(backend, &c);
}

BACKEND_TEST(adamw, nan_gradient_poisons_only_its_own_element) {
    optk_context *ctx = test_context(backend);
    const int64_t numel[] = {2053};
    optk_adamw_options opt = optk_adamw_default_options();
    opt.amsgrad = true;
    adamw_fixture f = adamw_fixture_new(ctx, 1, numel, 3, 6, false);
    adamw_fixture_set_grads(&f, 1, 6);
    const int64_t bad[] = {0, 777, 2052};
    float *g = f.host_grad[0];
    g[bad[0]] = NAN;
    g[bad[1]] = INFINITY;
    g[bad[2]] = -INFINITY;
    cr_assert_eq(optk_mem_upload(ctx, (float *)f.tensors[0].grad, g, sizeof(float) * 2053),
                 OPTK_OK);
    cr_assert_eq(optk_adamw_step(ctx, &opt, 1, f.tensors, 1), OPTK_OK);
    float p[2053], m[2053];
    adamw_fixture_read(&f, 0, -1, p);
    adamw_fixture_read(&f, 0, 0, m);
    for (int64_t i = 0; i < 2053; ++i) {
        bool poisoned = i == bad[0] || i == bad[1] || i == bad[2];
        /* NaN: NaN everywhere. +-Inf: m = +-Inf, v = Inf, so p = p - lr*(Inf/Inf) = NaN,
         * as in PyTorch. */
        cr_assert_eq(isnan(p[i]), poisoned, "param %lld: %g", (long long)i, (double)p[i]);
        cr_assert_eq(isfinite(m[i]), !poisoned, "m %lld: %g", (long long)i, (double)m[i]);
    }
    adamw_fixture_free(&f);
    optk_context_free(ctx);
}

Test(adamw, defaults_and_state_count_follow_pytorch) {
    optk_adamw_options o = optk_adamw_default_options();
    cr_assert_eq(o.lr, 1e-3);
    cr_assert_eq(o.beta1, 0.9);
    cr_assert_eq(o.beta2, 0.999);
    cr_assert_eq(o.eps, 1e-8);
    cr_assert_eq(o.weight_decay, 1e-2);
    cr_assert(!o.amsgrad && !o.maximize);
    cr_assert_eq(optk_adamw_state_count(&o), 2);
    o.amsgrad = true;
    cr_assert_eq(optk_adamw_state_count(&o), 3);
    cr_assert_eq(optk_adamw_state_count(NULL), -1);
}
