#!/usr/bin/python3
"""Writes the GPT-2 parity goldens under tests/data/parity/<name>/ (deterministic; same bytes every run).

Each folder: config.json (HF keys), model.safetensors (random GPT-2 weights, GPT-2 init), tokens.json (list of
token-id lists = batch), logits.npy (float32 [B, T, vocab], from the float64 reference gpt2_ref.py using the
weights as stored, i.e. after F16/BF16 rounding) and for sliding cases logits_sliding_w<W>.npy.

Before writing the goldens the script checks itself: the safetensors file reads back with the exact bytes and
values, the incremental KV-cache decode equals the full-sequence logits, and the hand-written GELU / LayerNorm
agree with torch's. Any failure raises and nothing further is written.

Run from the repository root:  /usr/bin/python3 tools/gpt2_reference/make_parity_goldens.py
"""
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt2_ref  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT_DIR = os.path.join(REPO, "tests", "data", "parity")

QK_STD = 0.3  # std of the q and k columns of c_attn (see random_params)

# name: sizes, storage and token layout. `prefix` prepends "transformer." to every name except lm_head;
# `lm_head` stores an explicit lm_head.weight equal to wte; `sort_names` writes tensors in sorted order (as
# HF's save does) instead of module order; `metadata` adds {"format": "pt"}.
CASES = [
    dict(name="f32_basic", seed=1001, n_layer=2, n_head=2, n_embd=32, vocab=97, n_positions=64, eps=1e-5,
         dtype="F32", prefix=True, lm_head=False, sort_names=False, metadata=True, batch=2, T=13, windows=[]),
    dict(name="f32_odd", seed=1002, n_layer=3, n_head=3, n_embd=48, vocab=61, n_positions=40, eps=1e-5,
         dtype="F32", prefix=False, lm_head=True, sort_names=True, metadata=False, batch=1, T=37, windows=[8]),
    dict(name="f16", seed=1003, n_layer=2, n_head=2, n_embd=32, vocab=97, n_positions=64, eps=1e-6,
         dtype="F16", prefix=True, lm_head=False, sort_names=False, metadata=True, batch=2, T=13, windows=[]),
    dict(name="bf16", seed=1004, n_layer=2, n_head=2, n_embd=32, vocab=97, n_positions=64, eps=1e-5,
         dtype="BF16", prefix=True, lm_head=False, sort_names=False, metadata=True, batch=2, T=13, windows=[]),
    dict(name="long", seed=1005, n_layer=2, n_head=2, n_embd=32, vocab=50, n_positions=160, eps=1e-5,
         dtype="F32", prefix=True, lm_head=False, sort_names=False, metadata=True, batch=1, T=150, windows=[64]),
]


def random_params(case, rng):
    """GPT-2 init, in module order: normal(0.02) weights and biases, c_proj weights normal(0.02/sqrt(2L)),
    LayerNorm weights 1 + normal(0.1) and biases normal(0.1). One deviation: the q and k columns of c_attn use
    normal(QK_STD); with 0.02 the attention probabilities are nearly uniform and replacing attention by a plain
    average moves the logits by only ~4e-4, too little to catch attention bugs reliably (with 0.3: ~5e-2)."""
    C, L = case["n_embd"], case["n_layer"]
    normal = lambda std, *shape: torch.from_numpy(rng.normal(0.0, std, size=shape))  # noqa: E731
    proj_std = 0.02 / math.sqrt(2 * L)
    p = [("wte.weight", normal(0.02, case["vocab"], C)), ("wpe.weight", normal(0.02, case["n_positions"], C))]
    for l in range(L):
        h = "h.%d." % l
        p += [
            (h + "ln_1.weight", 1.0 + normal(0.1, C)), (h + "ln_1.bias", normal(0.1, C)),
            (h + "attn.c_attn.weight", torch.cat([normal(QK_STD, C, 2 * C), normal(0.02, C, C)], 1)),
            (h + "attn.c_attn.bias", normal(0.02, 3 * C)),
            (h + "attn.c_proj.weight", normal(proj_std, C, C)), (h + "attn.c_proj.bias", normal(0.02, C)),
            (h + "ln_2.weight", 1.0 + normal(0.1, C)), (h + "ln_2.bias", normal(0.1, C)),
            (h + "mlp.c_fc.weight", normal(0.02, C, 4 * C)), (h + "mlp.c_fc.bias", normal(0.02, 4 * C)),
            (h + "mlp.c_proj.weight", normal(proj_std, 4 * C, C)), (h + "mlp.c_proj.bias", normal(0.02, C)),
        ]
    p += [("ln_f.weight", 1.0 + normal(0.1, C)), ("ln_f.bias", normal(0.1, C))]
    return p


def file_tensors(case, params):
    """(stored name, tensor) list in file order."""
    pre = "transformer." if case["prefix"] else ""
    out = [(pre + n, t) for n, t in params]
    if case["lm_head"]:
        out.append(("lm_head.weight", dict(params)["wte.weight"].clone()))
    if case["sort_names"]:
        out.sort(key=lambda nt: nt[0])
    return out


def random_tokens(case, rng):
    tok = rng.integers(0, case["vocab"], size=(case["batch"], case["T"]))
    tok[0, 0] = 0  # the extreme ids are always present
    tok[-1, -1] = case["vocab"] - 1
    return [[int(t) for t in row] for row in tok]


def config_json(case):
    cfg = {
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "layer_norm_epsilon": case["eps"],
        "model_type": "gpt2",
        "n_embd": case["n_embd"],
        "n_head": case["n_head"],
        "n_layer": case["n_layer"],
        "n_positions": case["n_positions"],
        "vocab_size": case["vocab"],
    }
    return json.dumps(cfg, indent=2) + "\n"


# --------------------------------------------------------------------------------------------------------------
# self-checks


def check_safetensors(path, tensors, dtype, with_metadata):
    with open(path, "rb") as f:
        head_len = int.from_bytes(f.read(8), "little")
    assert head_len % 8 == 0, "header length not a multiple of 8"
    header, metadata, raw = gpt2_ref.read_safetensors(path)
    assert (metadata is not None) == with_metadata, "metadata presence"
    assert list(header.keys()) == [n for n, _ in tensors], "tensor names / order differ"
    end = 0
    for name, t in tensors:
        info = header[name]
        assert info["dtype"] == dtype and info["shape"] == list(t.shape), name
        assert info["data_offsets"][0] == end, name + ": offsets not contiguous"
        end = info["data_offsets"][1]
        assert raw[name] == gpt2_ref.tensor_bytes(t, dtype), name + ": bytes differ"
        back = gpt2_ref.decode_tensor(raw[name], dtype, info["shape"])
        expect = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}[dtype]
        assert torch.equal(back, t.to(torch.float32).to(expect).to(torch.float64)), name + ": values differ"


def check_primitives():
    x = torch.linspace(-6, 6, 1001, dtype=torch.float64)
    ref = torch.nn.functional.gelu(x, approximate="tanh")
    assert (gpt2_ref.gelu_new(x) - ref).abs().max().item() < 1e-14, "gelu_new"
    y = torch.randn(4, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    w, b = torch.linspace(0.5, 1.5, 7, dtype=torch.float64), torch.linspace(-1, 1, 7, dtype=torch.float64)
    ref = torch.nn.functional.layer_norm(y, (7,), w, b, 1e-5)
    assert (gpt2_ref.layer_norm(y, w, b, 1e-5) - ref).abs().max().item() < 1e-13, "layer_norm"


def check_incremental(model, tokens, full, what):
    inc = model.decode_incremental(tokens)
    err = (inc - full).abs().max().item()
    assert err < 1e-10, "%s: incremental decode differs from full forward by %g" % (what, err)
    return err


# --------------------------------------------------------------------------------------------------------------


def write_case(case):
    folder = os.path.join(OUT_DIR, case["name"])
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(case["seed"])
    tensors = file_tensors(case, random_params(case, rng))
    tokens = random_tokens(case, rng)
    st_path = os.path.join(folder, "model.safetensors")
    gpt2_ref.write_safetensors(st_path, tensors, case["dtype"], {"format": "pt"} if case["metadata"] else None)
    check_safetensors(st_path, tensors, case["dtype"], case["metadata"])
    with open(os.path.join(folder, "config.json"), "w") as f:
        f.write(config_json(case))
    with open(os.path.join(folder, "tokens.json"), "w") as f:
        f.write(json.dumps(tokens) + "\n")

    report = []
    model = gpt2_ref.Gpt2Ref(folder)
    logits = model.forward(tokens)
    err = check_incremental(model, tokens, logits, case["name"])
    np.save(os.path.join(folder, "logits.npy"), logits.numpy().astype(np.float32))
    report.append("logits %s |max| %.3f, incremental err %.1e" % (tuple(logits.shape), logits.abs().max(), err))
    for w in case["windows"]:
        sl = gpt2_ref.Gpt2Ref(folder, "sliding", w)
        sl_logits = sl.forward(tokens)
        err = check_incremental(sl, tokens, sl_logits, "%s window %d" % (case["name"], w))
        diff = (sl_logits - logits).abs().max().item()
        assert diff > 1e-3, "window %d does not change the logits" % w
        np.save(os.path.join(folder, "logits_sliding_w%d.npy" % w), sl_logits.numpy().astype(np.float32))
        report.append("sliding w%d: max diff to softmax %.3f, incremental err %.1e" % (w, diff, err))
    size = sum(os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder))
    print("%-10s %6.1f KB  %s" % (case["name"], size / 1024.0, "; ".join(report)))


def main():
    torch.set_num_threads(1)
    check_primitives()
    for case in CASES:
        write_case(case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
