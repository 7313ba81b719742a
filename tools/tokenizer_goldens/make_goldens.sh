#!/usr/bin/env bash
# Regenerates the GPT-2 tokenizer goldens in tests/data/tokenizer/ with the reference npm encoder
# gpt-3-encoder@1.1.4 (installed here into a local, git-ignored node_modules).
#   tools/tokenizer_goldens/make_goldens.sh [SHARED_DATA_DIR]
# SHARED_DATA_DIR defaults to ../shared/data next to the repository; without it only cases.json is written.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
shared="${1:-$root/../shared/data}"
cd "$here"
if [ ! -f node_modules/gpt-3-encoder/package.json ] ||
   ! grep -q '"version": "1.1.4"' node_modules/gpt-3-encoder/package.json; then
  npm install --no-save --no-package-lock --silent gpt-3-encoder@1.1.4
fi
node make_goldens.js "$root/tests/data/tokenizer" "$shared"
