#!/usr/bin/python3
"""Reference of the gain-cell attention core (paper-spec §2.4, §2.6) and of the software HardSigmoid attention
(§2.7), in PyTorch, for any dtype (float64 for goldens; float32 to see where a float32 port may differ).

Layout as the C++ Attention interface: qkv [B, T, 3C] = q | k | v, each [H, 64] head-major; out [B, T, C].

Gain-cell forward of one head (i = query token, j = key token, d = head dim):
   1. q' = a_q q + b_q, k' = a_k k + b_k, v' = a_v v + b_v  (a clamped to >= 1e-20)
   2. clip q' to [0, 1], k' and v' to [0, 0.9]
   3. quantise: q' 16 levels on [0, 1], k' v' 8 levels on [0, 0.9]  (step * round_half_even(x / step))
   4. y^K = k' - 0.45, y^V = v' - 0.45
   5. S_ij = 19.3 sum_d q'_id y^K_jd delta_ij                                  (linear)
      S_ij = sum_p alpha_p delta_ij^p sum_d q'_id (y^K_jd)^p                   (nonlinear)
      with delta_ij = exp(-lambda (i - j)) and m_ij = [max(0, i-W+1) <= j <= i]
   6. S_ij = 0 where m_ij = 0;  7. P = clip(S / 80, 0, 1)
   8-9. per tile tau of 64 absolute key positions (64 tau ... 64 tau + 63):
      A^tau_id = 19.3 sum_{j in tau} P_ij delta_ij y^V_jd                        (linear)
      A^tau_id = sum_p alpha_p sum_{j in tau} P_ij delta_ij^p (y^V_jd)^p        (nonlinear)
  10. per-tile ADC: Quant_32(clip(A^tau / 40, -1, 1)) on [-1, 1] (step 2/31; +-1 -> +-16 * 2/31 = +-1.0323)
  11. O = sum over tiles;  12. O' = a_out O + b_out
HardSigmoid software attention: out_i = sum_j m_ij clip(q_i . k_j / sqrt(64), 0, 1) v_j (no scalers, no
quantisation, no decay).

gaincell_heads() is the same forward for grouped-query attention and any head dimension (Llama family: q and k
arrive rotated): KV head g's k', v' use its own scalers and are stored once, every query head of its group reads
them with its own q / out scalers; a head of D > 64 spans stacked K arrays whose charges add on a shared line
(row_sum="shared_line") or are converted per array and summed as pulses (row_sum="digital", clipped to 1).
gaincell_attention() is gaincell_heads with one KV head per query head.
"""
import math

import torch

HEAD_DIM = 64
TILE = 64                      # keys per V array (tiles at absolute key positions)
ROWS = 64                      # rows per K array (head dims per array; D > ROWS stacks arrays)
GAIN = 19.3                    # linear cell gain (uA/V)
ALPHA = (0.5213636139, 13.612260634, -2.620445619, 46.05483778)  # collapsed cubic I(y), uA
V_OFFSET = 0.45                # stored-voltage zero
S_SAT = 80.0                   # charge-to-pulse saturation
A_FS = 40.0                    # second-product full scale
Q_RANGE, KV_RANGE, OUT_RANGE = (0.0, 1.0), (0.0, 0.9), (-1.0, 1.0)
Q_LEVELS, KV_LEVELS, OUT_LEVELS = 16, 8, 32
DEFAULT_SCALERS = {"q": (1.0, 0.0), "k": (1.0, 0.45), "v": (1.0, 0.45), "out": (1.0, 0.0)}


def quant_step(levels, lo, hi):
    return (hi - lo) / (levels - 1)


def quantize(x, levels, lo, hi):
    """step * round(x / step), round half to even, relative to 0 (not to lo)."""
    step = quant_step(levels, lo, hi)
    return torch.round(x / step) * step


def split_heads(qkv, n_head):
    """qkv [B, T, 3C] -> q, k, v [B, H, T, 64]."""
    B, T, C3 = qkv.shape
    return qkv.view(B, T, 3, n_head, C3 // (3 * n_head)).permute(2, 0, 3, 1, 4).unbind(0)


def merge_heads(y):
    B, H, T, D = y.shape
    return y.transpose(1, 2).reshape(B, T, H * D)


def window_mask(T, window):
    i = torch.arange(T).unsqueeze(1)
    j = torch.arange(T).unsqueeze(0)
    return (j <= i) & (j >= i - window + 1)


def decay_matrix(T, lam, mask, dtype):
    """delta_ij = exp(-lam (i - j)) inside the mask, 0 outside."""
    age = (torch.arange(T).unsqueeze(1) - torch.arange(T).unsqueeze(0)).clamp(min=0).to(dtype)
    return torch.exp(-lam * age) * mask.to(dtype)


def affine(x, scaler, dtype):
    """x [B, H, T, D]; scaler (a, b) with a, b scalars or per-head lists."""
    a = torch.as_tensor(scaler[0], dtype=dtype).reshape(-1, 1, 1).clamp(min=1e-20)
    b = torch.as_tensor(scaler[1], dtype=dtype).reshape(-1, 1, 1)
    return a * x + b


def gaincell_inputs(qkv, n_head, scalers):
    """Steps 1-2 (affine, clip), before the quantiser: q', k', v' [B, H, T, D]."""
    q, k, v = split_heads(qkv, n_head)
    qc = affine(q, scalers["q"], qkv.dtype).clamp(*Q_RANGE)
    kc = affine(k, scalers["k"], qkv.dtype).clamp(*KV_RANGE)
    vc = affine(v, scalers["v"], qkv.dtype).clamp(*KV_RANGE)
    return qc, kc, vc


def first_product(qq, yk, delta, model):
    """qq [B,H,T,D], yk [B,H,T,D], delta [T,T] -> S [B,H,T,T] (before masking)."""
    if model == "linear":
        return GAIN * (qq @ yk.transpose(-1, -2)) * delta
    return sum(ALPHA[p] * delta.pow(p) * (qq @ yk.pow(p).transpose(-1, -2)) for p in range(4))


def tile_product(P, yv, delta, model):
    """P, delta restricted to one tile's keys [.., T, n]; yv [.., n, D] -> A [.., T, D]."""
    if model == "linear":
        return GAIN * ((P * delta) @ yv)
    return sum(ALPHA[p] * ((P * delta.pow(p)) @ yv.pow(p)) for p in range(4))


def tile_columns(T, window, ring):
    """Key indices of each V array: absolute tiles j // 64 (paper), or with ring=True the physical arrays of a
    sliding window (slot j mod W, array (j mod W) // 64; array.tile_mapping = "ring" of the C++ config)."""
    if not ring:
        return [list(range(t0, min(t0 + TILE, T))) for t0 in range(0, T, TILE)]
    n_arrays = (min(T, window) + TILE - 1) // TILE
    return [[j for j in range(T) if (j % window) // TILE == a] for a in range(n_arrays)]


def gaincell_heads(q, k, v, model, window, lam, scalers=None, trace=None, ring=False, rows=ROWS,
                   row_sum="shared_line"):
    """Gain-cell attention of query heads q [B, H, T, D] over KV heads k, v [B, Hkv, T, D] (H_kv divides H;
    grouped-query attention) -> [B, H, T, D], computed in q.dtype.

    A KV head's K and V arrays are written once: k' and v' use the KV head's scalers (scalers["k"], ["v"]: one
    (a, b) per KV head, or scalars) and are stored once; query head h reads the arrays of KV head h // (H/Hkv)
    with its own scalers["q"], ["out"] (one per query head). With q and k already rotated (RoPE), the arrays
    hold the rotated keys.

    Head dims: D <= rows uses D rows of an array. D > rows spans ceil(D / rows) K arrays stacked along the rows:
    row_sum "shared_line" adds their column charges before one charge-to-pulse conversion (S over all D rows);
    "digital" converts each array's partial charge S_blk and sums the pulse widths:
    P = min(sum_blk clip(S_blk / S_sat, 0, 1), 1).
    trace: optional dict receiving q', k', v' before quantisation and the per-tile A / 40 ("adc",
    [tiles, B, H, T, D]). ring: tiles are the physical arrays of the window (see tile_columns)."""
    scalers = scalers or DEFAULT_SCALERS
    dtype = q.dtype
    T, D = q.shape[2], q.shape[3]
    rep = q.shape[1] // k.shape[1]
    qc = affine(q, scalers["q"], dtype).clamp(*Q_RANGE)
    kc = affine(k, scalers["k"], dtype).clamp(*KV_RANGE)
    vc = affine(v, scalers["v"], dtype).clamp(*KV_RANGE)
    qq = quantize(qc, Q_LEVELS, *Q_RANGE)
    yk = (quantize(kc, KV_LEVELS, *KV_RANGE) - V_OFFSET).repeat_interleave(rep, dim=1)  # stored once, read by
    yv = (quantize(vc, KV_LEVELS, *KV_RANGE) - V_OFFSET).repeat_interleave(rep, dim=1)  # the whole group
    mask = window_mask(T, window)
    delta = decay_matrix(T, lam, mask, dtype)
    if row_sum == "digital" and D > rows:
        P = torch.zeros(q.shape[:2] + (T, T), dtype=dtype)
        for r0 in range(0, D, rows):
            Sb = first_product(qq[..., r0:r0 + rows], yk[..., r0:r0 + rows], delta, model).masked_fill(~mask, 0.0)
            P = P + (Sb / S_SAT).clamp(0.0, 1.0)
        P = P.clamp(max=1.0)
    else:
        S = first_product(qq, yk, delta, model).masked_fill(~mask, 0.0)
        P = (S / S_SAT).clamp(0.0, 1.0)
    out = torch.zeros_like(qq)
    adc_in = []
    for cols in tile_columns(T, window, ring):
        A = tile_product(P[..., cols], yv[..., cols, :], delta[:, cols], model)
        adc_in.append(A / A_FS)
        out = out + quantize((A / A_FS).clamp(*OUT_RANGE), OUT_LEVELS, *OUT_RANGE)
    out = affine(out, scalers["out"], dtype)
    if trace is not None:
        trace.update(q=qc, k=kc, v=vc, adc=torch.stack(adc_in, dim=0))
    return out


def gaincell_attention(qkv, n_head, model, window, lam, scalers=None, trace=None, ring=False):
    """qkv [B, T, 3C] (computed in qkv.dtype) -> out [B, T, C]. model: "linear" or "nonlinear". One KV head per
    query head (gaincell_heads with H_kv = H)."""
    q, k, v = split_heads(qkv, n_head)
    return merge_heads(gaincell_heads(q, k, v, model, window, lam, scalers, trace, ring))


def hardsigmoid_attention(qkv, n_head, window):
    """Software baseline: clip(q k^T / sqrt(d), 0, 1) v over the causal window; qkv [B,T,3C] -> [B,T,C]."""
    q, k, v = split_heads(qkv, n_head)
    T = qkv.shape[1]
    att = (q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])).clamp(0.0, 1.0)
    att = att.masked_fill(~window_mask(T, window), 0.0)
    return merge_heads(att @ v)
