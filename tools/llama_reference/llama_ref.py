#!/usr/bin/python3
"""Reference Llama-family forward pass in PyTorch, float64, for the C++ engine's parity goldens.

Hugging Face Llama / Mistral / Qwen2 semantics, written out from the equations so that no `transformers` or
`safetensors` package is needed (only Debian's python3-torch and python3-numpy):
  * pre-norm blocks: x += o_proj(attn(input_layernorm(x))); x += mlp(post_attention_layernorm(x)); then
    model.norm; RMSNorm(x) = x * rsqrt(mean(x^2) + eps) * w with eps = rms_norm_eps;
  * q/k/v/o projections are nn.Linear: weight [out, in], y = x @ W^T (+ b: Qwen2 has q/k/v biases);
  * rotary embedding in HF "rotate_half" order: inv_freq_i = theta^(-2i/D) for i < D/2, angle = pos * inv_freq
    repeated twice, x * cos + rotate_half(x) * sin with rotate_half([x1, x2]) = [-x2, x1] (halves of each head);
  * grouped-query attention: query head h reads KV head h // (H / H_kv) (KV heads repeated); causal softmax
    with scale 1/sqrt(D);
  * SwiGLU MLP: down(silu(gate(x)) * up(x));
  * logits = norm(x) @ lm_head^T, lm_head = embed_tokens when tie_word_embeddings (or no lm_head.weight).

Weights are read from model.safetensors, or from the shards a model.safetensors.index.json names, exactly as
stored (after BF16/F16 rounding) and converted to float64. The small safetensors writer/reader is the one of
tools/gpt2_reference/gpt2_ref.py.

Usage: /usr/bin/python3 tools/llama_reference/llama_ref.py <model folder>
prints the logits of tokens.json and, when the folder has logits.npy, the max difference to it.
"""
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gpt2_reference"))
from gpt2_ref import decode_tensor, read_safetensors, tensor_bytes, write_safetensors  # noqa: E402,F401


def load_config(folder):
    with open(os.path.join(folder, "config.json")) as f:
        return json.load(f)


def load_params(folder):
    """{name: float64 tensor} from model.safetensors or the shards of model.safetensors.index.json."""
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    params = {}
    for name in files:
        header, _, raw = read_safetensors(os.path.join(folder, name))
        for key, info in header.items():
            if key in params:
                raise ValueError("tensor %s in two shards" % key)
            params[key] = decode_tensor(raw[key], info["dtype"], info["shape"])
    return params


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def rope_cos_sin(positions, head_dim, theta):
    """cos, sin [T, D] for absolute positions (HF: the D/2 frequencies repeated twice)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    ang = torch.as_tensor(positions, dtype=torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat([ang, ang], dim=-1)
    return torch.cos(emb), torch.sin(emb)


def apply_rope(x, cos, sin):
    """x [B, H, T, D]; cos and sin are used in x's dtype (float32 re-runs of the training goldens)."""
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return x * cos + rotate_half(x) * sin


class LlamaRef:
    """Float64 Llama / Mistral / Qwen2 (see the module docstring)."""

    def __init__(self, folder):
        cfg = load_config(folder)
        self.cfg = cfg
        self.model_type = cfg.get("model_type", "llama")
        if self.model_type not in ("llama", "mistral", "qwen2"):
            raise ValueError("model_type must be llama, mistral or qwen2, got " + self.model_type)
        self.L = cfg["num_hidden_layers"]
        self.C = cfg["hidden_size"]
        self.H = cfg["num_attention_heads"]
        self.Hkv = cfg.get("num_key_value_heads", self.H)
        self.D = cfg.get("head_dim") or self.C // self.H  # HF "head_dim" (may differ from C / H)
        # the C++ engine reads eps and theta from JSON as float32 / double; eps is used as float32 there
        self.eps = float(np.float32(cfg.get("rms_norm_eps", 1e-6)))
        self.theta = float(cfg.get("rope_theta", 10000.0))
        self.p = load_params(folder)
        tied = cfg.get("tie_word_embeddings", False) or "lm_head.weight" not in self.p
        self.lm_head = self.p["model.embed_tokens.weight"] if tied else self.p["lm_head.weight"]

    def _w(self, layer, name):
        return self.p["model.layers.%d.%s" % (layer, name)]

    def _proj(self, layer, name, x):
        y = x @ self._w(layer, name + ".weight").t()
        bias = self.p.get("model.layers.%d.%s.bias" % (layer, name))
        return y + bias if bias is not None else y

    def _qkv(self, layer, x, pos0):
        """x [B, T, C] -> q [B, H, T, D], k, v [B, Hkv, T, D] with RoPE applied at positions pos0..."""
        B, T, _ = x.shape
        h = rms_norm(x, self._w(layer, "input_layernorm.weight"), self.eps)
        q = self._proj(layer, "self_attn.q_proj", h).view(B, T, self.H, self.D).transpose(1, 2)
        k = self._proj(layer, "self_attn.k_proj", h).view(B, T, self.Hkv, self.D).transpose(1, 2)
        v = self._proj(layer, "self_attn.v_proj", h).view(B, T, self.Hkv, self.D).transpose(1, 2)
        cos, sin = rope_cos_sin(range(pos0, pos0 + T), self.D, self.theta)
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v

    def _attend(self, q, k, v, q_pos0):
        """q [B,H,Tq,D], k, v [B,Hkv,Tk,D] -> [B,H,Tq,D]; key j visible to query i when j <= q_pos0 + i."""
        rep = self.H // self.Hkv
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        Tq, Tk = q.shape[2], k.shape[2]
        keep = torch.arange(Tk)[None, :] <= (torch.arange(Tq)[:, None] + q_pos0)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.D)
        return torch.softmax(att.masked_fill(~keep, float("-inf")), dim=-1) @ v

    def _finish(self, layer, x, y):
        B, H, T, D = y.shape
        x = x + y.transpose(1, 2).reshape(B, T, H * D) @ self._w(layer, "self_attn.o_proj.weight").t()
        h = rms_norm(x, self._w(layer, "post_attention_layernorm.weight"), self.eps)
        g = h @ self._w(layer, "mlp.gate_proj.weight").t()
        u = h @ self._w(layer, "mlp.up_proj.weight").t()
        return x + (g * torch.sigmoid(g) * u) @ self._w(layer, "mlp.down_proj.weight").t()

    def _logits(self, x):
        return rms_norm(x, self.p["model.norm.weight"], self.eps) @ self.lm_head.t()

    def forward(self, tokens):
        """tokens [B, T] ints -> logits float64 [B, T, vocab] (full sequence in one pass)."""
        x = self.p["model.embed_tokens.weight"][torch.as_tensor(tokens, dtype=torch.long)]
        for layer in range(self.L):
            q, k, v = self._qkv(layer, x, 0)
            x = self._finish(layer, x, self._attend(q, k, v, 0))
        return self._logits(x)

    def decode_incremental(self, tokens):
        """The same logits one token at a time with a KV cache (self-check of the cache and the positions)."""
        tokens = torch.as_tensor(tokens, dtype=torch.long)
        B, T = tokens.shape
        cache = [(None, None) for _ in range(self.L)]
        out = []
        for t in range(T):
            x = self.p["model.embed_tokens.weight"][tokens[:, t:t + 1]]
            for layer in range(self.L):
                q, k, v = self._qkv(layer, x, t)
                kc, vc = cache[layer]
                kc = k if kc is None else torch.cat([kc, k], dim=2)
                vc = v if vc is None else torch.cat([vc, v], dim=2)
                cache[layer] = (kc, vc)
                x = self._finish(layer, x, self._attend(q, kc, vc, t))
            out.append(self._logits(x))
        return torch.cat(out, dim=1)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    folder = sys.argv[1]
    with open(os.path.join(folder, "tokens.json")) as f:
        tokens = json.load(f)
    logits = LlamaRef(folder).forward(tokens)
    print("logits", tuple(logits.shape))
    golden = os.path.join(folder, "logits.npy")
    if os.path.exists(golden):
        print("max |ref - logits.npy| = %.3g" % float((logits - torch.from_numpy(np.load(golden).astype(np.float64)))
                                                     .abs().max()))


if __name__ == "__main__":
    main()
