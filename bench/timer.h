/* timer.h — one interval timer per backend: the host clock for the CPU, CUDA events on the
 * context's stream for CUDA (so that queued work, not launch calls, is what is timed). */
#ifndef OPTK_BENCH_TIMER_H
#define OPTK_BENCH_TIMER_H

#include "optkern.h"

typedef struct bench_timer bench_timer;

optk_status bench_timer_new(optk_context *ctx, bench_timer **out);
optk_status bench_timer_start(bench_timer *t);
/* Stops the interval and returns its length in seconds (waits for the device). */
optk_status bench_timer_stop(bench_timer *t, double *seconds);
void bench_timer_free(bench_timer *t);

#endif /* OPTK_BENCH_TIMER_H */
