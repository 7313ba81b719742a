#!/usr/bin/env bash
# 1 vs 2 MPI ranks (1 OpenMP thread each) on this machine (issue 15, item 5; docs/scaling.md, "Measured"):
#   * a data-parallel training step: median of the per-step wall times in log.jsonl (steps 2..S; the global batch
#     is the same at both rank counts, so 2 ranks each do half the work, plus the all-reduce);
#   * an accuracy + cost sweep of 4 points: wall time of the whole command (mpirun's start included), median of R.
# Usage: bench/scaling.sh [BUILD_DIR (default build)] [WORK_DIR (default /tmp/gaincell-scaling)]
# Env: PRESET (default tiny), STEPS (default 12), BATCH (default 8), CONTEXT (default 64), REPS (default 3),
#      EVAL_BYTES (bytes of the sweep's evaluation text, default 3000).
set -euo pipefail
BUILD=${1:-build}
WORK=${2:-/tmp/gaincell-scaling}
G=$(realpath "$BUILD/gaincell")
PRESET=${PRESET:-tiny}
STEPS=${STEPS:-12}
BATCH=${BATCH:-8}
CONTEXT=${CONTEXT:-64}
REPS=${REPS:-3}
MPIRUN=(mpirun --oversubscribe --bind-to none)
[ "$(id -u)" = 0 ] && MPIRUN+=(--allow-run-as-root)
export OMP_NUM_THREADS=1
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK"
"$G" init --preset "$PRESET" --tokenizer bytes --n-positions "$CONTEXT" --seed 1 --out m >/dev/null
python3 -c "
import random
random.seed(1)
words = 'the a robot star moon counts sings under over bridge river stone green slow quick'.split()
print('\n'.join(' '.join(random.choice(words) for _ in range(12)) for _ in range(3000)))" >corpus.txt
"$G" data prepare --model m --text corpus.txt --out d >/dev/null
head -c "${EVAL_BYTES:-3000}" corpus.txt >eval.txt

run() {  # ranks, command...
  local n=$1
  shift
  if [ "$n" = 1 ]; then "$G" "$@"; else "${MPIRUN[@]}" -np "$n" "$G" "$@"; fi
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo "# $(date -u '+%F %T') UTC; $(lscpu | grep 'Model name' | sed 's/  */ /g'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# gaincell $("$G" --version | cut -d' ' -f2-); preset $PRESET, global batch $BATCH x $CONTEXT, $STEPS steps"
declare -A TRAIN SWEEP
for n in 1 2; do
  run "$n" train --model m --data d --out "t$n" --steps "$STEPS" --batch "$BATCH" --context "$CONTEXT" \
    --eval-batches 1 --threads 1 >/dev/null 2>&1
  TRAIN[$n]=$(grep '"type":"step"' "t$n/log.jsonl" | tail -n +2 | sed 's/.*"seconds":\([0-9.]*\).*/\1/' | median)
  times=()
  for r in $(seq "$REPS"); do
    rm -rf "s$n"
    t0=$(date +%s.%N)
    run "$n" sweep --model m --eval eval.txt --context "$CONTEXT" --set adc_bits=4,6 --set seed=1,2 \
      --set read_noise=0.5 --threads 1 --out "s$n" >/dev/null 2>&1
    times+=("$(echo "$(date +%s.%N) - $t0" | bc)")
  done
  SWEEP[$n]=$(printf '%s\n' "${times[@]}" | median)
done
cmp -s s1/points.csv s2/points.csv && same=yes || same=NO
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg); sweep points.csv identical at 1 and 2 ranks: $same"
printf '| ranks | train step (ms, median) | speed-up | sweep of 4 points (s, median of %s) | speed-up |\n' "$REPS"
printf '|---|---|---|---|---|\n'
for n in 1 2; do
  printf '| %s | %.1f | %.2f | %.2f | %.2f |\n' "$n" "$(echo "${TRAIN[$n]} * 1000" | bc -l)" \
    "$(echo "${TRAIN[1]} / ${TRAIN[$n]}" | bc -l)" "${SWEEP[$n]}" "$(echo "${SWEEP[1]} / ${SWEEP[$n]}" | bc -l)"
done
