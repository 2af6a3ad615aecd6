/* validate_op.h — one op of `optkern validate` beyond the optimizer rules: how to run it on a
 * backend, its float64 reference, and how close CUDA must come to the CPU. */
#ifndef OPTK_VALIDATE_OP_H
#define OPTK_VALIDATE_OP_H

#include "cli.h"

/* An op's output on a backend, as floats. */
typedef struct output {
    float *got; /* NULL: the op failed (its message printed) */
    size_t n;
} output;

/* The float64 reference and the tolerance of the CPU's output against it. */
typedef struct reference {
    double *want, *tol; /* tol: allowed |got - want| per element */
    size_t n;
} reference;

typedef struct validate_op {
    const char *name;
    output (*run)(optk_context *ctx, uint64_t seed);
    reference (*ref)(optk_context *cpu, uint64_t seed);
    double cuda_abs_tol, cuda_rel_tol; /* CUDA vs CPU: |d| <= abs + rel |cpu| (0, 0: exact) */
} validate_op;

/* Prints why an op failed on ctx, frees o's buffer and returns a failed output. */
output validate_failed(optk_context *ctx, const char *what, output o);

/* Runs the ops (those named in `only`; NULL: all): CUDA against the CPU when cuda is given,
 * else the CPU against the float64 references; one table row each. Returns the failures and
 * adds the ops run to *ran. */
int validate_run_ops(const validate_op *ops, size_t count, optk_context *cpu, optk_context *cuda,
                     uint64_t seed, const char *only, int *ran);

#endif /* OPTK_VALIDATE_OP_H */
