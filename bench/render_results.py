#!/usr/bin/env python3
"""Renders `optkern bench --json` results (and the side-by-side scripts' JSON lines) into a
markdown table and PNG plots.

    python3 bench/render_results.py bench/results/<run>/*.jsonl --out bench/results/<run>/report

writes <out>.md (one table per op: variant, size, median, GB/s or GFLOP/s, fraction of the
roofline or time against the baseline) and, when matplotlib is installed, <out>-<op>.png
(throughput against size per variant, log-log) and <out>-compare.png (optkern against
PyTorch for the side-by-side records). Lines that are not JSON objects are skipped.
"""
import argparse
import collections
import json
import os


def load(paths):
    bench, compare, adamw, pot = [], [], [], []
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                record = json.loads(line)
                if "op" in record:
                    bench.append(record)
                elif "optkern_s" in record:  # compare_sinkhorn_torch.py
                    record["workload"] = "sinkhorn " + record["workload"]
                    compare.append(record)
                elif "workload" in record and "variant" in record and "median_s" in record:
                    adamw.append(record)  # compare_adamw_torch.py: one record per variant
                elif "solver" in record and "total_s" in record:
                    pot.append(record)  # compare_sinkhorn_pot.py: one record per solver
    # AdamW side by side: each PyTorch variant of a workload against optkern's.
    ours = {r["workload"]: r["median_s"] for r in adamw if r["variant"] == "optkern"}
    for r in adamw:
        if r["variant"] != "optkern" and r["workload"] in ours:
            compare.append({"workload": "adamw %s vs %s" % (r["workload"], r["variant"]),
                            "device": r.get("device", "?"), "torch_s": r["median_s"],
                            "optkern_s": ours[r["workload"]]})
    # Sinkhorn against POT: optkern's default solver against each POT precision, per eps.
    ours = {r["eps"]: r["total_s"] for r in pot if r["solver"] == "optkern"}
    for r in pot:
        if r["solver"].startswith("pot-") and r["eps"] in ours:
            compare.append({"workload": "sinkhorn %dx%d eps %g vs POT %s" % (
                r["batch"], r["n"], r["eps"], r["solver"][4:]), "device": "cpu",
                "torch_s": r["total_s"], "optkern_s": ours[r["eps"]]})
    return bench, compare


def throughput(r):
    """(value, unit): GB/s for memory-bound ops, GFLOP/s for compute-bound ones, and
    (None, None) for lines timed to a tolerance against a baseline (neither counted)."""
    if r.get("flops", 0) > 0:
        return r["flops"] / r["median_s"] * 1e-9, "GFLOP/s"
    if r.get("gbps", 0) > 0:
        return r["gbps"], "GB/s"
    return None, None


def table(bench, compare):
    lines = []
    by_op = collections.OrderedDict()
    for r in bench:
        by_op.setdefault(r["op"], []).append(r)
    for op, rows in by_op.items():
        r0 = rows[0]
        lines += ["### %s (%s, %s)" % (op, r0["backend"], r0["device"]), "",
                  "| variant | size | median | throughput | against |",
                  "| --- | --- | --- | --- | --- |"]
        for r in rows:
            value, unit = throughput(r)
            if r.get("baseline"):
                against = "%.2fx the time of %s" % (r["median_s"] / r["baseline_s"], r["baseline"])
            elif r.get("roofline_gbps", 0) > 0 and unit == "GB/s":
                against = "%.0f%% of %.1f GB/s roofline" % (100 * r["roofline_fraction"],
                                                            r["roofline_gbps"])
            else:
                against = ""
            if r.get("exps", 0) > 0 and r.get("exp_roofline_gexps", 0) > 0 and r["op"] != "exp":
                against += "%s%.0f%% of %.3g Gexp/s exp roofline" % (
                    "; " if against else "", 100 * r["exp_roofline_fraction"],
                    r["exp_roofline_gexps"])
            rate = "—" if value is None else "%.4g %s" % (value, unit)
            lines.append("| %s | %d | %.4g ms | %s | %s |" % (
                r["variant"], r["numel"], r["median_s"] * 1e3, rate, against))
        lines.append("")
    if compare:
        lines += ["### optkern against PyTorch and POT", "",
                  "| workload | device | baseline | optkern | speedup |",
                  "| --- | --- | --- | --- | --- |"]
        for r in compare:
            t_torch, t_ours, name = r["torch_s"], r["optkern_s"], r["workload"]
            lines.append("| %s | %s | %.4g ms | %.4g ms | %.2fx |" % (
                name, r.get("device", "?"), t_torch * 1e3, t_ours * 1e3,
                t_torch / t_ours if t_ours else 0.0))
        lines.append("")
    return "\n".join(lines)


def plots(bench, compare, out):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plots")
        return []
    written = []
    by_op = collections.OrderedDict()
    for r in bench:
        by_op.setdefault(r["op"], []).append(r)
    for op, rows in by_op.items():
        series = collections.OrderedDict()
        for r in rows:
            if throughput(r)[0] is not None:
                series.setdefault(r["variant"], []).append((r["numel"], throughput(r)))
        if all(len({p[0] for p in points}) < 2 for points in series.values()):
            continue  # one size per variant (or no rate): the table says it all
        fig, ax = plt.subplots(figsize=(7, 4.5))
        unit = "GB/s"
        for variant, points in series.items():
            points.sort()
            unit = points[0][1][1]
            ax.plot([p[0] for p in points], [p[1][0] for p in points], marker="o", label=variant)
        roof = [r["roofline_gbps"] for r in rows if r.get("roofline_gbps")]
        if roof and unit == "GB/s":
            ax.axhline(max(roof), color="gray", linestyle="--", label="roofline")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("elements")
        ax.set_ylabel(unit)
        ax.set_title("%s on %s" % (op, rows[0]["device"]))
        ax.legend(fontsize=7, ncol=2)
        path = "%s-%s.png" % (out, op.replace("+", "_"))
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    if compare:
        fig, ax = plt.subplots(figsize=(7, 4))
        names = [r["workload"] for r in compare]
        torch_ms = [r["torch_s"] * 1e3 for r in compare]
        ours_ms = [r["optkern_s"] * 1e3 for r in compare]
        xs = range(len(names))
        ax.bar([x - 0.2 for x in xs], torch_ms, width=0.4, label="baseline (PyTorch, POT)")
        ax.bar([x + 0.2 for x in xs], ours_ms, width=0.4, label="optkern")
        ax.set_xticks(list(xs))
        ax.set_xticklabels(names, rotation=20, fontsize=8)
        ax.set_ylabel("ms")
        ax.set_yscale("log")
        ax.legend()
        path = "%s-compare.png" % out
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--out", required=True, help="path prefix of the outputs")
    ap.add_argument("--no-plots", action="store_true", help="the table only")
    args = ap.parse_args()
    bench, compare = load(args.files)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".md", "w") as f:
        f.write(table(bench, compare))
    written = [args.out + ".md"] + ([] if args.no_plots else plots(bench, compare, args.out))
    print("\n".join(written))


if __name__ == "__main__":
    main()
