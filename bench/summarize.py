#!/usr/bin/env python3
"""Turns the Google Benchmark JSON files of bench/run_benchmarks.sh into one Markdown summary of medians."""
import json
import pathlib
import sys


def medians(path):
    data = json.loads(path.read_text())
    rows = {}
    for b in data["benchmarks"]:
        if b.get("run_type") != "aggregate" or b.get("aggregate_name") not in ("median", "min", "max"):
            continue
        name = b["run_name"].split("/iterations")[0].split("/min_time")[0].split("/repeats")[0]
        rows.setdefault(name, {})[b["aggregate_name"]] = b
    return data["context"], rows


def fmt(x, digits=3):
    if isinstance(x, float):
        return "" if x != x else f"{x:.{digits}g}"
    return str(x)


def table(title, rows, cols):
    out = [f"### {title}", "", "| benchmark | " + " | ".join(c for c, _ in cols) + " |",
           "|---" * (len(cols) + 1) + "|"]
    for name, agg in rows.items():
        med = agg.get("median", {})
        cells = []
        for _, key in cols:
            if key == "time":
                cells.append(f"{fmt(med.get('real_time', float('nan')))} {med.get('time_unit', '')}")
            elif key == "label":
                cells.append(med.get("label", ""))
            elif key.startswith("best:"):
                k = key[5:]
                best = agg.get("max" if k in ("GFLOP/s", "GB/s", "items_per_second") else "min", {})
                cells.append(fmt(best.get(k, float("nan"))))
            else:
                cells.append(fmt(med.get(key, float("nan"))))
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main(folder):
    folder = pathlib.Path(folder)
    print(f"# gaincell benchmark summary ({folder})\n")
    print("```\n" + (folder / "machine.txt").read_text() + "```\n")
    print("Medians of the repetitions; 'best' is the best repetition.\n")
    specs = {
        "ceilings": [("median GFLOP/s", "GFLOP/s"), ("best GFLOP/s", "best:GFLOP/s"),
                     ("median GB/s", "GB/s"), ("best GB/s", "best:GB/s")],
        "matmul": [("layer", "label"), ("time", "time"), ("GFLOP/s", "GFLOP/s"), ("best GFLOP/s", "best:GFLOP/s"),
                   ("of FMA peak", "peak_frac"), ("weight GB/s", "wGB/s")],
        "engine": [("model", "label"), ("time/iter", "time"), ("tokens/s", "items_per_second"),
                   ("ms/token", "ms/token"), ("x FMA peak (prompt)", "x_peak"),
                   ("best ms/token", "best:ms/token"), ("bound ms", "bound_ms"), ("x bound", "x_bound"),
                   ("x bound incl. KV", "x_bound_kv"), ("x bound (read BW)", "x_bound_read")],
    }
    for path in sorted(folder.glob("*.json")):
        context, rows = medians(path)
        kind = "engine" if path.stem.startswith("engine") else path.stem
        if path.stem == sorted(folder.glob("*.json"))[0].stem:
            keys = ["cpu_model", "gemm_backend", "OPENBLAS_CORETYPE", "OMP_WAIT_POLICY", "avx2_fma",
                    "loadavg_at_start", "num_cpus", "mhz_per_cpu"]
            print("Context: " + "; ".join(f"{k}={context.get(k)}" for k in keys) + "\n")
        print(table(f"{path.stem} (OMP_WAIT_POLICY={context.get('OMP_WAIT_POLICY')}, "
                    f"load at start {context.get('loadavg_at_start')})", rows, specs.get(kind, [])))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
