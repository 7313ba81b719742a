#!/usr/bin/python3
"""PyTorch autograd goldens for training Llama-family models with the gain-cell backends
(tests/parity/train_llama_gaincell_parity_test.cpp), written to tests/data/train_llama_parity_gaincell/
(deterministic; see its README.md).

Models: two tiny random Llamas with rotary embeddings (HF half-split pairs) and grouped-query attention, tied
embeddings, no biases, with per-layer scalers h.{L}.attn.gaincell.{q,out}.{scale,shift} [n_head] and
{k,v}.{scale,shift} [n_kv_head] (scalers_for below: k and v shifts above the store offset, so that S / 80
saturates (d96; with head dim 8 it cannot: 19.3 * 8 * 0.45 < 80) and A / 40 clips for some heads):
  d8   2 layers, hidden 16, 4 query heads over 2 KV heads of dim 8 (8 rows of a 64-row array), T = 72 tokens
       with window 32 (the window slides, and the keys cross the array boundary at 64);
  d96  1 layer, hidden 16, 2 query heads over 1 KV head of dim 96 (two stacked K arrays), T = 16, window 1024.
Backends, one run each (folder <case>/<backend>/): gaincell_linear (gaincell-linear), gaincell (the cubic cell
with the surrogate backward) and, for d96, gaincell_digital (the cubic cell, array.row_sum = "digital").
Hardware: configs/paper.toml (checked against gaincell_ref.py by make_train_gaincell_goldens.paper_hardware)
with the window above.

Reference: tools/llama_reference/llama_ref.py's Llama (RMSNorm, RoPE, SwiGLU, float64) whose attention is
gaincell_grad_ref.heads on the rotated q and k: autograd through paper-spec §2.4 with straight-through quantisers
(§2.6) and the scalers as trainable leaves; a KV head's k', v' are formed with its own scalers and read by the
group's query heads (repeat_interleave, so autograd sums their gradients). For the cubic cell the backward is
the surrogate of §2.7 as docs/training.md defines it: A = A_cubic.detach() + (A_lin - A_lin.detach()), i.e. the
forward value, the ADC clip mask and the out scaler's gradient from the cubic A; below the ADC the linear model
(gain 19.3): charge-to-pulse mask from the linear S, dV from the linear P (with a digital row sum: each block's
linear pulse and the clip of their sum to 1).

Training exactly as make_train_gaincell_goldens.py (its train(): AdamW 0.9/0.95, eps 1e-8, weight decay 0.1 on
>= 2-D tensors, warm-up 3 then cosine 1e-2 -> 1e-3, 2 micro-batches of B 2, clip_grad_norm_(1.0), 10 steps),
with each step's windows chosen at that step's parameters so that every branch input of every forward (q', k',
v' against their rounding boundaries and range ends; the linear S / 80 of every K block against 0 and 1 for
live queries and in-window keys; a digital pulse sum against 1; every per-tile A / 40 against the ADC
boundaries and +-1) is >= GUARD from its decision point in float64. With head dim 8 a dot product of codes
q'.y^K cancels exactly for ~0.3 % of the query-key pairs (its sign, hence the charge-to-pulse mask, is then
decided by rounding), so the window is kept at 32 keys to leave each position a fair chance of a clear token.
These models have too many branch inputs for a forward on windows that were not chosen to be clear (~40k
rounding inputs in one of d8), so the loss after the 10 steps is measured on one more micro-batch chosen the
same way at the final parameters (batches.json entry 10). A float32 re-run of the trajectory must take every
branch as float64 does (report.json).

Files per case: config.json, model.safetensors (weights F16, scalers F32); per backend: batches.json
([step][micro-batch][B][T + 1] for the 10 steps, then [[B rows]]: the final micro-batch), expected.safetensors
(logits, loss0, grad.<name> of every parameter and scaler, step_loss [10], final_loss on the final micro-batch,
final.<name> of every scaler and of FINAL_TENSORS after the 10 steps); report.json.

Run from the repository root:  /usr/bin/python3 tools/train_reference/make_llama_train_gaincell_goldens.py
"""
import json
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "gpt2_reference"))
sys.path.insert(0, os.path.join(HERE, "..", "llama_reference"))
sys.path.insert(0, HERE)
import gaincell_grad_ref as GR  # noqa: E402
import gaincell_ref as G  # noqa: E402
import gpt2_ref  # noqa: E402
import llama_ref  # noqa: E402
import make_gaincell_goldens as MG  # noqa: E402  (mixed-dtype safetensors writer, boundary distances)
import make_llama_gaincell_goldens as LG  # noqa: E402  (weights, scalers, config.json)
import make_train_gaincell_goldens as TG  # noqa: E402  (paper_hardware, train, converters)
import make_train_goldens as MT  # noqa: E402  (ce)

OUT_DIR = os.path.join(REPO, "tests", "data", "train_llama_parity_gaincell")
B = TG.B
GUARD = 1e-5
SCALER_KINDS = ("q", "k", "v", "out")
FINAL_TENSORS = ("model.layers.0.self_attn.k_proj.weight", "model.layers.0.input_layernorm.weight",
                 "model.norm.weight")
LINEAR = ("gaincell_linear", "gaincell-linear", "shared_line")
CUBIC = ("gaincell", "gaincell", "shared_line")
CASES = [
    dict(name="d8", seed=6101, L=2, C=16, H=4, Hkv=2, D=8, inter=32, vocab=32, T=72, window=32,
         k_shift=(0.55, 0.65), v_shift=(0.6, 0.75), backends=(LINEAR, CUBIC)),
    dict(name="d96", seed=6102, L=1, C=16, H=2, Hkv=1, D=96, inter=32, vocab=32, T=16, window=None,
         k_shift=(0.5, 0.6), v_shift=(0.6, 0.75),
         backends=(LINEAR, CUBIC, ("gaincell_digital", "gaincell", "digital"))),
]


def scalers_for(H, Hkv, L, seed, k_shift, v_shift):
    """Per layer: q, out per query head, k, v per KV head, as make_llama_gaincell_goldens.scalers_for but with the
    k and v shifts drawn from the ranges k_shift, v_shift (multiples of 1/64, exact in float32). Shifts above the
    store offset 0.45 give the stored keys and values a common sign, so that S / 80 saturates and A / 40 clips
    for some heads."""
    rng = np.random.default_rng(seed)
    q64 = lambda lo, hi, n: [float(x) / 64 for x in rng.integers(int(lo * 64), int(hi * 64) + 1, n)]  # noqa: E731
    return [{"q": (q64(0.75, 1.25, H), q64(0.4, 0.6, H)), "k": (q64(0.9, 1.4, Hkv), q64(*k_shift, Hkv)),
             "v": (q64(0.9, 1.4, Hkv), q64(*v_shift, Hkv)), "out": (q64(0.5, 1.5, H), q64(-0.1, 0.1, H))}
            for _ in range(L)]


class LlamaGainCellTrainRef(llama_ref.LlamaRef):
    """Llama whose attention is gaincell_grad_ref.heads (differentiable; scalers are the model file's
    h.{L}.attn.gaincell.* tensors); all parameters in `dtype`."""

    def __init__(self, folder, kind, row_sum, window, lam, dtype=torch.float64):
        super().__init__(folder)
        self.p = {n: t.to(dtype) for n, t in self.p.items()}
        self.lm_head = self.p["model.embed_tokens.weight"]  # tied: the same tensor, so both uses add to its gradient
        self.model = "linear" if kind == "gaincell-linear" else "nonlinear"
        self.row_sum, self.window, self.lam = row_sum, window, lam

    def forward(self, tokens, traces=None):
        x = self.p["model.embed_tokens.weight"][torch.as_tensor(tokens, dtype=torch.long)]
        for layer in range(self.L):
            q, k, v = self._qkv(layer, x, 0)  # q and k rotated
            base = "h.%d.attn.gaincell." % layer
            params = {s: (self.p[base + s + ".scale"], self.p[base + s + ".shift"]) for s in SCALER_KINDS}
            tr = {} if traces is not None else None
            y = GR.heads(q, k, v, params, self.model, self.window, self.lam, self.row_sum, tr)
            if traces is not None:
                traces.append(tr)
            x = self._finish(layer, x, y)
        return self._logits(x)


# --------------------------------------------------------------------------------------------------------------
# branch decisions (the counterparts of make_train_gaincell_goldens.py's for K blocks, windows and pulse sums)


class Branches:
    """choose_row, decisions and coverage of TG.train for sequences of T tokens over `vocab` with window W."""

    def __init__(self, T, vocab, window):
        self.T, self.vocab, self.window = T, vocab, window

    def clearance(self, traces, t):
        """Smallest distance of position t's branch inputs from their decision points, over layers."""
        d = math.inf
        lo_key = max(0, t - self.window + 1)
        for tr in traces:
            for raw, _, levels, (lo, hi) in TG.CONVERTERS:
                u = tr[raw][:, :, t]
                inside = (u > lo) & (u < hi)
                rounding = MG.boundary_distance(u.clamp(lo, hi), levels, lo, hi)
                d = min(d, torch.minimum((u - lo).abs(), (u - hi).abs()).min().item(),
                        torch.where(inside, rounding, math.inf).min().item())
            for a in tr["adc"]:
                d = min(d, MG.adc_boundary_distance(a[:, :, t]).min().item())
            codes = G.quantize(tr["q"][:, :, t], G.Q_LEVELS, *G.Q_RANGE)  # [B, H, D]
            for s, rows in zip(tr["s"], tr["blocks"]):
                st = s[:, :, t, lo_key:t + 1]
                live = codes[..., rows].abs().sum(-1, keepdim=True) > 0  # all-zero codes: S = 0 exactly
                d = min(d, torch.where(live, st.abs(), math.inf).min().item(), (st - 1).abs().min().item())
            if "psum" in tr:  # exactly 1 only as a clipped block plus exact zeros: the same in float32
                ps = tr["psum"][:, :, t, lo_key:t + 1]
                d = min(d, torch.where(ps == 1.0, math.inf, (ps - 1).abs()).min().item())
        return d

    def choose_row(self, model, rng):
        """T + 1 tokens; each of the first T redrawn until its position is >= GUARD from every decision point."""
        tokens, redraws = [], 0
        for t in range(self.T):
            for _ in range(500):
                cand = int(rng.integers(0, self.vocab))
                traces = []
                with torch.no_grad():
                    model.forward([tokens + [cand]], traces)
                if self.clearance(traces, t) >= GUARD:
                    break
                redraws += 1
            else:
                raise RuntimeError("no token clear of the branch points at position %d" % t)
            tokens.append(cand)
        return tokens + [int(rng.integers(0, self.vocab))], redraws

    @staticmethod
    def decisions(traces):
        out = []
        for tr in traces:
            for raw, clipped, levels, (lo, hi) in TG.CONVERTERS:
                out += [torch.round(tr[clipped] / G.quant_step(levels, lo, hi)), (tr[raw] >= lo) & (tr[raw] <= hi)]
            out += [(s >= 0) & (s <= 1) for s in tr["s"]]
            if "psum" in tr:
                out.append(tr["psum"] <= 1)
            for a in tr["adc"]:
                out += [torch.round(a.clamp(*G.OUT_RANGE) / G.quant_step(G.OUT_LEVELS, *G.OUT_RANGE)), a.abs() <= 1]
        return torch.cat([x.to(torch.int64).flatten() for x in out])

    @staticmethod
    def coverage(traces):
        c = {}

        def add(key, n):
            c[key] = c.get(key, 0) + int(n)
        for tr in traces:
            for raw, _, _, (lo, hi) in TG.CONVERTERS:
                add(raw + "_below", (tr[raw] < lo).sum())
                add(raw + "_above", (tr[raw] > hi).sum())
            for s in tr["s"]:
                add("s_negative", (s < 0).sum())
                add("s_saturated", (s > 1).sum())
            if "psum" in tr:
                add("psum_clipped", (tr["psum"] > 1).sum())
            for a in tr["adc"]:
                add("adc_clipped", (a.abs() > 1).sum())
        return c


# --------------------------------------------------------------------------------------------------------------


def write_model(case, folder):
    rng = np.random.default_rng(case["seed"])
    scalers = scalers_for(case["H"], case["Hkv"], case["L"], case["seed"] + 1, case["k_shift"], case["v_shift"])
    MG.write_safetensors(os.path.join(folder, "model.safetensors"),
                         LG.random_params(case, rng) + LG.scaler_tensors(scalers))
    cfg = LG.hf_config(case)
    cfg["max_position_embeddings"] = case["T"]
    with open(os.path.join(folder, "config.json"), "w") as f:
        f.write(json.dumps(cfg, indent=2) + "\n")


def final_values(model):
    names = [n for n in model.p if ".attn.gaincell." in n or n in FINAL_TENSORS]
    return [("final." + n, model.p[n].detach().clone()) for n in names]


def run_backend(case, folder, index, backend, window, lam):
    name, kind, row_sum = backend
    branches = Branches(case["T"], case["vocab"], window)
    seed = [case["seed"], index]
    model = LlamaGainCellTrainRef(folder, kind, row_sum, window, lam)
    record = {}
    batches = TG.train(model, record, rng=np.random.default_rng(seed), branches=branches, final_batch=True)
    traces = []
    with torch.no_grad():
        MT.ce(model, batches[-1][0], traces)
    record["final_clearance"] = min(branches.clearance(traces, t) for t in range(case["T"]))
    assert record["final_clearance"] >= GUARD
    out = os.path.join(folder, name)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "batches.json"), "w") as f:
        json.dump(batches, f)
    final = final_values(model)

    f32 = LlamaGainCellTrainRef(folder, kind, row_sum, window, lam, torch.float32)
    rerun = TG.float32_rerun(record, f32, batches, final, branches)
    report = {
        "kind": kind, "row_sum": row_sum, "batch_seed": seed, "token_redraws": record["redraws"],
        "final_forward_min_clearance": record["final_clearance"], "coverage_step0_micro0": record["coverage"],
        "float32_rerun": rerun,
        "loss0": record["loss0"].item(), "step_loss": record["step_loss"].tolist(),
        "final_loss": record["final_loss"].item(),
    }
    expected = [("logits", record["logits"]), ("loss0", record["loss0"])] + record["grads"]
    expected += [("step_loss", record["step_loss"]), ("final_loss", record["final_loss"])] + final
    gpt2_ref.write_safetensors(os.path.join(out, "expected.safetensors"), expected, "F32")
    print("%s/%s: %s" % (case["name"], name, json.dumps(report)))
    return report


def main(root):
    torch.set_num_threads(1)
    paper_window, lam = TG.paper_hardware()
    reports = {"generator": "tools/train_reference/make_llama_train_gaincell_goldens.py (float64 PyTorch autograd)",
               "guard": GUARD, "decay_per_token": lam}
    for case in CASES:
        folder = os.path.join(root, case["name"])
        os.makedirs(folder, exist_ok=True)
        write_model(case, folder)
        window = case["window"] or paper_window
        reports[case["name"]] = {"window": window, "T": case["T"]}
        for i, backend in enumerate(case["backends"]):
            reports[case["name"]][backend[0]] = run_backend(case, folder, i, backend, window, lam)
    with open(os.path.join(root, "report.json"), "w") as f:
        f.write(json.dumps(reports, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else OUT_DIR))
