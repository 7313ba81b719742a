#!/usr/bin/python3
"""PyTorch twin of bench/train_bench.cpp (BM_TrainStep): one optimizer step of a GPT-2 on the CPU, timed.

Same model and step as the C++ benchmark: the gpt2 preset (12 layers, 12 heads, 768 dims) or tiny (2, 2, 128),
vocabulary 50257, 1024 positions, lm_head tied to wte, GELU tanh, causal softmax attention, GPT-2 initialisation
(normal 0.02, residual projections 0.02 / sqrt(2 L)); or the Llama-family smollm-135m preset (30 layers, 9 query
and 3 key/value heads of 64, 576 dims, SwiGLU 1536, RMSNorm eps 1e-5, RoPE theta 10000 on rotated halves as
Hugging Face's Llama, vocabulary 49152, tied embeddings, normal 0.02); batch 4 x context 64 of random tokens; mean
cross-entropy,
backward, clip_grad_norm_(1.0), torch.optim.AdamW (betas 0.9 / 0.95, eps 1e-8, weight decay 0.1 on >= 2-D tensors
only, lr 6e-4). Each (model, threads) runs in its own process: warm-up steps, then the median of --steps timed
steps, one JSON line each on stdout. Validation as the C++ benchmark: the first step's loss is finite and within
0.5 of ln(vocabulary).

Threads: torch.set_num_threads(N) (OpenMP) and, as Debian's torch calls OpenBLAS (pthread build) for its GEMMs,
OPENBLAS_NUM_THREADS=N before torch loads and openblas_set_num_threads(N). OPENBLAS_CORETYPE and OMP_WAIT_POLICY
are left as found and reported. By default the run is "tuned" the way peers' PyTorch figures are: glibc keeps
freed memory (MALLOC_MMAP_MAX_=0, MALLOC_TRIM_THRESHOLD_ huge), because the first touch of fresh pages costs
~3.5 s per GiB on these machines and PyTorch reallocates its activations every step; --as-shipped skips that.

--autocast bf16 runs forward and loss under torch.autocast("cpu", dtype=torch.bfloat16) (PyTorch's mixed
precision: bf16 matmuls, f32 master weights and optimizer), the mode issue 16 compares against. --mode decode
times, instead of a training step, one decoded token of the same model with --cached tokens in a per-layer K/V
cache (no autograd; prefill untimed; tokens ctx..ctx+steps-1 each timed), as `gaincell generate` / BM_Decode.

Usage: /usr/bin/python3 bench/pytorch_train_step.py [--models gpt2,tiny,smollm-135m] [--threads 1,2] [--warmup 3] [--steps 10]
           [--as-shipped] [--autocast off|bf16] [--mode train|decode] [--cached 128]
Needs only Debian's python3-torch.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

# n_layer, n_head, n_embd (src/model/config.cpp); smollm-135m: also n_kv_head, n_ff, vocabulary
PRESETS = {"gpt2": (12, 12, 768), "tiny": (2, 2, 128), "smollm-135m": (30, 9, 576, 3, 1536, 49152)}
VOCAB, POSITIONS, BATCH, CONTEXT = 50257, 1024, 4, 64
TUNED_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 40)}


def fail(msg):
    print("pytorch_train_step: " + msg, file=sys.stderr)
    sys.exit(1)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="gpt2,tiny", help="comma-separated presets: gpt2, tiny, smollm-135m")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    ap.add_argument("--steps", type=int, default=10, help="timed steps, median reported (default 10)")
    ap.add_argument("--as-shipped", action="store_true", help="do not tune glibc malloc")
    ap.add_argument("--autocast", default="off", choices=["off", "bf16"], help="bf16 autocast (default off)")
    ap.add_argument("--mode", default="train", choices=["train", "decode"], help="training step or decoded token")
    ap.add_argument("--cached", type=int, default=128, help="decode: tokens already in the cache (default 128)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    a.models = a.models.split(",")
    for m in a.models:
        if m not in PRESETS:
            fail("expected --models from %s, got '%s'" % ("|".join(PRESETS), m))
    try:
        a.threads = [int(t) for t in a.threads.split(",")]
    except ValueError:
        fail("expected --threads as comma-separated integers, got '%s'" % a.threads)
    if a.mode == "decode" and not 1 <= a.cached <= POSITIONS - a.warmup - a.steps - 1:
        fail("expected --cached in [1, %d], got %d" % (POSITIONS - a.warmup - a.steps - 1, a.cached))
    if min(a.threads) < 1 or a.warmup < 1 or a.steps < 1:
        fail("expected --threads, --warmup and --steps >= 1, got %s, %d, %d" % (a.threads, a.warmup, a.steps))
    return a


# --------------------------------------------------------------------------------------------------------------
# worker: one (model, threads) in this process


def build_model(torch, n_layer, n_head, n_embd):
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
            self.c_attn, self.attn_proj = nn.Linear(n_embd, 3 * n_embd), nn.Linear(n_embd, n_embd)
            self.c_fc, self.mlp_proj = nn.Linear(n_embd, 4 * n_embd), nn.Linear(4 * n_embd, n_embd)

        def forward(self, x, mask):
            B, T, C = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).view(B, T, 3, n_head, C // n_head).permute(2, 0, 3, 1, 4)
            att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(C // n_head))
            att = torch.softmax(att.masked_fill(mask, float("-inf")), dim=-1)
            x = x + self.attn_proj((att @ v).transpose(1, 2).reshape(B, T, C))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class Gpt2(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(VOCAB, n_embd), nn.Embedding(POSITIONS, n_embd)
            self.h = nn.ModuleList(Block() for _ in range(n_layer))
            self.ln_f = nn.LayerNorm(n_embd)
            for name, p in self.named_parameters():
                if name.endswith(".bias"):
                    nn.init.zeros_(p)
                elif name.endswith("proj.weight"):
                    nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layer))
                elif p.dim() >= 2:
                    nn.init.normal_(p, 0.0, 0.02)

        def decode(self, idx, cache):
            """Logits [B, V] after appending idx [B, T] at positions len(cache) onwards; cache: per layer (k, v)."""
            B, T = idx.shape
            pos0 = cache[0][0].shape[2] if cache else 0
            x = self.wte(idx) + self.wpe(torch.arange(pos0, pos0 + T))
            hd = n_embd // n_head
            for li, blk in enumerate(self.h):
                q, k, v = blk.c_attn(blk.ln_1(x)).view(B, T, 3, n_head, hd).permute(2, 0, 3, 1, 4)
                if len(cache) > li:
                    k = torch.cat([cache[li][0], k], dim=2)
                    v = torch.cat([cache[li][1], v], dim=2)
                    cache[li] = (k, v)
                else:
                    cache.append((k, v))
                att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(hd))
                if T > 1:
                    L = k.shape[2]
                    mask = torch.ones(T, L, dtype=torch.bool).triu(L - T + 1)
                    att = att.masked_fill(mask, float("-inf"))
                att = torch.softmax(att, dim=-1)
                x = x + blk.attn_proj((att @ v).transpose(1, 2).reshape(B, T, n_embd))
                x = x + blk.mlp_proj(F.gelu(blk.c_fc(blk.ln_2(x)), approximate="tanh"))
            return F.linear(self.ln_f(x[:, -1, :]), self.wte.weight)

        def forward(self, idx, targets):
            T = idx.shape[1]
            mask = torch.ones(T, T, dtype=torch.bool).triu(1)
            x = self.wte(idx) + self.wpe(torch.arange(T))
            for block in self.h:
                x = block(x, mask)
            logits = F.linear(self.ln_f(x), self.wte.weight)  # tied lm_head
            return F.cross_entropy(logits.view(-1, VOCAB), targets.reshape(-1))

    return Gpt2()


def build_llama(torch, n_layer, n_head, n_embd, n_kv_head, n_ff, vocab):
    nn, F = torch.nn, torch.nn.functional
    hd, group = n_embd // n_head, n_head // n_kv_head
    inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    ang = torch.outer(torch.arange(POSITIONS, dtype=torch.float32), inv)
    cos, sin = torch.cat([ang.cos(), ang.cos()], -1), torch.cat([ang.sin(), ang.sin()], -1)  # [positions, hd]

    def rope(x, pos0):  # x [B, heads, T, hd]
        T = x.shape[2]
        c, s = cos[pos0:pos0 + T], sin[pos0:pos0 + T]
        x1, x2 = x[..., :hd // 2], x[..., hd // 2:]
        return x * c + torch.cat([-x2, x1], -1) * s

    class RMSNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(n_embd))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.weight

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = RMSNorm(), RMSNorm()
            self.q, self.k = nn.Linear(n_embd, n_embd, bias=False), nn.Linear(n_embd, n_kv_head * hd, bias=False)
            self.v, self.o = nn.Linear(n_embd, n_kv_head * hd, bias=False), nn.Linear(n_embd, n_embd, bias=False)
            self.gate, self.up = nn.Linear(n_embd, n_ff, bias=False), nn.Linear(n_embd, n_ff, bias=False)
            self.down = nn.Linear(n_ff, n_embd, bias=False)

        def forward(self, x, pos0=0, cache=None, mask=None):
            B, T, C = x.shape
            h = self.ln_1(x)
            q = rope(self.q(h).view(B, T, n_head, hd).transpose(1, 2), pos0)
            k = rope(self.k(h).view(B, T, n_kv_head, hd).transpose(1, 2), pos0)
            v = self.v(h).view(B, T, n_kv_head, hd).transpose(1, 2)
            if cache is not None:
                if cache:
                    k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
                cache[:] = [k, v]
            k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
            att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(hd))
            if mask is not None:
                att = att.masked_fill(mask, float("-inf"))
            att = torch.softmax(att, dim=-1)
            x = x + self.o((att @ v).transpose(1, 2).reshape(B, T, C))
            h = self.ln_2(x)
            return x + self.down(F.silu(self.gate(h)) * self.up(h))

    class Llama(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(vocab, n_embd)
            self.h = nn.ModuleList(Block() for _ in range(n_layer))
            self.ln_f = RMSNorm()
            for p in self.parameters():
                if p.dim() >= 2:
                    nn.init.normal_(p, 0.0, 0.02)

        def decode(self, idx, cache):
            """Logits [B, V] after appending idx [B, T]; cache: per layer [k, v] (empty lists at first)."""
            B, T = idx.shape
            if not cache:
                cache.extend([] for _ in self.h)
            pos0 = cache[0][0].shape[2] if cache[0] else 0
            L = pos0 + T
            mask = torch.ones(T, L, dtype=torch.bool).triu(L - T + 1) if T > 1 else None
            x = self.wte(idx)
            for blk, c in zip(self.h, cache):
                x = blk(x, pos0, c, mask)
            return F.linear(self.ln_f(x[:, -1, :]), self.wte.weight)

        def forward(self, idx, targets):
            T = idx.shape[1]
            mask = torch.ones(T, T, dtype=torch.bool).triu(1)
            x = self.wte(idx)
            for blk in self.h:
                x = blk(x, 0, None, mask)
            logits = F.linear(self.ln_f(x), self.wte.weight)  # tied lm_head
            return F.cross_entropy(logits.view(-1, vocab), targets.reshape(-1))

    return Llama()


def openblas(threads):
    """(core name, thread count) of the OpenBLAS that torch loaded, after setting its threads; None if absent."""
    import ctypes
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
    except OSError:
        return None, None
    lib.openblas_set_num_threads(threads)
    lib.openblas_get_corename.restype = ctypes.c_char_p
    return lib.openblas_get_corename().decode(), lib.openblas_get_num_threads()


def worker(a):
    import torch

    model_name, threads = a.models[0], a.threads[0]
    torch.set_num_threads(threads)
    core, blas_threads = openblas(threads)
    torch.manual_seed(1)
    shape = PRESETS[model_name]
    model = build_llama(torch, *shape) if len(shape) > 3 else build_model(torch, *shape)
    vocab = shape[5] if len(shape) > 3 else VOCAB
    params = list(model.parameters())
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=6e-4, betas=(0.9, 0.95), eps=1e-8)
    gen = torch.Generator().manual_seed(2)
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if a.autocast == "bf16" else (
        lambda: torch.autocast("cpu", enabled=False))
    if a.mode == "decode":
        return decode_worker(torch, a, model, model_name, threads, core, blas_threads, autocast, gen, vocab)

    def step():
        batch = torch.randint(0, vocab, (BATCH, CONTEXT + 1), generator=gen)
        opt.zero_grad()
        with autocast():
            loss = model(batch[:, :-1], batch[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()

    load_before = os.getloadavg()[0]
    first_loss = step()
    if not math.isfinite(first_loss) or abs(first_loss - math.log(vocab)) > 0.5:
        fail("first loss %g, expected ~%g (ln vocab)" % (first_loss, math.log(vocab)))
    for _ in range(a.warmup - 1):
        step()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    print(json.dumps({
        "bench": "pytorch_train_step", "model": model_name, "threads": threads, "batch": BATCH, "context": CONTEXT,
        "params": sum(p.numel() for p in params), "warmup": a.warmup, "steps": a.steps,
        "median_ms": 1e3 * statistics.median(times), "min_ms": 1e3 * min(times), "max_ms": 1e3 * max(times),
        "tokens_per_s": BATCH * CONTEXT / statistics.median(times), "first_loss": first_loss, "autocast": a.autocast,
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "openblas_core": core,
        "openblas_threads": blas_threads, "tuned_malloc": not a.as_shipped,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"), "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "load_before": load_before, "load_after": os.getloadavg()[0]}), flush=True)


def decode_worker(torch, a, model, model_name, threads, core, blas_threads, autocast, gen, vocab):
    """ms per decoded token with a.cached tokens cached (B = 1), greedy, no autograd."""
    model.eval()
    prompt = torch.randint(0, vocab, (1, a.cached), generator=gen)
    times = []
    load_before = os.getloadavg()[0]
    with torch.no_grad():  # validation: the cache path == one pass over the same 8 tokens (f32)
        c1, c2 = [], []
        whole = model.decode(prompt[:, :8], c1)
        for t in range(8):
            steps = model.decode(prompt[:, t:t + 1], c2)
        if not bool(torch.allclose(whole, steps, rtol=1e-4, atol=1e-4)):
            fail("cached decoding differs from the full pass by %g" % float((whole - steps).abs().max()))
    with torch.no_grad(), autocast():
        cache = []
        logits = model.decode(prompt, cache)
        if not bool(torch.isfinite(logits.float()).all()):
            fail("non-finite logits after the prompt")
        nxt = logits.argmax(-1, keepdim=True)
        for i in range(a.warmup + a.steps):
            t0 = time.perf_counter()
            logits = model.decode(nxt, cache)
            nxt = logits.argmax(-1, keepdim=True)
            if i >= a.warmup:
                times.append(time.perf_counter() - t0)
    print(json.dumps({
        "bench": "pytorch_decode", "model": model_name, "threads": threads, "cached": a.cached, "warmup": a.warmup,
        "steps": a.steps, "median_ms": 1e3 * statistics.median(times), "min_ms": 1e3 * min(times),
        "max_ms": 1e3 * max(times), "autocast": a.autocast, "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "openblas_core": core, "openblas_threads": blas_threads,
        "tuned_malloc": not a.as_shipped, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "load_before": load_before, "load_after": os.getloadavg()[0]}), flush=True)


# --------------------------------------------------------------------------------------------------------------


def main(argv):
    a = parse_args(argv)
    if a.worker:
        worker(a)
        return 0
    for model in a.models:
        for threads in a.threads:
            env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
            if not a.as_shipped:
                env.update(TUNED_ENV)
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--models", model, "--threads",
                   str(threads), "--warmup", str(a.warmup), "--steps", str(a.steps), "--autocast", a.autocast,
                   "--mode", a.mode, "--cached", str(a.cached)] + (
                       ["--as-shipped"] if a.as_shipped else [])
            rc = subprocess.run(cmd, env=env).returncode
            if rc != 0:
                return rc
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
