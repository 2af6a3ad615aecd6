#!/usr/bin/env python3
"""ES population forward side by side: naive full-rank ES written in PyTorch (a Gaussian
E_i of the layer's full shape per member, W + sigma E_i materialised, one batched matmul)
against optkern's EGGROLL forward (rank r, through ctypes) and its full-rank baseline, on the
same inputs, in one process, timed the same way.

Workload: N members (antithetic pairs in optkern; PyTorch draws every member's noise),
batch rows each, an m x n layer. Timing: CUDA events (host clock on the CPU), warm-up, median
of --reps forwards. One JSON object per line goes to --out (and a table to stdout).

    python3 bench/compare_es_torch.py --lib build/src/liboptkern.so --device cuda \\
        --out bench/results/compare_es.jsonl

Defaults: N = 4096, batch 16, 1024 x 1024, r = 1 on CUDA; N = 256 on the CPU. PyTorch's
naive forward needs N m n floats for the perturbed weights (16 GiB at the CUDA default):
--chunk splits the population so that it fits.
"""
import argparse
import ctypes
import json

import torch

from optkern_structs import OPTK_BACKEND_CPU, OPTK_BACKEND_CUDA, Key, Layer
from torch_timing import median_time

P = ctypes.c_void_p


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lib", default="build/src/liboptkern.so")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--members", type=int, default=0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--m", type=int, default=1024)
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--rank", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=256, help="members per PyTorch matmul")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    dev = args.device
    N = args.members or (4096 if dev == "cuda" else 256)
    m, n, batch, sigma = args.m, args.n, args.batch, 0.01
    lib = ctypes.CDLL(args.lib)
    lib.optk_context_create.argtypes = [ctypes.POINTER(P), ctypes.c_int, ctypes.c_int]
    lib.optk_context_last_error.restype = ctypes.c_char_p
    lib.optk_context_last_error.argtypes = [P]
    lib.optk_es_forward.argtypes = [P, ctypes.POINTER(Key), ctypes.POINTER(Layer), ctypes.c_int64,
                                    ctypes.c_int64, P, P]
    ctx = P()
    if lib.optk_context_create(ctypes.byref(ctx), OPTK_BACKEND_CUDA if dev == "cuda"
                               else OPTK_BACKEND_CPU, 0) != 0:
        raise RuntimeError(lib.optk_context_last_error(None).decode())

    gen = torch.Generator().manual_seed(7)
    W = (torch.rand(m, n, generator=gen) - 0.5).to(dev)
    X = (torch.rand(N, batch, n, generator=gen) - 0.5).to(dev)
    Y = torch.empty(N, batch, m, device=dev)
    key = Key(1, 0, 0)

    def optkern(rank):
        layer = Layer(m, n, rank, sigma, W.data_ptr(), None)

        def run():
            if lib.optk_es_forward(ctx, ctypes.byref(key), ctypes.byref(layer), N, batch,
                                   X.data_ptr(), Y.data_ptr()) != 0:
                raise RuntimeError(lib.optk_context_last_error(ctx).decode())
        return run

    def naive():
        """Full-rank ES as one would write it: noise per member, perturbed weights, bmm."""
        for first in range(0, N, args.chunk):
            k = min(args.chunk, N - first)
            E = torch.randn(k, m, n, device=dev)
            Wi = W.unsqueeze(0) + sigma * E
            torch.bmm(X[first:first + k], Wi.transpose(1, 2), out=Y[first:first + k])

    def plain():
        torch.matmul(X.reshape(N * batch, n), W.t(), out=Y.reshape(N * batch, m))

    results = {
        "torch naive full-rank ES": median_time(naive, dev, 1, args.reps),
        "torch plain matmul (no noise)": median_time(plain, dev, 2, args.reps),
        "optkern full-rank": median_time(optkern(0), dev, 1, args.reps),
        "optkern EGGROLL r=%d" % args.rank: median_time(optkern(args.rank), dev, 2, args.reps),
    }
    base = results["optkern EGGROLL r=%d" % args.rank]
    out = open(args.out, "w") if args.out else None
    print("%-32s %12s %12s %14s" % ("forward", "ms", "members/s", "vs EGGROLL"))
    for name, seconds in results.items():
        print("%-32s %12.3f %12.0f %13.1fx" % (name, seconds * 1e3, N / seconds, seconds / base))
        if out:
            out.write(json.dumps({"workload": "es-forward " + name, "device": dev, "members": N,
                                  "batch": batch, "m": m, "n": n, "rank": args.rank,
                                  "seconds": seconds, "members_per_s": N / seconds,
                                  "torch": torch.__version__}) + "\n")
    if out:
        out.close()


if __name__ == "__main__":
    main()
