"""What the side-by-side scripts share: timing a callable the same way on both sides."""
import statistics
import time

import torch


def median_time(run, device, warmup, reps):
    """Median seconds of `reps` calls of run() after `warmup` calls: CUDA events around each
    call on a GPU (the device idle before it starts), the host clock on the CPU."""
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(reps):
        if device == "cuda":
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            start.record()
            run()
            stop.record()
            torch.cuda.synchronize()
            samples.append(start.elapsed_time(stop) * 1e-3)
        else:
            t0 = time.perf_counter()
            run()
            samples.append(time.perf_counter() - t0)
    return statistics.median(samples)
