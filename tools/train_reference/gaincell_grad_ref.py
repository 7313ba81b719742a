#!/usr/bin/python3
"""Attention-level gradient goldens for the gain-cell backends (PyTorch autograd, float64), written under
tests/data/attention_grad/ (deterministic; same bytes every run). Extends tools/gpt2_reference/gaincell_ref.py:

  gaincell-linear, quantisers on: autograd through paper-spec §2.4 with straight-through quantisers
      (x + (Q(x) - x).detach(), §2.6); clip masks and the a >= 1e-20 clamp by torch.clamp.
  gaincell (nonlinear), surrogate of §2.7 as the authors' Triton backward: the per-tile value is the cubic A,
      the gradient is that of the linear model with gain 19.3, whose charge-to-pulse mask comes from the
      *linear* S and whose dV uses the linear P:  A = A_cubic.detach() + (A_lin - A_lin.detach()).
      The ADC clip mask and the output scaler see the cubic A (the forward value).

Case: qkv float32 [1, 80, 3*C] with H = 2 heads of D = 16, window 72 (slides), tiles [0, 64) and [64, 80),
lambda 2e-3, per-head non-default scalers (float32-exact); dout float32 [1, 80, C] uniform in [-1, 1].
Files: qkv.npy, dout.npy, {linear_ste,surrogate}_dqkv.npy [1, 80, 3C] and {..}_scalers.npy [8, H] (rows:
q.scale, q.shift, k.scale, k.shift, v.scale, v.shift, out.scale, out.shift), params.json.
Inputs are nudged off quantiser rounding boundaries, and the seed is chosen so that no S / 80 lies within
1e-5 of a clip edge and no A / 40 within 1e-5 of +-1, so that a float32 port takes the same branches.

Run from the repository root:  /usr/bin/python3 tools/train_reference/gaincell_grad_ref.py
"""
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "gpt2_reference"))
import gaincell_ref as G  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
OUT_DIR = os.path.join(REPO, "tests", "data", "attention_grad")

SEED = 4242
B, T, H, D = 1, 80, 2, 16
C = H * D
WINDOW = 72
LAMBDA = 2e-3
GUARD = 1e-5
SCALERS = {
    "q": ([0.75, 1.25], [0.125, -0.0625]),
    "k": ([0.875, 1.125], [0.4375, 0.5]),
    "v": ([1.0625, 0.8125], [0.375, 0.46875]),
    "out": ([0.5, 1.5], [0.25, -0.125]),
}
NAMES = ("q", "k", "v", "out")


def ste(x, levels, lo, hi):
    return x + (G.quantize(x, levels, lo, hi) - x).detach()


def affine(x, a, b):
    return a.clamp(min=1e-20).reshape(-1, 1, 1) * x + b.reshape(-1, 1, 1)


def heads(q, k, v, params, model, window=WINDOW, lam=LAMBDA, row_sum="shared_line", trace=None):
    """Differentiable gain-cell attention of query heads q [B, H, T, D] over KV heads k, v [B, Hkv, T, D]
    (grouped-query when Hkv < H; q and k already rotated for RoPE models) -> [B, H, T, D].

    params: name -> (a, b) tensors (require grad): q and out [H], k and v [Hkv]. A KV head's k', v' use its own
    scalers and are stored once; query head h reads KV head h // (H / Hkv) (repeat_interleave, so autograd sums
    dK, dV and the k, v scaler gradients over the group). Heads of D > gaincell_ref.ROWS span stacked K arrays:
    row_sum "shared_line" adds their charges before one charge-to-pulse conversion; "digital" converts each
    block and sums the pulses, P = min(sum_blk clip(S_blk / 80, 0, 1), 1) (gaincell_ref.gaincell_heads).
    model "linear": plain autograd with straight-through quantisers. "nonlinear": the cubic forward with the
    surrogate backward of the module docstring (the linear model's P, from the linear S, below the ADC).
    trace: optional dict that receives the scaler outputs before the clip (uq, uk, uv), after it (q, k, v),
    the linear model's S / 80 per K block (list s; with "nonlinear" also s_nl), the K row blocks (blocks),
    with a digital row sum the linear pulse sum before its clip to 1 (psum), and the per-tile A / 40 of the
    forward model (list adc)."""
    T, D = q.shape[2], q.shape[3]
    rep = q.shape[1] // k.shape[1]
    uq, uk, uv = affine(q, *params["q"]), affine(k, *params["k"]), affine(v, *params["v"])
    qc, kc, vc = uq.clamp(*G.Q_RANGE), uk.clamp(*G.KV_RANGE), uv.clamp(*G.KV_RANGE)
    qq = ste(qc, G.Q_LEVELS, *G.Q_RANGE)
    yk = (ste(kc, G.KV_LEVELS, *G.KV_RANGE) - G.V_OFFSET).repeat_interleave(rep, dim=1)
    yv = (ste(vc, G.KV_LEVELS, *G.KV_RANGE) - G.V_OFFSET).repeat_interleave(rep, dim=1)
    mask = G.window_mask(T, window)
    delta = G.decay_matrix(T, lam, mask, q.dtype)
    digital = row_sum == "digital" and D > G.ROWS
    blocks = [slice(r0, min(r0 + G.ROWS, D)) for r0 in range(0, D, G.ROWS)] if digital else [slice(0, D)]

    def pulses(cell):
        """S / 80 per block and the pulse P of the cell model `cell`."""
        if not digital:
            s = G.first_product(qq, yk, delta, cell).masked_fill(~mask, 0.0) / G.S_SAT
            return [s], None, s.clamp(0.0, 1.0)
        s = [G.first_product(qq[..., b], yk[..., b], delta, cell).masked_fill(~mask, 0.0) / G.S_SAT for b in blocks]
        psum = s[0].clamp(0.0, 1.0)
        for x in s[1:]:
            psum = psum + x.clamp(0.0, 1.0)
        return s, psum, psum.clamp(max=1.0)

    s_lin, psum, P_lin = pulses("linear")
    if model == "nonlinear":
        s_nl, _, P_nl = pulses("nonlinear")
    out = torch.zeros_like(qq)
    adc_in = []
    for t0 in range(0, T, G.TILE):
        cols = slice(t0, min(t0 + G.TILE, T))
        A_lin = G.tile_product(P_lin[..., cols], yv[..., cols, :], delta[:, cols], "linear")
        if model == "nonlinear":
            A_nl = G.tile_product(P_nl[..., cols], yv[..., cols, :], delta[:, cols], "nonlinear")
            A = A_nl.detach() + (A_lin - A_lin.detach())
        else:
            A = A_lin
        adc_in.append((A / G.A_FS).detach())
        out = out + ste((A / G.A_FS).clamp(*G.OUT_RANGE), G.OUT_LEVELS, *G.OUT_RANGE)
    out = affine(out, *params["out"])
    if trace is not None:
        trace.update(uq=uq.detach(), uk=uk.detach(), uv=uv.detach(), q=qc.detach(), k=kc.detach(), v=vc.detach(),
                     s=[x.detach() for x in s_lin], blocks=blocks, adc=adc_in)
        if psum is not None:
            trace["psum"] = psum.detach()
        if model == "nonlinear":
            trace["s_nl"] = [x.detach() for x in s_nl]
    return out


def attention(qkv, params, model, trace=None, n_head=H, window=WINDOW, lam=LAMBDA):
    """qkv [B, T, 3C] (requires grad) -> out [B, T, C]: heads() with one KV head per query head; params: name ->
    (a, b) tensors [H] (require grad)."""
    q, k, v = G.split_heads(qkv, n_head)
    return G.merge_heads(heads(q, k, v, params, model, window, lam, "shared_line", trace))


def make_params(dtype):
    return {n: (torch.tensor(a, dtype=dtype, requires_grad=True), torch.tensor(b, dtype=dtype, requires_grad=True))
            for n, (a, b) in SCALERS.items()}


def gradients(qkv32, dout32, model, dtype=torch.float64):
    qkv = torch.tensor(qkv32, dtype=dtype, requires_grad=True)
    params = make_params(dtype)
    out = attention(qkv, params, model)
    out.backward(torch.tensor(dout32, dtype=dtype))
    rows = []
    for n in NAMES:
        rows += [params[n][0].grad, params[n][1].grad]
    return qkv.grad.numpy(), torch.stack(rows).numpy()


def boundary_distance(x, levels, lo, hi):
    step = G.quant_step(levels, lo, hi)
    r = x / step
    return (r - torch.floor(r) - 0.5).abs() * step


def near_edges(qkv32):
    """Clip-edge near-misses (S/80 near 0 or 1 but not exactly 0; |A/40| near 1) over both models."""
    count = 0
    for model in ("linear", "nonlinear"):
        tr = {}
        attention(torch.tensor(qkv32, dtype=torch.float64), make_params(torch.float64), model, tr)
        for s in tr["s"] + tr.get("s_nl", []):
            live = G.quantize(tr["q"], G.Q_LEVELS, *G.Q_RANGE).abs().sum(-1, keepdim=True) > 0
            count += int((((s.abs() < GUARD) & live & G.window_mask(T, WINDOW)) | ((s - 1).abs() < GUARD)).sum())
        for a in tr["adc"]:
            count += int(((a.abs() - 1).abs() < GUARD).sum())
    return count


def move_off_ties(qkv32):
    """Nudges raw q/k/v values whose quantiser input lies within GUARD of a rounding boundary by +3e-5, and
    moves one q'_id up by a quantiser step where a dot product q'_i . y^K_j cancels to (nearly) 0 with q'_i
    not all zero (the sign of S, hence the charge-to-pulse mask, would then be decided by rounding)."""
    for _ in range(20):
        tr = {}
        attention(torch.tensor(qkv32, dtype=torch.float64), make_params(torch.float64), "linear", tr)
        near = []
        for name, levels, rng in (("q", G.Q_LEVELS, G.Q_RANGE), ("k", G.KV_LEVELS, G.KV_RANGE),
                                  ("v", G.KV_LEVELS, G.KV_RANGE)):
            near.append(G.merge_heads(boundary_distance(tr[name], levels, *rng) < GUARD))
        near = torch.cat(near, dim=-1).numpy()
        qq = G.quantize(tr["q"], G.Q_LEVELS, *G.Q_RANGE)  # [B, H, T, D]
        s = tr["s"][0]
        cancel = (s.abs() < GUARD) & (qq.abs().sum(-1, keepdim=True) > 0) & G.window_mask(T, WINDOW)
        if not near.any() and not cancel.any():
            return
        qkv32[near] += np.float32(3e-5)
        for b, h, i in {tuple(x[:3]) for x in cancel.nonzero().tolist()}:
            d = int(torch.argmin(qq[b, h, i]))  # lowest code: one step up stays inside [0, 1]
            qkv32[b, i, h * D + d] += np.float32(1.0 / 15 / SCALERS["q"][0][h])
    raise RuntimeError("could not move inputs off quantiser boundaries and cancelling dot products")


def make_inputs():
    for seed in range(SEED, SEED + 200):
        rng = np.random.default_rng(seed)
        q = rng.uniform(-0.25, 1.25, size=(B, T, C))
        k = rng.uniform(-0.35, 0.35, size=(B, T, C)) + rng.uniform(-0.2, 0.3, size=(B, T, 1))
        v = rng.uniform(-0.35, 0.35, size=(B, T, C)) + rng.uniform(-0.3, 0.3, size=(B, 1, C))
        qkv32 = np.concatenate([q, k, v], axis=-1).astype(np.float32)
        move_off_ties(qkv32)
        if near_edges(qkv32) == 0:
            dout32 = rng.uniform(-1, 1, size=(B, T, C)).astype(np.float32)
            return seed, qkv32, dout32
    raise RuntimeError("no seed without clip-edge near-misses")


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    seed, qkv32, dout32 = make_inputs()
    np.save(os.path.join(OUT_DIR, "qkv.npy"), qkv32)
    np.save(os.path.join(OUT_DIR, "dout.npy"), dout32)
    report = {}
    for name, model in (("linear_ste", "linear"), ("surrogate", "nonlinear")):
        dqkv, dsc = gradients(qkv32, dout32, model)
        np.save(os.path.join(OUT_DIR, name + "_dqkv.npy"), dqkv.astype(np.float32))
        np.save(os.path.join(OUT_DIR, name + "_scalers.npy"), dsc.astype(np.float32))
        d32, s32 = gradients(qkv32, dout32, model, torch.float32)
        report[name] = {"model": model, "dqkv_max_abs": float(np.abs(dqkv).max()),
                        "float32_rerun_dqkv_max_abs_diff": float(np.abs(d32 - dqkv).max()),
                        "float32_rerun_scalers_max_rel_diff": float((np.abs(s32 - dsc) / (np.abs(dsc) + 1)).max()),
                        "nonzero_dqkv": int((dqkv != 0).sum())}
        print(name, report[name])
    params = {"generator": "tools/train_reference/gaincell_grad_ref.py (float64 PyTorch autograd)", "seed": seed,
              "B": B, "T": T, "n_head": H, "head_dim": D, "window": WINDOW, "decay_lambda": LAMBDA,
              "tile_keys": G.TILE, "scalers": {n: {"a": a, "b": b} for n, (a, b) in SCALERS.items()},
              "scaler_rows": [n + "." + p for n in NAMES for p in ("scale", "shift")], "cases": report}
    with open(os.path.join(OUT_DIR, "params.json"), "w") as f:
        f.write(json.dumps(params, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
