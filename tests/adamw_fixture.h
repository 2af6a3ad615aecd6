/* adamw_fixture.h — a list of parameter tensors in guarded backend buffers, with the host
 * copies a reference needs: what the AdamW tests share. */
#ifndef OPTK_TEST_ADAMW_FIXTURE_H
#define OPTK_TEST_ADAMW_FIXTURE_H

#include "harness.h"

typedef struct adamw_fixture {
    optk_context *ctx;
    int count;
    int nstate;
    int64_t *numel;
    test_buffer *param, *grad, *state[OPTK_MAX_STATE];
    optk_param_tensor *tensors; /* what optk_adamw_step receives */
    float **host_param;         /* initial values */
    float **host_grad;          /* the gradients of the current step */
} adamw_fixture;

/* Tensors of the given sizes; parameters uniform in [-1, 1] from seed, states zero. With
 * misalign, every buffer starts one float past a 256-byte boundary (no vector loads). */
adamw_fixture adamw_fixture_new(optk_context *ctx, int count, const int64_t *numel, int nstate,
                                uint64_t seed, bool misalign);

/* Draws the gradients of step t (|g| in [1e-3, 1], random sign) and uploads them. */
void adamw_fixture_set_grads(adamw_fixture *f, int64_t step, uint64_t seed);

/* Downloads tensor t's parameter and state s (s < 0: the parameter) into out. */
void adamw_fixture_read(const adamw_fixture *f, int t, int s, float *out);

/* Fails the test if any buffer was written outside its elements. */
void adamw_fixture_check_guards(const adamw_fixture *f);

void adamw_fixture_free(adamw_fixture *f);

#endif /* OPTK_TEST_ADAMW_FIXTURE_H */
