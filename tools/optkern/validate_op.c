/* validate_op.c — running the ops of validate_op.h and judging them. */
#include "validate_op.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

output validate_failed(optk_context *ctx, const char *what, output o) {
    fprintf(stderr, "optkern validate: %s on %s: %s\n", what,
            optk_backend_name(optk_context_backend(ctx)), optk_context_last_error(ctx));
    free(o.got);
    return (output){NULL, 0};
}

int validate_run_ops(const validate_op *ops, size_t count, optk_context *cpu, optk_context *cuda,
                     uint64_t seed, const char *only, int *ran) {
    int failures = 0;
    for (size_t k = 0; k < count; ++k) {
        const validate_op *op = &ops[k];
        if (only && !cli_listed(only, op->name)) continue;
        output mine = op->run(cuda ? cuda : cpu, seed);
        bool ok = mine.got != NULL;
        cli_comparison c = {0};
        const bool exact = op->cuda_abs_tol == 0.0 && op->cuda_rel_tol == 0.0;
        if (cuda) {
            output theirs = op->run(cpu, seed);
            ok = ok && theirs.got && theirs.n == mine.n;
            if (ok) {
                c = cli_compare(mine.got, theirs.got, mine.n);
                for (size_t i = 0; i < mine.n && ok; ++i) {
                    const double d = fabs((double)mine.got[i] - theirs.got[i]);
                    const double allowed =
                        op->cuda_abs_tol + op->cuda_rel_tol * fabs(theirs.got[i]);
                    ok = exact ? c.exact : d <= allowed;
                }
            }
            free(theirs.got);
        } else {
            reference r = op->ref(cpu, seed);
            ok = ok && r.want && r.n == mine.n;
            if (ok) {
                c = cli_compare64(mine.got, r.want, mine.n);
                for (size_t i = 0; i < mine.n && ok; ++i)
                    ok = fabs((double)mine.got[i] - r.want[i]) <= r.tol[i];
            }
            free(r.want);
            free(r.tol);
        }
        cli_print_row(op->name, cuda ? (exact ? "cuda=cpu" : "cuda~cpu") : "cpu~f64", &c, ok);
        failures += !ok;
        ++*ran;
        free(mine.got);
    }
    return failures;
}
