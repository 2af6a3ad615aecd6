/* parallel.c — static slices of independent items over POSIX threads (see parallel.h). */
#define _POSIX_C_SOURCE 200809L
#include "parallel.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

enum { MAX_WORKERS = 64 };

int optk_cpu_workers(int64_t items) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    const char *env = getenv("OPTKERN_CPU_THREADS");
    if (env && atoi(env) >= 1) n = atoi(env);
    if (n < 1) n = 1;
    if (n > MAX_WORKERS) n = MAX_WORKERS;
    if (n > items) n = items < 1 ? 1 : (long)items;
    return (int)n;
}

typedef struct slice {
    optk_cpu_task task;
    void *arg;
    int64_t begin, end;
    int worker, result;
} slice;

static void *run_slice(void *p) {
    slice *s = p;
    s->result = s->task(s->arg, s->begin, s->end, s->worker);
    return NULL;
}

int optk_cpu_parallel(int64_t items, int workers, optk_cpu_task task, void *arg) {
    if (workers < 1) workers = 1;
    if (workers > MAX_WORKERS) workers = MAX_WORKERS;
    slice slices[MAX_WORKERS];
    pthread_t threads[MAX_WORKERS];
    int started[MAX_WORKERS] = {0};
    for (int w = 0; w < workers; ++w) {
        slices[w] = (slice){task, arg, items * w / workers, items * (w + 1) / workers, w, 0};
    }
    for (int w = 1; w < workers; ++w)
        started[w] = pthread_create(&threads[w], NULL, run_slice, &slices[w]) == 0;
    run_slice(&slices[0]);
    for (int w = 1; w < workers; ++w) {
        if (started[w])
            pthread_join(threads[w], NULL);
        else
            run_slice(&slices[w]); /* no thread to be had: this one does it */
    }
    for (int w = 0; w < workers; ++w) {
        if (slices[w].result != 0) return slices[w].result;
    }
    return 0;
}
