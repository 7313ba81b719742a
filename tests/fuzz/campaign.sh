#!/usr/bin/env bash
# A long fuzz campaign: runs each libFuzzer target of build-fuzz/ to a fixed number of executions, one target
# at a time, and appends one summary line per target to LOGDIR/summary.tsv. Meant for nohup on a shared
# machine:  setsid nohup nice -n 19 tests/fuzz/campaign.sh 10000000 /path/to/logs [target ...] &
# With the kernel's autogroups (sched_autogroup_enabled), `nice` only ranks processes within one session, so a
# campaign started in its own session (setsid) also sets its session's group to nice 19.
# The binaries are copied first, so build-fuzz/ can be rebuilt while the campaign runs. New inputs go to
# build-fuzz/corpus/<target> (the seeds and regressions are read too), crash inputs to
# build-fuzz/crashes/<target>-*. The count reported is libFuzzer's stat::number_of_executed_units.
# CAMPAIGN_JOBS=N runs N targets at a time (default 1), for a machine with spare cores.
set -uo pipefail
[ "$(ps -o sid= -p $$ | tr -d ' ')" = "$$" ] && echo 19 > /proc/self/autogroup 2>/dev/null
cd "$(dirname "$0")/../.."
runs=${1:?usage: campaign.sh RUNS LOGDIR [target ...]}
logdir=${2:?usage: campaign.sh RUNS LOGDIR [target ...]}
shift 2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(merges npy device_csv token_file safetensors task_jsonl cost_toml hw_toml
                                      vocab_json config)
mkdir -p "$logdir" build-fuzz/crashes build-fuzz/campaign-bin
summary="$logdir/summary.tsv"
[ -f "$summary" ] || printf 'target\texit\texecutions\texec_per_s\tseconds\tcorpus_files\tnew_units\tpeak_rss_mb\tstarted\tfinished\tcommit\n' > "$summary"
commit=$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src tests/fuzz 2>/dev/null || echo +dirty)
run_target() {
  local t=$1 log started t0 rc seconds regressions
  cp build-fuzz/fuzz/fuzz_"$t" build-fuzz/campaign-bin/ || { printf '%s\tmissing binary\n' "$t" >> "$summary"; return; }
  mkdir -p build-fuzz/corpus/"$t"
  regressions=()
  [ -d tests/fuzz/regressions/"$t" ] && regressions=(tests/fuzz/regressions/"$t")
  log="$logdir/fuzz_$t.log"
  started=$(date -Is)
  t0=$(date +%s)
  build-fuzz/campaign-bin/fuzz_"$t" -runs="$runs" -print_final_stats=1 -rss_limit_mb=4096 \
    -artifact_prefix=build-fuzz/crashes/"$t"- build-fuzz/corpus/"$t" tests/fuzz/corpus/"$t" "${regressions[@]}" \
    > "$log" 2>&1
  rc=$?
  seconds=$(($(date +%s) - t0))
  stat() { grep -m1 "stat::$1:" "$log" | awk '{print $2}'; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$rc" "$(stat number_of_executed_units)" \
    "$(stat average_exec_per_sec)" "$seconds" "$(ls build-fuzz/corpus/"$t" | wc -l)" "$(stat new_units_added)" \
    "$(stat peak_rss_mb)" "$started" "$(date -Is)" "$commit" >> "$summary"
}

max_jobs=${CAMPAIGN_JOBS:-1}
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$max_jobs" ]; do wait -n; done
  run_target "$t" &
done
wait
