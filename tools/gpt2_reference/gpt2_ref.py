#!/usr/bin/python3
"""Reference GPT-2 forward pass in PyTorch, float64, for the C++ engine's parity goldens.

Hugging Face GPT-2 semantics, written out so that no `transformers` / `safetensors` package is needed
(only Debian's python3-torch and python3-numpy):
  * pre-LayerNorm blocks: x += attn(ln_1(x)); x += mlp(ln_2(x)); then ln_f; eps from config.json;
  * c_attn / c_proj / c_fc are HF Conv1D: weight [in, out], y = x @ W + b;
  * GELU tanh form ("gelu_new"): 0.5*x*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x^3)));
  * causal softmax attention with scale 1/sqrt(head_dim), or "sliding": causal softmax over the keys j with
    max(0, i-W+1) <= j <= i;
  * learned position embeddings (absolute position of the token), lm_head tied to wte (an explicit
    lm_head.weight is used when the file has one).

Parameters are read from model.safetensors exactly as the C++ engine reads them (after F16/BF16 rounding) and
converted to float64. The file also holds a tiny safetensors writer/reader (F32, F16, BF16).

Usage as a script:  /usr/bin/python3 tools/gpt2_reference/gpt2_ref.py <model folder> [--window W]
prints the logits of tokens.json and, when the folder has logits*.npy goldens, the max difference to them.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gaincell_ref  # noqa: E402

# --------------------------------------------------------------------------------------------------------------
# safetensors (8-byte little-endian header length N, N bytes of JSON padded with spaces to a multiple of 8,
# then the raw little-endian data; data_offsets are relative to the start of the data section)

_DTYPE_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8}


def tensor_bytes(t, dtype):
    """Raw little-endian bytes of tensor t stored as dtype ("F32", "F16", "BF16"); rounding is RNE."""
    t = t.detach().contiguous()
    if dtype == "F32":
        return t.to(torch.float32).numpy().astype("<f4").tobytes()
    if dtype == "F16":
        return t.to(torch.float16).numpy().astype("<f2").tobytes()
    if dtype == "BF16":
        return t.to(torch.float32).to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
    raise ValueError("unsupported dtype " + dtype)


def write_safetensors(path, tensors, dtype, metadata=None):
    """tensors: list of (name, torch tensor) in file order; every tensor stored as dtype."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name, t in tensors:
        b = tensor_bytes(t, dtype)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(path + ".tmp", path)


def read_safetensors(path):
    """Returns (header dict without __metadata__, metadata dict or None, {name: raw bytes})."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(path + ": shorter than 8 bytes")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(path + ": header length %d past the end of the file" % n)
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", None)
    body = data[8 + n:]
    raw = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        numel = int(np.prod(info["shape"], dtype=np.int64))
        if end - begin != numel * _DTYPE_BYTES[info["dtype"]] or end > len(body):
            raise ValueError(path + ": bad data_offsets for " + name)
        raw[name] = body[begin:end]
    return header, metadata, raw


def decode_tensor(raw, dtype, shape):
    """float64 torch tensor from raw little-endian bytes, exactly as stored."""
    if dtype == "F32":
        a = np.frombuffer(raw, dtype="<f4").astype(np.float64)
    elif dtype == "F16":
        a = np.frombuffer(raw, dtype="<f2").astype(np.float64)
    elif dtype == "BF16":
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        a = bits.view(np.float32).astype(np.float64)
    elif dtype == "F64":
        a = np.frombuffer(raw, dtype="<f8").astype(np.float64)
    else:
        raise ValueError("unsupported dtype " + dtype)
    return torch.from_numpy(a.reshape(shape).copy())


# --------------------------------------------------------------------------------------------------------------
# model


def load_config(folder):
    with open(os.path.join(folder, "config.json")) as f:
        return json.load(f)


def load_params(folder):
    """{name without "transformer." prefix: float64 tensor}; lm_head.weight is kept only when stored."""
    header, _, raw = read_safetensors(os.path.join(folder, "model.safetensors"))
    params = {}
    for name, info in header.items():
        key = name[len("transformer."):] if name.startswith("transformer.") else name
        params[key] = decode_tensor(raw[name], info["dtype"], info["shape"])
    return params


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdim=True)
    var = (x - mean).pow(2).mean(-1, keepdim=True)  # biased variance, as torch.nn.LayerNorm
    return (x - mean) / torch.sqrt(var + eps) * w + b


def attention_mask(t_q, t_k, q_pos0, window):
    """[t_q, t_k] bool: key j visible to query i (absolute positions q_pos0 + i and j)."""
    i = torch.arange(t_q).unsqueeze(1) + q_pos0
    j = torch.arange(t_k).unsqueeze(0)
    keep = j <= i
    if window is not None:
        keep &= j >= i - window + 1
    return keep


def attend(q, k, v, mask):
    """q [B,H,Tq,D], k, v [B,H,Tk,D], mask [Tq,Tk] -> [B,H,Tq,D] softmax attention."""
    att = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    att = att.masked_fill(~mask, float("-inf"))
    return torch.softmax(att, dim=-1) @ v


ANALOG_KINDS = ("hardsigmoid", "gaincell-linear", "gaincell")
SCALER_DEFAULTS = gaincell_ref.DEFAULT_SCALERS


class Gpt2Ref:
    """Float64 GPT-2. attention: "softmax" (exact causal), "sliding" (window W), or one of the analog kinds
    "hardsigmoid", "gaincell-linear", "gaincell" (gaincell_ref.py; window W, paper hardware, leakage `lam` per
    token, `ring` tiles = physical arrays of the window; per-head scalers from the tensors
    h.{L}.attn.gaincell.{q,k,v,out}.{scale,shift} [n_head], the paper defaults where absent)."""

    def __init__(self, folder, attention="softmax", window=None, lam=1.6e-4, ring=False):
        cfg = load_config(folder)
        self.n_layer, self.n_head, self.n_embd = cfg["n_layer"], cfg["n_head"], cfg["n_embd"]
        # the C++ engine reads eps as float32; use that value
        self.eps = float(np.float32(cfg.get("layer_norm_epsilon", 1e-5)))
        self.p = load_params(folder)
        self.lm_head = self.p.get("lm_head.weight", self.p["wte.weight"])
        if attention not in ("softmax", "sliding") + ANALOG_KINDS:
            raise ValueError("attention must be softmax, sliding or an analog kind, got " + attention)
        if attention in ("sliding",) + ANALOG_KINDS and (window is None or window < 1):
            raise ValueError(attention + " attention needs a window >= 1")
        self.kind = attention
        self.window = window if attention != "softmax" else None
        self.lam, self.ring = lam, ring

    def scalers(self, layer):
        """{"q": ([a per head], [b per head]), ...} of one layer (stored tensors or the defaults)."""
        out = {}
        for which, (a, b) in SCALER_DEFAULTS.items():
            base = "h.%d.attn.gaincell.%s." % (layer, which)
            sa, sb = self.p.get(base + "scale"), self.p.get(base + "shift")
            out[which] = (sa.tolist() if sa is not None else [a] * self.n_head,
                          sb.tolist() if sb is not None else [b] * self.n_head)
        return out

    def _attend(self, layer, q, k, v, mask, trace):
        """[B,H,T,D] q, k, v -> [B,H,T,D] with the configured kind."""
        if self.kind not in ANALOG_KINDS:
            return attend(q, k, v, mask)
        qkv = torch.cat([gaincell_ref.merge_heads(t) for t in (q, k, v)], dim=-1)
        if self.kind == "hardsigmoid":
            out = gaincell_ref.hardsigmoid_attention(qkv, self.n_head, self.window)
        else:
            model = "linear" if self.kind == "gaincell-linear" else "nonlinear"
            out = gaincell_ref.gaincell_attention(qkv, self.n_head, model, self.window, self.lam,
                                                  self.scalers(layer), trace, self.ring)
        B, T, C = out.shape
        return out.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)

    def _w(self, layer, name):
        return self.p["h.%d.%s" % (layer, name)]

    def _qkv(self, layer, x):
        """x [B,T,C] -> q, k, v [B,H,T,D]."""
        B, T, C = x.shape
        h = layer_norm(x, self._w(layer, "ln_1.weight"), self._w(layer, "ln_1.bias"), self.eps)
        qkv = h @ self._w(layer, "attn.c_attn.weight") + self._w(layer, "attn.c_attn.bias")
        split = qkv.view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)
        return split[0], split[1], split[2]

    def _finish_block(self, layer, x, y):
        """y [B,H,T,D] attention output -> x after c_proj, residual and MLP."""
        B, H, T, D = y.shape
        y = y.transpose(1, 2).reshape(B, T, H * D)
        x = x + y @ self._w(layer, "attn.c_proj.weight") + self._w(layer, "attn.c_proj.bias")
        h = layer_norm(x, self._w(layer, "ln_2.weight"), self._w(layer, "ln_2.bias"), self.eps)
        h = gelu_new(h @ self._w(layer, "mlp.c_fc.weight") + self._w(layer, "mlp.c_fc.bias"))
        return x + h @ self._w(layer, "mlp.c_proj.weight") + self._w(layer, "mlp.c_proj.bias")

    def _embed(self, tokens, pos0):
        tokens = torch.as_tensor(tokens, dtype=torch.long)
        pos = torch.arange(pos0, pos0 + tokens.shape[1])
        return self.p["wte.weight"][tokens] + self.p["wpe.weight"][pos].unsqueeze(0)

    def _logits(self, x):
        x = layer_norm(x, self.p["ln_f.weight"], self.p["ln_f.bias"], self.eps)
        return x @ self.lm_head.t()

    def forward(self, tokens, traces=None):
        """tokens: [B, T] ints -> logits float64 [B, T, vocab] (full sequence in one pass). traces: optional
        list that receives one gaincell_ref trace dict per layer (gain-cell kinds)."""
        x = self._embed(tokens, 0)
        T = x.shape[1]
        mask = attention_mask(T, T, 0, self.window)
        for layer in range(self.n_layer):
            q, k, v = self._qkv(layer, x)
            trace = {} if traces is not None else None
            x = self._finish_block(layer, x, self._attend(layer, q, k, v, mask, trace))
            if traces is not None:
                traces.append(trace)
        return self._logits(x)

    def decode_incremental(self, tokens):
        """Same logits as forward(), computed one token at a time with a KV cache that keeps at most the
        window's keys (self-check of the cache and of the window's absolute-position bookkeeping). Softmax
        kinds only."""
        if self.kind in ANALOG_KINDS:
            raise ValueError("decode_incremental: softmax / sliding only")
        tokens = torch.as_tensor(tokens, dtype=torch.long)
        B, T = tokens.shape
        cache = [([], []) for _ in range(self.n_layer)]
        out = []
        for t in range(T):
            x = self._embed(tokens[:, t:t + 1], t)
            for layer in range(self.n_layer):
                q, k, v = self._qkv(layer, x)
                ks, vs = cache[layer]
                ks.append(k)
                vs.append(v)
                if self.window is not None and len(ks) > self.window:
                    ks.pop(0)
                    vs.pop(0)
                y = attend(q, torch.cat(ks, dim=2), torch.cat(vs, dim=2), torch.ones(1, len(ks), dtype=torch.bool))
                x = self._finish_block(layer, x, y)
            out.append(self._logits(x))
        return torch.cat(out, dim=1)


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    folder = argv[1]
    window = int(argv[argv.index("--window") + 1]) if "--window" in argv else None
    model = Gpt2Ref(folder, "sliding" if window else "softmax", window)
    with open(os.path.join(folder, "tokens.json")) as f:
        tokens = json.load(f)
    logits = model.forward(tokens)
    print("logits shape", tuple(logits.shape), "first", logits.flatten()[:4].tolist())
    golden = os.path.join(folder, "logits_sliding_w%d.npy" % window if window else "logits.npy")
    if os.path.exists(golden):
        ref = torch.from_numpy(np.load(golden).astype(np.float64))
        print("max |logits - %s| = %.3g" % (os.path.basename(golden), (logits - ref).abs().max().item()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
