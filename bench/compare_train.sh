#!/usr/bin/env bash
# The native trainer against PyTorch, measured back to back in one run (docs/performance-train.md): the FMA peak
# (BM_FmaPeak), the C++ training step (BM_TrainStep, batch 4 x context 64) and its PyTorch twin
# (bench/pytorch_train_step.py), then per (model, threads) the ratio C++ / PyTorch and the FLOP floor
# 6 x tokens x params / FMA peak at the same thread count. Usage:
#   bench/compare_train.sh [BUILD_DIR (default build)] [OUT_DIR (default BUILD_DIR/compare-train)]
# Environment: MODELS="gpt2 tiny" (default both), THREADS="1 2", PT_WARMUP=3, PT_STEPS=10 (PyTorch steps; the
# C++ benchmark runs its own 3 x 5 steps), PT_FLAGS (e.g. --as-shipped). OPENBLAS_CORETYPE and OMP_WAIT_POLICY are
# left as found and apply to both. Run it on an idle machine: the load average is printed before and after.
set -euo pipefail
build=${1:-build}
out=${2:-$build/compare-train}
bin=$build/gaincell_bench
here=$(cd "$(dirname "$0")" && pwd)
models=${MODELS:-gpt2 tiny}
threads=${THREADS:-1 2}
die() { echo "compare_train: $*" >&2; exit 1; }
[ -x "$bin" ] || die "expected $bin (configure with -DGAINCELL_BUILD_BENCHMARKS=ON), not found"
[ -x /usr/bin/python3 ] || die "expected /usr/bin/python3 (Debian python3-torch), not found"
for m in $models; do
  case $m in gpt2 | tiny) ;; *) die "expected MODELS from gpt2, tiny, got $m" ;; esac
done
mkdir -p "$out"

list() { tr ' ' '\n' <<< "$1" | grep -v '^$' | paste -sd"$2"; }  # list "1 2" "|" -> "1|2"
model_ids=$(list "$(sed 's/gpt2/0/g; s/tiny/1/g' <<< "$models")" "|")  # BM_TrainStep's model argument
load() { cut -d' ' -f1-3 /proc/loadavg; }

{
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
  echo "OPENBLAS_CORETYPE: ${OPENBLAS_CORETYPE-(unset)}, OMP_WAIT_POLICY: ${OMP_WAIT_POLICY-(unset)}"
  echo "load before: $(load)"
} | tee "$out/machine.txt"
awk '$1 >= 1.3 { printf "compare_train: warning: load %s >= 1.3, the timings are not citable\n", $1 }' /proc/loadavg >&2

echo "== FMA peak (load $(load))"
"$bin" --benchmark_filter="BM_FmaPeak/threads:($(list "$threads" "|"))/" --benchmark_out="$out/fma.json" \
  --benchmark_out_format=json | tee "$out/fma.txt"
echo "== C++ BM_TrainStep (load $(load))"
"$bin" --benchmark_filter="BM_TrainStep/model:($model_ids)/threads:($(list "$threads" "|"))/" \
  --benchmark_out="$out/train_cpp.json" --benchmark_out_format=json | tee "$out/train_cpp.txt"
echo "== PyTorch (load $(load))"
# shellcheck disable=SC2086  # PT_FLAGS is a list of flags
/usr/bin/python3 "$here/pytorch_train_step.py" --models "$(list "$models" ,)" --threads "$(list "$threads" ,)" \
  --warmup "${PT_WARMUP:-3}" --steps "${PT_STEPS:-10}" ${PT_FLAGS:-} | tee "$out/pytorch.jsonl"
echo "load after: $(load)" | tee -a "$out/machine.txt"

/usr/bin/python3 - "$out" << 'PY' | tee "$out/summary.md"
import json, pathlib, re, sys

out = pathlib.Path(sys.argv[1])


def medians(name):
    """{(model or None, threads): median aggregate} of a Google Benchmark JSON file (arguments from the name)."""
    rows = {}
    for b in json.loads((out / name).read_text())["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") == "median":
            model = re.search(r"/model:(\d+)/", b["run_name"])
            threads = int(re.search(r"/threads:(\d+)/", b["run_name"]).group(1))
            rows[(("gpt2", "tiny")[int(model.group(1))] if model else None, threads)] = b
    return rows


def ms(x):
    return "n/a" if x is None else "%.0f" % x if x >= 100 else "%.1f" % x


def ratio(a, b):
    return "n/a" if a is None or b is None else "%.2f" % (a / b)


fma = {t: b["GFLOP/s"] for (_, t), b in medians("fma.json").items()}
cpp = {key: b["ms/step"] for key, b in medians("train_cpp.json").items()}
pt = [json.loads(line) for line in (out / "pytorch.jsonl").read_text().splitlines() if line.strip()]
print("| model | threads | C++ ms/step | PyTorch ms/step | C++ / PyTorch | FMA peak GFLOP/s "
      "| FLOP floor ms (6 x tokens x params / peak) | C++ / floor | PyTorch / floor |")
print("|---|---|---|---|---|---|---|---|---|")
for p in pt:
    c, peak = cpp.get((p["model"], p["threads"])), fma.get(p["threads"])
    floor = 6.0 * p["batch"] * p["context"] * p["params"] / (peak * 1e9) * 1e3 if peak else None
    print("| %s (%.1fM) | %d | %s | %s | %s | %s | %s | %s | %s |" % (
        p["model"], p["params"] / 1e6, p["threads"], ms(c), ms(p["median_ms"]), ratio(c, p["median_ms"]),
        ms(peak), ms(floor), ratio(c, floor), ratio(p["median_ms"], floor)))
if pt:
    print("\nPyTorch %s (OpenBLAS core %s, tuned malloc %s): median of %d steps after %d warm-up; C++: median of "
          "3 repetitions x 5 steps; FMA peak: median of 7." % (pt[0]["torch"], pt[0]["openblas_core"],
                                                               pt[0]["tuned_malloc"], pt[0]["steps"], pt[0]["warmup"]))
PY
