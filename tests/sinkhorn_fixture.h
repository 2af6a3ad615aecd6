/* sinkhorn_fixture.h — what the Sinkhorn tests share: a batch of problems on the host, a
 * solve through guarded backend buffers, random problems, and the bit-for-bit comparison
 * of two backends' answers. */
#ifndef OPTK_TEST_SINKHORN_FIXTURE_H
#define OPTK_TEST_SINKHORN_FIXTURE_H

#include "harness.h"

/* A batch on the host. */
typedef struct host_problem {
    int64_t batch, n, m, dim;
    optk_ot_cost cost;
    float *a, *b, *c, *x, *y;
} host_problem;

/* What a solve returned, on the host. */
typedef struct host_result {
    float *f, *g, *plan, *error, *cost, *objective;
    int32_t *iterations, *converged;
} host_result;

void result_free(host_result *r);

/* Uploads h, solves with o (warm: f0, g0 as starting potentials), downloads everything and
 * checks every buffer's guard zones. A self problem (h->y == h->x, h->b == h->a) is passed as
 * one: y and b the same backend buffers as x and a. */
optk_status solve(optk_context *ctx, const host_problem *h, const optk_sinkhorn_options *o,
                  const float *f0, const float *g0, host_result *r);

/* A random balanced batch: weights in [0.2, 1] normalised per problem, costs in [0, range]
 * (dense) or points in [-1, 1]^dim. */
host_problem random_problem(int64_t batch, int64_t n, int64_t m, optk_ot_cost cost, int64_t dim,
                            float range, uint64_t seed);

void free_problem(host_problem *h);

/* Point `index` of problem p's side (0: a, 1: b) padded: its weight 0, the side's other
 * weights rescaled to keep its mass. */
void pad_point(host_problem *h, int64_t p, int side, int64_t index);

/* C_ij of problem p in double: the dense entry, or from the points. */
double cost64(const host_problem *h, int64_t p, int64_t i, int64_t j);

/* The c-transform in double at row r of problem p from the columns' potential pot (with
 * transpose: at column r from the rows'), over the other side's nonzero weights:
 * -tau eps log sum exp((pot - C) / eps), a running maximum keeping it in range. */
double ctransform64(const host_problem *h, int64_t p, int64_t r, const float *pot, bool transpose,
                    double eps, double tau);

/* Problems first .. first + count - 1 of h as a batch of their own (a view: h's buffers). */
host_problem problems_of(const host_problem *h, int64_t first, int64_t count);

/* Problem p's part of a batch's result r (a view: r's buffers). */
host_result result_of(const host_problem *h, const host_result *r, int64_t p);

/* mine (a backend's) is ref (the CPU's) bit for bit: potentials, plans, statistics. */
void assert_same_bits(const host_problem *h, const host_result *mine, const host_result *ref,
                      const char *what);

/* Reads `count` floats (hex or decimal) after "<key> <p> " on a line of a reference data
 * file's text `after` (a case's part of it). */
void fixture_read_floats(const char *after, const char *key, int64_t p, float *out, size_t count);

#endif /* OPTK_TEST_SINKHORN_FIXTURE_H */
