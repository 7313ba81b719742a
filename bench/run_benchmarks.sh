#!/usr/bin/env bash
# Runs gaincell_bench and writes a summary (medians) to OUT/summary.md, with the raw JSON and console output
# next to it. Usage:
#   bench/run_benchmarks.sh [BUILD_DIR (default build-bench)] [OUT_DIR (default BUILD_DIR/bench-results)]
# Environment: GROUPS_TO_RUN="ceilings matmul engine" (default all), COMPARE_WAIT_POLICY=1 also runs the engine
# group under OMP_WAIT_POLICY=active and =passive. OPENBLAS_CORETYPE is left exactly as found.
set -euo pipefail
build=${1:-build-bench}
out=${2:-$build/bench-results}
bin=$build/gaincell_bench
[ -x "$bin" ] || { echo "run_benchmarks: expected $bin (make bench), not found" >&2; exit 1; }
mkdir -p "$out"
here=$(cd "$(dirname "$0")" && pwd)

{
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores, $(grep -o -w -m1 avx512f /proc/cpuinfo || echo no-avx512)"
  echo "OPENBLAS_CORETYPE: ${OPENBLAS_CORETYPE-(unset)}"
  echo "OMP_WAIT_POLICY: ${OMP_WAIT_POLICY-(unset)}"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/machine.txt"
cat "$out/machine.txt"

run_group() {  # name, filter, [env assignments...]
  local name=$1 filter=$2
  shift 2
  echo "== $name ($*) load $(cut -d' ' -f1-3 /proc/loadavg)"
  env "$@" "$bin" --benchmark_filter="$filter" --benchmark_out="$out/$name.json" --benchmark_out_format=json \
    2>&1 | tee "$out/$name.txt"
}

groups=${GROUPS_TO_RUN:-ceilings matmul engine}
for g in $groups; do
  case $g in
    ceilings) run_group ceilings 'BM_(FmaPeak|StreamTriad|ReadBandwidth)' ;;
    matmul) run_group matmul 'BM_(Matmul|Cblas)/' ;;
    engine) run_group engine 'BM_(Prompt|Decode)/' ;;
    *) echo "run_benchmarks: unknown group $g (expected ceilings, matmul, engine)" >&2; exit 1 ;;
  esac
done
if [ "${COMPARE_WAIT_POLICY:-0}" = 1 ]; then
  run_group engine_active 'BM_(Prompt|Decode)/' OMP_WAIT_POLICY=active
  run_group engine_passive 'BM_(Prompt|Decode)/' OMP_WAIT_POLICY=passive
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"
python3 "$here/summarize.py" "$out" > "$out/summary.md"
cat "$out/summary.md"
