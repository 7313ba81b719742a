"""gaincell: analog gain-cell attention (Leroux et al. 2025) and a native GPT-2 / Llama engine, from Python.

The C++ library itself, called in place on numpy arrays (float32, C-contiguous: no copies; anything else raises
TypeError / ValueError), with the GIL released while it computes. Errors of the library (bad files, bad
values, invalid hardware) raise ``gaincell.Error``, a ValueError carrying gaincell's one-line message.

Main objects (see docs/python.md):

* ``Model(path, attention="softmax", hw=None, window=None, threads=0)``: load a Hugging Face folder; ``logits``
  (the bits of ``gaincell logits``), ``perplexity``, ``generate``, ``tokenize`` / ``detokenize``, ``activity``.
* ``HardwareConfig``: the hardware description (``configs/paper.toml``), every field an attribute
  (``hw.array.window_tokens = 512``), validated on assignment.
* ``gaincell_attention(q, k, v, ...)``: the gain-cell attention core (training form) on numpy arrays.
* ``GainCellArray``: the arrays of one head, written and read token by token (streaming decoder).
* ``cost(model_or_shape, ...)``: energy, latency and area against GPUs; ``device_fit(csv_path, ...)``: fit a
  measured cell I-V table.
* ``gaincell.torch`` (needs PyTorch): ``gaincell_attention`` as an autograd function with the paper's
  surrogate backward, and the ``GainCellAttention`` module with learnable per-head scalers.
"""
from __future__ import annotations

import os as _os

# OpenMP threads wait passively unless the environment says otherwise, as the CLI does (docs/performance.md,
# "OpenMP wait policy": busy waiting makes runs on a shared machine many times slower). libgomp reads the
# variable when it is loaded, so this holds when gaincell is imported before anything else that uses OpenMP.
_os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as _np  # noqa: E402

from . import _gaincell as _C  # noqa: E402
from ._gaincell import Error, attention_names, gemm_backend, set_threads  # noqa: E402

__version__ = _C.__version__

__all__ = [
    "Error", "Model", "HardwareConfig", "gaincell_attention", "gaincell_attention_backward", "default_scalers",
    "GainCellArray", "cost", "device_fit", "attention_names", "gemm_backend", "set_threads",
]

_SECTIONS = ("device", "array", "converters", "leakage", "noise")
_FIELDS = []


def _field_paths():
    if not _FIELDS:
        _FIELDS.extend(p for p, _ in _C._HardwareConfig.fields())
    return _FIELDS


class _Section:
    """A section of a HardwareConfig ("array", "converters.query", ...): its fields as attributes."""

    __slots__ = ("_hw", "_prefix")

    def __init__(self, hw, prefix):
        object.__setattr__(self, "_hw", hw)
        object.__setattr__(self, "_prefix", prefix)

    def __getattr__(self, name):
        path = self._prefix + "." + name
        if path not in _field_paths() and any(p.startswith(path + ".") for p in _field_paths()):
            return _Section(self._hw, path)  # a sub-section: converters.adc
        return self._hw[path]

    def __setattr__(self, name, value):
        self._hw[self._prefix + "." + name] = value

    def __dir__(self):
        p = self._prefix + "."
        return sorted({f[len(p):].split(".")[0] for f, _ in HardwareConfig.fields() if f.startswith(p)})

    def __repr__(self):
        d = self._hw.to_dict()
        for part in self._prefix.split("."):
            d = d[part]
        return f"<HardwareConfig.{self._prefix} {d}>"


class HardwareConfig(_C._HardwareConfig):
    """The hardware description of the gain-cell chip; defaults are the paper's values (configs/paper.toml).

    Every field of the hardware TOML (docs/hardware-toml.md) is an attribute under its section, and also an
    item under its dotted path::

        hw = gaincell.HardwareConfig.paper()
        hw.array.window_tokens = 512
        hw.converters.adc.levels = 16
        hw["noise.cell_gain_sigma"] = 0.05

    Each assignment is validated at once: a value of the wrong type raises TypeError, an invalid one
    gaincell.Error (a ValueError) with gaincell's message, and the config keeps its previous value. To change
    fields that are only valid together, use ``update({"converters.store.lo": 0.1, ...})`` (validated once).
    """

    def __init__(self, values=None):
        """A config with the paper's values, then ``values`` (a dict of dotted paths) applied by update()."""
        super().__init__()
        if values:
            self.update(values)

    @classmethod
    def paper(cls):
        """The paper's hardware (the defaults; configs/paper.toml)."""
        return cls()

    @classmethod
    def from_toml(cls, path):
        """Reads a hardware TOML file; missing keys keep the paper's values, unknown keys and invalid values
        raise gaincell.Error naming the key and the file."""
        h = cls()
        h._assign(_C._HardwareConfig.from_toml(_os.fspath(path)))
        return h

    @classmethod
    def from_toml_string(cls, text, where="<string>"):
        """Parses hardware TOML text (``where`` names it in errors)."""
        h = cls()
        h._assign(_C._HardwareConfig.from_toml_string(text, where))
        return h

    def to_toml(self, path):
        """Writes every field, with a comment each, to a TOML file (atomically)."""
        super().to_toml(_os.fspath(path))

    def toml(self):
        """The TOML text of to_toml()."""
        return super().toml()

    def to_dict(self):
        """Every field as nested dicts by section, e.g. d["converters"]["adc"]["levels"]."""
        return super().to_dict()

    def update(self, values):
        """Sets several fields by dotted path ({"array.window_tokens": 512, ...}), then validates once; on an
        error nothing changes."""
        super().update(dict(values))

    @staticmethod
    def fields():
        """[(dotted path, help)] of every field, in TOML order."""
        return _C._HardwareConfig.fields()

    def validate(self):
        """The problems of this config, one line each (always empty: assignments are validated)."""
        return super().validate()

    def lambda_per_token(self):
        """The leakage per token step lambda the simulator uses (from retention_tau_s when set)."""
        return super().lambda_per_token()

    def copy(self):
        """An independent copy."""
        h = type(self)()
        h._assign(self)
        return h

    def __getitem__(self, path):
        return self.get(path)

    def __setitem__(self, path, value):
        self.set(path, value)

    def __getattr__(self, name):
        if name in _SECTIONS:
            return _Section(self, name)
        raise AttributeError(f"HardwareConfig has no attribute '{name}' (sections: {', '.join(_SECTIONS)})")

    def __setattr__(self, name, value):
        raise AttributeError(f"HardwareConfig fields are set under their section, e.g. hw.array.window_tokens = "
                             f"512 or hw['array.window_tokens'] = 512; got '{name}'")

    def __dir__(self):
        return list(super().__dir__()) + list(_SECTIONS)

    def __repr__(self):
        return f"HardwareConfig({self.to_dict()})"

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()


def _hw_arg(hw):
    """None | HardwareConfig | path -> None | HardwareConfig."""
    if hw is None or isinstance(hw, _C._HardwareConfig):
        return hw
    if isinstance(hw, (str, _os.PathLike)):
        return HardwareConfig.from_toml(hw)
    raise TypeError(f"hw: expected None, a gaincell.HardwareConfig or a path to a hardware TOML, got "
                    f"{type(hw).__name__}")


class Model:
    """A model folder (Hugging Face GPT-2 or Llama family, or one written by ``gaincell init``/``train``) with
    one attention backend, run by the C++ engine.

    Args:
        path: the folder (config.json, model.safetensors or shards, tokenizer files).
        attention: "softmax", "sliding", "hardsigmoid", "gaincell-linear" or "gaincell" (attention_names()).
        hw: the hardware of the gain-cell backends: None (the paper's), a HardwareConfig or a TOML path.
        window: the window of windowed backends in tokens (None: the backend's default), as ``--window``.
        threads: worker threads (0 = all cores); results are the same bits at any count.
        seed: the root seed of the noisy analog simulation (``--seed``).
        precision: "f32" or "bf16" (``--precision``): with "bf16" the projection weights are held in bf16 (half the
            bytes; F32 files rounded once at load) and every projection multiplies bf16 operands with float32
            accumulation; the attention, norms and the gain-cell simulation stay float32 (docs/precision.md).

    The numbers are the CLI's: ``logits`` equals ``gaincell logits`` bit for bit, ``perplexity`` and
    ``generate`` run as ``gaincell perplexity`` and ``gaincell generate`` (same flags, same results).
    """

    def __init__(self, path, attention="softmax", hw=None, window=None, threads=0, seed=0, precision="f32"):
        if hw is not None and not isinstance(hw, (_C._HardwareConfig, str, _os.PathLike)):
            raise TypeError(f"hw: expected None, a gaincell.HardwareConfig or a path to a hardware TOML, got "
                            f"{type(hw).__name__}")
        self._m = _C._Model(_os.fspath(path), attention, hw, window, threads, seed, precision)

    @property
    def config(self):
        """The model's configuration as a dict (its config.json, in the family's Hugging Face spelling)."""
        return self._m.config

    @property
    def attention(self):
        """The name of the attention backend."""
        return self._m.attention

    @property
    def precision(self):
        """The precision of the projections: "f32" or "bf16"."""
        return self._m.precision

    @property
    def path(self):
        """The model folder."""
        return self._m.path

    def tokenize(self, text, add_special=False):
        """Token ids of ``text`` (list of int); add_special adds BOS/EOS as the tokenizer's configuration does."""
        return self._m.tokenize(text, add_special)

    def detokenize(self, ids):
        """The text of token ids (bytes that are not UTF-8 become U+FFFD)."""
        return self._m.detokenize(ids)

    def logits(self, tokens):
        """float32 logits [T, vocab] of every position of one sequence of token ids (list or integer array)."""
        return self._m.logits(tokens)

    def perplexity(self, text, context=None, stride=None):
        """Strided sliding-window perplexity of ``text`` (as ``gaincell perplexity``): windows of ``context``
        tokens (default n_positions) advancing by ``stride`` (default context // 2). Returns a dict with
        tokens, scored_tokens, bytes, nll_sum, mean_nll, perplexity, bits_per_byte, context, stride, attention."""
        return self._m.perplexity(text, context, stride)

    def generate(self, prompt, n=64, temperature=0.0, top_k=0, top_p=1.0, seed=0):
        """The ``n`` tokens generated after ``prompt``, as text (the prompt not included), through the decode
        caches (for the gain-cell backends the arrays themselves). temperature 0 is greedy; top_k 0 and top_p 1
        are off; ``seed`` seeds the sampler (``gaincell generate --seed`` also seeds the backend: Model(seed=))."""
        return self._m.generate(prompt, n, temperature, top_k, top_p, seed)

    def activity(self):
        """The per-layer activity counters of the last call (tokens, macs, cell_writes, query_pulses,
        cell_reads, charge_to_pulse, adc_conversions, digital_adds), a list of dicts; the cost model turns
        them into energy and latency. Empty for backends without counters."""
        return self._m.activity()

    def __repr__(self):
        return f"gaincell.Model({self.path!r}, attention={self.attention!r})"


def _scalers_arg(scalers):
    if scalers is None:
        return None
    if not isinstance(scalers, dict):
        raise TypeError(f"scalers: expected None or a dict such as {{'q.scale': [...]}}, got "
                        f"{type(scalers).__name__}")
    return {k: _np.ascontiguousarray(_np.asarray(v, dtype=_np.float32).reshape(-1)) for k, v in scalers.items()}


def gaincell_attention(q, k, v, hw=None, mode="nonlinear", window=None, scalers=None, seed=0):
    """The gain-cell attention core in training form (paper-spec §2.4), as the "gaincell" / "gaincell-linear"
    backends compute it inside a model.

    Args:
        q: float32 [H, T, D] (or [B, H, T, D]), C-contiguous; read in place without a batch axis.
        k, v: float32 [H_kv, T, D] (or [B, H_kv, T, D]); query head h reads KV head h // (H // H_kv).
        hw: a HardwareConfig (None: the paper's).
        mode: "nonlinear" (the cubic cell, the hardware model) or "linear" (I(y) = g y, the intermediate model).
        window: the sliding window in tokens (None: hw.array.window_tokens).
        scalers: None, or a dict of per-head affine scalers {"q.scale": [H], "q.shift": [H], "k.scale", ...,
            "out.shift"} (keys as default_scalers() returns them; missing keys keep the defaults). None means
            what a model without scaler tensors gets: q and out a = 1, b = 0; k and v a = 1, b = the device
            offset (0.45 V).
        seed: the seed of the cycle-to-cycle noise draws (when hw has noise on).

    Returns:
        float32 [H, T, D] (or [B, H, T, D]).
    """
    return _C.gaincell_attention(q, k, v, hw, mode, window, _scalers_arg(scalers), seed)


def gaincell_attention_backward(q, k, v, dout, hw=None, mode="nonlinear", window=None, scalers=None):
    """The gradient of gaincell_attention: (dq, dk, dv, scaler_grads) for dL/dout ``dout`` (the shape of q).
    "linear": exact (quantisers straight-through); "nonlinear": the paper's surrogate (§2.7: the forward value
    and ADC mask of the cubic cell, everything below the ADC through the linear model). scaler_grads is a dict
    keyed as the scalers. Noise is ignored (and read noise at an SNR refused: evaluation only)."""
    return _C.gaincell_attention_backward(q, k, v, dout, hw, mode, window, _scalers_arg(scalers))


def default_scalers(n_head, n_kv_head=None, head_dim=64, hw=None):
    """The scalers a model without scaler tensors uses, {"q.scale": float32 [n], ...}, with the sizes the
    backend expects for these heads."""
    return _C.default_scalers(n_head, n_kv_head, head_dim, hw)


class GainCellArray:
    """The gain-cell arrays of one attention head, driven token by token: the streaming decoder of the
    "gaincell" backends, in which the KV cache is the arrays.

    ``write(k, v)`` stores the next token (float32 [D] each) in slot t mod window; ``read(q)`` reads the arrays
    with query q at the time of the last write (each cell aged since its write, leakage applied) and returns
    float32 [D]. A write followed by a read is one decoder step; reading after every write reproduces
    ``gaincell_attention`` with ``hw.array.tile_mapping = "ring"`` (the physical arrays).

    Args: head_dim (<= hw.array.rows), hw, mode ("nonlinear" | "linear"), window (None: the hardware's),
    seed (noise draws), scalers (this head's, {"q.scale": [1], ...}).
    """

    def __init__(self, head_dim=64, hw=None, mode="nonlinear", window=None, seed=0, scalers=None):
        self._a = _C._GainCellArray(head_dim, hw, mode, window, seed, _scalers_arg(scalers))

    def write(self, k, v):
        """Writes raw k, v (float32 [D]) of the next token."""
        self._a.write(k, v)

    def read(self, q):
        """The head's output (float32 [D]) for raw query q (float32 [D]) at the time of the last write."""
        return self._a.read(q)

    @property
    def age(self):
        """int64 [window]: the age in tokens of each slot's token at the current time (-1: never written)."""
        return self._a.age

    @property
    def position(self):
        """Tokens written so far."""
        return self._a.position

    @property
    def head_dim(self):
        return self._a.head_dim

    @property
    def window(self):
        return self._a.window

    def activity(self):
        """Counters so far (cell_writes, query_pulses, cell_reads, charge_to_pulse, adc_conversions, ...)."""
        return self._a.activity()


def cost(model_or_shape, hw=None, gpus=("h100",), window=None, retention_s=0.0, gpu_baseline="measured-scaled",
         table=None):
    """Energy, latency and area of gain-cell attention per token against GPUs, as ``gaincell cost --json``.

    Args:
        model_or_shape: a preset name ("gpt2", "gpt2-xl", ...), a model folder, a gaincell.Model, or a shape
            (n_layer, n_head, head_dim[, vocab]) / dict with those keys.
        hw: a HardwareConfig or TOML path (None: the paper's). window: None = hw.array.window_tokens.
        gpus: names among h100, a100, rtx4090, jetson-nano. retention_s: > 0 sets the leakage from the clock.
        gpu_baseline: "measured-scaled" or "roofline". table: a cost-table TOML path (None: the paper's).

    Returns the summary as a dict (token, area, gpus, ...; docs/cost-model.md).
    """
    hw = _hw_arg(hw)
    if isinstance(model_or_shape, Model):
        model_or_shape = model_or_shape.path
    if isinstance(model_or_shape, (str, _os.PathLike)):
        name = _os.fspath(model_or_shape)
        s = _C._shape_of(name)
        shape = (s["n_layer"], s["n_head"], s["head_dim"], s["vocab_size"])
    elif isinstance(model_or_shape, dict):
        name = "custom"
        shape = (model_or_shape["n_layer"], model_or_shape["n_head"], model_or_shape["head_dim"],
                 model_or_shape.get("vocab_size", 50257))
    elif isinstance(model_or_shape, (tuple, list)) and len(model_or_shape) in (3, 4):
        name = "custom"
        shape = tuple(model_or_shape) + ((50257,) if len(model_or_shape) == 3 else ())
    else:
        raise TypeError("model_or_shape: expected a preset name, a model folder, a gaincell.Model or "
                        f"(n_layer, n_head, head_dim[, vocab]), got {type(model_or_shape).__name__}")
    if isinstance(gpus, str):
        gpus = (gpus,)
    table = None if table is None else _os.fspath(table)
    return _C._cost(name, *[int(x) for x in shape], hw, ",".join(gpus), window, float(retention_s), gpu_baseline,
                    table)


def device_fit(csv_path, v_in_v=0.9, v_in_tol_v=1e-4, order=3, v_offset_v=0.45, max_rel_rms=0.05, min_r2=0.99,
               hw=None, out=None, force=False):
    """Fits a measured cell I-V table (CSV: v_store_V, v_in_V, i_read_A) with a polynomial at one read voltage,
    as ``gaincell device fit`` (docs/device-model.md, "Device fit"). Returns a dict: coeffs_ua, error figures,
    linear_gain_ua_per_v, rows used and dropped, checks (each name, ok, detail), ok and the text report.
    With ``out`` a hardware TOML path, writes the fit into it (raises gaincell.Error when a check failed,
    unless force)."""
    return _C._device_fit(_os.fspath(csv_path), v_in_v, v_in_tol_v, order, v_offset_v, max_rel_rms, min_r2,
                          _hw_arg(hw), None if out is None else _os.fspath(out), force)
