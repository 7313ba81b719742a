#!/bin/sh
# Trains a small SentencePiece BPE model (byte fallback, 400 pieces) offline with Debian's `sentencepiece`
# command-line tools on the first 200 kB of TinyStories validation text, and writes the ids spm_encode gives for
# the texts in texts.txt (one per line) into tests/data/tokenizer/spm_goldens.json.
# Usage: tools/sentencepiece_goldens/make_goldens.sh [SHARED_DATA_DIR]   (needs: apt-get install sentencepiece)
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
shared=${1:-$root/../shared/data}
out=$root/tests/data/tokenizer/spm
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -c 200000 "$shared/yuninxia__moe-routing-bench/tinystories_val.txt" > "$tmp/corpus.txt"
spm_train --input="$tmp/corpus.txt" --model_prefix="$tmp/m" --vocab_size=400 --model_type=bpe \
  --byte_fallback=true --character_coverage=1.0 --num_threads=1 --seed_sentencepiece_size=100000 \
  --bos_id=1 --eos_id=2 --unk_id=0 --normalization_rule_name=identity --remove_extra_whitespaces=false \
  --minloglevel=2 > /dev/null 2>&1
cp "$tmp/m.model" "$out/tokenizer.model"
spm_encode --model="$out/tokenizer.model" --output_format=id < "$here/texts.txt" > "$tmp/ids.txt"
python3 - "$here/texts.txt" "$tmp/ids.txt" "$root/tests/data/tokenizer/spm_goldens.json" <<'PY'
import json, sys
texts = open(sys.argv[1], encoding="utf-8").read().split("\n")[:-1]
ids = open(sys.argv[2], encoding="utf-8").read().split("\n")[:-1]
assert len(texts) == len(ids)
cases = [{"text": t, "ids": [int(x) for x in i.split()]} for t, i in zip(texts, ids)]
with open(sys.argv[3], "w", encoding="utf-8") as f:
    f.write('{"generator": "tools/sentencepiece_goldens/make_goldens.sh (spm_encode --output_format=id)",\n "cases": [\n')
    f.write(",\n".join("  " + json.dumps(c, ensure_ascii=False) for c in cases) + "\n]}\n")
print("wrote", sys.argv[3], len(cases), "cases")
PY
