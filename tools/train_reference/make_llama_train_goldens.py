#!/usr/bin/python3
"""PyTorch autograd goldens for training Llama-family models (tests/parity/train_llama_parity_test.cpp).

The Llama counterpart of make_train_goldens.py (GPT-2): the same run (2 micro-batches of B = 2 windows of
T = 8 tokens, 10 AdamW steps with warm-up, cosine decay and clipping; its lr_at and adamw) on tiny random
Llama models written to tests/data/train_llama_parity/<case>/ (config.json + model.safetensors, F32), with
batches.json ([step][micro-batch][B][T + 1]) and expected.safetensors:
  logits      [B, T, V]  forward of step 0, micro-batch 0
  loss0       [1]        its mean cross-entropy
  grad.<name> [...]      gradient of the step-0 loss (mean over both micro-batches) for every parameter
  step_loss   [10]       the training loss of each of the 10 steps
  final_loss  [1]        mean cross-entropy on step 0's micro-batch 0 after the 10 steps
Cases (both grouped-query):
  gqa       llama, 2 layers, C 32, 4 heads / 2 KV heads of 8, SwiGLU 32, vocab 48, tied, no biases, HF
            rotate_half rotary pairs (i, i + D/2);
  untied    llama, 1 layer, 4 heads / 1 KV head, attention_bias and mlp_bias (q, k, v, o, gate, up, down
            biases), untied lm_head, vocab 40, and Meta's interleaved rotary pairs (2i, 2i + 1): config.json
            cannot say so (HF is always rotate_half), so the C++ test sets ModelConfig::rope_pairs itself.
The reference is written out from the equations in float64 (RMSNorm, RoPE in either pair order, grouped-query
causal softmax attention by repeating KV heads, SwiGLU, biases, tied or untied head), independently of the
C++ code; tools/llama_reference/llama_ref.py's forward is checked against it for the gqa case before writing.

Usage: /usr/bin/python3 tools/train_reference/make_llama_train_goldens.py [out folder]
"""
import json
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "gpt2_reference"))
sys.path.insert(0, os.path.join(HERE, "..", "llama_reference"))
sys.path.insert(0, HERE)
import gpt2_ref  # noqa: E402
import llama_ref  # noqa: E402
import make_train_goldens as gpt2_goldens  # noqa: E402  (record_run, STEPS, ACCUM, B, T)

B, T, ACCUM, STEPS = gpt2_goldens.B, gpt2_goldens.T, gpt2_goldens.ACCUM, gpt2_goldens.STEPS
CASES = [
    dict(name="gqa", seed=5151, L=2, C=32, H=4, Hkv=2, I=32, V=48, P=32, tied=True, bias=False,
         rope_pairs="half_split", theta=10000.0, eps=1e-5),
    dict(name="untied", seed=5152, L=1, C=32, H=4, Hkv=1, I=32, V=40, P=32, tied=False, bias=True,
         rope_pairs="interleaved", theta=500.0, eps=1e-6),
]


def hf_config(c):
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": c["C"],
           "intermediate_size": c["I"], "num_attention_heads": c["H"], "num_key_value_heads": c["Hkv"],
           "num_hidden_layers": c["L"], "rms_norm_eps": c["eps"], "rope_theta": c["theta"],
           "max_position_embeddings": c["P"], "vocab_size": c["V"], "tie_word_embeddings": c["tied"],
           "hidden_act": "silu", "attention_bias": c["bias"], "mlp_bias": c["bias"], "torch_dtype": "float32"}
    return json.dumps(cfg, indent=2) + "\n"


def random_params(c, rng):
    """(name, float32 tensor) in the C++ weight table's order. Norms 1 + N(0, 0.1), q and k N(0, 0.3) (attention
    far from uniform), other matrices N(0, 0.1), embeddings N(0, 0.25), biases N(0, 0.1)."""
    C, I, H, Hkv, V = c["C"], c["I"], c["H"], c["Hkv"], c["V"]
    D = C // H
    normal = lambda std, *shape: torch.from_numpy(rng.normal(0.0, std, size=shape))  # noqa: E731
    p = [("model.embed_tokens.weight", normal(0.25, V, C))]
    for l in range(c["L"]):
        pre = "model.layers.%d." % l
        p.append((pre + "input_layernorm.weight", 1.0 + normal(0.1, C)))
        for name, rows, std in (("q", H * D, 0.3), ("k", Hkv * D, 0.3), ("v", Hkv * D, 0.1)):
            p.append((pre + "self_attn.%s_proj.weight" % name, normal(std, rows, C)))
            if c["bias"]:
                p.append((pre + "self_attn.%s_proj.bias" % name, normal(0.1, rows)))
        p.append((pre + "self_attn.o_proj.weight", normal(0.1, C, H * D)))
        if c["bias"]:
            p.append((pre + "self_attn.o_proj.bias", normal(0.1, C)))
        p.append((pre + "post_attention_layernorm.weight", 1.0 + normal(0.1, C)))
        for name, shape in (("gate", (I, C)), ("up", (I, C)), ("down", (C, I))):
            p.append((pre + "mlp.%s_proj.weight" % name, normal(0.1, *shape)))
            if c["bias"]:
                p.append((pre + "mlp.%s_proj.bias" % name, normal(0.1, shape[0])))
    p.append(("model.norm.weight", 1.0 + normal(0.1, C)))
    if not c["tied"]:
        p.append(("lm_head.weight", normal(0.25, V, C)))
    return [(n, t.to(torch.float32)) for n, t in p]


class Ref:
    """Float64 Llama forward over parameters {name: tensor} (differentiable)."""

    def __init__(self, c, p):
        self.c, self.p = c, p
        self.D = c["C"] // c["H"]
        self.eps = float(np.float32(c["eps"]))  # the C++ engine holds eps as float32

    def linear(self, x, name):
        y = x @ self.p[name + ".weight"].t()
        b = self.p.get(name + ".bias")
        return y + b if b is not None else y

    def rope(self, x):
        """x [B, heads, T, D]: pair i turns by pos * theta^(-2i/D); pairs (i, i + D/2) or (2i, 2i + 1)."""
        D, half = self.D, self.D // 2
        inv = 1.0 / (self.c["theta"] ** (torch.arange(half, dtype=torch.float64) * 2.0 / D))
        ang = torch.arange(x.shape[2], dtype=torch.float64)[:, None] * inv[None, :]  # [T, D/2]
        cos, sin = torch.cos(ang), torch.sin(ang)
        if self.c["rope_pairs"] == "half_split":
            a, b = x[..., :half], x[..., half:]
            return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)
        a, b = x[..., 0::2], x[..., 1::2]
        return torch.stack([a * cos - b * sin, b * cos + a * sin], dim=-1).flatten(-2)

    def forward(self, tokens):
        c, p, D = self.c, self.p, self.D
        H, Hkv = c["H"], c["Hkv"]
        x = p["model.embed_tokens.weight"][tokens]
        Bn, Tn, _ = x.shape
        keep = torch.tril(torch.ones(Tn, Tn, dtype=torch.bool))
        for l in range(c["L"]):
            pre = "model.layers.%d." % l
            h = llama_ref.rms_norm(x, p[pre + "input_layernorm.weight"], self.eps)
            q = self.linear(h, pre + "self_attn.q_proj").view(Bn, Tn, H, D).transpose(1, 2)
            k = self.linear(h, pre + "self_attn.k_proj").view(Bn, Tn, Hkv, D).transpose(1, 2)
            v = self.linear(h, pre + "self_attn.v_proj").view(Bn, Tn, Hkv, D).transpose(1, 2)
            q, k = self.rope(q), self.rope(k)
            k, v = k.repeat_interleave(H // Hkv, dim=1), v.repeat_interleave(H // Hkv, dim=1)
            att = (q @ k.transpose(-1, -2)) / math.sqrt(D)
            y = torch.softmax(att.masked_fill(~keep, float("-inf")), dim=-1) @ v
            x = x + self.linear(y.transpose(1, 2).reshape(Bn, Tn, H * D), pre + "self_attn.o_proj")
            h = llama_ref.rms_norm(x, p[pre + "post_attention_layernorm.weight"], self.eps)
            g = self.linear(h, pre + "mlp.gate_proj")
            u = self.linear(h, pre + "mlp.up_proj")
            x = x + self.linear(g * torch.sigmoid(g) * u, pre + "mlp.down_proj")
        head = p["model.embed_tokens.weight"] if c["tied"] else p["lm_head.weight"]
        return llama_ref.rms_norm(x, p["model.norm.weight"], self.eps) @ head.t()


def make_case(c, root):
    out = os.path.join(root, c["name"])
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(c["seed"])
    params = random_params(c, rng)
    gpt2_ref.write_safetensors(os.path.join(out, "model.safetensors"), params, "F32", {"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        f.write(hf_config(c))
    batches = rng.integers(0, c["V"], size=(STEPS, ACCUM, B, T + 1)).tolist()
    with open(os.path.join(out, "batches.json"), "w") as f:
        json.dump(batches, f)

    names = [n for n, _ in params]
    p = {n: t.to(torch.float64).requires_grad_(True) for n, t in params}
    model = Ref(c, p)
    if c["rope_pairs"] == "half_split":  # independent check against the forward reference of the parity goldens
        hf = llama_ref.LlamaRef(out)
        w = torch.as_tensor(batches[0][0], dtype=torch.long)[:, :-1]
        diff = float((hf.forward(w) - model.forward(w)).abs().max())
        if diff > 1e-12:
            raise RuntimeError("%s: reference differs from llama_ref.py by %g" % (c["name"], diff))
    tensors = [p[n] for n in names]
    expected, loss0, step_loss, final = gpt2_goldens.record_run(model, names, tensors, batches)
    gpt2_ref.write_safetensors(os.path.join(out, "expected.safetensors"), expected, "F32")
    print("%s: loss0 %.6f, step losses %s, final %.6f" % (c["name"], loss0.item(), ["%.4f" % x for x in step_loss],
                                                          final.item()))
    return c["name"]


def main(root):
    os.makedirs(root, exist_ok=True)
    for c in CASES:
        make_case(c, root)
    return 0


if __name__ == "__main__":
    default = os.path.join(HERE, "..", "..", "tests", "data", "train_llama_parity")
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else default))
