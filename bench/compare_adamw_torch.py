#!/usr/bin/env python3
"""AdamW side by side: PyTorch's torch.optim.AdamW (fused=True where the installed PyTorch
has it for the device, and foreach=True) against optkern's fused multi-tensor AdamW (through
ctypes), on the same tensors, in one process, timed the same way.

Workloads: (a) one tensor of 2^28 elements (--big-log2 to change), (b) the 148 parameter
tensors of GPT-2 124M. Timing: CUDA events around each step (host clock on the CPU),
warm-up, median of --reps steps. One JSON object per line goes to --out (and a table to
stdout).

    python3 bench/compare_adamw_torch.py --lib build/src/liboptkern.so --device cuda \
        --out bench/results/compare_adamw.jsonl

On a machine without a GPU, --device cpu runs the same comparison on the CPU backend
(PyTorch's fused AdamW needs CUDA in older PyTorch versions; it is skipped where absent).
"""
import argparse
import ctypes
import json
import sys

import torch

from optkern_structs import OPTK_BACKEND_CPU, OPTK_BACKEND_CUDA, AdamWOptions, ParamTensor
from torch_timing import median_time


def gpt2_124m_shapes():
    d, v, ctx, layers = 768, 50257, 1024, 12
    shapes = [(v, d), (ctx, d)]
    for _ in range(layers):
        shapes += [(d,), (d,), (d, 3 * d), (3 * d,), (d, d), (d,), (d,), (d,), (d, 4 * d),
                   (4 * d,), (4 * d, d), (d,)]
    return shapes + [(d,), (d,)]


class Optkern:
    def __init__(self, lib_path, device):
        self.lib = ctypes.CDLL(lib_path)
        self.lib.optk_context_create.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int,
                                                 ctypes.c_int]
        self.lib.optk_context_last_error.restype = ctypes.c_char_p
        self.lib.optk_context_last_error.argtypes = [ctypes.c_void_p]
        self.lib.optk_adamw_step.argtypes = [ctypes.c_void_p, ctypes.POINTER(AdamWOptions),
                                             ctypes.c_int64, ctypes.POINTER(ParamTensor),
                                             ctypes.c_int]
        self.lib.optk_version_string.restype = ctypes.c_char_p
        self.ctx = ctypes.c_void_p()
        backend = OPTK_BACKEND_CUDA if device == "cuda" else OPTK_BACKEND_CPU
        if self.lib.optk_context_create(ctypes.byref(self.ctx), backend, 0) != 0:
            raise RuntimeError(self.lib.optk_context_last_error(None).decode())

    def stepper(self, params, grads, ms, vs, opts):
        n = len(params)
        tensors = (ParamTensor * n)()
        for i in range(n):
            tensors[i].numel = params[i].numel()
            tensors[i].param = params[i].data_ptr()
            tensors[i].grad = grads[i].data_ptr()
            tensors[i].state[0] = ms[i].data_ptr()
            tensors[i].state[1] = vs[i].data_ptr()
        state = {"t": 0}

        def step():
            state["t"] += 1
            status = self.lib.optk_adamw_step(self.ctx, ctypes.byref(opts), state["t"], tensors, n)
            if status != 0:
                raise RuntimeError(self.lib.optk_context_last_error(self.ctx).decode())
        return step


def copy_bandwidth(device, reps):
    n = (1 << 28) if device == "cuda" else (1 << 26)
    src = torch.rand(n, device=device)
    dst = torch.empty_like(src)
    seconds = median_time(lambda: dst.copy_(src), device, 3, reps)
    return 2 * 4 * n / seconds / 1e9


def make_tensors(shapes, device, seed):
    g = torch.Generator(device="cpu").manual_seed(seed)
    params = [torch.rand(s, generator=g).mul_(2).sub_(1).to(device) for s in shapes]
    grads = [torch.rand(s, generator=g).sub_(0.5).mul_(0.02).to(device) for s in shapes]
    return params, grads


def run(workload, shapes, args, optkern, roofline, emit):
    numel = sum(torch.Size(s).numel() for s in shapes)
    bytes_moved = 28.0 * numel
    variants = ["foreach", "fused", "optkern"]
    for variant in variants:
        params, grads = make_tensors(shapes, args.device, 1)
        if variant == "optkern":
            ms = [torch.zeros_like(p) for p in params]
            vs = [torch.zeros_like(p) for p in params]
            opts = AdamWOptions(1e-3, 0.9, 0.999, 1e-8, 1e-2, False, False)
            step = optkern.stepper(params, grads, ms, vs, opts)
        else:
            for p, g in zip(params, grads):
                p.grad = g
            kwargs = {"foreach": True} if variant == "foreach" else {"fused": True}
            try:
                opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-2, **kwargs)
                opt.step()
            except (TypeError, RuntimeError, ValueError) as e:
                print("%-10s %-8s skipped: %s" % (workload, variant, str(e).splitlines()[0]))
                continue
            step = opt.step
        seconds = median_time(step, args.device, 5, args.reps)
        record = {"workload": workload, "variant": variant, "device": args.device_name,
                  "torch": torch.__version__, "tensors": len(shapes), "numel": numel,
                  "median_s": seconds, "gbps": bytes_moved / seconds / 1e9,
                  "copy_gbps": roofline, "roofline_fraction": bytes_moved / seconds / 1e9 / roofline}
        emit(record)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lib", default="build/src/liboptkern.so")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--big-log2", type=int, default=28)
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--skip-gpt2", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.manual_seed(0)
    if args.device == "cpu":
        # optkern's CPU backend is single-threaded; PyTorch's idle OpenMP workers would also
        # spin and take the second core from it on small machines. Like for like: one thread.
        torch.set_num_threads(1)
    args.device_name = (torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu")
    optkern = Optkern(args.lib, args.device)
    roofline = copy_bandwidth(args.device, args.reps)
    out = open(args.out, "w") if args.out else None
    results = []

    def emit(record):
        results.append(record)
        line = json.dumps(record)
        if out:
            out.write(line + "\n")
        print("%-10s %-8s %4d tensors %11d params  median %9.4f ms  %8.1f GB/s  %5.1f%% of copy"
              % (record["workload"], record["variant"], record["tensors"], record["numel"],
                 record["median_s"] * 1e3, record["gbps"], 100 * record["roofline_fraction"]))
        sys.stdout.flush()

    print("optkern %s vs torch %s on %s; copy bandwidth %.1f GB/s (read + write)"
          % (optkern.lib.optk_version_string().decode(), torch.__version__, args.device_name,
             roofline))
    run("big", [(1 << args.big_log2,)], args, optkern, roofline, emit)
    if not args.skip_gpt2:
        run("gpt2-124m", gpt2_124m_shapes(), args, optkern, roofline, emit)
    for workload in sorted({r["workload"] for r in results}):
        by = {r["variant"]: r["median_s"] for r in results if r["workload"] == workload}
        for base in ("fused", "foreach"):
            if base in by and "optkern" in by:
                print("%-10s optkern is %.2fx faster than torch %s" % (workload, by[base] / by["optkern"], base))
    if out:
        out.close()


if __name__ == "__main__":
    main()
