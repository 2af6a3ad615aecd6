#!/usr/bin/python3
"""Writes tests/data/sinkhorn_divergence_pot.txt: pairs of point clouds and their Sinkhorn
divergences, from POT.

Needs Debian's python3-pot (0.8.2) and python3-numpy:
    /usr/bin/python3 tests/reference/sinkhorn_divergence_pot_reference.py
Inputs are drawn in float32 (written as hex floats, so the C test reads the same bits).
`linear` is POT's ot.bregman.empirical_sinkhorn_divergence (its three <P, M> terms combined,
before its clamp at 0); `entropic` is the same combination of the entropic objective
<P, M> + eps sum P (log P - 1), with each plan from ot.bregman.sinkhorn_log run to 1e-13.
"""
import os

import numpy as np
import ot

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "sinkhorn_divergence_pot.txt")

CASES = [
    # name, metric, batch, n, m, dim, eps
    ("sqeuclidean", "sqeuclidean", 2, 16, 12, 3, 0.1),
    ("euclidean", "euclidean", 2, 9, 11, 2, 0.2),
]


def hexes(values):
    return " ".join(float(np.float32(v)).hex() for v in np.ravel(values))


def entropic(a, b, M, eps):
    P = ot.bregman.sinkhorn_log(a, b, M, eps, numItermax=200000, stopThr=1e-13)
    return float((P * M).sum() + eps * (P * (np.log(P) - 1.0)).sum())


def main():
    rng = np.random.default_rng(20261123)
    lines = [
        "# Pairs of point clouds (float32 inputs) and POT %s's Sinkhorn divergences." % ot.__version__,
        "# Written by tests/reference/sinkhorn_divergence_pot_reference.py; read by",
        "# tests/test_sinkhorn_divergence.c. case <name> <metric> <batch> <n> <m> <dim> <eps>,",
        "# then per problem: a, b, x, y (inputs), linear, entropic (float64 values)",
    ]
    for name, metric, batch, n, m, dim, eps in CASES:
        lines.append("case %s %s %d %d %d %d %r" % (name, metric, batch, n, m, dim, eps))
        for p in range(batch):
            a = rng.uniform(0.2, 1.0, n).astype(np.float32)
            b = rng.uniform(0.2, 1.0, m).astype(np.float32)
            a = (a / a.sum()).astype(np.float32)
            b = (b / b.sum()).astype(np.float32)
            x = rng.uniform(-1.0, 1.0, (n, dim)).astype(np.float32)
            y = rng.uniform(-1.0, 1.0, (m, dim)).astype(np.float32)
            a64, x64, y64 = a.astype(np.float64), x.astype(np.float64), y.astype(np.float64)
            # b at a's mass in float64, as the solvers' balanced problems need.
            b64 = b.astype(np.float64) * (a64.sum() / b.astype(np.float64).sum())
            _, log = ot.bregman.empirical_sinkhorn_divergence(
                x64, y64, eps, a64, b64, metric=metric, numIterMax=200000, log=True)
            linear = log["sinkhorn_loss_ab"] - 0.5 * (log["sinkhorn_loss_a"] + log["sinkhorn_loss_b"])
            d = lambda u, v: ot.dist(u, v, metric=metric)
            ent = entropic(a64, b64, d(x64, y64), eps) - 0.5 * (
                entropic(a64, a64, d(x64, x64), eps) + entropic(b64, b64, d(y64, y64), eps))
            lines.append("a %d %s" % (p, hexes(a)))
            lines.append("b %d %s" % (p, hexes(b)))
            lines.append("x %d %s" % (p, hexes(x)))
            lines.append("y %d %s" % (p, hexes(y)))
            lines.append("linear %d %r" % (p, float(linear)))
            lines.append("entropic %d %r" % (p, float(ent)))
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
