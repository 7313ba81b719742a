#!/usr/bin/python3
"""PyTorch autograd goldens for whole-model training with the gaincell-linear attention backend
(tests/parity/train_gaincell_parity_test.cpp), written to tests/data/train_parity_gaincell/ (deterministic).

Model: a tiny GPT-2 (2 layers, 2 heads of 16, n_embd 32, vocab 64, 16 positions) with random float32 weights
and per-layer, per-head non-default scalers h.{L}.attn.gaincell.{q,k,v,out}.{scale,shift} (F32 [2], the values
of make_gaincell_goldens.CUSTOM_SCALERS), on the paper's hardware (configs/paper.toml, read and checked against
gaincell_ref.py's constants: linear cell 19.3 uA/V, 16 / 8 / 32-level converters, S_sat 80, A_fs 40, 64-key
tiles, window 1024, leakage 1.6e-4 per token).

Reference: gpt2_ref.Gpt2Ref (float64) whose attention is gaincell_grad_ref.attention: autograd through paper-spec
§2.4 with straight-through quantisers and the scalers as trainable leaves. Training exactly as
make_train_goldens.py (its adamw, lr_at and ce): AdamW (0.9/0.95, eps 1e-8, weight decay 0.1 on >= 2-D tensors;
the scalers are 1-D), warm-up 3 then cosine 1e-2 -> 1e-3, 2 micro-batches of B 2 x T 16, clip_grad_norm_(1.0),
10 steps.

Files: config.json, model.safetensors, batches.json ([step][micro-batch][B][T + 1] windows), expected.safetensors:
  logits      [B, T, V]  forward of step 0, micro-batch 0
  loss0       [1]        its mean cross-entropy
  grad.<name> [...]      gradient of the step-0 loss (mean over both micro-batches) of every parameter, the 16
                         scaler tensors included
  step_loss   [10]       the training loss of each of the 10 AdamW steps
  final_loss  [1]        mean cross-entropy on step 0's micro-batch 0 after the 10 steps
  final.<name>           values after the 10 steps of every scaler and of FINAL_TENSORS
and report.json (seed, guard, smallest clearance, branch coverage, the float32 re-run below).

Branches. The forward is discontinuous at every quantiser rounding boundary (q', k', v' and each ADC input A/40,
whose +-1 is a boundary too) and the straight-through gradient at every clip edge (q', k', v' at their range
ends, S/80 at 0 and 1). Inside a model these inputs come from float32 arithmetic in C++, so the generator keeps
them all >= GUARD from their decision points, in float64, in every forward of the test: each step's batches are
chosen position by position at that step's parameters (a token is redrawn while an input of its position is
closer than GUARD; a position's inputs depend only on tokens <= it), and the seed is advanced until step 0's
micro-batch 0 is also clear at the final parameters (the final_loss forward). S/80 = 0 exactly where a query's
codes are all 0 is the same in both (no decision); an exactly cancelling dot product q'.y^K (integer codes) is
not, and is redrawn like a near-boundary value.

A float32 re-run of the same trajectory checks the margin: it must take every branch as float64 does (report.json
"float32_rerun": differing decisions 0) and its losses and parameters show the float32 budget of the test.

Run from the repository root:  /usr/bin/python3 tools/train_reference/make_train_gaincell_goldens.py [out folder]
"""
import json
import math
import os
import sys
import tomllib

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "gpt2_reference"))
sys.path.insert(0, HERE)
import gaincell_grad_ref as GR  # noqa: E402
import gaincell_ref as G  # noqa: E402
import gpt2_ref  # noqa: E402
import make_gaincell_goldens as MG  # noqa: E402
import make_train_goldens as MT  # noqa: E402

SEED = 5150
L, H, C, V, P = 2, 2, 32, 64, 16
B, T, ACCUM, STEPS = 2, 16, MT.ACCUM, MT.STEPS
GUARD = 1e-5
MAX_SEEDS = 50
FINAL_TENSORS = ("h.0.attn.c_attn.bias", "h.1.mlp.c_proj.bias", "ln_f.weight")
SCALER_KINDS = ("q", "k", "v", "out")


def paper_hardware():
    """(window, lambda) of configs/paper.toml, after checking that its other fields are gaincell_ref's."""
    with open(os.path.join(REPO, "configs", "paper.toml"), "rb") as f:
        hw = tomllib.load(f)
    cv = hw["converters"]
    checks = [
        (hw["device"]["linear_gain_ua_per_v"], G.GAIN), (hw["device"]["v_offset_v"], G.V_OFFSET),
        (hw["array"]["cols"], G.TILE), (hw["array"]["tile_mapping"], "absolute"),
        (cv["s_sat_ua_tmax"], G.S_SAT), (cv["adc_full_scale_ua_tmax"], G.A_FS),
        ((cv["query"]["levels"], cv["query"]["lo"], cv["query"]["hi"]), (G.Q_LEVELS,) + G.Q_RANGE),
        ((cv["store"]["levels"], cv["store"]["lo"], cv["store"]["hi"]), (G.KV_LEVELS,) + G.KV_RANGE),
        ((cv["adc"]["levels"], cv["adc"]["lo"], cv["adc"]["hi"]), (G.OUT_LEVELS,) + G.OUT_RANGE),
        (all(cv[k]["enabled"] for k in ("query", "store", "adc")), True),
        (hw["leakage"]["retention_tau_s"], 0.0), (hw["leakage"]["refresh_every_tokens"], 0),
        (any(v != 0 for k, v in hw["noise"].items() if k != "chip_seed"), False),
    ]
    for got, want in checks:
        if got != want:
            raise ValueError("configs/paper.toml: expected %r (gaincell_ref.py), got %r" % (want, got))
    return hw["array"]["window_tokens"], hw["leakage"]["decay_per_token"]


class GaincellTrainRef(gpt2_ref.Gpt2Ref):
    """Gpt2Ref with differentiable gaincell-linear attention (gaincell_grad_ref.attention) whose scalers are the
    model file's tensors h.{L}.attn.gaincell.{kind}.{scale,shift}; all parameters in `dtype`."""

    def __init__(self, folder, window, lam, dtype=torch.float64):
        super().__init__(folder, "gaincell-linear", window, lam)
        self.p = {n: t.to(dtype) for n, t in self.p.items()}
        self.lm_head = self.p["wte.weight"]  # tied: the same tensor, so both uses add to its gradient

    def _attend(self, layer, q, k, v, mask, trace):
        qkv = torch.cat([G.merge_heads(t) for t in (q, k, v)], dim=-1)
        base = "h.%d.attn.gaincell." % layer
        params = {s: (self.p[base + s + ".scale"], self.p[base + s + ".shift"]) for s in SCALER_KINDS}
        out = GR.attention(qkv, params, "linear", trace, self.n_head, self.window, self.lam)
        return out.view(*out.shape[:2], self.n_head, -1).transpose(1, 2)


def c_attn(normal):
    """c_attn weight [C, 3C] and bias [3C]. LayerNorm outputs are ~N(0, 1), so q ~ 0.5 +- 0.35 and k, v ~ +-0.35:
    after the scalers the quantiser inputs spread over their ranges and clip at both ends. A rank-1 term gives
    each token a common k offset (std 0.45) and the v bias a per-channel offset (std 0.3), so that some S / 80
    saturate and some ADC inputs clip (q'.y^K and P.y^V add up coherently)."""
    std = 0.35 / math.sqrt(C)
    w = normal(std, C, 3 * C)
    w[:, C:2 * C] += normal(0.45 / math.sqrt(C), C, 1)
    bias = torch.cat([0.5 + normal(0.1, C), normal(0.05, C), normal(0.3, C)])
    return w, bias


def random_params(rng):
    """Weights as make_train_goldens.py except c_attn (above)."""
    normal = lambda std, *shape: torch.from_numpy(rng.normal(0.0, std, size=shape))  # noqa: E731
    proj = 0.02 / math.sqrt(2 * L) * 5
    p = [("wte.weight", normal(0.1, V, C)), ("wpe.weight", normal(0.05, P, C))]
    for l in range(L):
        h = "h.%d." % l
        ln_w, ln_b = 1.0 + normal(0.1, C), normal(0.1, C)
        w, bias = c_attn(normal)
        p += [
            (h + "ln_1.weight", ln_w), (h + "ln_1.bias", ln_b),
            (h + "attn.c_attn.weight", w), (h + "attn.c_attn.bias", bias),
            (h + "attn.c_proj.weight", normal(proj, C, C)), (h + "attn.c_proj.bias", normal(0.02, C)),
            (h + "ln_2.weight", 1.0 + normal(0.1, C)), (h + "ln_2.bias", normal(0.1, C)),
            (h + "mlp.c_fc.weight", normal(0.1, C, 4 * C)), (h + "mlp.c_fc.bias", normal(0.02, 4 * C)),
            (h + "mlp.c_proj.weight", normal(proj, 4 * C, C)), (h + "mlp.c_proj.bias", normal(0.02, C)),
        ]
    p += [("ln_f.weight", 1.0 + normal(0.1, C)), ("ln_f.bias", normal(0.1, C))]
    return [(n, t.to(torch.float32), "F32") for n, t in p] + MG.scaler_tensors({"scalers": MG.CUSTOM_SCALERS})


# --------------------------------------------------------------------------------------------------------------
# branch decisions

CONVERTERS = (("uq", "q", G.Q_LEVELS, G.Q_RANGE), ("uk", "k", G.KV_LEVELS, G.KV_RANGE),
              ("uv", "v", G.KV_LEVELS, G.KV_RANGE))


def clearance(traces, t):
    """Smallest distance, over layers, of the branch inputs of position t from their decision points: scaler
    outputs from the clip edges and (inside the range) from the rounding boundaries; S/80 of query t from 0
    (unless its codes are all 0) and 1; each A/40 of query t from the ADC boundaries (+-1 included)."""
    d = math.inf
    for tr in traces:
        for raw, _, levels, (lo, hi) in CONVERTERS:
            u = tr[raw][:, :, t]
            inside = (u > lo) & (u < hi)
            rounding = MG.boundary_distance(u.clamp(lo, hi), levels, lo, hi)
            d = min(d, torch.minimum((u - lo).abs(), (u - hi).abs()).min().item(),
                    torch.where(inside, rounding, math.inf).min().item())
        s = tr["s"][0][:, :, t, :t + 1]
        live = G.quantize(tr["q"][:, :, t], G.Q_LEVELS, *G.Q_RANGE).abs().sum(-1, keepdim=True) > 0
        d = min(d, torch.where(live, s.abs(), math.inf).min().item(), (s - 1).abs().min().item())
        for a in tr["adc"]:
            d = min(d, MG.adc_boundary_distance(a[:, :, t]).min().item())
    return d


def decisions(traces):
    """Every branch taken by one forward, as one integer tensor: quantiser codes and clip masks of q', k', v',
    the charge-to-pulse masks, the ADC codes and clip masks."""
    out = []
    for tr in traces:
        for raw, clipped, levels, (lo, hi) in CONVERTERS:
            out += [torch.round(tr[clipped] / G.quant_step(levels, lo, hi)), (tr[raw] >= lo) & (tr[raw] <= hi)]
        out += [(tr["s"][0] >= 0) & (tr["s"][0] <= 1)]
        for a in tr["adc"]:
            out += [torch.round(a.clamp(*G.OUT_RANGE) / G.quant_step(G.OUT_LEVELS, *G.OUT_RANGE)), a.abs() <= 1]
    return torch.cat([x.to(torch.int64).flatten() for x in out])


def coverage(traces):
    """How often each clip branch is taken (so the goldens exercise every mask)."""
    c = {}
    for tr in traces:
        for raw, _, _, (lo, hi) in CONVERTERS:
            c[raw + "_below"] = c.get(raw + "_below", 0) + int((tr[raw] < lo).sum())
            c[raw + "_above"] = c.get(raw + "_above", 0) + int((tr[raw] > hi).sum())
        s = tr["s"][0]
        c["s_negative"] = c.get("s_negative", 0) + int((s < 0).sum())
        c["s_saturated"] = c.get("s_saturated", 0) + int((s > 1).sum())
        for a in tr["adc"]:
            c["adc_clipped"] = c.get("adc_clipped", 0) + int((a.abs() > 1).sum())
    return c


def choose_row(model, rng):
    """T + 1 tokens; each of the first T redrawn until its position is >= GUARD from every decision point."""
    tokens, redraws = [], 0
    for t in range(T):
        for _ in range(500):
            cand = int(rng.integers(0, V))
            traces = []
            with torch.no_grad():
                model.forward([tokens + [cand]], traces)
            if clearance(traces, t) >= GUARD:
                break
            redraws += 1
        else:
            raise RuntimeError("no token clear of the branch points at position %d" % t)
        tokens.append(cand)
    return tokens + [int(rng.integers(0, V))], redraws


def min_clearance(model, window):
    traces = []
    with torch.no_grad():
        MT.ce(model, window, traces)
    return min(clearance(traces, t) for t in range(T))


# --------------------------------------------------------------------------------------------------------------
# training


def parameters(model):
    names = list(model.p)  # file order: GPT-2 tensors, then the scalers
    return names, [model.p[n] for n in names]


def train(model, record, batches=None, rng=None, branches=None, final_batch=False):
    """STEPS AdamW steps as make_train_goldens.py; returns the batches. batches None: chosen here with rng, each
    step's at that step's parameters (choose_row). record: dict that receives the expected tensors, the per-step
    losses and every forward's decisions. branches: an object with choose_row(model, rng), decisions(traces) and
    coverage(traces) for another model (default: this module's functions). The final loss is that of step 0's
    micro-batch 0 at the final parameters; with final_batch (and batches chosen here), of one more micro-batch
    chosen at the final parameters, appended to the batches as entry STEPS ([[row, ...]]); given batches with
    such an entry use it."""
    branches = branches or sys.modules[__name__]
    names, tensors = parameters(model)
    for t in tensors:
        t.requires_grad_(True)
    opt = MT.adamw(tensors)
    choose, batches = batches is None, batches or []
    redraws, step_loss, dec = 0, [], []
    for step in range(STEPS):
        if choose:
            micro = []
            for _ in range(ACCUM):
                rows = [branches.choose_row(model, rng) for _ in range(B)]
                micro.append([r for r, _ in rows])
                redraws += sum(n for _, n in rows)
            batches.append(micro)
        current = batches[step]
        opt.zero_grad()
        total = 0.0
        for a in range(ACCUM):
            traces = []
            logits, loss = MT.ce(model, current[a], traces)
            dec.append(branches.decisions(traces))
            (loss / ACCUM).backward()
            total += loss.item()
            if step == 0 and a == 0:
                record["logits"], record["loss0"] = logits.detach(), loss.detach().reshape(1)
                record["coverage"] = branches.coverage(traces)
        step_loss.append(total / ACCUM)
        if step == 0:
            record["grads"] = [("grad." + n, t.grad.detach().clone()) for n, t in zip(names, tensors)]
        torch.nn.utils.clip_grad_norm_(tensors, MT.CLIP)
        for g in opt.param_groups:
            g["lr"] = MT.lr_at(step)
        opt.step()
    if choose and final_batch:
        rows = [branches.choose_row(model, rng) for _ in range(B)]
        batches.append([[r for r, _ in rows]])
        redraws += sum(n for _, n in rows)
    traces = []
    with torch.no_grad():
        _, final = MT.ce(model, batches[STEPS][0] if len(batches) > STEPS else batches[0][0], traces)
    dec.append(branches.decisions(traces))
    record.update(step_loss=torch.tensor(step_loss), final_loss=final.reshape(1), decisions=dec, redraws=redraws)
    return batches


def final_values(model):
    names = [n for n in model.p if ".attn.gaincell." in n or n in FINAL_TENSORS]
    return [("final." + n, model.p[n].detach().clone()) for n in names]


def float32_rerun(ref, model32, batches, final, branches=None):
    """Trains model32 (the model of the float64 run `ref`, a train() record, in float32) on the same batches;
    raises unless it takes every branch as float64 did. Returns the float32 differences (report.json).
    final: the ("final.<name>", float64 value) tensors of the float64 run."""
    rerun = {}
    train(model32, rerun, batches=batches, branches=branches)
    differing = sum(int((a != b).sum()) for a, b in zip(ref["decisions"], rerun["decisions"]))
    if differing:
        raise RuntimeError("the float32 re-run takes %d branches differently; raise GUARD" % differing)
    grad32 = dict(rerun["grads"])
    return {
        "differing_decisions": differing,
        "decisions_checked": sum(int(d.numel()) for d in ref["decisions"]),
        "logits_max_abs_diff": (rerun["logits"].double() - ref["logits"]).abs().max().item(),
        "grad_max_diff_over_tensor_max": max(
            ((grad32[n].double() - g).abs().max() / max(g.abs().max().item(), 1e-30)).item() for n, g in ref["grads"]),
        "step_loss_max_rel_diff": ((rerun["step_loss"] - ref["step_loss"]).abs() / ref["step_loss"]).max().item(),
        "final_loss_rel_diff": abs(rerun["final_loss"].item() / ref["final_loss"].item() - 1),
        "final_values_max_abs_diff": max((model32.p[n[len("final."):]].double() - t).abs().max().item()
                                         for n, t in final),
    }


def attempt(out, seed, window, lam):
    """Writes the model of `seed` and trains it; returns the record, or None when the final forward is not clear."""
    rng = np.random.default_rng(seed)
    MG.write_safetensors(os.path.join(out, "model.safetensors"), random_params(rng))
    model = GaincellTrainRef(out, window, lam)
    record = {}
    batches = train(model, record, rng=rng)
    record["final_clearance"] = min_clearance(model, batches[0][0])
    if record["final_clearance"] < GUARD:
        return None
    record.update(batches=batches, final=final_values(model), seed=seed)
    return record


def main(out):
    torch.set_num_threads(1)
    window, lam = paper_hardware()
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        f.write(MT.config(L, H, C, V, P))
    for seed in range(SEED, SEED + MAX_SEEDS):
        ref = attempt(out, seed, window, lam)
        if ref is not None:
            break
        print("seed %d: step 0's micro-batch 0 is not clear at the final parameters; next seed" % seed)
    else:
        raise RuntimeError("no seed in %d tries" % MAX_SEEDS)
    with open(os.path.join(out, "batches.json"), "w") as f:
        json.dump(ref["batches"], f)

    # The same trajectory in float32: same branches, and the size of float32 effects.
    rerun = float32_rerun(ref, GaincellTrainRef(out, window, lam, torch.float32), ref["batches"], ref["final"])
    report = {
        "generator": "tools/train_reference/make_train_gaincell_goldens.py (float64 PyTorch autograd)",
        "seed": ref["seed"], "guard": GUARD, "window": window, "decay_per_token": lam, "token_redraws": ref["redraws"],
        "final_forward_min_clearance": ref["final_clearance"], "coverage_step0_micro0": ref["coverage"],
        "float32_rerun": rerun,
    }
    expected = [("logits", ref["logits"]), ("loss0", ref["loss0"])] + ref["grads"]
    expected += [("step_loss", ref["step_loss"]), ("final_loss", ref["final_loss"])] + ref["final"]
    gpt2_ref.write_safetensors(os.path.join(out, "expected.safetensors"), expected, "F32")
    with open(os.path.join(out, "report.json"), "w") as f:
        f.write(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print("loss0 %.6f, step losses %s, final %.6f" % (ref["loss0"].item(), ["%.4f" % x for x in ref["step_loss"]],
                                                       ref["final_loss"].item()))
    return 0


if __name__ == "__main__":
    default = os.path.join(REPO, "tests", "data", "train_parity_gaincell")
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else default))
