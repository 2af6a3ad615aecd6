/* checkpoint_resume.c — stop a training run, write a checkpoint file, and resume it in a new
 * context and optimizer, on either backend: the resumed run ends with the same bits as one
 * that never stopped.
 *
 * The model fits p to a target with Schedule-Free AdamW (its counter, warm-up and averaging
 * weights all live in the optimizer, so a restart that forgot them would drift). The
 * checkpoint holds what the caller owns — the parameter and the state buffers — and the
 * optimizer's own record from optk_optimizer_save.
 *
 * Usage: optkern_example_checkpoint [cpu|cuda]   (default: the best backend available)
 * Exits non-zero unless the resumed run equals the uninterrupted one bit for bit.
 */
#include <math.h>
#include <optkern.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 1000, STATES = 2, STEPS = 60, STOP_AT = 25 };

typedef struct run {
    optk_context *ctx;
    optk_optimizer *opt;
    float *buf[2 + STATES]; /* param, grad, z, v */
    optk_param_tensor tensor;
} run;

static optk_optim_options options(void) {
    optk_optim_options o = optk_optim_default_options(OPTK_RULE_SCHEDULE_FREE_ADAMW);
    o.lr = 0.05;
    o.warmup_steps = 10;
    return o;
}

static int start(run *r, optk_backend backend) {
    memset(r, 0, sizeof *r);
    if (optk_context_create(&r->ctx, backend, 0) != OPTK_OK) {
        fprintf(stderr, "no context: %s\n", optk_context_last_error(NULL));
        return 1;
    }
    const optk_optim_options o = options();
    static float zeros[N];
    for (int k = 0; k < 2 + STATES; ++k) {
        if (optk_mem_alloc(r->ctx, sizeof zeros, (void **)&r->buf[k]) != OPTK_OK ||
            optk_mem_upload(r->ctx, r->buf[k], zeros, sizeof zeros) != OPTK_OK)
            return 1;
    }
    r->tensor = (optk_param_tensor){
        .numel = N, .param = r->buf[0], .grad = r->buf[1], .state = {r->buf[2], r->buf[3]}};
    return optk_optimizer_create(r->ctx, &o, &r->opt) != OPTK_OK ||
           optk_optimizer_init_state(r->opt, &r->tensor, 1) != OPTK_OK;
}

static void finish(run *r) {
    optk_optimizer_free(r->opt);
    for (int k = 0; k < 2 + STATES; ++k)
        optk_mem_free(r->ctx, r->buf[k]);
    optk_context_free(r->ctx);
}

/* Steps first .. last - 1 of minimising 0.5 |p - target|^2, target_i = sin(i). */
static int train(run *r, int first, int last) {
    static float p[N], g[N];
    for (int step = first; step < last; ++step) {
        if (optk_mem_download(r->ctx, p, r->buf[0], sizeof p) != OPTK_OK) return 1;
        for (int i = 0; i < N; ++i)
            g[i] = p[i] - sinf((float)i);
        if (optk_mem_upload(r->ctx, r->buf[1], g, sizeof g) != OPTK_OK ||
            optk_optimizer_step(r->opt, &r->tensor, 1) != OPTK_OK) {
            fprintf(stderr, "step %d: %s\n", step, optk_context_last_error(r->ctx));
            return 1;
        }
    }
    return 0;
}

/* The checkpoint: the optimizer's record (its size first), then param, z and v. */
static int save(run *r, FILE *file) {
    size_t size = 0;
    if (optk_optimizer_save(r->opt, NULL, 0, &size) != OPTK_OK) return 1;
    unsigned char *record = malloc(size);
    static float host[N];
    int bad = !record || optk_optimizer_save(r->opt, record, size, &size) != OPTK_OK ||
              fwrite(&size, sizeof size, 1, file) != 1 || fwrite(record, 1, size, file) != size;
    for (int k = 0; k < 2 + STATES && !bad; ++k) {
        if (k == 1) continue; /* the gradient is recomputed */
        bad = optk_mem_download(r->ctx, host, r->buf[k], sizeof host) != OPTK_OK ||
              fwrite(host, sizeof host, 1, file) != 1;
    }
    free(record);
    return bad;
}

static int load(run *r, FILE *file) {
    size_t size = 0;
    if (fread(&size, sizeof size, 1, file) != 1 || size > 4096) return 1;
    unsigned char *record = malloc(size);
    static float host[N];
    int bad = !record || fread(record, 1, size, file) != size;
    for (int k = 0; k < 2 + STATES && !bad; ++k) {
        if (k == 1) continue;
        bad = fread(host, sizeof host, 1, file) != 1 ||
              optk_mem_upload(r->ctx, r->buf[k], host, sizeof host) != OPTK_OK;
    }
    if (!bad && optk_optimizer_load(r->opt, record, size) != OPTK_OK) {
        fprintf(stderr, "load: %s\n", optk_context_last_error(r->ctx));
        bad = 1;
    }
    free(record);
    return bad;
}

int main(int argc, char **argv) {
    optk_backend backend = OPTK_BACKEND_AUTO;
    if (argc > 1) backend = strcmp(argv[1], "cuda") == 0 ? OPTK_BACKEND_CUDA : OPTK_BACKEND_CPU;
    static float straight[N], resumed[N];
    run r;
    /* The uninterrupted run. */
    if (start(&r, backend) || train(&r, 1, STEPS + 1) ||
        optk_mem_download(r.ctx, straight, r.buf[0], sizeof straight) != OPTK_OK)
        return 1;
    const char *name = optk_backend_name(optk_context_backend(r.ctx));
    finish(&r);
    /* Stopped after STOP_AT steps, checkpointed, resumed in a new context and optimizer. */
    FILE *file = tmpfile();
    if (!file || start(&r, backend) || train(&r, 1, STOP_AT + 1) || save(&r, file)) return 1;
    finish(&r);
    rewind(file);
    if (start(&r, backend) || load(&r, file) || train(&r, STOP_AT + 1, STEPS + 1) ||
        optk_mem_download(r.ctx, resumed, r.buf[0], sizeof resumed) != OPTK_OK)
        return 1;
    printf("%s backend: resumed after step %d of %d, step count %lld\n", name, STOP_AT, STEPS,
           (long long)optk_optimizer_step_count(r.opt));
    finish(&r);
    fclose(file);
    const int same = memcmp(straight, resumed, sizeof straight) == 0;
    printf("the resumed run %s the uninterrupted one bit for bit\n",
           same ? "equals" : "DIFFERS from");
    return same ? 0 : 1;
}
