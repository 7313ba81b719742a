#!/usr/bin/env python3
"""An independent reference of llama2.c's tokenizer (run.c `encode`/`decode`), written from the format and
algorithm description in shared/data/SOURCES.md (section "Format of tok512.bin"), not from llama2.c's code.
Writes tests/data/tokenizer/llama2c_goldens.json: ids for texts through the given tokenizer.bin (tok512.bin).

  encode: empty text -> no tokens; else the dummy-prefix token " ", then per UTF-8 "character" (a byte and the
          continuation bytes after it, at most 4 bytes) its token, or its bytes as <0xXX> = byte + 3; then
          repeatedly merge the adjacent pair whose concatenated piece is a token with the highest score
          (the leftmost of equal scores), until no pair is a token.
  decode: pieces concatenated; a piece right after BOS (id 1) loses a leading space; <0xXX> pieces are bytes.

Usage: python3 tools/llama2c_tokenizer/reference.py [TOKENIZER_BIN] [SHARED_DATA_DIR]
Only the standard library; deterministic.
"""
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load(path):
    data = open(path, "rb").read()
    (max_len,) = struct.unpack_from("<i", data, 0)
    pos, pieces, scores = 4, [], []
    while pos < len(data):
        score, n = struct.unpack_from("<fi", data, pos)
        pos += 8
        assert 0 <= n <= max_len and pos + n <= len(data)
        pieces.append(data[pos:pos + n])
        scores.append(score)
        pos += n
    return pieces, scores


def encode(text, pieces, scores):
    index = {}
    for i, p in enumerate(pieces):
        index.setdefault(p, i)
    b = text.encode("utf-8")
    if not b:
        return []
    ids = [index[b" "]]
    i = 0
    while i < len(b):
        j = i + 1
        while j < len(b) and j - i < 4 and (b[j] & 0xC0) == 0x80:
            j += 1
        ch = b[i:j]
        if ch in index:
            ids.append(index[ch])
        else:
            ids.extend(x + 3 for x in ch)
        i = j
    while True:
        best, best_at, best_id = None, -1, -1
        for k in range(len(ids) - 1):
            t = index.get(pieces[ids[k]] + pieces[ids[k + 1]])
            if t is not None and (best is None or scores[t] > best):
                best, best_at, best_id = scores[t], k, t
        if best is None:
            return ids
        ids[best_at:best_at + 2] = [best_id]


def decode(ids, pieces):
    out = b""
    for k, t in enumerate(ids):
        p = pieces[t]
        if k > 0 and ids[k - 1] == 1 and p.startswith(b" "):
            p = p[1:]
        if 3 <= t < 259:
            p = bytes([t - 3])
        out += p
    return out


def main():
    tok = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "data", "DaveBben__esp32-llm", "tok512.bin")
    shared = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "..", "shared", "data")
    pieces, scores = load(tok)
    stories = open(os.path.join(shared, "yuninxia__moe-routing-bench", "tinystories_val.txt"), encoding="utf-8").read()
    start = stories.index("\n", 5000) + 1
    texts = {
        "story": "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.",
        "fox": "One day, a clever fox found a shiny key under the old oak tree.",
        "leading_space": " leading space",
        "spaces": "a  b   c    d",
        "newlines": "line one\nline two\n\nend\n",
        "punctuation": "\"Hello!\" said Tom. \"Can I play?\" -- yes; no: maybe...",
        "digits": "1 22 333 4444 3.14",
        "upper": "THE END. The End.",
        "contractions": "I'm you're don't it's",
        "accents": "café naïve",
        "cjk": "你好，世界",
        "emoji": "I love 🍕! 👍🏽",
        "controls": "tab\there\x01",
        "single": "a",
        "empty": "",
        "tinystories": stories[start:start + 1500],
    }
    out = {"generator": "tools/llama2c_tokenizer/reference.py", "tokenizer": "DaveBben__esp32-llm/tok512.bin",
           "cases": {}}
    for name, text in texts.items():
        ids = encode(text, pieces, scores)
        assert decode([1] + ids, pieces) == pieces[1] + text.encode("utf-8"), name
        out["cases"][name] = {"text": text, "ids": ids}
    path = os.path.join(ROOT, "tests", "data", "tokenizer", "llama2c_goldens.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print("wrote", path, sum(len(c["ids"]) for c in out["cases"].values()), "ids")


if __name__ == "__main__":
    main()
