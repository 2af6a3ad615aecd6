/* cmd_bench.c — `optkern bench [op...]`: each op at several sizes, against the copy
 * bandwidth measured first in the same run. */
#include "cli.h"
#include "bench.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_SIZES = 16 };

typedef struct bench_options {
    optk_backend backend;
    bool json;
    int reps;
    int tensors;
    int nsizes;
    int64_t sizes[MAX_SIZES];
    bool copy;
    bool probes, curvature, dense; /* the Hutchinson ops */
    bool sinkhorn;
    bool es;
    bool all_precisions;
    bool rules[OPTK_RULE_COUNT];
} bench_options;

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: optkern bench [copy] [RULE...] [probes] [curvature] [hessian_diag]\n"
        "                     [--backend cpu|cuda|auto] [--sizes N,N,...]\n"
        "                     [--tensors N] [--reps N] [--all-precisions] [--json]\n\n"
        "RULE: sgd signum adagrad rmsprop adam adamw adabelief diffgrad adan lion sophia\n"
        "adahessian schedule_free_adamw schedule_free_sgd. probes: Hutchinson probe\n"
        "generation + accumulation (4 probes; Rademacher and Gaussian), and generation\n"
        "alone (G values/s in the GFLOP/s column); curvature: the\n"
        "fused Sophia-H, GNB and AdaHessian updates; hessian_diag: the dense-matrix\n"
        "estimate (n = 2048, 16 probes on the CPU; 8192 and 256 on CUDA) timed against the\n"
        "SGEMM it contains (CUDA) or against itself without the product (CPU), in GFLOP/s.\n"
        "sinkhorn: the exp throughput first (optk_exp_chain), then batched Sinkhorn, a\n"
        "fixed number of iterations (exps per second against it where counted): many\n"
        "small dense problems (CUDA: the on-chip solver), the same in the log domain only,\n"
        "one large dense problem (GB/s: the cost is read twice per iteration), point clouds\n"
        "small and large (G log-sum-exp terms/s in the GFLOP/s column), unbalanced,\n"
        "256 x 256 dense problems (CUDA: a thread-block cluster each on sm_90), on CUDA the\n"
        "small and the 256 x 256 problems again through the streaming solver (-streaming),\n"
        "points in 64 dimensions (dense-large's size) and the cost of those points\n"
        "materialised (ot-cost: direct and GEMM, GFLOP/s counted as the GEMM's 2 n m dim),\n"
        "Sinkhorn-Newton-Sparse against plain Sinkhorn in time to tol 1e-5 (problems of\n"
        "64 x 64 at eps 0.002: 16 on the CPU, 1024 on CUDA, whose Newton phase runs a block\n"
        "per problem; costs in [0, 1), and in [0, 2): -far, where the warm-up ends far from\n"
        "the solution), the plan of 1024 x 1024 points in 64 dimensions applied\n"
        "to 64 columns (sinkhorn-apply), both sides' point gradients of those points\n"
        "(sinkhorn-gradient, GFLOP/s counted as 12 n m dim), both sides' c-transforms of\n"
        "those points (sinkhorn-ctransform, G log-sum-exp terms/s), and the Sinkhorn divergence\n"
        "of 64 pairs of 64-point clouds to tol 1e-5 against its three problems by\n"
        "alternating updates.\n"
        "es: the EGGROLL population forward of a\n"
        "1024 x 1024 layer, batch 16 (N = 256 members on the CPU, 4096 on CUDA): full rank,\n"
        "low rank r = 1 against it, on CUDA also against the plain unperturbed GEMM over the\n"
        "same rows (GFLOP/s: dense-equivalent 2 N batch m n), and the update. Sizes are fixed\n"
        "per backend (--sizes is for the element-wise ops).\n"
        "Default: all of them, and copy.\n"
        "Each rule runs in fp32; adamw also with amsgrad, bf16+master, f16+master and bf16+sr\n"
        "(bf16 without a master copy, stochastic rounding); --all-precisions runs every rule\n"
        "in every precision (gradients in the parameters' dtype). adamw also runs as a\n"
        "graph-capturable step (fp32+capturable: its scalars read from backend memory).\n\n"
        "The memory roofline of the backend is measured first (device-to-device copy on\n"
        "CUDA; on the CPU the faster of memcpy and an in-place update, since in-place ops\n"
        "skip the read-for-ownership a copy pays), then each op at each size: median time\n"
        "of --reps timed runs after warm-up, bytes per element, GB/s, and the fraction of\n"
        "the roofline. --json prints one JSON object per line. Sizes are parameters per\n"
        "step (default 2^20,2^24 on the CPU; 2^20,2^24,2^28 on CUDA).\n");
}

static int rule_named(const char *name) {
    for (int r = 0; r < OPTK_RULE_COUNT; ++r) {
        if (strcmp(optk_rule_name((optk_rule)r), name) == 0) return r;
    }
    return -1;
}

static bool parse_sizes(const char *text, bench_options *o) {
    o->nsizes = 0;
    for (const char *at = text; *at && o->nsizes < MAX_SIZES;) {
        char *end;
        long long v = strtoll(at, &end, 0);
        if (end == at || v < 1) return false;
        o->sizes[o->nsizes++] = v;
        at = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return false;
    }
    return o->nsizes > 0;
}

static int parse(int argc, char **argv, bench_options *o) {
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--all-precisions") == 0) {
            o->all_precisions = true;
        } else if (strcmp(a, "--backend") == 0 && next && cli_parse_backend(next, &o->backend)) {
            ++i;
        } else if (strcmp(a, "--sizes") == 0 && next && parse_sizes(next, o)) {
            ++i;
        } else if (strcmp(a, "--reps") == 0 && next && (o->reps = atoi(next)) > 0) {
            ++i;
        } else if (strcmp(a, "--tensors") == 0 && next && (o->tensors = atoi(next)) > 0) {
            ++i;
        } else if (strcmp(a, "copy") == 0) {
            o->copy = true;
        } else if (strcmp(a, "probes") == 0) {
            o->probes = true;
        } else if (strcmp(a, "curvature") == 0) {
            o->curvature = true;
        } else if (strcmp(a, "hessian_diag") == 0) {
            o->dense = true;
        } else if (strcmp(a, "sinkhorn") == 0) {
            o->sinkhorn = true;
        } else if (strcmp(a, "es") == 0) {
            o->es = true;
        } else if (rule_named(a) >= 0) {
            o->rules[rule_named(a)] = true;
        } else {
            fprintf(stderr, "optkern bench: bad argument '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    bool any = o->copy || o->probes || o->curvature || o->dense || o->sinkhorn || o->es;
    for (int r = 0; r < OPTK_RULE_COUNT; ++r)
        any = any || o->rules[r];
    if (!any) {
        o->copy = o->probes = o->curvature = o->dense = o->sinkhorn = o->es = true;
        for (int r = 0; r < OPTK_RULE_COUNT; ++r)
            o->rules[r] = true;
    }
    return -1;
}

/* Prints a failed op's message; returns the exit status. */
static int failed(optk_context *ctx, const char *op, int64_t n, optk_status s) {
    fprintf(stderr, "optkern bench: %s n=%lld: %s (%s)\n", op, (long long)n,
            optk_context_last_error(ctx), optk_status_string(s));
    return 1;
}

static int bench_hutchinson_ops(optk_context *ctx, const bench_options *o, double roofline) {
    const bool cuda = optk_context_backend(ctx) == OPTK_BACKEND_CUDA;
    bench_result res;
    optk_status s = OPTK_OK;
    for (int i = 0; i < o->nsizes && o->probes; ++i) {
        for (int kind = 0; kind < 2; ++kind) {
            s = bench_probe_accumulate(ctx, (optk_probe_kind)kind, o->sizes[i], 4, o->reps,
                                       roofline, &res);
            if (s != OPTK_OK) return failed(ctx, "probes", o->sizes[i], s);
            bench_print(stdout, &res, o->json);
            s = bench_probe_fill(ctx, (optk_probe_kind)kind, o->sizes[i], 4, o->reps, roofline,
                                 &res);
            if (s != OPTK_OK) return failed(ctx, "probes", o->sizes[i], s);
            bench_print(stdout, &res, o->json);
        }
    }
    for (int i = 0; i < o->nsizes && o->curvature; ++i) {
        static const optk_curvature_kind kinds[] = {
            OPTK_CURVATURE_SOPHIA_H, OPTK_CURVATURE_SOPHIA_GNB, OPTK_CURVATURE_ADAHESSIAN,
            OPTK_CURVATURE_ADAHESSIAN};
        for (int k = 0; k < 4; ++k) {
            const int64_t block = k == 3 ? 9 : 0;
            const int64_t n = o->sizes[i] / 9 * 9; /* whole blocks of 9 */
            if (n < 9) continue;
            s = bench_curvature(ctx, kinds[k], block, n, o->reps, roofline, &res);
            if (s != OPTK_OK) return failed(ctx, "curvature", n, s);
            bench_print(stdout, &res, o->json);
        }
    }
    if (o->dense) {
        const int64_t n = cuda ? 8192 : 2048;
        s = bench_dense_estimator(ctx, n, cuda ? 256 : 16, o->reps, &res);
        if (s != OPTK_OK) return failed(ctx, "hessian_diag", n, s);
        bench_print(stdout, &res, o->json);
    }
    return 0;
}

/* The Sinkhorn ops, each against the copy roofline (dense costs: bytes) and the exp roofline
 * measured first (optk_exp_chain): the exponentials a solver must evaluate per second. */
static int bench_sinkhorn_ops(optk_context *ctx, const bench_options *o, double roofline) {
    if (!o->sinkhorn) return 0;
    const bool cuda = optk_context_backend(ctx) == OPTK_BACKEND_CUDA;
    bench_result res, exp_roofline;
    optk_status s = bench_exp_roofline(ctx, cuda ? (int64_t)1 << 24 : (int64_t)1 << 20,
                                       cuda ? 256 : 64, cuda ? o->reps : 5, &exp_roofline);
    if (s != OPTK_OK) return failed(ctx, "exp_chain", 0, s);
    bench_print(stdout, &exp_roofline, o->json);
    const double exps_per_s = exp_roofline.exp_roofline;
    /* name, batch and n (= m) on CUDA then on the CPU, cost, dim, rho, log domain, iterations,
     * streaming (the -streaming lines: the same problems through CUDA's streaming solver, to
     * set the on-chip solver against; the CPU has one layout and skips them) */
    static const struct {
        const char *name;
        int64_t batch[2], n[2];
        optk_ot_cost cost;
        int64_t dim;
        double rho;
        bool log_domain;
        int iterations;
        bool streaming;
    } cases[] = {
        {"dense-small", {4096, 64}, {64, 64}, OPTK_COST_DENSE, 0, 0.0, false, 100, false},
        {"dense-small-streaming", {4096, 64}, {64, 64}, OPTK_COST_DENSE, 0, 0.0, false, 100, true},
        {"dense-small-log", {4096, 64}, {64, 64}, OPTK_COST_DENSE, 0, 0.0, true, 100, false},
        {"dense-large", {1, 1}, {8192, 1024}, OPTK_COST_DENSE, 0, 0.0, false, 20, false},
        {"sqeuclid-small", {4096, 64}, {128, 64}, OPTK_COST_SQEUCLIDEAN, 3, 0.0, false, 100, false},
        {"sqeuclid-large", {64, 4}, {2048, 512}, OPTK_COST_SQEUCLIDEAN, 3, 0.0, false, 20, false},
        {"unbalanced-small", {4096, 64}, {64, 64}, OPTK_COST_DENSE, 0, 1.0, false, 100, false},
        {"sqeuclid-d64", {1, 1}, {8192, 1024}, OPTK_COST_SQEUCLIDEAN, 64, 0.0, false, 20, false},
        /* 256 KiB of cost per problem: a thread-block cluster each on sm_90 */
        {"dense-256", {1024, 8}, {256, 256}, OPTK_COST_DENSE, 0, 0.0, false, 100, false},
        {"dense-256-streaming", {1024, 8}, {256, 256}, OPTK_COST_DENSE, 0, 0.0, false, 100, true},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) {
        const int c = cuda ? 0 : 1;
        if (!cuda && cases[k].streaming) continue;
        const bench_sinkhorn_case run = {
            cases[k].name,
            cases[k].batch[c],
            cases[k].n[c],
            cases[k].n[c],
            cases[k].cost,
            cases[k].dim,
            cases[k].rho,
            cases[k].log_domain,
            cases[k].iterations,
            cases[k].streaming ? OPTK_SINKHORN_PLACE_STREAMING : OPTK_SINKHORN_PLACE_AUTO};
        s = bench_sinkhorn(ctx, &run, cuda ? o->reps : 5, roofline, &res);
        if (s != OPTK_OK) return failed(ctx, "sinkhorn", run.n, s);
        res.exp_roofline = exps_per_s;
        bench_print(stdout, &res, o->json);
    }
    /* SNS and plain Sinkhorn to tol 1e-5 at eps 0.002: time to solution (on CUDA enough
     * problems to fill the device: the Newton phase runs a block per problem); costs in
     * [0, 1), and in [0, 2), where the warm-up ends far from the solution */
    const float cost_max[] = {1.0f, 2.0f};
    const char *sns_variant[] = {"sns-to-tol", "sns-to-tol-far"};
    for (int k = 0; k < 2; ++k) {
        s = bench_sinkhorn_sns(ctx, sns_variant[k], cuda ? 1024 : 16, 64, cost_max[k], 0.002, 1e-5,
                               cuda ? o->reps : 3, &res);
        if (s != OPTK_OK) return failed(ctx, "sinkhorn sns", 64, s);
        bench_print(stdout, &res, o->json);
    }
    /* The plan of 1024^2 points in 64 dimensions applied to 64 columns */
    s = bench_sinkhorn_apply(ctx, 1024, 1024, 64, 64, cuda ? o->reps : 5, &res);
    if (s != OPTK_OK) return failed(ctx, "sinkhorn_apply", 1024, s);
    bench_print(stdout, &res, o->json);
    /* Both sides' point gradients of the same 1024^2 points in 64 dimensions */
    s = bench_sinkhorn_gradient(ctx, 1024, 1024, 64, cuda ? o->reps : 5, &res);
    if (s != OPTK_OK) return failed(ctx, "sinkhorn_gradient", 1024, s);
    bench_print(stdout, &res, o->json);
    /* Both sides' c-transforms of the same 1024^2 points in 64 dimensions */
    s = bench_sinkhorn_ctransform(ctx, 1024, 1024, 64, cuda ? o->reps : 5, &res);
    if (s != OPTK_OK) return failed(ctx, "sinkhorn_ctransform", 1024, s);
    res.exp_roofline = exps_per_s;
    bench_print(stdout, &res, o->json);
    /* The Sinkhorn divergence of 64 pairs of 64-point clouds in 3 dimensions, to tol. */
    s = bench_sinkhorn_divergence(ctx, 64, 64, 3, cuda ? o->reps : 5, &res);
    if (s != OPTK_OK) return failed(ctx, "sinkhorn_divergence", 64, s);
    bench_print(stdout, &res, o->json);
    for (int method = 0; method < 2; ++method) {
        /* The cost of the sqeuclid-d64 case's points (and dense-large's size), materialised. */
        const int64_t n = cuda ? 8192 : 1024;
        s = bench_ot_cost(ctx, (optk_cost_method)method, 1, n, n, 64, cuda ? o->reps : 5, &res);
        if (s != OPTK_OK) return failed(ctx, "ot_cost_fill", n, s);
        bench_print(stdout, &res, o->json);
    }
    return 0;
}

static int bench_es_ops(optk_context *ctx, const bench_options *o) {
    if (!o->es) return 0;
    const bool cuda = optk_context_backend(ctx) == OPTK_BACKEND_CUDA;
    optk_status s;
    const int64_t members = cuda ? 4096 : 256, batch = 16, m = 1024, n = 1024;
    const int reps = cuda ? 20 : 3;
    /* The CPU's full rank takes about half a second a run and varied by +-25% as the median
     * of 2; of 5 it is steadier. */
    const int full_reps = cuda ? 3 : 5;
    bench_result full, low, plain;
    if ((s = bench_es(ctx, "fullrank", members, batch, m, n, 0, false, false, full_reps, &full)) !=
        OPTK_OK) {
        return failed(ctx, "es", members, s);
    }
    bench_print(stdout, &full, o->json);
    if ((s = bench_es(ctx, "lowrank-r1", members, batch, m, n, 1, false, false, reps, &low)) !=
        OPTK_OK) {
        return failed(ctx, "es", members, s);
    }
    low.baseline = "fullrank", low.baseline_s = full.median_s;
    bench_print(stdout, &low, o->json);
    if (cuda) {
        if ((s = bench_es(ctx, "plain-gemm", members, batch, m, n, 1, false, true, reps, &plain)) !=
            OPTK_OK) {
            return failed(ctx, "es", members, s);
        }
        bench_print(stdout, &plain, o->json);
        low.baseline = "plain-gemm", low.baseline_s = plain.median_s;
        bench_print(stdout, &low, o->json);
    }
    if ((s = bench_es(ctx, "lowrank-r1", members, batch, m, n, 1, true, false, reps, &low)) !=
        OPTK_OK) {
        return failed(ctx, "es", members, s);
    }
    bench_print(stdout, &low, o->json);
    return 0;
}

int cmd_bench(int argc, char **argv) {
    bench_options o = {.backend = OPTK_BACKEND_AUTO, .reps = 0, .tensors = 1};
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    optk_context *ctx = cli_open_context(o.backend);
    if (!ctx) return 1;
    const bool cuda = optk_context_backend(ctx) == OPTK_BACKEND_CUDA;
    if (o.reps == 0) o.reps = cuda ? 50 : 15;
    if (o.nsizes == 0) {
        o.sizes[o.nsizes++] = (int64_t)1 << 20;
        o.sizes[o.nsizes++] = (int64_t)1 << 24;
        if (cuda) o.sizes[o.nsizes++] = (int64_t)1 << 28;
    }
    if (!o.json) {
        printf("optkern %s bench on %s: %s\n", optk_version_string(),
               optk_backend_name(optk_context_backend(ctx)), optk_context_device_name(ctx));
    }

    /* The roofline: the fastest way this backend streams memory, measured now. */
    bench_result copy, update;
    const size_t copy_bytes = cuda ? ((size_t)1 << 30) : ((size_t)1 << 28);
    optk_status s = bench_copy_roofline(ctx, copy_bytes, o.reps, &copy);
    double roofline = copy.gbps;
    if (s == OPTK_OK && !cuda) {
        s = bench_update_roofline(ctx, copy_bytes, o.reps, &update);
        if (update.gbps > roofline) roofline = update.gbps;
    }
    if (s != OPTK_OK) {
        fprintf(stderr, "optkern bench: roofline failed: %s\n", optk_context_last_error(ctx));
        optk_context_free(ctx);
        return 1;
    }
    if (o.copy) {
        copy.roofline_gbps = roofline;
        bench_print(stdout, &copy, o.json);
        if (!cuda) {
            update.roofline_gbps = roofline;
            bench_print(stdout, &update, o.json);
        }
    }

    /* fp32, fp32+amsgrad, bf16+master, f16+master, bf16+sr, fp32+capturable */
    enum { VARIANTS = 6 };
    for (int r = 0; r < OPTK_RULE_COUNT; ++r) {
        if (!o.rules[r]) continue;
        for (int variant = 0; variant < VARIANTS; ++variant) {
            const bool adamw = r == OPTK_RULE_ADAMW;
            if ((variant == 1 || variant == 5) && !adamw) continue;
            if (variant > 1 && variant < 5 && !adamw && !o.all_precisions) continue;
            optk_optim_options rule = optk_optim_default_options((optk_rule)r);
            rule.batch_tokens = 1024.0; /* Sophia's tokens per batch; others ignore it */
            rule.amsgrad = variant == 1;
            rule.param_dtype = variant == 2 || variant == 4 ? OPTK_BF16
                               : variant == 3               ? OPTK_F16
                                                            : OPTK_F32;
            rule.grad_dtype = rule.param_dtype;
            rule.stochastic_rounding = variant == 4;
            for (int i = 0; i < o.nsizes; ++i) {
                bench_result res;
                s = bench_optim(ctx, &rule, variant == 5, o.sizes[i], o.tensors, o.reps, roofline,
                                &res);
                if (s != OPTK_OK) {
                    fprintf(stderr, "optkern bench: %s %s n=%lld: %s (%s)\n",
                            optk_rule_name((optk_rule)r), bench_optim_variant(&rule),
                            (long long)o.sizes[i], optk_context_last_error(ctx),
                            optk_status_string(s));
                    optk_context_free(ctx);
                    return 1;
                }
                bench_print(stdout, &res, o.json);
            }
        }
    }
    rc = bench_hutchinson_ops(ctx, &o, roofline);
    if (rc == 0) rc = bench_sinkhorn_ops(ctx, &o, roofline);
    if (rc == 0) rc = bench_es_ops(ctx, &o);
    optk_context_free(ctx);
    return rc;
}
