/* probes.h — the Hutchinson probe layout both backends share (see optkern/hutchinson.h). */
#ifndef OPTK_COMMON_PROBES_H
#define OPTK_COMMON_PROBES_H

#include "defs.h"

/* The Philox subsequence of probe `probe` of step `step`. */
OPTK_HD uint64_t optk_probe_subsequence(uint64_t step, uint64_t probe) {
    return (step << 24) | probe;
}

/* A Rademacher entry from its Philox word: +1 if the element's bit is set, else -1. */
OPTK_HD float optk_rademacher(uint32_t word, int64_t element) {
    return ((word >> (element & 31)) & 1u) ? 1.0f : -1.0f;
}

/* cuRAND's uniform mappings for Box-Muller (curand_normal4): u in (0, 1], v in (0, 2 pi). */
OPTK_HD float optk_box_muller_u(uint32_t x) {
    return optk_u32_to_f32(x) * 2.3283064e-10f + (2.3283064e-10f / 2.0f);
}
OPTK_HD float optk_box_muller_v(uint32_t y) {
    return optk_u32_to_f32(y) * (2.3283064e-10f * 6.2831855f) +
           ((2.3283064e-10f * 6.2831855f) / 2.0f);
}

#endif /* OPTK_COMMON_PROBES_H */
