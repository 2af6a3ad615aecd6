/* cli.h — the optkern command's subcommands and the option parsing they share. */
#ifndef OPTK_CLI_H
#define OPTK_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "optkern.h"

int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_demo(int argc, char **argv);

/* Parses "cpu", "cuda" or "auto"; returns false for anything else. */
bool cli_parse_backend(const char *text, optk_backend *out);

/* Opens a context on backend (AUTO: CUDA when a device is present); prints why on failure. */
optk_context *cli_open_context(optk_backend backend);

/* ---- Reproducible inputs (cli_compare.c) -------------------------------------------------- */

/* splitmix64: the next value of the stream in *state. */
uint64_t cli_random_u64(uint64_t *state);

/* A float uniform in [lo, hi) from the stream (24 random bits). */
float cli_uniform(uint64_t *state, float lo, float hi);

/* ---- What validate's checks share (cli_compare.c) --------------------------------------- */

/* Whether name is one of the comma-separated names in list. */
bool cli_listed(const char *list, const char *name);

/* How far a result is from the one it is checked against. */
typedef struct cli_comparison {
    double max_abs, max_rel;
    uint64_t max_ulp;
    bool exact; /* every element bit-equal (against float64: equal after rounding to float) */
} cli_comparison;

cli_comparison cli_compare(const float *got, const float *want, size_t n);
cli_comparison cli_compare64(const float *got, const double *want, size_t n);

/* One line of validate's table. */
void cli_print_row(const char *op, const char *check, const cli_comparison *c, bool ok);

/* The Hutchinson ops (validate_hutchinson.c): CUDA against the CPU, or without cuda the CPU
 * against float64 references; only the ops named in `only` (NULL: all). Returns failures and
 * adds the ops run to *ran. */
int validate_hutchinson(optk_context *cpu, optk_context *cuda, uint64_t seed, const char *only,
                        int *ran);

/* Batched Sinkhorn (validate_sinkhorn.c), the same way. */
int validate_sinkhorn(optk_context *cpu, optk_context *cuda, uint64_t seed, const char *only,
                      int *ran);

/* The point-cloud cost fill (validate_ot_cost.c), the same way. */
int validate_ot_cost(optk_context *cpu, optk_context *cuda, uint64_t seed, const char *only,
                     int *ran);

/* The exp throughput op (validate_roofline.c), the same way. */
int validate_roofline(optk_context *cpu, optk_context *cuda, uint64_t seed, const char *only,
                      int *ran);

/* EGGROLL (validate_es.c), the same way. */
int validate_es(optk_context *cpu, optk_context *cuda, uint64_t seed, const char *only, int *ran);

#endif /* OPTK_CLI_H */
