/* bench.c — timing, the copy roofline and result printing (see bench.h). */
#include "bench.h"
#include "timer.h"

#include <stdlib.h>
#include <string.h>

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

optk_status bench_time(optk_context *ctx, bench_fn fn, void *arg, int warmup, int reps,
                       double *median_s, double *min_s) {
    bench_timer *timer = NULL;
    optk_status s = bench_timer_new(ctx, &timer);
    if (s != OPTK_OK) return s;
    double *samples = malloc((size_t)reps * sizeof *samples);
    for (int i = 0; i < warmup && s == OPTK_OK; ++i)
        s = fn(ctx, arg, i);
    if (s == OPTK_OK) s = optk_context_synchronize(ctx);
    for (int i = 0; i < reps && s == OPTK_OK; ++i) {
        if ((s = bench_timer_start(timer)) != OPTK_OK) break;
        if ((s = fn(ctx, arg, warmup + i)) != OPTK_OK) break;
        s = bench_timer_stop(timer, &samples[i]);
    }
    if (s == OPTK_OK) {
        qsort(samples, (size_t)reps, sizeof *samples, compare_double);
        *min_s = samples[0];
        *median_s =
            reps % 2 ? samples[reps / 2] : 0.5 * (samples[reps / 2 - 1] + samples[reps / 2]);
    }
    free(samples);
    bench_timer_free(timer);
    return s;
}

typedef struct copy_args {
    void *src, *dst;
    size_t bytes;
} copy_args;

static optk_status run_copy(optk_context *ctx, void *arg, int rep) {
    (void)rep;
    copy_args *a = arg;
    return optk_mem_copy(ctx, a->dst, a->src, a->bytes);
}

optk_status bench_copy_roofline(optk_context *ctx, size_t bytes, int reps, bench_result *out) {
    copy_args a = {.bytes = bytes};
    optk_status s = optk_mem_alloc(ctx, bytes, &a.src);
    if (s == OPTK_OK) s = optk_mem_alloc(ctx, bytes, &a.dst);
    /* Touch the pages (and give the source non-zero contents) before timing. */
    if (s == OPTK_OK) s = optk_mem_set(ctx, a.src, 0x3c, bytes);
    if (s == OPTK_OK) s = optk_mem_set(ctx, a.dst, 0, bytes);
    memset(out, 0, sizeof *out);
    if (s == OPTK_OK) s = bench_time(ctx, run_copy, &a, 3, reps, &out->median_s, &out->min_s);
    optk_mem_free(ctx, a.src);
    optk_mem_free(ctx, a.dst);
    if (s != OPTK_OK) return s;
    bench_describe(out, ctx, "copy", "memcpy", (int64_t)bytes, 1, reps);
    out->bytes = 2.0 * (double)bytes;
    out->gbps = out->bytes / out->median_s * 1e-9;
    out->roofline_gbps = out->gbps;
    return OPTK_OK;
}

void bench_describe(bench_result *out, optk_context *ctx, const char *op, const char *variant,
                    int64_t numel, int tensors, int reps) {
    out->op = op;
    out->variant = variant;
    out->backend = optk_backend_name(optk_context_backend(ctx));
    out->device = optk_context_device_name(ctx);
    out->numel = numel;
    out->tensors = tensors;
    out->reps = reps;
}

/* ", <exps per second>, <fraction of the exp roofline>" for exp-bound ops. */
static void print_exps(FILE *f, const bench_result *r) {
    if (r->exps <= 0) return;
    const double per_s = r->exps / r->median_s;
    fprintf(f, "  %.2f Gexp/s", per_s * 1e-9);
    if (r->exp_roofline > 0) {
        fprintf(f, " %5.1f%% of %.2f Gexp/s", 100.0 * per_s / r->exp_roofline,
                r->exp_roofline * 1e-9);
    }
}

void bench_print(FILE *f, const bench_result *r, bool json) {
    const double fraction = r->roofline_gbps > 0 ? r->gbps / r->roofline_gbps : 0.0;
    const double gflops = r->flops > 0 ? r->flops / r->median_s * 1e-9 : 0.0;
    const double vs_baseline = r->baseline_s > 0 ? r->median_s / r->baseline_s : 0.0;
    const double gexps = r->exps > 0 ? r->exps / r->median_s * 1e-9 : 0.0;
    const double exp_fraction = r->exp_roofline > 0 ? gexps * 1e9 / r->exp_roofline : 0.0;
    if (json) {
        fprintf(f,
                "{\"op\":\"%s\",\"variant\":\"%s\",\"backend\":\"%s\",\"device\":\"%s\","
                "\"numel\":%lld,\"tensors\":%d,\"reps\":%d,\"median_s\":%.9g,\"min_s\":%.9g,"
                "\"bytes\":%.0f,\"bytes_per_element\":%.4g,\"gbps\":%.6g,\"roofline_gbps\":%.6g,"
                "\"roofline_fraction\":%.4f,\"flops\":%.0f,\"gflops\":%.6g,\"baseline\":\"%s\","
                "\"baseline_s\":%.9g,\"time_vs_baseline\":%.4f,\"exps\":%.0f,\"gexps\":%.6g,"
                "\"exp_roofline_gexps\":%.6g,\"exp_roofline_fraction\":%.4f}\n",
                r->op, r->variant, r->backend, r->device, (long long)r->numel, r->tensors, r->reps,
                r->median_s, r->min_s, r->bytes, r->bytes / (double)r->numel, r->gbps,
                r->roofline_gbps, fraction, r->flops, gflops, r->baseline ? r->baseline : "",
                r->baseline_s, vs_baseline, r->exps, gexps, r->exp_roofline * 1e-9, exp_fraction);
        fflush(f);
        return;
    }
    if (r->flops > 0) {
        fprintf(f,
                "%-19s %-16s %-5s n=%-11lld tensors=%-4d             median %10.4f ms  "
                "%8.2f GFLOP/s",
                r->op, r->variant, r->backend, (long long)r->numel, r->tensors, r->median_s * 1e3,
                gflops);
        if (r->baseline) {
            fprintf(f, "  %.2fx the time of %s (%.4f ms)", vs_baseline, r->baseline,
                    r->baseline_s * 1e3);
        }
    } else if (r->bytes == 0 && r->baseline) { /* a time against another's */
        fprintf(f,
                "%-19s %-16s %-5s n=%-11lld tensors=%-4d             median %10.4f ms  "
                "%.3fx the time of %s (%.4f ms)",
                r->op, r->variant, r->backend, (long long)r->numel, r->tensors, r->median_s * 1e3,
                vs_baseline, r->baseline, r->baseline_s * 1e3);
    } else {
        fprintf(f,
                "%-19s %-16s %-5s n=%-11lld tensors=%-4d %3.0f B/elem  median %10.4f ms  "
                "%8.2f GB/s  %5.1f%% of %.2f GB/s roofline",
                r->op, r->variant, r->backend, (long long)r->numel, r->tensors,
                r->bytes / (double)r->numel, r->median_s * 1e3, r->gbps, 100.0 * fraction,
                r->roofline_gbps);
    }
    if (r->op != NULL && strcmp(r->op, "exp") != 0) print_exps(f, r);
    fprintf(f, "\n");
    fflush(f);
}
