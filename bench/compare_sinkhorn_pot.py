#!/usr/bin/env python3
"""Sinkhorn against POT side by side: POT's ot.bregman.sinkhorn_log (numpy, one problem per
call) against optkern's optk_sinkhorn (through ctypes, all problems in one call), on the
same problems, in one process, the same number of iterations (no early stop on either
side), timed the same way (host clock, warm-up, median of --reps).

Workload (issue 5's CPU target): B = 16 problems of 256 x 256, uniform weights, squared
Euclidean costs of random points in the unit square (in [0, 2]) given to both as dense
matrices, eps in {0.1, 0.02}. optkern runs twice: "optkern" is its default solver (blocks of
10 iterations in the kernel domain where safe), "optkern-log" every iteration in the log
domain (OPTK_SINKHORN_LOG_DOMAIN). The problems are split over the CPU's cores
(OPTKERN_CPU_THREADS to change it). POT runs in float32 (the precision optkern computes in)
and in float64 (its default); the potentials of every run are compared (up to the additive
constant) with POT float64's, and the marginal error of each is reported, so that "equal
iterations" is also "equal accuracy". One JSON object per line goes to --out, a table to
stdout.

    /usr/bin/python3 bench/compare_sinkhorn_pot.py --lib build/src/liboptkern.so \\
        --out bench/results/compare_sinkhorn_pot.jsonl
"""
import argparse
import ctypes
import json
import statistics
import time
import warnings

import numpy as np
import ot

from optkern_structs import (OPTK_COST_DENSE, OPTK_SINKHORN_LOG_DOMAIN, OPTK_SINKHORN_PLAIN,
                             Options, Outputs, Problem)
from sinkhorn_ctypes import Optkern


def median_seconds(run, warmup, reps):
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        run()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def address(array):
    return array.ctypes.data_as(ctypes.c_void_p)


def pot_solver(a, b, cost, eps, iterations, dtype):
    """POT's log-domain solver problem by problem; returns the potentials (B x n, B x m)."""
    a, b, cost = a.astype(dtype), b.astype(dtype), cost.astype(dtype)

    def solve():
        f = np.empty(a.shape, dtype)
        g = np.empty(b.shape, dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "did not converge": stopThr 0 never stops early
            for p in range(a.shape[0]):
                _, log = ot.bregman.sinkhorn_log(a[p], b[p], cost[p], eps, numItermax=iterations,
                                                 stopThr=0.0, log=True)
                f[p] = eps * log["log_u"]
                g[p] = eps * log["log_v"]
        return f, g
    return solve


def optkern_solver(optkern, a, b, cost, eps, iterations, solver):
    a, b, cost = (np.ascontiguousarray(x, np.float32) for x in (a, b, cost))
    batch, n = a.shape
    m = b.shape[1]
    f = np.empty((batch, n), np.float32)
    g = np.empty((batch, m), np.float32)
    problem = Problem(batch, n, m, address(a), address(b), OPTK_COST_DENSE, address(cost), None,
                      None, 0)
    options = Options.fixed_iterations(eps, iterations, solver)
    outputs = Outputs(address(f), address(g), None, None, None, None, None, None)

    inputs = (a, b, cost)  # the problem holds their addresses: keep them alive with it

    def solve():
        optkern.sinkhorn(problem, options, outputs)
        assert inputs
        return f, g
    return solve


def marginal_error(a, b, cost, eps, f, g):
    """Worst over problems of the L1 violation of both marginals of the plan of (f, g)."""
    f, g = f.astype(np.float64), g.astype(np.float64)
    plan = np.exp((f[:, :, None] + g[:, None, :] - cost) / eps)
    return float(max(np.abs(plan.sum(2) - a).sum(1).max(), np.abs(plan.sum(1) - b).sum(1).max()))


def max_potential_diff(f, f_ref):
    d = f.astype(np.float64) - f_ref
    d -= d.mean(axis=1, keepdims=True)  # potentials are defined up to a constant
    return float(np.abs(d).max())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lib", default="build/src/liboptkern.so")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    optkern = Optkern(args.lib, "cpu")
    rng = np.random.default_rng(2026)
    B, n = args.batch, args.n
    x = rng.random((B, n, 2))
    y = rng.random((B, n, 2))
    cost = ((x[:, :, None, :] - y[:, None, :, :]) ** 2).sum(-1)  # in [0, 2]
    a = np.full((B, n), 1.0 / n)
    b = np.full((B, n), 1.0 / n)
    out = open(args.out, "w") if args.out else None
    print("%-6s %-12s %12s %12s %9s %12s %12s" % ("eps", "solver", "ms/problem", "total ms",
                                                  "vs POT", "max |df|", "marg. err"))
    for eps in (0.1, 0.02):
        solvers = [("pot-float64", pot_solver(a, b, cost, eps, args.iterations, np.float64)),
                   ("pot-float32", pot_solver(a, b, cost, eps, args.iterations, np.float32)),
                   ("optkern-log", optkern_solver(optkern, a, b, cost, eps, args.iterations,
                                                  OPTK_SINKHORN_LOG_DOMAIN)),
                   ("optkern", optkern_solver(optkern, a, b, cost, eps, args.iterations,
                                              OPTK_SINKHORN_PLAIN))]
        f_ref, _ = solvers[0][1]()
        f_ref = f_ref.copy()
        times = {}
        for name, solve in solvers:
            f, g = solve()
            f, g = f.copy(), g.copy()
            seconds = median_seconds(solve, 1, args.reps)
            times[name] = seconds
            record = {"eps": eps, "solver": name, "batch": B, "n": n, "m": n,
                      "iterations": args.iterations, "total_s": seconds,
                      "per_problem_s": seconds / B,
                      "speedup_vs_pot_float64": times["pot-float64"] / seconds,
                      "speedup_vs_pot_float32": times.get("pot-float32", seconds) / seconds,
                      "max_abs_diff_f_vs_pot_float64": max_potential_diff(f, f_ref),
                      "marginal_error": marginal_error(a, b, cost, eps, f, g),
                      "pot": ot.__version__, "numpy": np.__version__,
                      "optkern": optkern.version()}
            print("%-6g %-12s %12.3f %12.2f %8.1fx %12.2e %12.2e" % (
                eps, name, seconds / B * 1e3, seconds * 1e3, record["speedup_vs_pot_float32"],
                record["max_abs_diff_f_vs_pot_float64"], record["marginal_error"]))
            if out:
                out.write(json.dumps(record) + "\n")
    if out:
        out.close()


if __name__ == "__main__":
    main()
