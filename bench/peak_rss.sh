#!/bin/bash
# Peak resident memory of the CLI against the parameter bytes (issue 16 item 6: inference <= 1.3x).
# Usage: bench/peak_rss.sh [BUILD_DIR] [WORK_DIR]   (defaults: build, /tmp/gaincell-peak-rss)
# Makes the gpt2 preset with random weights (`gaincell init --preset gpt2 --seed 1`), a text of ~1,050 tokens,
# and runs under /usr/bin/time -v: generate (130-token prompt + 16 tokens) and perplexity (one 1024-token window,
# the largest activations inference has), each in f32 and with --precision bf16 (bf16-held projections), and 2
# training steps at batch 4 x context 64 (f32, and bf16 with its float32 master weights). Prints one line per run: peak RSS in MB and its ratio to the parameter
# bytes in the precision the weights are held in (4 x parameters for f32, 2 x parameters for bf16).
set -euo pipefail
BUILD=${1:-build}
WORK=${2:-/tmp/gaincell-peak-rss}
G="$BUILD/gaincell"
[ -x "$G" ] || { echo "peak_rss.sh: expected an executable $G (build the gaincell target first)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "peak_rss.sh: expected GNU time at /usr/bin/time (Debian package time)" >&2; exit 1; }
mkdir -p "$WORK"
[ -f "$WORK/gpt2/model.safetensors" ] || "$G" init --preset gpt2 --seed 1 --out "$WORK/gpt2" --threads 2 >/dev/null
PROMPT=$(for i in $(seq 13); do printf 'the quick brown fox jumps over the lazy dog. '; done)
for i in $(seq 8); do echo "$PROMPT"; done >"$WORK/text.txt"
[ -f "$WORK/data/train.bin" ] || "$G" data prepare --model "$WORK/gpt2" --text "$WORK/text.txt" --out "$WORK/data" >/dev/null
PARAMS=$("$G" info --model "$WORK/gpt2" | awk '/^parameters:/ {print $2}')
peak() {  # name, bytes per parameter (4: f32, 2: bf16), command...
  local name=$1 bytes=$2
  shift 2
  local kb
  /usr/bin/time -f 'MAXRSS %M' "$@" >/dev/null 2>"$WORK/$name.err" || { echo "peak_rss.sh: $name failed:" >&2; tail -3 "$WORK/$name.err" >&2; exit 1; }
  kb=$(awk '/^MAXRSS/ {print $2}' "$WORK/$name.err")
  awk -v n="$name" -v kb="$kb" -v p="$PARAMS" -v b="$bytes" \
    'BEGIN { printf "%-15s peak RSS %7.1f MB = %.3f x the %.1f MB of %s parameters\n", n, kb * 1024 / 1e6, kb * 1024 / (b * p), b * p / 1e6, b == 4 ? "f32" : "bf16" }'
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
peak generate 4 "$G" generate --model "$WORK/gpt2" --prompt "$PROMPT" -n 16 --temperature 0 --threads 2
peak generate-bf16 2 "$G" generate --model "$WORK/gpt2" --prompt "$PROMPT" -n 16 --temperature 0 --threads 2 --precision bf16
peak perplexity 4 "$G" perplexity --model "$WORK/gpt2" --text "$WORK/text.txt" --threads 2
peak perplexity-bf16 2 "$G" perplexity --model "$WORK/gpt2" --text "$WORK/text.txt" --threads 2 --precision bf16
rm -rf "$WORK/train"
peak train 4 "$G" train --model "$WORK/gpt2" --data "$WORK/data" --out "$WORK/train" --steps 2 --batch 4 --context 64 \
  --eval-every 0 --checkpoint-every 0 --threads 2
rm -rf "$WORK/train"
peak train-bf16 4 "$G" train --model "$WORK/gpt2" --data "$WORK/data" --out "$WORK/train" --steps 2 --batch 4 \
  --context 64 --eval-every 0 --checkpoint-every 0 --threads 2 --precision bf16
rm -rf "$WORK/train"
