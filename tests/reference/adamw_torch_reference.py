#!/usr/bin/env python3
"""Writes tests/data/adamw_torch.txt: AdamW trajectories from PyTorch, for test_adamw_torch.c.

Run with a Python that has PyTorch (Debian: apt-get install python3-torch; then
/usr/bin/python3 tests/reference/adamw_torch_reference.py). CI only reads the committed file.

Parameters and gradients come from an integer hash (splitmix64) mapped to floats that are
exactly representable in float32, so the C test regenerates the very same inputs and the
file needs to hold only the checkpoints: every parameter and state after steps 1, 10, 50
and 100, as hex floats.
"""
import os
import sys

import torch

from hashed_inputs import value

SIZES = [1, 383, 616]  # three tensors, one call
STEPS = 100
CHECKPOINTS = [1, 10, 50, 100]
# name, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize
CONFIGS = [
    ("defaults", 1e-3, 0.9, 0.999, 1e-8, 1e-2, False, False),
    ("amsgrad_decay", 1e-2, 0.9, 0.999, 1e-8, 0.1, True, False),
    ("maximize_betas_eps", 5e-3, 0.8, 0.99, 1e-6, 0.0, False, True),
]


def tensor_values(kind, config, step, t):
    return torch.tensor([value(kind, config, step, t, i) for i in range(SIZES[t])],
                        dtype=torch.float32)


def main():
    torch.set_num_threads(1)
    out_path = os.path.join(os.path.dirname(__file__), "..", "data", "adamw_torch.txt")
    lines = [
        "# AdamW trajectories from torch.optim.AdamW(foreach=False), torch %s." % torch.__version__,
        "# Written by tests/reference/adamw_torch_reference.py; read by tests/test_adamw_torch.c.",
        "# config <index> <name> <lr> <beta1> <beta2> <eps> <weight_decay> <amsgrad> <maximize>",
        "# values <config> <step> <tensor> <param|m|v|vmax> <hex floats...>",
        "sizes %s" % " ".join(str(s) for s in SIZES),
    ]
    for c, (name, lr, b1, b2, eps, wd, amsgrad, maximize) in enumerate(CONFIGS):
        lines.append("config %d %s %r %r %r %r %r %d %d" %
                     (c, name, lr, b1, b2, eps, wd, int(amsgrad), int(maximize)))
        params = [tensor_values(0, c, 0, t).requires_grad_(True) for t in range(len(SIZES))]
        opt = torch.optim.AdamW(params, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd,
                                amsgrad=amsgrad, maximize=maximize, foreach=False)
        for step in range(1, STEPS + 1):
            for t, p in enumerate(params):
                p.grad = tensor_values(1, c, step, t)
            opt.step()
            if step not in CHECKPOINTS:
                continue
            for t, p in enumerate(params):
                state = opt.state[p]
                rows = [("param", p.detach()), ("m", state["exp_avg"]), ("v", state["exp_avg_sq"])]
                if amsgrad:
                    rows.append(("vmax", state["max_exp_avg_sq"]))
                for label, x in rows:
                    hexes = " ".join(float(v).hex() for v in x.tolist())
                    lines.append("values %d %d %d %s %s" % (c, step, t, label, hexes))
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %s (%d lines)" % (os.path.normpath(out_path), len(lines)), file=sys.stderr)


if __name__ == "__main__":
    main()
