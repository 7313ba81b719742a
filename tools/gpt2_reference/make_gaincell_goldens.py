#!/usr/bin/python3
"""Writes the model-level goldens of the analog attention backends under tests/data/parity_gaincell/<name>/
(deterministic; same bytes every run). See tests/data/parity_gaincell/README.md for the files.

Each folder is a tiny random GPT-2 (config.json, model.safetensors) plus tokens.json and the float64 reference
logits (gpt2_ref.Gpt2Ref with the analog kinds, gaincell_ref.py underneath) of one sequence of T = 160 tokens
with window W = 128, so the window slides 32 times and the keys cross the 64-key tile boundaries 64 and 128:
  logits_hardsigmoid.npy       "hardsigmoid"      (software clip(q.k/sqrt(d), 0, 1).v)
  logits_gaincell_linear.npy   "gaincell-linear"  (paper hardware, linear cell)
  logits_gaincell.npy          "gaincell"         (paper hardware, collapsed cubic cell)
  logits_gaincell_ring.npy     "gaincell" with array.tile_mapping = "ring" (tiles = the physical arrays of the
                               window; what the streaming decoder computes past W)
Leakage is the paper's 1.6e-4 per token (hardware = paper defaults).

Rounding ties. The quantisers are discontinuous, and inside a model their inputs are computed (by the C++
engine, in float32) from earlier layers, so they cannot be nudged like raw inputs. Instead the tokens are chosen
position by position: token t is drawn at random, and redrawn while any quantiser input of position t (q', k',
v' of every layer and head, and every per-tile ADC input A/40 of query t, for all three gain-cell goldens) lies
within TIE_GUARD of a rounding boundary (±1 counts from outside too). Position t's quantiser inputs depend only
on tokens <= t (causality), so earlier positions stay clear. A float32 port deviates ~1e-6 from the float64
values, far below TIE_GUARD, so it makes the same rounding decisions everywhere.

Run from the repository root:  /usr/bin/python3 tools/gpt2_reference/make_gaincell_goldens.py
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gaincell_ref as G  # noqa: E402
import gpt2_ref  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT_DIR = os.path.join(REPO, "tests", "data", "parity_gaincell")

T, WINDOW, LAMBDA = 160, 128, 1.6e-4
TIE_GUARD = 1e-5
WEIGHT_DTYPE = "F16"  # weights stored as F16 to keep folders small; scalers always F32

GOLDENS = [  # file, kind, ring
    ("logits_hardsigmoid.npy", "hardsigmoid", False),
    ("logits_gaincell_linear.npy", "gaincell-linear", False),
    ("logits_gaincell.npy", "gaincell", False),
    ("logits_gaincell_ring.npy", "gaincell", True),
]

# Per-layer, per-head (a, b), all exactly representable in float32; they keep q', k', v' mostly inside the
# converter ranges with clipping at both ends.
CUSTOM_SCALERS = [
    {"q": ([0.75, 1.25], [0.125, -0.0625]), "k": ([0.875, 1.125], [0.4375, 0.5]),
     "v": ([1.0625, 0.8125], [0.375, 0.46875]), "out": ([0.5, 1.5], [0.25, -0.125])},
    {"q": ([1.125, 0.625], [0.0625, 0.1875]), "k": ([1.25, 0.75], [0.40625, 0.46875]),
     "v": ([0.875, 1.1875], [0.5, 0.4375]), "out": ([1.25, 0.75], [-0.1875, 0.0625])},
]

CASES = [
    # one head of 64 (the arrays' 64 rows), no scaler tensors: the defaults
    dict(name="gc_default", seed=3001, n_layer=2, n_head=1, n_embd=64, vocab=32, n_positions=160, scalers=None),
    # two heads of 32 (rows 32..63 of the arrays unused), stored non-default scalers per layer and head
    dict(name="gc_scalers", seed=3002, n_layer=2, n_head=2, n_embd=64, vocab=32, n_positions=160,
         scalers=CUSTOM_SCALERS),
]


def random_params(case, rng):
    """GPT-2 init (as make_parity_goldens.py) except c_attn: the q, k, v weights are normal(0.35/sqrt(C)) and
    the q bias is 0.5 + normal(0.1), so q ~ 0.5 +- 0.35 and k, v ~ +-0.35 around 0: after the scalers the
    quantiser inputs spread over their ranges (clipping at both ends) instead of all saturating."""
    C, L = case["n_embd"], case["n_layer"]
    normal = lambda std, *shape: torch.from_numpy(rng.normal(0.0, std, size=shape))  # noqa: E731
    proj_std = 0.02 / math.sqrt(2 * L)
    qkv_std = 0.35 / math.sqrt(C)
    p = [("wte.weight", normal(0.02, case["vocab"], C)), ("wpe.weight", normal(0.02, case["n_positions"], C))]
    for l in range(L):
        h = "h.%d." % l
        bias = torch.cat([0.5 + normal(0.1, C), normal(0.02, 2 * C)])
        p += [
            (h + "ln_1.weight", 1.0 + normal(0.1, C)), (h + "ln_1.bias", normal(0.1, C)),
            (h + "attn.c_attn.weight", normal(qkv_std, C, 3 * C)), (h + "attn.c_attn.bias", bias),
            (h + "attn.c_proj.weight", normal(proj_std, C, C)), (h + "attn.c_proj.bias", normal(0.02, C)),
            (h + "ln_2.weight", 1.0 + normal(0.1, C)), (h + "ln_2.bias", normal(0.1, C)),
            (h + "mlp.c_fc.weight", normal(0.02, C, 4 * C)), (h + "mlp.c_fc.bias", normal(0.02, 4 * C)),
            (h + "mlp.c_proj.weight", normal(proj_std, 4 * C, C)), (h + "mlp.c_proj.bias", normal(0.02, C)),
        ]
    p += [("ln_f.weight", 1.0 + normal(0.1, C)), ("ln_f.bias", normal(0.1, C))]
    return [("transformer." + n, t, WEIGHT_DTYPE) for n, t in p]


def scaler_tensors(case):
    out = []
    for l, layer in enumerate(case["scalers"] or []):
        for which in ("q", "k", "v", "out"):
            a, b = layer[which]
            for suffix, vals in (("scale", a), ("shift", b)):
                assert all(float(np.float32(x)) == x for x in vals)
                out.append(("h.%d.attn.gaincell.%s.%s" % (l, which, suffix),
                            torch.tensor(vals, dtype=torch.float64), "F32"))
    return out


def write_safetensors(path, tensors):
    """tensors: (name, tensor, dtype) in file order; mixed dtypes (layout as gpt2_ref.write_safetensors)."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t, dtype in tensors:
        b = gpt2_ref.tensor_bytes(t, dtype)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    os.replace(path + ".tmp", path)


def config_json(case):
    cfg = {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "layer_norm_epsilon": 1e-5,
           "model_type": "gpt2", "n_embd": case["n_embd"], "n_head": case["n_head"], "n_layer": case["n_layer"],
           "n_positions": case["n_positions"], "vocab_size": case["vocab"]}
    return json.dumps(cfg, indent=2) + "\n"


# --------------------------------------------------------------------------------------------------------------
# rounding ties


def boundary_distance(x, levels, lo, hi):
    step = G.quant_step(levels, lo, hi)
    r = x / step
    return (r - torch.floor(r) - 0.5).abs() * step


def adc_boundary_distance(raw):
    inside = boundary_distance(raw.clamp(*G.OUT_RANGE), G.OUT_LEVELS, *G.OUT_RANGE)
    return torch.where(raw.abs() >= 1.0, raw.abs() - 1.0, inside)


def min_distance(traces, t):
    """Smallest distance to a rounding boundary of the quantiser inputs of position t, over layers."""
    d = math.inf
    for tr in traces:
        for name, levels, rng in (("q", G.Q_LEVELS, G.Q_RANGE), ("k", G.KV_LEVELS, G.KV_RANGE),
                                  ("v", G.KV_LEVELS, G.KV_RANGE)):
            d = min(d, boundary_distance(tr[name][:, :, t], levels, *rng).min().item())
        d = min(d, adc_boundary_distance(tr["adc"][:, :, :, t]).min().item())
    return d


def gaincell_models(folder):
    return [gpt2_ref.Gpt2Ref(folder, kind, WINDOW, LAMBDA, ring) for _, kind, ring in GOLDENS if kind != "hardsigmoid"]


def choose_tokens(folder, vocab, rng):
    """Position by position, a random token whose quantiser inputs are all >= TIE_GUARD from a boundary."""
    models = gaincell_models(folder)
    tokens, redraws = [], 0
    for t in range(T):
        for attempt in range(200):
            cand = int(rng.integers(0, vocab))
            seq = [tokens + [cand]]
            dist = math.inf
            for m in models:
                traces = []
                m.forward(seq, traces)
                dist = min(dist, min_distance(traces, t))
            if dist >= TIE_GUARD:
                break
            redraws += 1
        else:
            raise RuntimeError("no token without a rounding near-tie at position %d" % t)
        tokens.append(cand)
    return tokens, redraws


def tie_summary(folder, tokens):
    """Overall smallest distance to a rounding boundary per gain-cell golden (for the README)."""
    out = {}
    for (file, kind, ring), m in zip([g for g in GOLDENS if g[1] != "hardsigmoid"], gaincell_models(folder)):
        traces = []
        m.forward([tokens], traces)
        out[file] = min(min_distance(traces, t) for t in range(T))
    return out


# --------------------------------------------------------------------------------------------------------------


def write_case(case):
    folder = os.path.join(OUT_DIR, case["name"])
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(case["seed"])
    write_safetensors(os.path.join(folder, "model.safetensors"), random_params(case, rng) + scaler_tensors(case))
    with open(os.path.join(folder, "config.json"), "w") as f:
        f.write(config_json(case))
    ref = gpt2_ref.Gpt2Ref(folder, "gaincell", WINDOW)
    if case["scalers"]:
        assert ref.scalers(1) == case["scalers"][1], "scalers do not read back"
    tokens, redraws = choose_tokens(folder, case["vocab"], rng)
    with open(os.path.join(folder, "tokens.json"), "w") as f:
        f.write(json.dumps([tokens]) + "\n")
    logits = {}
    for file, kind, ring in GOLDENS:
        lg = gpt2_ref.Gpt2Ref(folder, kind, WINDOW, LAMBDA, ring).forward([tokens])
        np.save(os.path.join(folder, file), lg.numpy().astype(np.float32))
        logits[file] = lg
    ties = tie_summary(folder, tokens)
    print("%s: %d token redraws; min distance to a rounding boundary %s" % (
        case["name"], redraws, ", ".join("%s %.2e" % (f, d) for f, d in ties.items())))
    g = logits["logits_gaincell.npy"]
    for file, lg in logits.items():
        print("  %-28s max|logit| %.3f  max|diff to gaincell| %.3e  (pos >= W: %.3e)" % (
            file, lg.abs().max(), (lg - g).abs().max(), (lg - g)[:, WINDOW:].abs().max()))


def main():
    torch.set_num_threads(1)
    for case in CASES:
        write_case(case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
