#!/usr/bin/env python3
"""Batched Sinkhorn side by side: a batched log-domain Sinkhorn written in PyTorch (the way
POT's batched solver works: torch.logsumexp over a materialised B x n x m cost) against
optkern's optk_sinkhorn (through ctypes), on the same problems, in one process, the same
number of iterations (no early stop), timed the same way.

Workloads: (a) many small dense problems (4096 of 64 x 64: optkern's on-chip solver on
CUDA), (b) point clouds (64 problems of 1024 x 1024 points in 3-D: optkern computes the
costs on the fly, PyTorch materialises them with torch.cdist). Timing: CUDA events (host
clock on the CPU), warm-up, median of --reps solves. The potentials of both are compared
(they run the same iterations from zero, so they must agree to fp32 rounding). One JSON
object per line goes to --out (and a table to stdout).

    python3 bench/compare_sinkhorn_torch.py --lib build/src/liboptkern.so --device cuda \\
        --out bench/results/compare_sinkhorn.jsonl

--device cpu runs the same comparison on the CPU backend (smaller sizes with --small).
"""
import argparse
import json

import torch

from optkern_structs import OPTK_COST_DENSE, OPTK_COST_SQEUCLIDEAN, Options, Outputs, Problem
from sinkhorn_ctypes import Optkern as OptkernContext
from torch_timing import median_time


class Optkern(OptkernContext):
    """optk_sinkhorn on torch tensors."""

    def solver(self, a, b, cost_or_points, dense, eps, iterations):
        batch, n = a.shape
        m = b.shape[1]
        f = torch.empty_like(a)
        g = torch.empty_like(b)
        if dense:
            problem = Problem(batch, n, m, a.data_ptr(), b.data_ptr(), OPTK_COST_DENSE,
                              cost_or_points.data_ptr(), None, None, 0)
        else:
            x, y = cost_or_points
            problem = Problem(batch, n, m, a.data_ptr(), b.data_ptr(), OPTK_COST_SQEUCLIDEAN,
                              None, x.data_ptr(), y.data_ptr(), x.shape[2])
        options = Options.fixed_iterations(eps, iterations)  # the default solver
        outputs = Outputs(f.data_ptr(), g.data_ptr(), None, None, None, None, None, None)

        def solve():
            self.sinkhorn(problem, options, outputs)
            return f, g
        return solve


def torch_solver(a, b, cost, eps, iterations):
    """Log-domain Sinkhorn on B x n x m: g then f per iteration, as optkern orders them."""
    log_a, log_b = torch.log(a), torch.log(b)

    def solve():
        f = torch.zeros_like(a)
        g = torch.zeros_like(b)
        for _ in range(iterations):
            g = eps * log_b - eps * torch.logsumexp((f[:, :, None] - cost) / eps, dim=1)
            f = eps * log_a - eps * torch.logsumexp((g[:, None, :] - cost) / eps, dim=2)
        return f, g
    return solve




def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lib", default="build/src/liboptkern.so")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--small", action="store_true", help="CPU-sized workloads")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    dev = args.device
    optkern = Optkern(args.lib, dev)
    gen = torch.Generator().manual_seed(2026)
    small = args.small or dev == "cpu"
    workloads = [("dense-small", 64 if small else 4096, 64, True, 0.05),
                 ("sqeuclid-large", 4 if small else 64, 256 if small else 1024, False, 0.05)]
    out = open(args.out, "w") if args.out else None
    print("%-16s %-9s %12s %12s %9s %12s" % ("workload", "device", "torch ms", "optkern ms",
                                            "speedup", "max |df|"))
    for name, batch, n, dense, eps in workloads:
        a = torch.full((batch, n), 1.0 / n).to(dev)
        b = torch.full((batch, n), 1.0 / n).to(dev)
        if dense:
            cost = torch.rand(batch, n, n, generator=gen).to(dev)
            data = cost
        else:
            x = (2 * torch.rand(batch, n, 3, generator=gen) - 1).to(dev)
            y = (2 * torch.rand(batch, n, 3, generator=gen) - 1).to(dev)
            cost = torch.cdist(x, y) ** 2
            data = (x.contiguous(), y.contiguous())
        ours = optkern.solver(a, b, data, dense, eps, args.iterations)
        theirs = torch_solver(a, b, cost, eps, args.iterations)
        f1, _ = ours()
        f2, _ = theirs()
        if dev == "cuda":
            torch.cuda.synchronize()
        shift = (f1 - f2).mean(dim=1, keepdim=True)  # potentials agree up to a constant
        diff = float((f1 - f2 - shift).abs().max())
        t_ours = median_time(ours, dev, 2, args.reps)
        t_torch = median_time(theirs, dev, 2, args.reps)
        record = {"workload": name, "device": dev, "batch": batch, "n": n, "m": n,
                  "iterations": args.iterations, "torch_s": t_torch, "optkern_s": t_ours,
                  "speedup": t_torch / t_ours, "max_abs_diff_f": diff,
                  "torch": torch.__version__,
                  "gpu": torch.cuda.get_device_name() if dev == "cuda" else "cpu"}
        print("%-16s %-9s %12.3f %12.3f %8.1fx %12.2e" % (name, dev, t_torch * 1e3, t_ours * 1e3,
                                                          t_torch / t_ours, diff))
        if out:
            out.write(json.dumps(record) + "\n")
    if out:
        out.close()


if __name__ == "__main__":
    main()
