#!/usr/bin/python3
"""Writes the Llama-family goldens of the gain-cell backends under tests/data/parity_gaincell_llama/<name>/
(deterministic; the same bytes on every run). See tests/data/parity_gaincell_llama/README.md.

The reference (LlamaGainCellRef below) is llama_ref.LlamaRef (RMSNorm, rotary embedding, SwiGLU, grouped-query
attention, float64) with the attention replaced by gaincell_ref.gaincell_heads, the paper's equations
(paper-spec §2.4) applied to the rotated q and k: a KV head's K and V arrays are written once with that KV
head's k, v scalers and read by every query head of its group with the query head's q and out scalers; a head
of D > 64 spans stacked K arrays (array.row_sum: "shared_line" adds their charges before charge-to-pulse,
"digital" sums the per-array pulse widths).

Rounding ties are avoided as in tools/gpt2_reference/make_gaincell_goldens.py: tokens are chosen position by
position so that every quantiser input (q', k', v' of every layer and head, every per-tile ADC input) of every
golden lies >= TIE_GUARD from a rounding boundary in float64.

Run from the repository root:  /usr/bin/python3 tools/llama_reference/make_llama_gaincell_goldens.py
"""
import json
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "gpt2_reference"))
import gaincell_ref as G  # noqa: E402
import llama_ref  # noqa: E402
import make_gaincell_goldens as GG  # noqa: E402  (mixed-dtype safetensors writer, tie distances)

REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
OUT_DIR = os.path.join(REPO, "tests", "data", "parity_gaincell_llama")

T, WINDOW, LAMBDA = 80, 64, 1.6e-4
TIE_GUARD = 1e-5

# (file, kind, ring, row_sum)
GOLDENS_NARROW = [
    ("logits_gaincell.npy", "gaincell", False, "shared_line"),
    ("logits_gaincell_linear.npy", "gaincell-linear", False, "shared_line"),
    ("logits_gaincell_ring.npy", "gaincell", True, "shared_line"),
]
GOLDENS_WIDE = [
    ("logits_gaincell.npy", "gaincell", False, "shared_line"),
    ("logits_gaincell_linear.npy", "gaincell-linear", False, "shared_line"),
    ("logits_gaincell_digital.npy", "gaincell", False, "digital"),
]


def scalers_for(H, Hkv, L, seed):
    """Per layer: q, out per query head, k, v per KV head; values exact in float32 (multiples of 1/64)."""
    rng = np.random.default_rng(seed)
    q64 = lambda lo, hi, n: [float(x) / 64 for x in rng.integers(int(lo * 64), int(hi * 64) + 1, n)]  # noqa: E731
    out = []
    for _ in range(L):
        out.append({"q": (q64(0.75, 1.25, H), q64(0.4, 0.6, H)), "k": (q64(0.9, 1.4, Hkv), q64(0.4, 0.5, Hkv)),
                    "v": (q64(0.9, 1.4, Hkv), q64(0.4, 0.5, Hkv)), "out": (q64(0.5, 1.5, H), q64(-0.1, 0.1, H))})
    return out


CASES = [
    # stories260K's head shape: 4 query heads, 2 KV heads, head dim 8 (8 rows of a 64-row array)
    dict(name="llama_gqa_d8", seed=4001, L=2, C=32, H=4, Hkv=2, D=8, inter=64, vocab=32, goldens=GOLDENS_NARROW),
    # head dim 96: two stacked K arrays per column, both row-sum modes; hidden 32 with an explicit head_dim
    dict(name="llama_gqa_d96", seed=4002, L=1, C=32, H=2, Hkv=1, D=96, inter=48, vocab=32, goldens=GOLDENS_WIDE),
]


class LlamaGainCellRef(llama_ref.LlamaRef):
    """Float64 Llama whose attention is the gain-cell hardware model (see the module docstring)."""

    def __init__(self, folder, kind, window, lam, ring=False, row_sum="shared_line"):
        super().__init__(folder)
        self.model = "linear" if kind == "gaincell-linear" else "nonlinear"
        self.window, self.lam, self.ring, self.row_sum = window, lam, ring, row_sum

    def scalers(self, layer):
        """h.{L}.attn.gaincell.{q,k,v,out}.{scale,shift} from the file ([H] or [Hkv]), defaults when absent."""
        out = {}
        for which, (a0, b0) in G.DEFAULT_SCALERS.items():
            n = self.Hkv if which in ("k", "v") else self.H
            base = "h.%d.attn.gaincell.%s." % (layer, which)
            a, b = self.p.get(base + "scale"), self.p.get(base + "shift")
            out[which] = (a.tolist() if a is not None else [a0] * n, b.tolist() if b is not None else [b0] * n)
        return out

    def forward(self, tokens, traces=None):
        x = self.p["model.embed_tokens.weight"][torch.as_tensor(tokens, dtype=torch.long)]
        for layer in range(self.L):
            q, k, v = self._qkv(layer, x, 0)  # q and k rotated
            tr = {} if traces is not None else None
            y = G.gaincell_heads(q, k, v, self.model, self.window, self.lam, self.scalers(layer), tr, self.ring,
                                 G.ROWS, self.row_sum)
            if traces is not None:
                traces.append(tr)
            x = self._finish(layer, x, y)
        return self._logits(x)


def hf_config(case):
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": case["C"],
            "intermediate_size": case["inter"], "num_attention_heads": case["H"],
            "num_key_value_heads": case["Hkv"], "head_dim": case["D"], "num_hidden_layers": case["L"],
            "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": T, "vocab_size": case["vocab"],
            "tie_word_embeddings": True, "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2,
            "torch_dtype": "float16"}


def random_params(case, rng):
    """F16 weights. q, k, v projections N(0, 0.35 / sqrt(C)) so that after RMSNorm q, k, v ~ +-0.35 and the
    stored scalers spread the quantiser inputs over their ranges; other matrices as make_llama_goldens.py."""
    C, I, H, Hkv, D, V = case["C"], case["inter"], case["H"], case["Hkv"], case["D"], case["vocab"]
    normal = lambda std, *shape: torch.from_numpy(rng.normal(0.0, std, size=shape))  # noqa: E731
    w = 0.35 / math.sqrt(C)  # RMSNorm output has unit rms, so a projected value has std ~0.35
    p = [("model.embed_tokens.weight", normal(0.25, V, C))]
    for l in range(case["L"]):
        pre = "model.layers.%d." % l
        p += [(pre + "input_layernorm.weight", 1.0 + normal(0.1, C)),
              (pre + "self_attn.q_proj.weight", normal(w, H * D, C)),
              (pre + "self_attn.k_proj.weight", normal(w, Hkv * D, C)),
              (pre + "self_attn.v_proj.weight", normal(w, Hkv * D, C)),
              (pre + "self_attn.o_proj.weight", normal(0.1, C, H * D)),
              (pre + "post_attention_layernorm.weight", 1.0 + normal(0.1, C)),
              (pre + "mlp.gate_proj.weight", normal(0.1, I, C)),
              (pre + "mlp.up_proj.weight", normal(0.1, I, C)),
              (pre + "mlp.down_proj.weight", normal(0.1, C, I))]
    p.append(("model.norm.weight", 1.0 + normal(0.1, C)))
    return [(n, t, "F16") for n, t in p]


def scaler_tensors(scalers):
    out = []
    for l, layer in enumerate(scalers):
        for which in ("q", "k", "v", "out"):
            for suffix, vals in zip(("scale", "shift"), layer[which]):
                assert all(float(np.float32(x)) == x for x in vals)
                out.append(("h.%d.attn.gaincell.%s.%s" % (l, which, suffix), torch.tensor(vals, dtype=torch.float64),
                            "F32"))
    return out


def min_distance(traces, t):
    d = math.inf
    for tr in traces:
        for name, levels, rng in (("q", G.Q_LEVELS, G.Q_RANGE), ("k", G.KV_LEVELS, G.KV_RANGE),
                                  ("v", G.KV_LEVELS, G.KV_RANGE)):
            d = min(d, GG.boundary_distance(tr[name][:, :, t], levels, *rng).min().item())
        d = min(d, GG.adc_boundary_distance(tr["adc"][:, :, :, t]).min().item())
    return d


def models(folder, goldens):
    return [LlamaGainCellRef(folder, kind, WINDOW, LAMBDA, ring, row_sum) for _, kind, ring, row_sum in goldens]


def choose_tokens(folder, goldens, vocab, rng):
    refs = models(folder, goldens)
    tokens, redraws = [], 0
    for t in range(T):
        for _ in range(200):
            cand = int(rng.integers(0, vocab))
            dist = math.inf
            for m in refs:
                traces = []
                m.forward([tokens + [cand]], traces)
                dist = min(dist, min_distance(traces, t))
            if dist >= TIE_GUARD:
                break
            redraws += 1
        else:
            raise RuntimeError("no token without a rounding near-tie at position %d" % t)
        tokens.append(cand)
    return tokens, redraws


def write_case(case):
    folder = os.path.join(OUT_DIR, case["name"])
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(case["seed"])
    scalers = scalers_for(case["H"], case["Hkv"], case["L"], case["seed"] + 1)
    GG.write_safetensors(os.path.join(folder, "model.safetensors"), random_params(case, rng) + scaler_tensors(scalers))
    with open(os.path.join(folder, "config.json"), "w") as f:
        f.write(json.dumps(hf_config(case), indent=2) + "\n")
    ref = LlamaGainCellRef(folder, "gaincell", WINDOW, LAMBDA)
    for l in range(case["L"]):
        got = ref.scalers(l)
        assert all(tuple(got[w][i]) == tuple(scalers[l][w][i]) for w in got for i in range(2)), "scalers"
    tokens, redraws = choose_tokens(folder, case["goldens"], case["vocab"], rng)
    with open(os.path.join(folder, "tokens.json"), "w") as f:
        f.write(json.dumps([tokens]) + "\n")
    logits = {}
    for (file, kind, ring, row_sum), m in zip(case["goldens"], models(folder, case["goldens"])):
        traces = []
        lg = m.forward([tokens], traces)
        np.save(os.path.join(folder, file), lg.numpy().astype(np.float32))
        logits[file] = lg
        dist = min(min_distance(traces, t) for t in range(T))
        codes = sum(int((tr["adc"].abs() > 1.0 / 31).sum()) for tr in traces)
        print("%s %-30s min tie distance %.2e, non-zero ADC codes %d, max|logit| %.3f" % (
            case["name"], file, dist, codes, lg.abs().max()))
    g = logits["logits_gaincell.npy"]
    for file, lg in logits.items():
        print("  %-30s max|diff to gaincell| %.3e" % (file, (lg - g).abs().max()))
    soft = llama_ref.LlamaRef(folder).forward([tokens])
    print("  softmax: max|diff to gaincell| %.3e; %d redraws" % ((soft - g).abs().max(), redraws))


def main():
    torch.set_num_threads(1)
    for case in CASES:
        write_case(case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
