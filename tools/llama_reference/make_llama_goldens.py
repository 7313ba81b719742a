#!/usr/bin/python3
"""Writes the Llama-family parity goldens under tests/data/llama_parity/<case>/ (deterministic; the same bytes
on every run).

Each folder: config.json (HF keys), model.safetensors (or two shards + model.safetensors.index.json), random
weights; tokens.json (a batch of B=2 token-id lists) and logits.npy (float32 [B, T, vocab], from the float64
reference llama_ref.py using the weights as stored, i.e. after BF16 rounding). tests/data/llama_parity/cases.json
lists the cases with the tolerances the C++ tests apply (full forward vs logits.npy; KV-cache decoding vs the
full forward).

Before writing the goldens the script checks itself: each safetensors file reads back with the exact bytes,
incremental KV-cache decoding equals the full-sequence logits (< 1e-10), RMSNorm equals a direct formula,
and rotate_half RoPE on HF-permuted q/k weights gives the same attention scores as llama2.c's interleaved-pair
RoPE on the original weights (the permutation `gaincell convert llama2c` applies). Any failure raises.

Run from the repository root:  /usr/bin/python3 tools/llama_reference/make_llama_goldens.py
"""
import json
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_ref  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT_DIR = os.path.join(REPO, "tests", "data", "llama_parity")

FULL_TOL = 1e-4    # C++ full forward vs logits.npy, max abs
DECODE_TOL = 1e-5  # C++ KV-cache decoding vs C++ full forward, max abs

BASE = dict(model_type="llama", L=2, C=32, H=4, Hkv=2, inter=48, vocab=97, max_pos=64, eps=1e-5, theta=10000.0,
            tied=True, dtype="F32", bias=False, T=13, shards=1)
CASES = [
    dict(BASE, name="gqa", seed=2001),
    dict(BASE, name="mha", seed=2002, Hkv=4, T=7),
    dict(BASE, name="untied", seed=2003, tied=False, H=2, Hkv=1, C=48, inter=40, vocab=61),
    dict(BASE, name="bf16", seed=2004, dtype="BF16", eps=1e-6),
    dict(BASE, name="qwen2_bias", seed=2005, model_type="qwen2", bias=True, theta=1000000.0, eps=1e-6, T=7),
    dict(BASE, name="mistral", seed=2006, model_type="mistral", H=8, Hkv=2, C=64, inter=64, vocab=61,
         theta=1000000.0, tied=False),
    dict(BASE, name="sharded", seed=2001, shards=2),  # the weights of "gqa" split over two files
]


def hf_config(case):
    c = {"architectures": [{"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM",
                            "mistral": "MistralForCausalLM"}[case["model_type"]]],
         "model_type": case["model_type"], "hidden_size": case["C"], "intermediate_size": case["inter"],
         "num_attention_heads": case["H"], "num_key_value_heads": case["Hkv"], "num_hidden_layers": case["L"],
         "rms_norm_eps": case["eps"], "rope_theta": case["theta"], "max_position_embeddings": case["max_pos"],
         "vocab_size": case["vocab"], "tie_word_embeddings": case["tied"], "hidden_act": "silu",
         "bos_token_id": 1, "eos_token_id": 2,
         "torch_dtype": {"F32": "float32", "BF16": "bfloat16"}[case["dtype"]]}
    if case["model_type"] == "mistral":
        c["sliding_window"] = 4096  # wider than max_position_embeddings: plain causal attention
    return c


def random_params(case, rng):
    """Module-order list of (name, float64 tensor). Norm weights 1 + N(0, 0.1); q and k N(0, 0.3) so that
    attention is far from uniform (RoPE and GQA errors then move the logits by ~1e-2, not ~1e-4); other
    matrices N(0, 0.1); embeddings N(0, 0.25) (tied logits stay below ~10); biases N(0, 0.2)."""
    C, I, H, Hkv, V = case["C"], case["inter"], case["H"], case["Hkv"], case["vocab"]
    D = C // H
    normal = lambda std, *shape: torch.from_numpy(rng.normal(0.0, std, size=shape))  # noqa: E731
    p = [("model.embed_tokens.weight", normal(0.25, V, C))]
    for l in range(case["L"]):
        pre = "model.layers.%d." % l
        p.append((pre + "input_layernorm.weight", 1.0 + normal(0.1, C)))
        p.append((pre + "self_attn.q_proj.weight", normal(0.3, H * D, C)))
        p.append((pre + "self_attn.k_proj.weight", normal(0.3, Hkv * D, C)))
        p.append((pre + "self_attn.v_proj.weight", normal(0.1, Hkv * D, C)))
        if case["bias"]:
            p.append((pre + "self_attn.q_proj.bias", normal(0.2, H * D)))
            p.append((pre + "self_attn.k_proj.bias", normal(0.2, Hkv * D)))
            p.append((pre + "self_attn.v_proj.bias", normal(0.2, Hkv * D)))
        p.append((pre + "self_attn.o_proj.weight", normal(0.1, C, H * D)))
        p.append((pre + "post_attention_layernorm.weight", 1.0 + normal(0.1, C)))
        p.append((pre + "mlp.gate_proj.weight", normal(0.1, I, C)))
        p.append((pre + "mlp.up_proj.weight", normal(0.1, I, C)))
        p.append((pre + "mlp.down_proj.weight", normal(0.1, C, I)))
    p.append(("model.norm.weight", 1.0 + normal(0.1, C)))
    if not case["tied"]:
        p.append(("lm_head.weight", normal(0.1, V, C)))
    return p


def write_model(folder, case, params):
    dtype = case["dtype"]
    if case["shards"] == 1:
        path = os.path.join(folder, "model.safetensors")
        llama_ref.write_safetensors(path, params, dtype, {"format": "pt"})
        check_readback(path, params, dtype)
        return
    n = case["shards"]
    per = (len(params) + n - 1) // n
    weight_map, total = {}, 0
    for s in range(n):
        name = "model-%05d-of-%05d.safetensors" % (s + 1, n)
        part = params[s * per:(s + 1) * per]
        llama_ref.write_safetensors(os.path.join(folder, name), part, dtype, {"format": "pt"})
        check_readback(os.path.join(folder, name), part, dtype)
        for key, t in part:
            weight_map[key] = name
            total += len(llama_ref.tensor_bytes(t, dtype))
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=1, sort_keys=True)
        f.write("\n")


def check_readback(path, params, dtype):
    header, _, raw = llama_ref.read_safetensors(path)
    if set(header) != {n for n, _ in params}:
        raise AssertionError(path + ": names differ")
    for name, t in params:
        if raw[name] != llama_ref.tensor_bytes(t, dtype):
            raise AssertionError(path + ": bytes of " + name + " differ")


def check_rms_norm():
    x, w = torch.randn(3, 5, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    direct = x / torch.sqrt((x * x).sum(-1, keepdim=True) / 5 + 1e-5) * w
    if float((llama_ref.rms_norm(x, w, 1e-5) - direct).abs().max()) > 1e-14:
        raise AssertionError("rms_norm")


def check_permutation(rng):
    """Attention scores of llama2.c (interleaved pairs, weights W) equal HF's (rotate_half, weights permuted
    rows 2i+p -> p*D/2+i within each head, as convert writes them)."""
    H, D, C, T = 3, 8, 12, 6
    wq, wk = torch.from_numpy(rng.normal(size=(H * D, C))), torch.from_numpy(rng.normal(size=(H * D, C)))
    x = torch.from_numpy(rng.normal(size=(T, C)))

    def to_hf(w):
        return w.view(H, D // 2, 2, C).transpose(1, 2).reshape(H * D, C)

    def interleaved(v):  # v [T, H, D]
        i = torch.arange(0, D, 2, dtype=torch.float64)
        ang = torch.arange(T, dtype=torch.float64)[:, None] * (10000.0 ** (-i / D))[None, :]
        c, s = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
        out = torch.empty_like(v)
        out[..., 0::2] = v[..., 0::2] * c - v[..., 1::2] * s
        out[..., 1::2] = v[..., 0::2] * s + v[..., 1::2] * c
        return out

    q0, k0 = interleaved((x @ wq.t()).view(T, H, D)), interleaved((x @ wk.t()).view(T, H, D))
    cos, sin = llama_ref.rope_cos_sin(range(T), D, 10000.0)
    q1 = llama_ref.apply_rope((x @ to_hf(wq).t()).view(T, H, D).transpose(0, 1), cos, sin)
    k1 = llama_ref.apply_rope((x @ to_hf(wk).t()).view(T, H, D).transpose(0, 1), cos, sin)
    s0 = torch.einsum("thd,shd->hts", q0, k0)
    s1 = q1 @ k1.transpose(-1, -2)
    if float((s0 - s1).abs().max()) > 1e-10:
        raise AssertionError("rotary permutation: %g" % float((s0 - s1).abs().max()))


def main():
    torch.set_num_threads(1)
    rng = np.random.default_rng(7)
    check_rms_norm()
    check_permutation(rng)
    listing = []
    for case in CASES:
        folder = os.path.join(OUT_DIR, case["name"])
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        rng = np.random.default_rng(case["seed"])
        params = random_params(case, rng)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(hf_config(case), f, indent=1)
            f.write("\n")
        write_model(folder, case, params)
        # B = 2 rows; ids 0 and vocab-1 both occur.
        T, V = case["T"], case["vocab"]
        tokens = rng.integers(0, V, size=(2, T)).tolist()
        tokens[0][0], tokens[1][T - 1] = 0, V - 1
        with open(os.path.join(folder, "tokens.json"), "w") as f:
            json.dump(tokens, f)
            f.write("\n")
        ref = llama_ref.LlamaRef(folder)
        logits = ref.forward(tokens)
        inc = ref.decode_incremental(tokens)
        if float((logits - inc).abs().max()) > 1e-10:
            raise AssertionError(case["name"] + ": incremental decode differs")
        np.save(os.path.join(folder, "logits.npy"), logits.numpy().astype(np.float32))
        listing.append({"name": case["name"], "model_type": case["model_type"], "B": 2, "T": T, "dtype": case["dtype"],
                        "tied": case["tied"], "heads": case["H"], "kv_heads": case["Hkv"], "shards": case["shards"],
                        "full_tol": FULL_TOL, "decode_tol": DECODE_TOL})
        print("%-11s logits [2, %d, %d], |logits| max %.3f" % (case["name"], T, V, float(logits.abs().max())))
    # the sharded case must equal the gqa case
    a = np.load(os.path.join(OUT_DIR, "gqa", "logits.npy"))
    b = np.load(os.path.join(OUT_DIR, "sharded", "logits.npy"))
    if not np.array_equal(a, b):
        raise AssertionError("sharded != gqa")
    with open(os.path.join(OUT_DIR, "cases.json"), "w") as f:
        json.dump({"cases": listing}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
