"""Gain-cell attention as a PyTorch op: fine-tune a torch model through the simulated hardware.

* ``gaincell_attention(q, k, v, scalers=None, hw=None, mode="nonlinear", window=None)``: a
  ``torch.autograd.Function`` whose forward is the C++ training form (the bits of the "gaincell" backends) and
  whose backward is the C++ gradient: exact for mode "linear" (quantisers straight-through), the paper's
  surrogate for "nonlinear" (paper-spec §2.7: the cubic forward value and ADC mask, everything below the ADC
  through the linear model). Gradients flow to q, k, v and to the per-head scalers.
* ``GainCellAttention(n_head, head_dim, ...)``: an ``nn.Module`` holding the learnable per-head scalers
  (q, k, v, out: scale and shift), initialised to the defaults; ``forward(q, k, v)`` on [B, H, T, D] (or
  [H, T, D]) with k, v [B, H_kv, T, D]. Swap it in where a model calls scaled_dot_product_attention.

Tensors are computed in float32 on the CPU: float32 contiguous CPU tensors are passed to C++ without a copy;
other dtypes or devices are converted, and the result (and the gradients) converted back.
"""
from __future__ import annotations

import torch as _torch

from . import HardwareConfig, _C, default_scalers

__all__ = ["gaincell_attention", "GainCellAttention", "GainCellAttentionFunction", "SCALER_NAMES"]

# The scaler tensors, in the order the autograd function takes them.
SCALER_NAMES = ("q.scale", "q.shift", "k.scale", "k.shift", "v.scale", "v.shift", "out.scale", "out.shift")


def _np(x):
    """A float32 contiguous CPU numpy view of a tensor (a copy only when dtype, device or layout differ)."""
    return x.detach().to(device="cpu", dtype=_torch.float32).contiguous().numpy()


class GainCellAttentionFunction(_torch.autograd.Function):
    """autograd.Function: forward(ctx, q, k, v, hw, mode, window, *scalers) in SCALER_NAMES order."""

    @staticmethod
    def forward(ctx, q, k, v, hw, mode, window, *scalers):
        sc = {n: _np(s).reshape(-1) for n, s in zip(SCALER_NAMES, scalers)}
        out = _C.gaincell_attention(_np(q), _np(k), _np(v), hw, mode, window, sc, 0)
        ctx.save_for_backward(q, k, v, *scalers)
        ctx.hw, ctx.mode, ctx.window = hw, mode, window
        return _torch.from_numpy(out).to(device=q.device, dtype=q.dtype)

    @staticmethod
    def backward(ctx, dout):
        q, k, v, *scalers = ctx.saved_tensors
        sc = {n: _np(s).reshape(-1) for n, s in zip(SCALER_NAMES, scalers)}
        dq, dk, dv, ds = _C.gaincell_attention_backward(_np(q), _np(k), _np(v), _np(dout), ctx.hw, ctx.mode,
                                                        ctx.window, sc)

        def back(x, like):
            return _torch.from_numpy(x).to(device=like.device, dtype=like.dtype).reshape(like.shape)

        grads = [back(ds[n], s) if s.requires_grad else None for n, s in zip(SCALER_NAMES, scalers)]
        return (back(dq, q), back(dk, k), back(dv, v), None, None, None, *grads)


def _check_hw(hw):
    if hw is not None and not isinstance(hw, _C._HardwareConfig):
        raise TypeError(f"hw: expected None or a gaincell.HardwareConfig, got {type(hw).__name__}")
    return hw


def _check_mode(mode):
    if mode not in ("nonlinear", "linear"):
        raise ValueError(f'mode: expected "nonlinear" or "linear", got {mode!r}')
    return mode


def gaincell_attention(q, k, v, scalers=None, hw=None, mode="nonlinear", window=None):
    """Gain-cell attention of q [(B,) H, T, D] with k, v [(B,) H_kv, T, D] -> [(B,) H, T, D], differentiable
    in q, k, v and the scalers. ``scalers``: None (the defaults, not trained) or a dict name -> tensor with the
    keys of SCALER_NAMES (missing ones take the defaults). hw: a gaincell.HardwareConfig (None: the paper's)."""
    hw = _check_hw(hw)
    mode = _check_mode(mode)
    H = q.shape[-3]
    Hkv = k.shape[-3]
    defaults = default_scalers(H, Hkv, q.shape[-1], hw)
    scalers = dict(scalers or {})
    unknown = set(scalers) - set(SCALER_NAMES)
    if unknown:
        raise ValueError(f"scalers: expected keys among {', '.join(SCALER_NAMES)}, got {sorted(unknown)}")
    tensors = [scalers[n] if n in scalers else _torch.from_numpy(defaults[n]) for n in SCALER_NAMES]
    return GainCellAttentionFunction.apply(q, k, v, hw, mode, window, *tensors)


class GainCellAttention(_torch.nn.Module):
    """Gain-cell attention with learnable per-head scalers (paper-spec §2.3), a drop-in for the attention
    core of a transformer block: ``out = module(q, k, v)`` on q [B, H, T, D], k, v [B, H_kv, T, D] (causal,
    sliding window of the hardware), out [B, H, T, D].

    Args:
        n_head: query heads H. head_dim: D (<= hw.array.rows, 64 for the paper's arrays).
        n_kv_head: key/value heads (None: H).
        hw: a gaincell.HardwareConfig (None: the paper's). mode: "nonlinear" (the hardware) or "linear".
        window: the sliding window in tokens (None: hw.array.window_tokens).
        scalers: initial values {name: sequence} (None: the defaults: q, out a = 1, b = 0; k, v a = 1,
            b = the device offset).

    Parameters: q_scale, q_shift, k_scale, k_shift, v_scale, v_shift, out_scale, out_shift (one value per
    head; k and v per the backend's KV heads when it keeps them per KV head).
    """

    def __init__(self, n_head, head_dim=64, n_kv_head=None, hw=None, mode="nonlinear", window=None, scalers=None):
        super().__init__()
        self.n_head, self.head_dim = int(n_head), int(head_dim)
        self.n_kv_head = int(n_kv_head) if n_kv_head is not None else self.n_head
        self.hw = None
        if _check_hw(hw) is not None:  # a private copy: later changes to the caller's config do not reach it
            self.hw = HardwareConfig()
            self.hw._assign(hw)
        self.mode = _check_mode(mode)
        self.window = window
        init = default_scalers(self.n_head, self.n_kv_head, self.head_dim, self.hw)
        for n, val in (scalers or {}).items():
            if n not in init:
                raise ValueError(f"scalers: expected keys among {', '.join(SCALER_NAMES)}, got {n!r}")
            init[n] = _torch.as_tensor(val, dtype=_torch.float32).reshape(-1).numpy()
        for n in SCALER_NAMES:
            self.register_parameter(n.replace(".", "_"), _torch.nn.Parameter(_torch.tensor(init[n])))

    def scalers(self):
        """The scaler parameters as {"q.scale": tensor, ...}."""
        return {n: getattr(self, n.replace(".", "_")) for n in SCALER_NAMES}

    def forward(self, q, k, v):
        tensors = [getattr(self, n.replace(".", "_")) for n in SCALER_NAMES]
        return GainCellAttentionFunction.apply(q, k, v, self.hw, self.mode, self.window, *tensors)

    def extra_repr(self):
        return (f"n_head={self.n_head}, head_dim={self.head_dim}, n_kv_head={self.n_kv_head}, mode={self.mode!r}, "
                f"window={self.window}")
