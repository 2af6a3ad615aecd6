/* cmd_validate.c — `optkern validate`: every optimizer rule on fresh random inputs of awkward
 * sizes, then the other ops (validate_hutchinson.c, validate_sinkhorn.c, validate_ot_cost.c,
 * validate_es.c, validate_roofline.c). With a GPU: CUDA against the CPU reference under the
 * numerics contract. Without one: it says so and checks what the CPU can alone — for the rules the
 * same bits on a second run and whether the tensors go in one call or one by one; for the other ops
 * float64 references. */
#include "cli.h"
#include "common/precision.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int64_t sizes[] = {1, 3, 1023, 2048, 4099, (1 << 20) + 7};
enum { NSIZES = 6, STEPS = 3, MAX_BUFFERS = 3 + OPTK_MAX_STATE /* param, grad, states, master */ };

/* Every rule in its default form and in the variants that change its state layout, and two
 * run as graph-capturable steps (capturable[v]). */
static int variants(optk_optim_options out[32], const char *names[32], bool capturable[32]) {
    memset(capturable, 0, 32 * sizeof *capturable);
    int n = 0;
    for (int r = 0; r < OPTK_RULE_COUNT; ++r) {
        out[n] = optk_optim_default_options((optk_rule)r);
        out[n].batch_tokens = 512.0;
        names[n++] = optk_rule_name((optk_rule)r);
    }
    static const char *extra[] = {"sgd+nesterov",
                                  "signsgd",
                                  "rmsprop+centered+momentum",
                                  "adamw+amsgrad+maximize",
                                  "adahessian+power0.6",
                                  "adamw+bf16+master",
                                  "adan+f16+master",
                                  "lion+bf16+stochastic",
                                  "sgd+bf16-grads"};
    out[n] = optk_optim_default_options(OPTK_RULE_SGD), out[n].momentum = 0.9,
    out[n].nesterov = true, names[n] = extra[0], ++n;
    out[n] = optk_optim_default_options(OPTK_RULE_SIGNUM), out[n].momentum = 0.0,
    names[n] = extra[1], ++n;
    out[n] = optk_optim_default_options(OPTK_RULE_RMSPROP), out[n].centered = true,
    out[n].momentum = 0.5, names[n] = extra[2], ++n;
    out[n] = optk_optim_default_options(OPTK_RULE_ADAMW), out[n].amsgrad = true,
    out[n].maximize = true, names[n] = extra[3], ++n;
    out[n] = optk_optim_default_options(OPTK_RULE_ADAHESSIAN), out[n].hessian_power = 0.6,
    names[n] = extra[4], ++n;
    out[n] = optk_optim_default_options(OPTK_RULE_ADAMW), out[n].param_dtype = OPTK_BF16,
    out[n].grad_dtype = OPTK_BF16, names[n] = extra[5], ++n;
    out[n] = optk_optim_default_options(OPTK_RULE_ADAN), out[n].param_dtype = OPTK_F16,
    out[n].grad_dtype = OPTK_F32, names[n] = extra[6], ++n;
    out[n] = optk_optim_default_options(OPTK_RULE_LION), out[n].param_dtype = OPTK_BF16,
    out[n].grad_dtype = OPTK_BF16, out[n].stochastic_rounding = true, out[n].seed = 99,
    names[n] = extra[7], ++n;
    out[n] = optk_optim_default_options(OPTK_RULE_SGD), out[n].momentum = 0.9,
    out[n].grad_dtype = OPTK_BF16, names[n] = extra[8], ++n;
    out[n] = optk_optim_default_options(OPTK_RULE_ADAMW), out[n].param_dtype = OPTK_BF16,
    out[n].stochastic_rounding = true, capturable[n] = true, names[n] = "adamw+bf16+sr+capturable",
    ++n;
    out[n] = optk_optim_default_options(OPTK_RULE_SCHEDULE_FREE_ADAMW), out[n].warmup_steps = 2,
    capturable[n] = true, names[n] = "schedule_free_adamw+capturable", ++n;
    return n;
}

/* Buffer b of tensor t before step `step` (b: 0 param, 1 grad, 2.. states). Curvature states
 * (read-only) are positive; gradients nowhere zero. */
static void fill(float *x, int64_t n, uint64_t seed, int t, int b, int step) {
    uint64_t state = seed ^ ((uint64_t)t << 48) ^ ((uint64_t)b << 40) ^ ((uint64_t)step << 32);
    for (int64_t i = 0; i < n; ++i) {
        float u = (float)((double)(cli_random_u64(&state) >> 40) * 0x1.0p-24); /* [0, 1) */
        x[i] =
            b == 0 ? 2.0f * u - 1.0f : (b == 1 ? (i & 1 ? -1.0f : 1.0f) * (0.01f + u) : 0.01f + u);
    }
}

/* Uploads n floats as dtype (rounded to nearest for bf16/fp16). */
static optk_status upload_as(optk_context *ctx, void *dst, const float *host, int64_t n,
                             optk_dtype dtype) {
    if (dtype == OPTK_F32) return optk_mem_upload(ctx, dst, host, (size_t)n * sizeof(float));
    uint16_t *half = malloc((size_t)n * sizeof *half);
    for (int64_t i = 0; i < n; ++i) {
        half[i] = dtype == OPTK_BF16 ? optk_f32_to_bf16_rne(host[i]) : optk_f32_to_f16_rne(host[i]);
    }
    optk_status s = optk_mem_upload(ctx, dst, half, (size_t)n * sizeof *half);
    free(half);
    return s;
}

/* Downloads n elements of dtype, widened to floats. */
static optk_status download_as(optk_context *ctx, float *host, const void *src, int64_t n,
                               optk_dtype dtype) {
    if (dtype == OPTK_F32) return optk_mem_download(ctx, host, src, (size_t)n * sizeof(float));
    uint16_t *half = malloc((size_t)n * sizeof *half);
    optk_status s = optk_mem_download(ctx, half, src, (size_t)n * sizeof *half);
    for (int64_t i = 0; i < n; ++i) {
        host[i] = dtype == OPTK_BF16 ? optk_bf16_to_f32(half[i]) : optk_f16_to_f32(half[i]);
    }
    free(half);
    return s;
}

/* One step of opt over the tensors: a host step, or a guarded capturable step whose scalars
 * (lr from the options, the counter) live in backend memory at *scalars (allocated on the
 * first step). */
static optk_status take_step(optk_context *ctx, optk_optimizer *opt,
                             const optk_param_tensor *tensors, int count, bool capturable,
                             optk_step_scalars **scalars) {
    if (!capturable) return optk_optimizer_step(opt, tensors, count);
    optk_status s = OPTK_OK;
    if (!*scalars) {
        const optk_step_scalars init = {.lr = optk_optimizer_options(opt)->lr, .inv_scale = 1.0};
        s = optk_mem_alloc(ctx, sizeof init, (void **)scalars);
        if (s == OPTK_OK) s = optk_mem_upload(ctx, *scalars, &init, sizeof init);
    }
    const optk_param_group all = {tensors, count, 1.0, 1.0};
    const optk_capture_options guard = {.guard = true, .max_norm = 0.0};
    return s == OPTK_OK ? optk_optimizer_step_capturable(opt, &all, 1, &guard, *scalars) : s;
}

/* Runs STEPS steps of o over the tensors on ctx, one call for all (or one call per tensor
 * with split), as host or capturable steps, and returns every final buffer concatenated
 * (host memory). */
static float *run(optk_context *ctx, const optk_optim_options *o, uint64_t seed, bool split,
                  bool capturable, size_t *total_out) {
    const int nstate = optk_optim_state_count(o);
    const bool curvature = o->rule == OPTK_RULE_SOPHIA || o->rule == OPTK_RULE_ADAHESSIAN;
    const bool master = o->param_dtype != OPTK_F32 && !o->stochastic_rounding;
    const int nbuffers = 2 + nstate + (master ? 1 : 0); /* param, grad, states, master */
    optk_optimizer *opts[NSIZES] = {0};
    optk_step_scalars *scalars[NSIZES] = {0};
    optk_param_tensor tensors[NSIZES];
    void *buffers[NSIZES][MAX_BUFFERS] = {{0}};
    size_t total = 0;
    float *host = malloc(((size_t)sizes[NSIZES - 1]) * sizeof(float));
    optk_status s = OPTK_OK;
    for (int k = 0; k < (split ? NSIZES : 1) && s == OPTK_OK; ++k)
        s = optk_optimizer_create(ctx, o, &opts[k]);
    for (int t = 0; t < NSIZES && s == OPTK_OK; ++t) {
        tensors[t] = (optk_param_tensor){.numel = sizes[t]};
        for (int b = 0; b < nbuffers && s == OPTK_OK; ++b) {
            s = optk_mem_alloc(ctx, (size_t)sizes[t] * sizeof(float), &buffers[t][b]);
            const bool is_master = master && b == nbuffers - 1;
            if (s == OPTK_OK && (b < 2 || is_master)) {
                fill(host, sizes[t], seed, t, is_master ? 0 : b, 0);
                const optk_dtype dtype =
                    is_master ? OPTK_F32 : (b == 0 ? o->param_dtype : o->grad_dtype);
                s = upload_as(ctx, buffers[t][b], host, sizes[t], dtype);
            }
            total += (size_t)sizes[t];
        }
        tensors[t].param = buffers[t][0];
        tensors[t].grad = buffers[t][1];
        for (int j = 0; j < nstate; ++j)
            tensors[t].state[j] = buffers[t][2 + j];
        tensors[t].master = master ? buffers[t][nbuffers - 1] : NULL;
    }
    for (int k = 0; k < (split ? NSIZES : 1) && s == OPTK_OK; ++k) {
        s = optk_optimizer_init_state(opts[k], split ? &tensors[k] : tensors, split ? 1 : NSIZES);
    }
    for (int t = 0; t < NSIZES && s == OPTK_OK && curvature; ++t) {
        fill(host, sizes[t], seed, t, 2 + nstate - 1, 0);
        s = optk_mem_upload(ctx, tensors[t].state[nstate - 1], host,
                            (size_t)sizes[t] * sizeof(float));
    }
    for (int step = 1; step <= STEPS && s == OPTK_OK; ++step) {
        for (int t = 0; t < NSIZES && s == OPTK_OK; ++t) {
            fill(host, sizes[t], seed, t, 1, step);
            s = upload_as(ctx, buffers[t][1], host, sizes[t], o->grad_dtype);
        }
        for (int k = 0; k < (split ? NSIZES : 1) && s == OPTK_OK; ++k) {
            s = take_step(ctx, opts[k], split ? &tensors[k] : tensors, split ? 1 : NSIZES,
                          capturable, &scalars[k]);
        }
    }
    float *all = s == OPTK_OK ? malloc(total * sizeof(float)) : NULL;
    size_t at = 0;
    for (int t = 0; t < NSIZES; ++t) {
        for (int b = 0; b < nbuffers; ++b) {
            if (all && s == OPTK_OK) {
                const optk_dtype dtype =
                    b == 0 ? o->param_dtype : (b == 1 ? o->grad_dtype : OPTK_F32);
                s = download_as(ctx, all + at, buffers[t][b], sizes[t], dtype);
            }
            at += (size_t)sizes[t];
            optk_mem_free(ctx, buffers[t][b]);
        }
    }
    for (int k = 0; k < NSIZES; ++k) {
        optk_optimizer_free(opts[k]);
        optk_mem_free(ctx, scalars[k]);
    }
    free(host);
    if (s != OPTK_OK) {
        fprintf(stderr, "optkern validate: %s on %s: %s\n", optk_rule_name(o->rule),
                optk_backend_name(optk_context_backend(ctx)), optk_context_last_error(ctx));
        free(all);
        return NULL;
    }
    *total_out = total;
    return all;
}

static void usage(FILE *f) {
    fprintf(f, "usage: optkern validate [--seed N] [--ops OP,OP,...]\n\n"
               "Runs every optimizer rule (and the variants that change its state layout) on\n"
               "fresh random inputs of awkward sizes (1, 3, 1023, 2048, 4099, 2^20+7 in one\n"
               "list, 3 steps), and the Hutchinson ops: probe_rademacher, probe_gaussian,\n"
               "hessian_diag (a dense 257 x 257 matrix, 64 probes), curvature_sophia_h,\n"
               "curvature_sophia_gnb, curvature_adahessian; and Sinkhorn: sinkhorn_dense (2 x\n"
               "300 x 260), sinkhorn_sqeuclidean (6 x 40 x 30 points), sinkhorn_unbalanced,\n"
               "sinkhorn_apply, sinkhorn_sns (4 x 30 x 40, eps 0.01), sinkhorn_divergence\n"
               "(the points' clouds), sinkhorn_gradient (their solved problems' gradients),\n"
               "ot_cost_direct and ot_cost_gemm (3 x 70 x 50 points, dim 48);\n"
               "and EGGROLL: es_factors, es_forward_lowrank, es_forward_fullrank,\n"
               "es_gradient_lowrank, es_gradient_fullrank; and exp_chain (4099 values, 3\n"
               "rounds of the shared exp). With a CUDA device: CUDA against\n"
               "the CPU, bit for bit for the rules, probe bits, curvature updates, Sinkhorn and\n"
               "ES factors, the direct cost and exp_chain; ES forwards and gradients within 1e-5 "
               "relative\n"
               "(cuBLAS), the GEMM cost within 6e-4 (its expansion's bound); Gaussian\n"
               "probes within 2e-5; the estimate within 1e-4 relative. Without one: the CPU's\n"
               "own checks for the rules (the same bits on a second run and whether the tensors\n"
               "go in one call or one by one) and float64 references for the other ops.\n"
               "Two variants (adamw+bf16+sr+capturable, schedule_free_adamw+capturable) take\n"
               "graph-capturable steps (scalars in backend memory) and must give the bits of\n"
               "host steps (on a GPU: of the CPU's host steps).\n"
               "OP: a rule name (as in optkern bench) or one of the ops above. Exit status 1 on\n"
               "any failure.\n");
}

int cmd_validate(int argc, char **argv) {
    uint64_t seed = 20261122;
    const char *ops = NULL;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 0);
        } else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc) {
            ops = argv[++i];
        } else {
            fprintf(stderr, "optkern validate: bad argument '%s'\n\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    optk_context *cpu = cli_open_context(OPTK_BACKEND_CPU);
    if (!cpu) return 1;
    optk_context *cuda = NULL;
    if (optk_context_create(&cuda, OPTK_BACKEND_CUDA, 0) != OPTK_OK) {
        printf(
            "no CUDA device: %s\nvalidating the CPU backend alone (optimizer rules: determinism, "
            "one call vs per-tensor calls; other ops: against float64 references)\n\n",
            optk_context_last_error(NULL));
    } else {
        printf("validating cuda (%s) against cpu (%s), seed %llu\n\n",
               optk_context_device_name(cuda), optk_context_device_name(cpu),
               (unsigned long long)seed);
    }
    printf("%-30s %-12s %12s %12s %10s %-6s %s\n", "op", "check", "max abs", "max rel", "max ulp",
           "exact", "result");
    optk_optim_options opts[32];
    const char *names[32];
    bool capturable[32];
    const int n = variants(opts, names, capturable);
    int failures = 0, ran = 0;
    for (int v = 0; v < n; ++v) {
        if (ops && !cli_listed(ops, optk_rule_name(opts[v].rule))) continue;
        size_t total = 0, total2 = 0;
        float *ref = run(cpu, &opts[v], seed, false, false, &total);
        /* Stochastic rounding keys each tensor's random bits by its position in the call, so
         * per-tensor calls differ by design: without a GPU such variants check determinism.
         * Capturable variants check against host steps (on the GPU: against the CPU's). */
        const bool cap = capturable[v];
        const bool split = !cuda && !opts[v].stochastic_rounding && !cap;
        float *other = cuda ? run(cuda, &opts[v], seed, false, cap, &total2)
                            : run(cpu, &opts[v], seed, split, cap, &total2);
        const char *check =
            cuda ? "cuda=cpu" : (cap ? "capture=host" : (split ? "split=one" : "rerun"));
        bool ok = ref && other && total == total2;
        cli_comparison c = {0};
        if (ok) {
            c = cli_compare(other, ref, total);
            ok = c.exact;
        }
        if (ok && !cuda) { /* and a second run gives the same bits */
            float *again = run(cpu, &opts[v], seed, false, cap, &total2);
            ok = again && memcmp(again, ref, total * sizeof(float)) == 0;
            free(again);
        }
        cli_print_row(names[v], check, &c, ok);
        failures += !ok;
        ++ran;
        free(ref);
        free(other);
    }
    failures += validate_hutchinson(cpu, cuda, seed, ops, &ran);
    failures += validate_sinkhorn(cpu, cuda, seed, ops, &ran);
    failures += validate_ot_cost(cpu, cuda, seed, ops, &ran);
    failures += validate_es(cpu, cuda, seed, ops, &ran);
    failures += validate_roofline(cpu, cuda, seed, ops, &ran);
    printf("\n%d passed, %d failed\n", ran - failures, failures);
    optk_context_free(cuda);
    optk_context_free(cpu);
    return failures ? 1 : 0;
}
