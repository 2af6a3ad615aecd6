/* reference_data.h — what the tests that replay committed reference data share: the inputs
 * the reference scripts generate (tests/reference/hashed_inputs.py), regenerated bit for bit,
 * and reading a data file. */
#ifndef OPTK_TEST_REFERENCE_DATA_H
#define OPTK_TEST_REFERENCE_DATA_H

#include <stdint.h>

/* Input `kind` (0 parameter, 1 gradient, 2 positive curvature, 3 |curvature estimate|) of
 * element i of tensor `tensor` at step `step` of config `config`: splitmix64 of the packed
 * key, mapped to a value exact in float32 (1 in 32 parameters and gradients are zero). */
float ref_input(uint64_t kind, uint64_t config, uint64_t step, uint64_t tensor, uint64_t i);

/* The whole file under tests/data/ as a NUL-terminated string (fails the test if missing). */
char *ref_read_data_file(const char *name);

#endif /* OPTK_TEST_REFERENCE_DATA_H */
