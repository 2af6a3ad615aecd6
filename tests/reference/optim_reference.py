#!/usr/bin/env python3
"""Writes tests/data/optim_reference.txt: trajectories of every optimizer rule over 100
steps, for tests/test_optim_reference.c.

- SGD, Adagrad, RMSprop, Adam, AdamW: PyTorch's own torch.optim classes (foreach=False).
- Signum, AdaBelief, diffGrad, Adan, Lion, Sophia, AdaHessian, Schedule-Free AdamW/SGD: a
  float64 numpy transcription of each official implementation (named at each function),
  written from the official code's structure, not from optkern's.

Run with a Python that has PyTorch and numpy (Debian: apt-get install python3-torch
python3-numpy; then /usr/bin/python3 tests/reference/optim_reference.py). CI only reads the
committed file. Inputs come from the same integer hash as adamw_torch_reference.py (exact in
float32), so the C test regenerates them; the file holds checkpoints only.
"""
import math
import os
import sys

import numpy as np
import torch

from hashed_inputs import value

SIZES = [1, 383, 216]
STEPS = 100
CHECKPOINTS = [1, 10, 100]

# name, rule, options (optkern's field names; unnamed fields keep optkern's defaults)
CONFIGS = [
    ("sgd_plain", "sgd", dict(lr=0.01)),
    ("sgd_nesterov_decay", "sgd", dict(lr=0.01, momentum=0.9, nesterov=1, weight_decay=0.01)),
    ("sgd_dampening_maximize", "sgd", dict(lr=0.01, momentum=0.8, dampening=0.3, maximize=1)),
    ("adagrad", "adagrad", dict(lr=0.05, lr_decay=1e-3, weight_decay=0.01,
                                initial_accumulator_value=0.1, eps=1e-10)),
    ("rmsprop", "rmsprop", dict(lr=1e-3, alpha=0.99, eps=1e-8)),
    ("rmsprop_centered_momentum", "rmsprop", dict(lr=1e-3, alpha=0.9, eps=1e-8, centered=1,
                                                  momentum=0.9, weight_decay=0.01)),
    ("adam_l2_amsgrad", "adam", dict(lr=1e-3, weight_decay=0.05, amsgrad=1)),
    ("adamw_maximize", "adamw", dict(lr=2e-3, weight_decay=0.1, maximize=1)),
    ("signum", "signum", dict(lr=1e-3, momentum=0.9, weight_decay=0.01)),
    ("signsgd", "signum", dict(lr=1e-3, momentum=0.0)),
    ("adabelief", "adabelief", dict(lr=1e-3, eps=1e-16)),
    ("adabelief_unrectified_coupled", "adabelief", dict(lr=1e-3, eps=1e-5, rectify=0,
                                                        weight_decouple=0, weight_decay=0.01)),
    ("adabelief_fixed_decay", "adabelief", dict(lr=1e-3, eps=1e-16, fixed_decay=1,
                                                weight_decay=1e-3, beta2=0.99)),
    ("diffgrad", "diffgrad", dict(lr=1e-3, weight_decay=0.01)),
    ("adan", "adan", dict(lr=1e-3, weight_decay=0.02)),
    ("adan_no_prox", "adan", dict(lr=1e-3, weight_decay=0.02, no_prox=1)),
    ("lion", "lion", dict(lr=1e-4, weight_decay=0.1)),
    ("sophia", "sophia", dict(lr=1e-3, rho=0.04, batch_tokens=480.0, weight_decay=0.1)),
    ("adahessian", "adahessian", dict(lr=0.15, weight_decay=1e-3)),
    ("adahessian_power_0_7", "adahessian", dict(lr=0.05, hessian_power=0.7)),
    ("schedule_free_adamw", "schedule_free_adamw", dict(lr=0.0025, warmup_steps=10)),
    ("schedule_free_adamw_r_decay", "schedule_free_adamw", dict(lr=0.005, r=0.5,
                                                                weight_decay=0.01)),
    ("schedule_free_sgd", "schedule_free_sgd", dict(lr=0.1, momentum=0.9, warmup_steps=5,
                                                    weight_decay=1e-3)),
]

DEFAULTS = {  # optkern's defaults for the fields these transcriptions read
    "sgd": dict(momentum=0.0, dampening=0.0, nesterov=0, weight_decay=0.0, maximize=0),
    "adagrad": dict(lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                    maximize=0),
    "rmsprop": dict(alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=0, maximize=0),
    "adam": dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=0, maximize=0),
    "adamw": dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, amsgrad=0, maximize=0),
    "signum": dict(momentum=0.9, weight_decay=0.0),
    "adabelief": dict(beta1=0.9, beta2=0.999, eps=1e-16, weight_decay=0.0, weight_decouple=1,
                      fixed_decay=0, rectify=1, degenerated_to_sgd=1),
    "diffgrad": dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0),
    "adan": dict(beta1=0.98, beta2=0.92, beta3=0.99, eps=1e-8, weight_decay=0.0, no_prox=0),
    "lion": dict(beta1=0.9, beta2=0.99, weight_decay=0.0),
    "sophia": dict(beta1=0.965, beta2=0.99, rho=0.04, weight_decay=0.1),
    "adahessian": dict(beta1=0.9, beta2=0.999, eps=1e-4, weight_decay=0.0, hessian_power=1.0),
    "schedule_free_adamw": dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                                warmup_steps=0, r=0.0, weight_lr_power=2.0),
    "schedule_free_sgd": dict(momentum=0.9, weight_decay=0.0, warmup_steps=0, r=0.0,
                              weight_lr_power=2.0),
}


def values(kind, config, step, t):
    return np.array([value(kind, config, step, t, i) for i in range(SIZES[t])], dtype=np.float64)


# ---- float64 transcriptions of the official implementations -------------------------------

def signum_step(o, p, g, st, t):
    """Signum (Bernstein et al.; MXNet's Signum): momentum on g, decoupled decay, sign step."""
    if o["momentum"] != 0:
        st["m"] = o["momentum"] * st["m"] + (1 - o["momentum"]) * g
        m = st["m"]
    else:
        m = g
    p = p * (1 - o["lr"] * o["weight_decay"])
    return p - o["lr"] * np.sign(m)


def adabelief_step(o, p, g, st, t):
    """adabelief_pytorch 0.2.0 AdaBelief.step."""
    lr, b1, b2, eps, wd = o["lr"], o["beta1"], o["beta2"], o["eps"], o["weight_decay"]
    if o["weight_decouple"]:
        p = p * (1.0 - wd) if o["fixed_decay"] else p * (1.0 - lr * wd)
    elif wd != 0:
        g = g + wd * p
    bias_correction1 = 1 - b1 ** t
    bias_correction2 = 1 - b2 ** t
    st["m"] = st["m"] * b1 + (1 - b1) * g
    residual = g - st["m"]
    st["s"] = st["s"] * b2 + (1 - b2) * residual * residual
    st["s"] = st["s"] + eps
    denom = np.sqrt(st["s"]) / math.sqrt(bias_correction2) + eps
    if not o["rectify"]:
        return p - (lr / bias_correction1) * st["m"] / denom
    beta2_t = b2 ** t
    n_sma_max = 2 / (1 - b2) - 1
    n_sma = n_sma_max - 2 * t * beta2_t / (1 - beta2_t)
    if n_sma >= 5:
        step_size = math.sqrt((1 - beta2_t) * (n_sma - 4) / (n_sma_max - 4) * (n_sma - 2) / n_sma *
                              n_sma_max / (n_sma_max - 2)) / (1 - b1 ** t)
        return p - step_size * lr * st["m"] / (np.sqrt(st["s"]) + eps)
    if o["degenerated_to_sgd"]:
        return p - (1.0 / (1 - b1 ** t)) * lr * st["m"]
    return p


def diffgrad_step(o, p, g, st, t):
    """diffGrad official v2 (shivram1987/diffGrad)."""
    b1, b2 = o["beta1"], o["beta2"]
    if o["weight_decay"] != 0:
        g = g + o["weight_decay"] * p
    st["m"] = st["m"] * b1 + (1 - b1) * g
    st["v"] = st["v"] * b2 + (1 - b2) * g * g
    denom = np.sqrt(st["v"]) + o["eps"]
    bias_correction1 = 1 - b1 ** t
    bias_correction2 = 1 - b2 ** t
    diff = np.abs(st["prev_grad"] - g)
    dfc = 1.0 / (1.0 + np.exp(-diff))
    st["prev_grad"] = g.copy()
    step_size = o["lr"] * math.sqrt(bias_correction2) / bias_correction1
    return p - step_size * (st["m"] * dfc) / denom


def adan_step(o, p, g, st, t):
    """sail-sg/Adan, _multi_tensor_adan (code betas), written as ALGORITHMS.md fixes it."""
    lr, b1, b2, b3, eps, wd = (o["lr"], o["beta1"], o["beta2"], o["beta3"], o["eps"],
                               o["weight_decay"])
    if t == 1:
        st["prev_grad"] = g.copy()
    diff = g - st["prev_grad"]
    bc1, bc2, bc3 = 1 - b1 ** t, 1 - b2 ** t, 1 - b3 ** t
    st["m"] = st["m"] * b1 + (1 - b1) * g
    st["d"] = st["d"] * b2 + (1 - b2) * diff
    update = g + b2 * diff
    st["n"] = st["n"] * b3 + (1 - b3) * update * update
    denom = np.sqrt(st["n"]) / math.sqrt(bc3) + eps
    u = (lr / bc1) * st["m"] / denom + (lr * b2 / bc2) * st["d"] / denom
    if o["no_prox"]:
        p = p * (1 - lr * wd) - u
    else:
        p = (p - u) / (1 + lr * wd)
    st["prev_grad"] = g.copy()
    return p


def lion_step(o, p, g, st, t):
    """google/automl lion_pytorch.py."""
    p = p * (1 - o["lr"] * o["weight_decay"])
    update = st["m"] * o["beta1"] + g * (1 - o["beta1"])
    p = p - o["lr"] * np.sign(update)
    st["m"] = st["m"] * o["beta2"] + g * (1 - o["beta2"])
    return p


def sophia_step(o, p, g, st, t):
    """Liuhong99/Sophia SophiaG._single_tensor_sophiag (h given, not updated here)."""
    p = p * (1 - o["lr"] * o["weight_decay"])
    st["m"] = st["m"] * o["beta1"] + (1 - o["beta1"]) * g
    ratio = np.minimum(np.abs(st["m"]) / (o["rho"] * o["batch_tokens"] * st["h"] + 1e-15), 1.0)
    return p - o["lr"] * np.sign(st["m"]) * ratio


def adahessian_step(o, p, g, st, t):
    """amirgholami/adahessian AdaHessian.step, with hut_trace = D given."""
    b1, b2, k = o["beta1"], o["beta2"], o["hessian_power"]
    st["m"] = st["m"] * b1 + (1 - b1) * g
    st["v"] = st["v"] * b2 + (1 - b2) * st["D"] * st["D"]
    bias_correction1 = 1 - b1 ** t
    bias_correction2 = 1 - b2 ** t
    denom = (np.sqrt(st["v"]) / math.sqrt(bias_correction2)) ** k + o["eps"]
    return p - o["lr"] * (st["m"] / bias_correction1 / denom + o["weight_decay"] * p)


class ScheduleFree:
    """facebookresearch/schedule_free AdamWScheduleFree / SGDScheduleFree (>= 1.3) step."""

    def __init__(self, o, adaptive):
        self.o, self.adaptive, self.k = o, adaptive, 0
        self.lr_max, self.weight_sum = -1.0, 0.0

    def scalars(self):
        o, k = self.o, self.k
        warmup = o["warmup_steps"]
        sched = (k + 1) / warmup if k < warmup else 1.0
        lr = o["lr"] * sched
        self.lr_max = max(lr, self.lr_max)
        weight = ((k + 1) ** o["r"]) * (self.lr_max ** o["weight_lr_power"])
        self.weight_sum = self.weight_sum + weight
        ckp1 = weight / self.weight_sum if self.weight_sum != 0 else 0.0
        self.k = k + 1
        return lr, ckp1

    def step(self, p, g, st, lr, ckp1):
        o = self.o
        beta1 = o["beta1"] if self.adaptive else o["momentum"]
        if self.adaptive:
            bias_correction2 = 1 - o["beta2"] ** self.k
            st["v"] = st["v"] * o["beta2"] + (1 - o["beta2"]) * g * g
            u = g / (np.sqrt(st["v"] / bias_correction2) + o["eps"])
        else:
            u = g.copy()
        if o["weight_decay"] != 0:
            u = u + o["weight_decay"] * p
        y = p + ckp1 * (st["z"] - p)
        y = y + lr * (beta1 * (1 - ckp1) - 1) * u
        st["z"] = st["z"] - lr * u
        return y

    def eval_point(self, p, st):
        beta1 = self.o["beta1"] if self.adaptive else self.o["momentum"]
        return p + (1 - 1 / beta1) * (st["z"] - p)


NUMPY_STEPS = {"signum": signum_step, "adabelief": adabelief_step, "diffgrad": diffgrad_step,
               "adan": adan_step, "lion": lion_step, "sophia": sophia_step,
               "adahessian": adahessian_step}
STATE_NAMES = {  # optkern's state order and names (optk_optim_state_name)
    "signum": ["m"], "adabelief": ["m", "s"], "diffgrad": ["m", "v", "prev_grad"],
    "adan": ["m", "d", "n", "prev_grad"], "lion": ["m"], "sophia": ["m", "h"],
    "adahessian": ["m", "v", "D"], "schedule_free_adamw": ["z", "v"], "schedule_free_sgd": ["z"],
}


def short_hex(v):
    """The value rounded to float32 (the tests' tolerances are far above its rounding), as
    a hex float without trailing zeros."""
    h = float(np.float32(v)).hex()
    mantissa, exponent = h.split("p")
    mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
    return mantissa + "p" + exponent


def hexes(x):
    return " ".join(short_hex(v) for v in np.asarray(x, dtype=np.float64).tolist())


def run_numpy(c, rule, o, emit):
    params = [values(0, c, 0, t) for t in range(len(SIZES))]
    names = list(STATE_NAMES[rule])
    if rule == "signum" and o["momentum"] == 0:
        names = []
    states = [{n: np.zeros(SIZES[t]) for n in names + ["prev_grad"]} for t in range(len(SIZES))]
    sf = None
    if rule.startswith("schedule_free"):
        sf = ScheduleFree(o, rule == "schedule_free_adamw")
        for t in range(len(SIZES)):
            states[t]["z"] = params[t].copy()
    if rule == "sophia":
        for t in range(len(SIZES)):
            states[t]["h"] = values(2, c, 0, t)
    for step in range(1, STEPS + 1):
        scal = sf.scalars() if sf else None
        for t in range(len(SIZES)):
            g = values(1, c, step, t)
            if rule == "adahessian":
                states[t]["D"] = values(3, c, step, t)
            if sf:
                params[t] = sf.step(params[t], g, states[t], *scal)
            else:
                params[t] = NUMPY_STEPS[rule](o, params[t], g, states[t], step)
        if step in CHECKPOINTS:
            for t in range(len(SIZES)):
                emit(step, t, "param", params[t])
                for n in names:
                    emit(step, t, n, states[t][n])
                if sf and step == STEPS:
                    emit(step, t, "param_eval", sf.eval_point(params[t], states[t]))


def run_torch(c, rule, o, emit):
    params = [torch.tensor(values(0, c, 0, t), dtype=torch.float32).requires_grad_(True)
              for t in range(len(SIZES))]
    if rule == "sgd":
        opt = torch.optim.SGD(params, lr=o["lr"], momentum=o["momentum"], dampening=o["dampening"],
                              weight_decay=o["weight_decay"], nesterov=bool(o["nesterov"]),
                              maximize=bool(o["maximize"]), foreach=False)
        names = [("momentum_buffer", "momentum_buffer")] if o["momentum"] != 0 else []
    elif rule == "adagrad":
        opt = torch.optim.Adagrad(params, lr=o["lr"], lr_decay=o["lr_decay"],
                                  weight_decay=o["weight_decay"],
                                  initial_accumulator_value=o["initial_accumulator_value"],
                                  eps=o["eps"], maximize=bool(o["maximize"]), foreach=False)
        names = [("sum", "sum")]
    elif rule == "rmsprop":
        opt = torch.optim.RMSprop(params, lr=o["lr"], alpha=o["alpha"], eps=o["eps"],
                                  weight_decay=o["weight_decay"], momentum=o["momentum"],
                                  centered=bool(o["centered"]), maximize=bool(o["maximize"]),
                                  foreach=False)
        names = [("square_avg", "square_avg")]
        if o["centered"]:
            names.append(("grad_avg", "grad_avg"))
        if o["momentum"] > 0:
            names.append(("momentum_buffer", "momentum_buffer"))
    else:
        cls = torch.optim.Adam if rule == "adam" else torch.optim.AdamW
        opt = cls(params, lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"],
                  weight_decay=o["weight_decay"], amsgrad=bool(o["amsgrad"]),
                  maximize=bool(o["maximize"]), foreach=False)
        names = [("m", "exp_avg"), ("v", "exp_avg_sq")]
        if o["amsgrad"]:
            names.append(("vmax", "max_exp_avg_sq"))
    for step in range(1, STEPS + 1):
        for t, p in enumerate(params):
            p.grad = torch.tensor(values(1, c, step, t), dtype=torch.float32)
        opt.step()
        if step in CHECKPOINTS:
            for t, p in enumerate(params):
                emit(step, t, "param", p.detach().double().numpy())
                for ours, theirs in names:
                    emit(step, t, ours, opt.state[p][theirs].double().numpy())


def main():
    torch.set_num_threads(1)
    out_path = os.path.join(os.path.dirname(__file__), "..", "data", "optim_reference.txt")
    lines = [
        "# Optimizer trajectories, torch %s (SGD, Adagrad, RMSprop, Adam, AdamW) and float64"
        " numpy transcriptions of the official code (the others)." % torch.__version__,
        "# Written by tests/reference/optim_reference.py; read by tests/test_optim_reference.c.",
        "# config <index> <name> <rule> <source> <field>=<value>...",
        "# values <config> <step> <tensor> <param|param_eval|state name> <hex floats...>",
        "sizes %s" % " ".join(str(s) for s in SIZES),
    ]
    for c, (name, rule, given) in enumerate(CONFIGS):
        o = dict(DEFAULTS[rule])
        o.update(given)
        source = "numpy" if rule in NUMPY_STEPS or rule.startswith("schedule_free") else "torch"
        lines.append("config %d %s %s %s %s" % (c, name, rule, source,
                                                " ".join("%s=%r" % kv for kv in sorted(o.items()))))

        def emit(step, t, label, x, c=c):
            lines.append("values %d %d %d %s %s" % (c, step, t, label, hexes(x)))

        (run_numpy if source == "numpy" else run_torch)(c, rule, o, emit)
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %s (%d lines)" % (os.path.normpath(out_path), len(lines)), file=sys.stderr)


if __name__ == "__main__":
    main()
