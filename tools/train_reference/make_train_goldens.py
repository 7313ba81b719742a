#!/usr/bin/python3
"""PyTorch autograd goldens for the C++ training engine (tests/parity/train_parity_test.cpp).

A tiny GPT-2 (2 layers, 2 heads, n_embd 16, vocab 64, 16 positions) with random float32 weights is written to
tests/data/train_parity/ (config.json + model.safetensors), with ten steps of token batches (batches.json:
[step][micro-batch][B][T + 1] windows; inputs are the first T ids, targets the last T) and expected.safetensors:
  logits      [B, T, V]  forward of step 0, micro-batch 0
  loss0       [1]        its mean cross-entropy
  grad.<name> [...]      gradient of the step-0 loss (mean over both micro-batches) for every parameter
  step_loss   [10]       the training loss reported by each of 10 AdamW steps
  final_loss  [1]        mean cross-entropy on step 0's micro-batch 0 after the 10 steps
The reference runs in float64 (tools/gpt2_reference/gpt2_ref.py's model, made differentiable in place) with
torch.optim.AdamW (betas 0.9/0.95, eps 1e-8, weight decay 0.1 on >= 2-D tensors), linear warm-up then cosine
decay (the C++ LrSchedule formula), gradient accumulation over 2 micro-batches and clip_grad_norm_(1.0).

Usage: /usr/bin/python3 tools/train_reference/make_train_goldens.py [out folder]
"""
import json
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "gpt2_reference"))
import gpt2_ref  # noqa: E402

SEED = 4242
L, H, C, V, P = 2, 2, 16, 64, 16
B, T, ACCUM, STEPS = 2, 8, 2, 10
LR, MIN_LR, WARMUP, CLIP, WD = 1e-2, 1e-3, 3, 1.0, 0.1
QK_STD = 0.3  # as make_parity_goldens.py: larger q/k weights so attention is far from uniform


def random_params(rng):
    normal = lambda std, *shape: torch.from_numpy(rng.normal(0.0, std, size=shape))  # noqa: E731
    proj = 0.02 / math.sqrt(2 * L)
    p = [("wte.weight", normal(0.1, V, C)), ("wpe.weight", normal(0.05, P, C))]
    for l in range(L):
        h = "h.%d." % l
        p += [
            (h + "ln_1.weight", 1.0 + normal(0.1, C)), (h + "ln_1.bias", normal(0.1, C)),
            (h + "attn.c_attn.weight", torch.cat([normal(QK_STD, C, 2 * C), normal(0.1, C, C)], 1)),
            (h + "attn.c_attn.bias", normal(0.02, 3 * C)),
            (h + "attn.c_proj.weight", normal(proj * 5, C, C)), (h + "attn.c_proj.bias", normal(0.02, C)),
            (h + "ln_2.weight", 1.0 + normal(0.1, C)), (h + "ln_2.bias", normal(0.1, C)),
            (h + "mlp.c_fc.weight", normal(0.1, C, 4 * C)), (h + "mlp.c_fc.bias", normal(0.02, 4 * C)),
            (h + "mlp.c_proj.weight", normal(proj * 5, 4 * C, C)), (h + "mlp.c_proj.bias", normal(0.02, C)),
        ]
    p += [("ln_f.weight", 1.0 + normal(0.1, C)), ("ln_f.bias", normal(0.1, C))]
    return [(n, t.to(torch.float32)) for n, t in p]  # stored as F32; the reference reads them back exactly


def lr_at(step):
    if WARMUP > 0 and step < WARMUP:
        return LR * (step + 1) / WARMUP
    span = STEPS - 1 - WARMUP
    ratio = min(1.0, (step - WARMUP) / span)
    return MIN_LR + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (LR - MIN_LR)


def config(n_layer, n_head, n_embd, vocab, n_positions):
    """config.json text of a GPT-2 of these sizes (gelu_new, eps 1e-5)."""
    cfg = {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "layer_norm_epsilon": 1e-5,
           "model_type": "gpt2", "n_embd": n_embd, "n_head": n_head, "n_layer": n_layer,
           "n_positions": n_positions, "vocab_size": vocab}
    return json.dumps(cfg, indent=2) + "\n"


def adamw(tensors):
    """torch.optim.AdamW as the C++ Trainer: betas 0.9/0.95, eps 1e-8, weight decay WD on >= 2-D tensors only."""
    decay = [t for t in tensors if t.dim() >= 2]
    no_decay = [t for t in tensors if t.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": WD}, {"params": no_decay, "weight_decay": 0.0}],
                             lr=LR, betas=(0.9, 0.95), eps=1e-8)


def ce(model, window, traces=None):
    """window [B, T + 1] ids -> logits [B, T, V] of the first T, mean cross-entropy against the last T."""
    w = torch.as_tensor(window, dtype=torch.long)
    logits = model.forward(w[:, :-1]) if traces is None else model.forward(w[:, :-1], traces)
    return logits, torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1))


def record_run(model, names, tensors, batches):
    """The run of the goldens on parameters `tensors` (named `names`, requiring grad) of `model`: logits and loss
    of step 0's micro-batch 0, STEPS AdamW steps over batches[step][micro-batch] (warm-up and cosine lr_at,
    ACCUM micro-batches, clip_grad_norm_(CLIP)) with every gradient of step 0, and the loss of step 0's
    micro-batch 0 after them. Returns (expected tensors, loss0, step losses, final loss)."""
    expected = []
    logits, loss0 = ce(model, batches[0][0])
    expected += [("logits", logits.detach()), ("loss0", loss0.detach().reshape(1))]
    opt = adamw(tensors)
    step_loss = []
    for step in range(STEPS):
        opt.zero_grad()
        total = 0.0
        for a in range(ACCUM):
            _, loss = ce(model, batches[step][a])
            (loss / ACCUM).backward()
            total += loss.item()
        step_loss.append(total / ACCUM)
        if step == 0:
            expected += [("grad." + n, t.grad.detach().clone()) for n, t in zip(names, tensors)]
        torch.nn.utils.clip_grad_norm_(tensors, CLIP)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        opt.step()
    with torch.no_grad():
        _, final = ce(model, batches[0][0])
    expected += [("step_loss", torch.tensor(step_loss)), ("final_loss", final.detach().reshape(1))]
    return expected, loss0, step_loss, final


def main(out):
    rng = np.random.default_rng(SEED)
    params = random_params(rng)
    os.makedirs(out, exist_ok=True)
    gpt2_ref.write_safetensors(os.path.join(out, "model.safetensors"), params, "F32", {"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        f.write(config(L, H, C, V, P))
    batches = rng.integers(0, V, size=(STEPS, ACCUM, B, T + 1)).tolist()
    with open(os.path.join(out, "batches.json"), "w") as f:
        json.dump(batches, f)

    model = gpt2_ref.Gpt2Ref(out)
    names = [n for n, _ in params]
    tensors = [model.p[n] for n in names]
    for t in tensors:
        t.requires_grad_(True)
    expected, loss0, step_loss, final = record_run(model, names, tensors, batches)
    gpt2_ref.write_safetensors(os.path.join(out, "expected.safetensors"), expected, "F32")
    print("loss0 %.6f, step losses %s, final %.6f" % (loss0.item(), ["%.4f" % x for x in step_loss], final.item()))
    return 0


if __name__ == "__main__":
    default = os.path.join(HERE, "..", "..", "tests", "data", "train_parity")
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else default))
