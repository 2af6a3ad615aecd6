#!/usr/bin/python3
"""Writes tests/data/sinkhorn_pot.txt: small batches of OT problems and POT's answers.

Needs Debian's python3-pot (0.8.2) and python3-numpy:
    /usr/bin/python3 tests/reference/sinkhorn_pot_reference.py
Inputs are drawn in float32 (written as hex floats, so the C test reads the same bits); POT
solves each problem in float64 to 1e-13 with ot.bregman.sinkhorn_log (balanced) or
ot.unbalanced.sinkhorn_unbalanced (KL marginals of strength reg_m = rho). The potentials are
written in cost units (f = reg * log u, g = reg * log v), with the plan and <P, M>.
"""
import os

import numpy as np
import ot

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "sinkhorn_pot.txt")

CASES = [
    # name, cost, batch, n, m, dim, eps, rho, cost range
    ("dense", "dense", 3, 7, 5, 0, 0.1, 0.0, 1.0),
    ("sqeuclidean", "sqeuclidean", 2, 16, 12, 3, 0.05, 0.0, 0.0),
    ("euclidean", "euclidean", 2, 9, 9, 2, 0.2, 0.0, 0.0),
    ("small_eps", "dense", 1, 20, 20, 0, 0.01, 0.0, 2.0),
    ("unbalanced", "dense", 2, 6, 8, 0, 0.1, 1.0, 1.0),
]


def hexes(values):
    return " ".join(float(np.float32(v)).hex() for v in np.ravel(values))


def cost_matrix(kind, x, y, c):
    if kind == "dense":
        return c.astype(np.float64)
    d2 = ((x[:, None, :].astype(np.float64) - y[None, :, :]) ** 2).sum(-1)
    return d2 if kind == "sqeuclidean" else np.sqrt(d2)


def main():
    rng = np.random.default_rng(20261122)
    lines = [
        "# Batched OT problems (float32 inputs) and POT %s's float64 answers." % ot.__version__,
        "# Written by tests/reference/sinkhorn_pot_reference.py; read by tests/test_sinkhorn.c.",
        "# case <name> <cost> <batch> <n> <m> <dim> <eps> <rho>, then per problem:",
        "# a, b, c or x and y (inputs), f, g (potentials, cost units), plan, cost (<P, M>)",
    ]
    for name, kind, batch, n, m, dim, eps, rho, crange in CASES:
        lines.append("case %s %s %d %d %d %d %r %r" % (name, kind, batch, n, m, dim, eps, rho))
        for p in range(batch):
            a = rng.uniform(0.2, 1.0, n).astype(np.float32)
            b = rng.uniform(0.2, 1.0, m).astype(np.float32)
            if rho == 0.0:  # balanced: both sum to 1 (in float32, then exactly in float64)
                a = (a / a.sum()).astype(np.float32)
                b = (b / b.sum()).astype(np.float32)
                b64 = b.astype(np.float64) * (a.astype(np.float64).sum() / b.astype(np.float64).sum())
            else:
                b = (1.5 * b / b.sum()).astype(np.float32)  # more mass on one side
                b64 = b.astype(np.float64)
            a64 = a.astype(np.float64)
            lines.append("a %d %s" % (p, hexes(a)))
            lines.append("b %d %s" % (p, hexes(b)))
            x = y = c = None
            if kind == "dense":
                c = rng.uniform(0.0, crange, (n, m)).astype(np.float32)
                lines.append("c %d %s" % (p, hexes(c)))
            else:
                x = rng.uniform(-1.0, 1.0, (n, dim)).astype(np.float32)
                y = rng.uniform(-1.0, 1.0, (m, dim)).astype(np.float32)
                lines.append("x %d %s" % (p, hexes(x)))
                lines.append("y %d %s" % (p, hexes(y)))
            M = cost_matrix(kind, x, y, c)
            if rho == 0.0:
                P, log = ot.bregman.sinkhorn_log(a64, b64, M, eps, numItermax=200000,
                                                 stopThr=1e-13, log=True)
                f, g = eps * log["log_u"], eps * log["log_v"]
            else:
                P, log = ot.unbalanced.sinkhorn_unbalanced(a64, b64, M, eps, rho,
                                                           numItermax=200000, stopThr=1e-14,
                                                           log=True)
                f, g = eps * log["logu"], eps * log["logv"]
            lines.append("f %d %s" % (p, hexes(f)))
            lines.append("g %d %s" % (p, hexes(g)))
            lines.append("plan %d %s" % (p, hexes(P)))
            lines.append("cost %d %s" % (p, hexes([(P * M).sum()])))
    with open(OUT, "w") as out:
        out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
