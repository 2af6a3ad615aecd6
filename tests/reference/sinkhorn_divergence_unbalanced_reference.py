#!/usr/bin/python3
"""Writes tests/data/sinkhorn_divergence_unbalanced.txt: pairs of point clouds of different
masses and their KL-relaxed Sinkhorn divergences, from an independent float64 transcription of
the definition (Séjourné et al. 2019, the one GeomLoss and OTT implement):

    S(a, b) = OT(a, b) - OT(a, a) / 2 - OT(b, b) / 2 + eps / 2 (m(a) - m(b))^2,
    OT(a, b) = min_P <P, C> + eps KL(P | a x b) + rho KL(P 1 | a) + rho KL(P^T 1 | b),

with KL(p | q) = sum p log(p / q) - p + q. Each OT is solved here by alternating log-domain
updates of its dual potentials (F = -tau eps LSE_j(log b_j + (G_j - C_ij) / eps), tau =
rho / (rho + eps), and likewise G) until they move less than 1e-14, and evaluated in its
primal form from the plan P_ij = a_i b_j exp((F_i + G_j - C_ij) / eps) — not the dual
shortcut the library uses. Needs python3-numpy only:
    /usr/bin/python3 tests/reference/sinkhorn_divergence_unbalanced_reference.py
Inputs are drawn in float32 (written as hex floats, so the C test reads the same bits).
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "sinkhorn_divergence_unbalanced.txt")

CASES = [
    # name, metric, batch, n, m, dim, eps, rho, mass of a, mass of b
    ("sqeuclidean", "sqeuclidean", 2, 14, 10, 2, 0.1, 1.0, 1.0, 1.5),
    ("euclidean", "euclidean", 2, 9, 12, 3, 0.2, 0.5, 1.0, 0.7),
]


def hexes(values):
    return " ".join(float(np.float32(v)).hex() for v in np.ravel(values))


def cost(x, y, metric):
    d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    return d2 if metric == "sqeuclidean" else np.sqrt(d2)


def lse(v, axis):
    top = v.max(axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.exp(v - top).sum(axis=axis))


def kl(p, q):
    return float((p * np.log(p / q) - p + q).sum())


def ot_value(a, b, C, eps, rho):
    tau = rho / (rho + eps)
    F, G = np.zeros(len(a)), np.zeros(len(b))
    for _ in range(200000):
        F_new = -tau * eps * lse(np.log(b)[None, :] + (G[None, :] - C) / eps, axis=1)
        G_new = -tau * eps * lse(np.log(a)[:, None] + (F_new[:, None] - C) / eps, axis=0)
        change = max(np.abs(F_new - F).max(), np.abs(G_new - G).max())
        F, G = F_new, G_new
        if change < 1e-14:
            break
    P = a[:, None] * b[None, :] * np.exp((F[:, None] + G[None, :] - C) / eps)
    return (float((P * C).sum()) + eps * kl(P, a[:, None] * b[None, :]) +
            rho * kl(P.sum(1), a) + rho * kl(P.sum(0), b))


def main():
    rng = np.random.default_rng(20261124)
    lines = [
        "# Pairs of point clouds (float32 inputs) of different masses and their KL-relaxed",
        "# Sinkhorn divergences (float64). Written by",
        "# tests/reference/sinkhorn_divergence_unbalanced_reference.py; read by",
        "# tests/test_sinkhorn_divergence.c. case <name> <metric> <batch> <n> <m> <dim> <eps> <rho>,",
        "# then per problem: a, b, x, y (inputs), divergence",
    ]
    for name, metric, batch, n, m, dim, eps, rho, mass_a, mass_b in CASES:
        lines.append("case %s %s %d %d %d %d %r %r" % (name, metric, batch, n, m, dim, eps, rho))
        for p in range(batch):
            a = rng.uniform(0.2, 1.0, n)
            b = rng.uniform(0.2, 1.0, m)
            a = (a * (mass_a / a.sum())).astype(np.float32)
            b = (b * (mass_b / b.sum())).astype(np.float32)
            x = rng.uniform(-1.0, 1.0, (n, dim)).astype(np.float32)
            y = rng.uniform(-1.0, 1.0, (m, dim)).astype(np.float32)
            a64, b64 = a.astype(np.float64), b.astype(np.float64)
            x64, y64 = x.astype(np.float64), y.astype(np.float64)
            s = (ot_value(a64, b64, cost(x64, y64, metric), eps, rho)
                 - 0.5 * ot_value(a64, a64, cost(x64, x64, metric), eps, rho)
                 - 0.5 * ot_value(b64, b64, cost(y64, y64, metric), eps, rho)
                 + 0.5 * eps * (a64.sum() - b64.sum()) ** 2)
            lines.append("a %d %s" % (p, hexes(a)))
            lines.append("b %d %s" % (p, hexes(b)))
            lines.append("x %d %s" % (p, hexes(x)))
            lines.append("y %d %s" % (p, hexes(y)))
            lines.append("divergence %d %r" % (p, s))
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
