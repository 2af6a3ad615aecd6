/* test_adamw_torch.c — AdamW trajectories over 100 steps against PyTorch's own, on every
 * backend. The data (tests/data/adamw_torch.txt) comes from
 * tests/reference/adamw_torch_reference.py; inputs are regenerated here bit for bit from the
 * same integer hash, so the file holds only checkpoints.
 *
 * PyTorch rounds a little differently (its kernels order some multiply-adds otherwise), so
 * the comparison is by tolerance; measured worst relative errors are logged.
 */
#include "harness.h"
#include "reference_data.h"

#include <math.h>
#include <stdlib.h>

enum { MAX_TENSORS = 3, MAX_CONFIGS = 3, STEPS = 100 };

typedef struct torch_data {
    int ntensors, nconfigs;
    int64_t sizes[MAX_TENSORS];
    optk_adamw_options opt[MAX_CONFIGS];
    char *text; /* the whole file, for the "values" lines */
} torch_data;

static torch_data load_data(void) {
    torch_data d = {0};
    const char *path = "adamw_torch.txt";
    d.text = ref_read_data_file(path);
    for (char *line = d.text; line && *line;
         line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        long long a, b, c;
        int idx, ams, maxi;
        optk_adamw_options o;
        if (sscanf(line, "sizes %lld %lld %lld", &a, &b, &c) == 3) {
            d.ntensors = 3;
            d.sizes[0] = a, d.sizes[1] = b, d.sizes[2] = c;
        } else if (sscanf(line, "config %d %*s %lf %lf %lf %lf %lf %d %d", &idx, &o.lr, &o.beta1,
                          &o.beta2, &o.eps, &o.weight_decay, &ams, &maxi) == 8) {
            cr_assert(idx >= 0 && idx < MAX_CONFIGS);
            o.amsgrad = ams != 0;
            o.maximize = maxi != 0;
            d.opt[idx] = o;
            if (idx + 1 > d.nconfigs) d.nconfigs = idx + 1;
        }
    }
    cr_assert_eq(d.ntensors, 3, "no sizes line in %s", path);
    cr_assert_eq(d.nconfigs, MAX_CONFIGS, "expected %d configs in %s", MAX_CONFIGS, path);
    return d;
}

/* Compares every "values <config> <step> ..." line of the file with what we hold now and
 * returns how many values were compared; *worst gets the worst relative error. */
static int compare_checkpoint(const torch_data *d, int config, int step, float *host[][4],
                              double *worst) {
    static const char *labels[] = {"param", "m", "v", "vmax"};
    int compared = 0;
    char head[64];
    for (int t = 0; t < d->ntensors; ++t) {
        for (int k = 0; k < 4; ++k) {
            snprintf(head, sizeof head, "\nvalues %d %d %d %s ", config, step, t, labels[k]);
            const char *at = strstr(d->text, head);
            if (!at) continue;
            at += strlen(head);
            for (int64_t i = 0; i < d->sizes[t]; ++i) {
                char *end;
                double want = strtod(at, &end);
                cr_assert(end != at, "config %d step %d tensor %d %s: value %lld missing", config,
                          step, t, labels[k], (long long)i);
                at = end;
                double got = host[t][k][i];
                /* Relative error, with a floor at each quantity's smallest honest scale: a
                 * parameter or first moment can cancel to near zero, where the rounding of
                 * its O(1e-2) / O(1e-3) terms is what remains; v is a sum of squares. */
                static const double floor_scale[] = {1e-2, 1e-3, 1e-12, 1e-12};
                double scale = fmax(fabs(want), floor_scale[k]);
                double err = fabs(got - want) / scale;
                cr_assert(err <= 2e-5, "config %d step %d tensor %d %s[%lld]: got %.9g, torch %.9g",
                          config, step, t, labels[k], (long long)i, got, want);
                if (err > *worst) *worst = err;
                ++compared;
            }
        }
    }
    return compared;
}

BACKEND_TEST(adamw_torch, trajectories_match_pytorch_over_100_steps) {
    optk_context *ctx = test_context(backend);
    torch_data d = load_data();
    for (int c = 0; c < d.nconfigs; ++c) {
        const int nstate = optk_adamw_state_count(&d.opt[c]);
        optk_param_tensor tensors[MAX_TENSORS] = {0};
        test_buffer bufs[MAX_TENSORS][2 + 3];
        float *host[MAX_TENSORS][4] = {{0}};
        float *grad[MAX_TENSORS];
        for (int t = 0; t < d.ntensors; ++t) {
            const int64_t n = d.sizes[t];
            for (int k = 0; k < 4; ++k)
                host[t][k] = calloc((size_t)n, sizeof(float));
            grad[t] = malloc((size_t)n * sizeof(float));
            for (int64_t i = 0; i < n; ++i)
                host[t][0][i] = ref_input(0, c, 0, t, i);
            bufs[t][0] = test_buffer_new(ctx, (size_t)n, 4, host[t][0]);
            bufs[t][1] = test_buffer_new(ctx, (size_t)n, 4, NULL);
            tensors[t] =
                (optk_param_tensor){.numel = n, .param = bufs[t][0].data, .grad = bufs[t][1].data};
            for (int s = 0; s < nstate; ++s) {
                bufs[t][2 + s] = test_buffer_new(ctx, (size_t)n, 4, host[t][1]); /* zeros */
                tensors[t].state[s] = bufs[t][2 + s].data;
            }
        }
        double worst = 0.0;
        int compared = 0;
        for (int step = 1; step <= STEPS; ++step) {
            for (int t = 0; t < d.ntensors; ++t) {
                for (int64_t i = 0; i < d.sizes[t]; ++i)
                    grad[t][i] = ref_input(1, c, step, t, i);
                cr_assert_eq(optk_mem_upload(ctx, bufs[t][1].data, grad[t], (size_t)d.sizes[t] * 4),
                             OPTK_OK);
            }
            optk_status s = optk_adamw_step(ctx, &d.opt[c], step, tensors, d.ntensors);
            cr_assert_eq(s, OPTK_OK, "%s", optk_context_last_error(ctx));
            if (step != 1 && step != 10 && step != 50 && step != 100) continue;
            for (int t = 0; t < d.ntensors; ++t) {
                test_buffer_read(&bufs[t][0], host[t][0]);
                for (int k = 0; k < nstate; ++k)
                    test_buffer_read(&bufs[t][2 + k], host[t][1 + k]);
            }
            compared += compare_checkpoint(&d, c, step, host, &worst);
        }
        /* Four checkpoints of every parameter and state must have been in the file. */
        int expected = 0;
        for (int t = 0; t < d.ntensors; ++t)
            expected += 4 * (int)d.sizes[t] * (1 + nstate);
        cr_assert_eq(compared, expected, "config %d: compared %d values, expected %d", c, compared,
                     expected);
        cr_log_info("%s: config %d: worst relative error against PyTorch %.3g over %d values",
                    optk_backend_name(backend), c, worst, compared);
        for (int t = 0; t < d.ntensors; ++t) {
            for (int b = 0; b < 2 + nstate; ++b)
                test_buffer_free(&bufs[t][b]);
            for (int k = 0; k < 4; ++k)
                free(host[t][k]);
            free(grad[t]);
        }
    }
    free(d.text);
    optk_context_free(ctx);
}
