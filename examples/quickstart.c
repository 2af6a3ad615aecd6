/* quickstart.c — fit p to a target with fused AdamW on the best backend available.
 * Build: part of the optkern build (optkern_example_quickstart); the README shows this file. */
#include <math.h>
#include <optkern.h>
#include <stdio.h>

#define N 1000

int main(void) {
    optk_context *ctx = NULL;
    if (optk_context_create(&ctx, OPTK_BACKEND_AUTO, 0) != OPTK_OK) {
        fprintf(stderr, "no context: %s\n", optk_context_last_error(NULL));
        return 1;
    }
    /* One parameter tensor and its gradient and AdamW state, in backend memory. */
    float *buf[4]; /* param, grad, m, v */
    static float host_p[N], host_g[N], zeros[N];
    for (int k = 0; k < 4; ++k) {
        optk_mem_alloc(ctx, sizeof zeros, (void **)&buf[k]);
        optk_mem_upload(ctx, buf[k], zeros, sizeof zeros);
    }
    optk_param_tensor tensor = {
        .numel = N, .param = buf[0], .grad = buf[1], .state = {buf[2], buf[3]}};
    optk_adamw_options opt = optk_adamw_default_options();
    opt.lr = 0.05;

    /* Minimise 0.5 * |p - target|^2 with target_i = sin(i): the gradient is p - target. */
    double first = 0.0, loss = 0.0;
    for (int step = 1; step <= 200; ++step) {
        optk_mem_download(ctx, host_p, buf[0], sizeof host_p);
        loss = 0.0;
        for (int i = 0; i < N; ++i) {
            host_g[i] = host_p[i] - sinf((float)i);
            loss += 0.5 * host_g[i] * host_g[i];
        }
        if (step == 1) first = loss;
        optk_mem_upload(ctx, buf[1], host_g, sizeof host_g);
        optk_status s = optk_adamw_step(ctx, &opt, step, &tensor, 1);
        if (s != OPTK_OK) {
            fprintf(stderr, "adamw_step: %s\n", optk_context_last_error(ctx));
            return 1;
        }
    }
    printf("%s backend: loss %.4f -> %.6f after 200 AdamW steps\n",
           optk_backend_name(optk_context_backend(ctx)), first, loss);
    for (int k = 0; k < 4; ++k)
        optk_mem_free(ctx, buf[k]);
    optk_context_free(ctx);
    return loss < 1e-3 * first ? 0 : 1;
}
