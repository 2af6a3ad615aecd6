/* parallel.h — splitting independent items (Sinkhorn problems, ...) over CPU threads.
 *
 * Item k always goes to the same worker and is computed by the same code as on one thread,
 * so results do not depend on the thread count: it changes speed, never bits. The count is
 * the machine's online cores, capped by the items, or OPTKERN_CPU_THREADS when set (>= 1).
 */
#ifndef OPTK_CPU_PARALLEL_H
#define OPTK_CPU_PARALLEL_H

#include <stdint.h>

/* Runs items [begin, end) as worker `worker` (0 .. workers - 1); returns 0 or an error code
 * (the first nonzero one of any worker is what optk_cpu_parallel returns). */
typedef int (*optk_cpu_task)(void *arg, int64_t begin, int64_t end, int worker);

/* Workers for `items` independent items. */
int optk_cpu_workers(int64_t items);

/* task over [0, items) in `workers` contiguous slices, worker w on slice w; the calling
 * thread runs slice 0. Falls back to one thread if a thread cannot be started. */
int optk_cpu_parallel(int64_t items, int workers, optk_cpu_task task, void *arg);

#endif /* OPTK_CPU_PARALLEL_H */
