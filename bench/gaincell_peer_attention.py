#!/usr/bin/python3
"""Gain-cell attention against the authors' PyTorch code of the same math, on this CPU, in one run.

Times, at the GPT-2 124M shape (12 layers, 12 heads, 768 dims, vocabulary 50257, random weights), T = 256 tokens,
B = 1, on N threads:

* core:    one layer's attention core, the authors' `attention_forward(q, k, v, mask)` of `DRAMAttention` (the
           cubic cell: ten-term polynomial of the DRAM read, decay mask, quantised converters) and of
           `LinearDRAMAttention` (the linear cell), q, k, v random in [-1, 1) as (1, 12, 256, 64), no autograd;
* forward: the authors' whole `GPT` with `DRAMAttention`, logits of the last position, no autograd;
* train:   one AdamW step of that model at batch 4 x context 64 (forward, cross-entropy, backward through the
           authors' surrogate gradients, clip_grad_norm_(1.0), step).

With --bench (a gaincell_bench binary built with -DGAINCELL_BUILD_BENCHMARKS=ON) it runs, in the same run,
BM_AnalogCore (kinds: gaincell, gaincell-linear), BM_AnalogForward/kind:2 (the paper model) and
BM_TrainStepGainCell/kind:0 at the same thread count and prints one JSON line per measurement with the ratio
peer / gaincell (> 1: gaincell faster).

The authors' repository is NOT part of gaincell and this script never fetches it: clone it yourself outside the
repository and pass its folder with --peer. Its modules import triton (flash attention), torchaudio and
transformers, none of which the code paths timed here use; when they are not installed, empty stand-ins are put
in sys.modules so the import succeeds (nothing of theirs runs). `GPT.forward` calls torch.cuda.set_device, which
is made a no-op for the CPU run.

Usage: /usr/bin/python3 bench/gaincell_peer_attention.py --peer /work/peers/GainCellAttention [--threads 2]
           [--repeats 5] [--warmup 1] [--bench build/gaincell_bench] [--what core,forward,train]
Needs only Debian's python3-torch (and python3-numpy).
"""
import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
import types

N_LAYER, N_HEAD, N_EMBD, VOCAB, T = 12, 12, 768, 50257, 256
TRAIN_BATCH, TRAIN_CONTEXT = 4, 64


def fail(msg):
    print("gaincell_peer_attention: " + msg, file=sys.stderr)
    sys.exit(1)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer", required=True, help="folder of a GainCellAttention checkout (modules/model_gpt.py)")
    ap.add_argument("--threads", type=int, default=2, help="threads for both sides (default 2)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repetitions, median reported (default 5)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    ap.add_argument("--bench", default="", help="gaincell_bench binary: also run our side in the same run")
    ap.add_argument("--what", default="core,forward,train", help="comma-separated: core, forward, train")
    a = ap.parse_args(argv)
    a.what = a.what.split(",")
    for w in a.what:
        if w not in ("core", "forward", "train"):
            fail("expected --what from core|forward|train, got '%s'" % w)
    if not os.path.isfile(os.path.join(a.peer, "modules", "model_gpt.py")):
        fail("expected --peer to hold modules/model_gpt.py, found no such file under '%s'" % a.peer)
    if a.threads < 1 or a.repeats < 1 or a.warmup < 0:
        fail("expected --threads, --repeats >= 1 and --warmup >= 0, got %d, %d, %d" % (a.threads, a.repeats,
                                                                                         a.warmup))
    if a.bench and not os.access(a.bench, os.X_OK):
        fail("expected --bench to be an executable gaincell_bench, got '%s'" % a.bench)
    return a


def stand_in(name, **attrs):
    """An empty module for an import the timed code never uses (only if the real one is absent)."""
    try:
        importlib.import_module(name)
        return
    except Exception:  # noqa: BLE001 - any failure to import means: not usable here
        pass
    m = types.ModuleType(name)
    m.__path__ = []
    for k, v in attrs.items():
        setattr(m, k, v)
    sys.modules[name] = m


def load_peer(torch, path):
    unused = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("stand-in: not available on this machine"))
    stand_in("torchaudio")
    sys.modules.setdefault("flash_attention", types.ModuleType("flash_attention"))
    fa = types.ModuleType("flash_attention.flash_attn")
    for n in ("flash_attn_triton", "Sigmoid_flash_attn_triton", "HardSigmoid_flash_attn_triton",
              "Linear_DRAM_flash_attn_triton", "DRAM_flash_attn_triton"):
        setattr(fa, n, unused)
    sys.modules["flash_attention.flash_attn"] = fa
    for n in ("transformers", "transformers.models", "transformers.models.llama"):
        stand_in(n)
    stand_in("transformers.models.llama.modeling_llama", LlamaRotaryEmbedding=unused, apply_rotary_pos_emb=unused)
    sys.path.insert(0, os.path.abspath(path))
    mg = importlib.import_module("modules.model_gpt")
    torch.cuda.set_device = lambda *a, **k: None  # GPT.forward calls it; the run is on the CPU
    return mg


def config(mg, attention, block_size=1024):
    # The paper's fine-tuning configuration (configs/experiments/gpt-text/ft_dram_gpt2.py): 16 input, 8 weight
    # and 32 output levels, decay factor 1.6e-4; window = block size (full causal at these lengths).
    return mg.GPTConfig(block_size=block_size, vocab_size=VOCAB, n_layer=N_LAYER, n_head=N_HEAD, n_embd=N_EMBD,
                        dropout=0.0, bias=True, attention=attention, quantization_levels_input=16,
                        quantization_levels_weights=8, quantization_levels_output=32, decay_factor=1.6e-4,
                        sliding_window_size=block_size)


WARMUP = 1


def median_ms(fn, repeats):
    for _ in range(WARMUP):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def peer_core(torch, mg, attention, repeats):
    torch.manual_seed(1)
    attn = getattr(mg, attention)(config(mg, attention)).eval()
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.rand(1, N_HEAD, T, N_EMBD // N_HEAD, generator=g) * 2 - 1 for _ in range(3))
    mask = attn.mask
    with torch.no_grad():
        out = attn.attention_forward(q, k, v, mask)
        if not bool(torch.isfinite(out).all()):
            fail("the peer's %s core gave non-finite outputs" % attention)
        return median_ms(lambda: attn.attention_forward(q, k, v, mask), repeats)


def peer_model(torch, mg, block_size):
    torch.manual_seed(1)
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):  # GPT() prints its parameter count
        return mg.GPT(config(mg, "DRAMAttention", block_size))


def peer_forward(torch, mg, repeats):
    model = peer_model(torch, mg, 1024).eval()
    idx = torch.randint(0, VOCAB, (1, T), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        logits, _ = model(idx)
        if not bool(torch.isfinite(logits).all()):
            fail("the peer's forward gave non-finite logits")
        return median_ms(lambda: model(idx), repeats)


def peer_train(torch, mg, repeats):
    model = peer_model(torch, mg, 1024).train()
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=6e-4, betas=(0.9, 0.95), eps=1e-8)
    gen = torch.Generator().manual_seed(2)

    def step():
        batch = torch.randint(0, VOCAB, (TRAIN_BATCH, TRAIN_CONTEXT + 1), generator=gen)
        opt.zero_grad()
        _, loss = model(batch[:, :-1].contiguous(), batch[:, 1:].contiguous())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()

    import math
    first = step()
    if not math.isfinite(first):
        fail("the peer's first training loss is %g" % first)
    return median_ms(step, repeats)


def ours(bench, threads, filt):
    """Medians (ms) of gaincell_bench benchmarks matching filt, keyed by run name."""
    out = subprocess.run([bench, "--benchmark_filter=" + filt, "--benchmark_format=json"], capture_output=True,
                         text=True, env=dict(os.environ, OMP_NUM_THREADS=str(threads)))
    if out.returncode != 0:
        fail("gaincell_bench failed (%d): %s" % (out.returncode, out.stderr.strip()[-400:]))
    res = {}
    for b in json.loads(out.stdout)["benchmarks"]:
        if b.get("aggregate_name") == "median":
            res[b["run_name"]] = (b["real_time"], b.get("label", ""), b)
    return res


def main(argv):
    a = parse_args(argv)
    global WARMUP
    WARMUP = a.warmup
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    import torch
    torch.set_num_threads(a.threads)
    mg = load_peer(torch, a.peer)
    th = a.threads
    rows = []
    if "core" in a.what:
        for attention, kind in (("DRAMAttention", 0), ("LinearDRAMAttention", 1)):
            rows.append(("core", attention, peer_core(torch, mg, attention, a.repeats),
                         "BM_AnalogCore/kind:%d/threads:%d" % (kind, th)))
    if "forward" in a.what:
        rows.append(("forward", "GPT+DRAMAttention", peer_forward(torch, mg, a.repeats),
                     "BM_AnalogForward/kind:2/threads:%d" % th))
    if "train" in a.what:
        rows.append(("train", "GPT+DRAMAttention B4xT64 AdamW", peer_train(torch, mg, a.repeats),
                     "BM_TrainStepGainCell/kind:0/threads:%d" % th))
    mine = {}
    if a.bench:
        filt = "|".join({"core": "BM_AnalogCore/kind:[01]/threads:%d/" % th,
                         "forward": "BM_AnalogForward/kind:2/threads:%d/" % th,
                         "train": "BM_TrainStepGainCell/kind:0/threads:%d/" % th}[w] for w in a.what)
        mine = ours(a.bench, th, filt)
    for what, peer_name, peer_ms, run_name in rows:
        shape = {"B": TRAIN_BATCH, "T": TRAIN_CONTEXT} if what == "train" else {"B": 1, "T": T}
        rec = {"bench": "gaincell_peer_attention", "what": what, "peer": peer_name, "threads": th, **shape,
               "peer_ms": round(peer_ms, 3), "torch": torch.__version__, "load": os.getloadavg()[0]}
        hit = [v for k, v in mine.items() if k.startswith(run_name + "/")]
        if hit:
            ms, label, _ = hit[0]
            rec.update({"gaincell": label, "gaincell_ms": round(ms, 3), "peer_over_gaincell": round(peer_ms / ms, 3)})
        print(json.dumps(rec), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
