#!/usr/bin/python3
"""Independent reference for llama2.c checkpoints (stories260K), written from the format description in
/work/shared/data/SOURCES.md and the Llama equations in llama2.c semantics (not a copy of run.c):

  * legacy version-0 checkpoint: 7 int32 header (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
    seq_len; a negative vocab_size means a separate classifier at the end), then float32 arrays [out][in];
  * RMSNorm x / sqrt(mean(x^2) + 1e-5) * w; rotary embedding on the interleaved pairs (2i, 2i+1) of each head
    with angle pos * 10000^(-2i / head_size); grouped-query attention (query head h reads KV head
    h // (n_heads / n_kv_heads)); causal softmax with scale 1/sqrt(head_size); SwiGLU w2(silu(w1 x) * w3 x);
    logits = classifier @ rmsnorm(x);
  * llama2.c tokenizer.bin: int32 max_token_length, then {float32 score, int32 len, bytes} per token; encoding
    = BOS, a dummy-prefix " " token, one token per UTF-8 character (byte fallback <0xXX> = byte + 3), then
    repeated merging of the adjacent pair with the highest score (leftmost on ties); decoding strips the
    leading space of a piece that follows BOS and maps <0xXX> pieces to their byte.

Computation is float64 (torch). Greedy generation stops, as llama2.c's generate loop does, when the model
emits BOS (id 1) or after --steps new tokens.

Usage: /usr/bin/python3 tools/llama_reference/llama2c_ref.py [--out tests/data/stories260k]
writes greedy.json (prompts, prompt ids, generated ids and texts, top-1 margins) and perplexity.json, and
checks the two facts recorded in SOURCES.md (the greedy story from BOS, the fox sentence NLL 54.40415).

       /usr/bin/python3 tools/llama_reference/llama2c_ref.py --check-hf DIR
compares this reference with llama_ref.py (HF Llama equations, rotate_half RoPE) run on DIR, the folder that
`gaincell convert llama2c` wrote from stories260K: the logits of the fox sentence must agree within 1e-8
(observed 3e-11), which checks the q/k permutation and the tensor mapping of the conversion.
"""
import argparse
import heapq
import json
import math
import os
import struct

import numpy as np
import torch

SHARED = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared"))
CHECKPOINT = os.path.join(SHARED, "data", "DaveBben__esp32-llm", "stories260K.bin")
TOKENIZER = os.path.join(SHARED, "data", "DaveBben__esp32-llm", "tok512.bin")
TINYSTORIES = os.path.join(SHARED, "data", "yuninxia__moe-routing-bench", "tinystories_val.txt")

BOS, EOS = 1, 2


# --------------------------------------------------------------------------------------------------------------
# checkpoint

def read_checkpoint(path):
    data = open(path, "rb").read()
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = struct.unpack_from("<7i", data, 0)
    shared = vocab > 0
    vocab = abs(vocab)
    hs = dim // n_heads
    kv_dim = hs * n_kv
    floats = np.frombuffer(data, dtype="<f4", offset=28).astype(np.float64)
    pos = 0

    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape))
        a = floats[pos:pos + n].reshape(shape)
        pos += n
        return torch.from_numpy(a.copy())

    w = {"emb": take(vocab, dim), "rms_att": take(n_layers, dim), "wq": take(n_layers, dim, dim),
         "wk": take(n_layers, kv_dim, dim), "wv": take(n_layers, kv_dim, dim), "wo": take(n_layers, dim, dim),
         "rms_ffn": take(n_layers, dim), "w1": take(n_layers, hidden, dim), "w2": take(n_layers, dim, hidden),
         "w3": take(n_layers, hidden, dim), "rms_final": take(dim)}
    pos += 2 * seq_len * hs // 2  # freq_cis real and imaginary tables: unused
    w["cls"] = w["emb"] if shared else take(vocab, dim)
    assert pos == len(floats), (pos, len(floats))
    cfg = dict(dim=dim, hidden=hidden, n_layers=n_layers, n_heads=n_heads, n_kv=n_kv, vocab=vocab,
               seq_len=seq_len, shared=shared)
    return cfg, w


def rmsnorm(x, w):
    return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w


def rope_interleaved(x, pos0):
    """x [T, H, D]: rotates the pairs (2i, 2i+1) of each head by (pos0 + t) * 10000^(-2i/D)."""
    T, _, D = x.shape
    i = torch.arange(0, D, 2, dtype=torch.float64)
    freq = 1.0 / (10000.0 ** (i / D))
    ang = (torch.arange(T, dtype=torch.float64) + pos0)[:, None] * freq[None, :]  # [T, D/2]
    c, s = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


def forward(cfg, w, tokens):
    """Logits [T, vocab] (float64) of a token sequence starting at position 0."""
    T = len(tokens)
    H, Hkv, D = cfg["n_heads"], cfg["n_kv"], cfg["dim"] // cfg["n_heads"]
    x = w["emb"][torch.tensor(tokens)]
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    for l in range(cfg["n_layers"]):
        xb = rmsnorm(x, w["rms_att"][l])
        q = rope_interleaved((xb @ w["wq"][l].T).view(T, H, D), 0)
        k = rope_interleaved((xb @ w["wk"][l].T).view(T, Hkv, D), 0)
        v = (xb @ w["wv"][l].T).view(T, Hkv, D)
        k = k.repeat_interleave(H // Hkv, dim=1)
        v = v.repeat_interleave(H // Hkv, dim=1)
        att = torch.einsum("thd,shd->hts", q, k) / math.sqrt(D)
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        y = torch.einsum("hts,shd->thd", att, v).reshape(T, H * D)
        x = x + y @ w["wo"][l].T
        xb = rmsnorm(x, w["rms_ffn"][l])
        g = xb @ w["w1"][l].T
        x = x + (g * torch.sigmoid(g) * (xb @ w["w3"][l].T)) @ w["w2"][l].T
    return rmsnorm(x, w["rms_final"]) @ w["cls"].T


# --------------------------------------------------------------------------------------------------------------
# tokenizer

def read_tokenizer(path):
    data = open(path, "rb").read()
    (max_len,) = struct.unpack_from("<i", data, 0)
    pos, pieces, scores = 4, [], []
    while pos < len(data):
        score, n = struct.unpack_from("<fi", data, pos)
        pieces.append(data[pos + 8:pos + 8 + n])
        scores.append(score)
        pos += 8 + n
    lookup = {}
    for i, p in enumerate(pieces):
        lookup.setdefault(p, i)
    return pieces, scores, lookup


def encode(tok, text, bos=True):
    """llama2.c encoding: BOS, dummy prefix, characters / byte fallback, then best-score merges.
    The merges use a heap keyed by (-score, position), which picks the same pair as a full scan for the
    highest score with the leftmost one on ties."""
    pieces, scores, lookup = tok
    ids = [BOS] if bos else []
    if not text:
        return ids
    sym = [lookup[b" "]]
    raw = text.encode("utf-8")
    i = 0
    while i < len(raw):
        j = i + 1
        while j < len(raw) and j - i < 4 and (raw[j] & 0xC0) == 0x80:
            j += 1
        ch = raw[i:j]
        if ch in lookup:
            sym.append(lookup[ch])
        else:
            sym.extend(b + 3 for b in ch)
        i = j
    n = len(sym)
    prev = list(range(-1, n - 1))
    nxt = list(range(1, n + 1))
    alive = [True] * n
    heap = []

    def push(a):
        b = nxt[a]
        if b < n:
            m = lookup.get(pieces[sym[a]] + pieces[sym[b]])
            if m is not None:
                heapq.heappush(heap, (-scores[m], a, b, sym[a], sym[b], m))

    for a in range(n - 1):
        push(a)
    while heap:
        _, a, b, sa, sb, m = heapq.heappop(heap)
        if not (alive[a] and alive[b] and nxt[a] == b and sym[a] == sa and sym[b] == sb):
            continue  # stale entry
        sym[a] = m
        alive[b] = False
        nxt[a] = nxt[b]
        if nxt[b] < n:
            prev[nxt[b]] = a
        if prev[a] >= 0:
            push(prev[a])
        push(a)
    ids.extend(sym[a] for a in range(n) if alive[a])
    return ids


def decode_piece(tok, prev, cur):
    pieces = tok[0]
    p = pieces[cur]
    if prev == BOS and p.startswith(b" "):
        p = p[1:]
    if len(p) == 6 and p.startswith(b"<0x") and p.endswith(b">"):
        try:
            return bytes([int(p[3:5], 16)])
        except ValueError:
            pass
    return p


def decode(tok, ids, prev=BOS):
    out = b""
    for t in ids:
        out += decode_piece(tok, prev, t)
        prev = t
    return out.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------------------------------------

def greedy(cfg, w, prompt_ids, steps):
    """Greedy continuation; returns (new ids, stopped_at_bos, min top-1 margin over the steps)."""
    ids = list(prompt_ids)
    new, margin = [], float("inf")
    for _ in range(steps):
        logits = forward(cfg, w, ids)[-1]
        top2 = torch.topk(logits, 2).values
        margin = min(margin, float(top2[0] - top2[1]))
        nxt = int(torch.argmax(logits))
        if nxt == BOS:
            return new, True, margin
        ids.append(nxt)
        new.append(nxt)
    return new, False, margin


def teacher_forced_nll(cfg, w, ids):
    logp = forward(cfg, w, ids).log_softmax(-1)
    return -sum(float(logp[t - 1, ids[t]]) for t in range(1, len(ids)))


def strided_perplexity(cfg, w, ids, context, stride):
    """The windows of gaincell's eval/perplexity.cpp: the first window [0, context), then windows ending
    min(stride, context - 1) tokens later; each scores only tokens no earlier window scored."""
    n, step = len(ids), min(stride, context - 1)
    nll, scored_to = 0.0, 1
    while scored_to < n:
        end = min(n, context if scored_to == 1 else scored_to + step)
        begin = max(0, end - context)
        logp = forward(cfg, w, ids[begin:end]).log_softmax(-1)
        for t in range(scored_to - begin, end - begin):
            nll -= float(logp[t - 1, ids[begin + t]])
        scored_to = end
    return nll, n - 1


PROMPTS = ["", "Once upon a time", "Lily saw a", "The cat", "One day, a little boy named Tom"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                  "tests", "data", "stories260k"))
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--ppl-tokens", type=int, default=32768)
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--stride", type=int, default=256)
    ap.add_argument("--check-hf", metavar="DIR", help="compare with llama_ref.py on a converted folder and exit")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg, w = read_checkpoint(CHECKPOINT)
    tok = read_tokenizer(TOKENIZER)
    if args.check_hf:
        import llama_ref
        ids = encode(tok, "One day, a clever fox found a shiny key under the old oak tree.")
        diff = float((forward(cfg, w, ids) - llama_ref.LlamaRef(args.check_hf).forward([ids])[0]).abs().max())
        print("max |llama2.c reference - HF reference on %s| = %.3g" % (args.check_hf, diff))
        if not diff <= 1e-8:
            raise SystemExit("converted folder does not match the checkpoint")
        return
    os.makedirs(args.out, exist_ok=True)

    fox = "One day, a clever fox found a shiny key under the old oak tree."
    fox_ids = encode(tok, fox)
    fox_nll = teacher_forced_nll(cfg, w, fox_ids)
    print("fox: %d tokens, NLL %.5f over %d predictions" % (len(fox_ids), fox_nll, len(fox_ids) - 1))
    assert len(fox_ids) == 35 and abs(fox_nll - 54.40415) < 5e-5, "SOURCES.md check failed"

    cases = []
    for prompt in PROMPTS:
        pids = encode(tok, prompt)
        new, stopped, margin = greedy(cfg, w, pids, args.steps)
        text = decode(tok, pids[1:] + new)
        print(repr(prompt), "->", repr(text), "(margin %.4g)" % margin)
        cases.append({"prompt": prompt, "prompt_ids": pids, "generated_ids": new, "stopped_at_bos": stopped,
                      "text": text, "min_top1_margin": margin})
    assert cases[0]["text"].startswith("Once upon a time, there was a little girl named Lily. She loved to play "
                                       "outside in the park."), "SOURCES.md greedy check failed"
    with open(os.path.join(args.out, "greedy.json"), "w") as f:
        json.dump({"checkpoint": "DaveBben__esp32-llm/stories260K.bin", "tokenizer": "DaveBben__esp32-llm/tok512.bin",
                   "steps": args.steps, "fox_sentence": fox, "fox_ids": fox_ids, "fox_nll": fox_nll,
                   "cases": cases}, f, indent=1)
        f.write("\n")

    text = open(TINYSTORIES, encoding="utf-8").read()
    # Encode a prefix of the text long enough for the token budget (about 3.5 characters per token here).
    chars = min(len(text), args.ppl_tokens * 6)
    ids = encode(tok, text[:chars])[:args.ppl_tokens]
    assert len(ids) == args.ppl_tokens, len(ids)
    nll, scored = strided_perplexity(cfg, w, ids, args.context, args.stride)
    ppl = math.exp(nll / scored)
    print("TinyStories val prefix: %d tokens, context %d, stride %d: mean NLL %.6f, perplexity %.6f" %
          (len(ids), args.context, args.stride, nll / scored, ppl))
    with open(os.path.join(args.out, "perplexity.json"), "w") as f:
        json.dump({"text": "yuninxia__moe-routing-bench/tinystories_val.txt", "text_chars_encoded": chars,
                   "encoding": "one llama2.c encode() call of the first text_chars_encoded characters (BOS, dummy "
                               "prefix), cut to the first `tokens` ids",
                   "tokens": len(ids), "context": args.context, "stride": args.stride, "scored_tokens": scored,
                   "nll_sum": nll, "mean_nll": nll / scored, "perplexity": ppl}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
