"""gaincell.Model against the CLI: logits bit for bit, perplexity, generation, tokenizer, activity counters."""
import json
import os

import numpy as np
import pytest

import gaincell
from conftest import REPO

PROMPT = "ROMEO:\nBut soft, what light"
PAPER_TOML = os.path.join(REPO, "configs", "paper.toml")


def cli_logits(cli, scratch, model_dir, ids, *flags):
    out = scratch / "logits.npy"
    cli("logits", "--model", model_dir, "--tokens", ",".join(map(str, ids)), "--out", out, *flags)
    return np.load(out)


@pytest.mark.parametrize("attention,flags,kwargs", [
    ("softmax", (), {}),
    ("gaincell", ("--hw", PAPER_TOML, "--window", "48"), {"hw": PAPER_TOML, "window": 48}),
    ("gaincell-linear", (), {}),
])
def test_logits_equal_cli_bit_for_bit(cli, scratch, model_dir, attention, flags, kwargs):
    m = gaincell.Model(model_dir, attention=attention, threads=2, **kwargs)
    ids = m.tokenize(PROMPT * 2)
    assert len(ids) == 2 * len(PROMPT)  # byte tokenizer: one id per byte
    py = m.logits(ids)
    ref = cli_logits(cli, scratch, model_dir, ids, "--attention", attention, *flags)
    assert py.dtype == np.float32 and py.shape == (len(ids), 256)
    assert ref.shape == py.shape
    assert py.tobytes() == ref.tobytes()  # same bits (NaN-aware: a NaN on either side differs in bytes or below)
    assert np.isfinite(py).all()


def test_bf16_logits_equal_cli_bit_for_bit(cli, scratch, model_dir):
    """precision="bf16" holds the projection weights in bf16, as ``--precision bf16``: the same bits as the CLI,
    within 2 % of the float32 logits (max |logit|) and not equal to them."""
    m = gaincell.Model(model_dir, threads=2, precision="bf16")
    assert m.precision == "bf16" and gaincell.Model(model_dir).precision == "f32"
    ids = m.tokenize(PROMPT * 2)
    py = m.logits(ids)
    ref = cli_logits(cli, scratch, model_dir, ids, "--precision", "bf16")
    assert py.tobytes() == ref.tobytes()
    f32 = gaincell.Model(model_dir, threads=2).logits(ids)
    diff = np.max(np.abs(py.astype(np.float64) - f32))
    scale = np.max(np.abs(f32))
    assert np.isfinite(py).all() and 0 < diff <= 0.02 * scale, (diff, scale)
    # A float32 Model built after it still computes in float32 (the precision is the model's, not the process's).
    assert gaincell.Model(model_dir, threads=2).logits(ids).tobytes() == f32.tobytes()
    with pytest.raises(gaincell.Error, match="expected f32 or bf16, got 'f16'"):
        gaincell.Model(model_dir, precision="f16")


def test_hardware_object_equals_toml_path(cli, scratch, model_dir):
    hw = gaincell.HardwareConfig.paper()
    hw.converters.adc.levels = 16
    hw.leakage.decay_per_token = 2e-3
    path = scratch / "hw.toml"
    hw.to_toml(path)
    ids = list(range(40, 90))
    py = gaincell.Model(model_dir, attention="gaincell", hw=hw, threads=1).logits(np.array(ids, dtype=np.int64))
    ref = cli_logits(cli, scratch, model_dir, ids, "--attention", "gaincell", "--hw", path)
    assert py.tobytes() == ref.tobytes()
    paper = gaincell.Model(model_dir, attention="gaincell").logits(ids)
    assert not np.array_equal(paper, py)  # the field changes reach the backend


def test_perplexity_equals_cli(cli, scratch, model_dir):
    text = open(os.path.join(REPO, "data", "tinyshakespeare.txt"), encoding="utf-8").read()[:600]
    path = scratch / "text.txt"
    path.write_text(text, encoding="utf-8")
    r = gaincell.Model(model_dir).perplexity(text, context=128, stride=64)
    ref = json.loads(cli("perplexity", "--model", model_dir, "--text", path, "--context", 128, "--stride", 64,
                         "--json").stdout)
    for key in ("tokens", "scored_tokens", "bytes", "context", "stride", "attention"):
        assert r[key] == ref[key], key
    for key in ("mean_nll", "perplexity", "bits_per_byte"):
        assert r[key] == ref[key], key  # the same computation; JSON keeps every digit
    assert 0.5 < r["mean_nll"] < 3.0  # a trained model (chance is ln 256 = 5.55)


@pytest.mark.parametrize("attention", ["softmax", "gaincell"])
def test_generate_equals_cli(cli, model_dir, attention):
    m = gaincell.Model(model_dir, attention=attention, seed=7)
    got = m.generate(PROMPT, n=40, temperature=0.8, top_k=20, seed=7)
    out = cli("generate", "--model", model_dir, "--attention", attention, "--prompt", PROMPT, "-n", 40,
              "--temperature", 0.8, "--top-k", 20, "--seed", 7).stdout.decode("utf-8", "replace")
    assert out == PROMPT + got + "\n"
    assert len(m.tokenize(got)) == 40
    greedy = m.generate(PROMPT, n=10)
    assert greedy == m.generate(PROMPT, n=10)  # greedy: deterministic


def test_tokenizer_and_config(cli, model_dir):
    m = gaincell.Model(model_dir)
    ids = m.tokenize("Hello, world")
    assert ids == json.loads(cli("tokenize", "--model", model_dir, "--prompt", "Hello, world").stdout)
    assert m.detokenize(ids) == "Hello, world"
    assert m.detokenize(np.array(ids, dtype=np.int32)) == "Hello, world"
    c = m.config
    assert (c["n_layer"], c["n_head"], c["n_embd"], c["vocab_size"]) == (4, 2, 128, 256)
    assert m.attention == "softmax"
    assert set(gaincell.attention_names()) >= {"softmax", "sliding", "hardsigmoid", "gaincell-linear", "gaincell"}


def test_activity_counts_the_last_run(model_dir):
    m = gaincell.Model(model_dir, attention="gaincell", window=32)
    m.logits(list(range(50)))
    a = m.activity()
    assert len(a) == 4
    for layer in a:
        assert layer["tokens"] == 50
        assert layer["cell_writes"] == 2 * 2 * 64 * 50  # K and V, 2 heads, 64 rows, 50 tokens
        assert layer["adc_conversions"] > 0 and layer["cell_reads"] > 0
    m.logits(list(range(10)))
    assert [x["tokens"] for x in m.activity()] == [10] * 4  # the last call only
    assert gaincell.Model(model_dir).logits([1, 2]).shape == (2, 256)


@pytest.mark.parametrize("folder", ["gc_default", "gc_scalers"])
@pytest.mark.parametrize("attention,golden,ring", [("gaincell", "logits_gaincell.npy", False),
                                                   ("gaincell-linear", "logits_gaincell_linear.npy", False),
                                                   ("gaincell", "logits_gaincell_ring.npy", True),
                                                   ("hardsigmoid", "logits_hardsigmoid.npy", False)])
def test_model_logits_equal_model_goldens(folder, attention, golden, ring):
    """The float64 PyTorch reference's logits of tests/data/parity_gaincell (stored scalers in gc_scalers)."""
    from conftest import data_path, require
    d = data_path("parity_gaincell/" + folder)
    require(os.path.isfile(os.path.join(d, golden)), os.path.join(d, golden))
    tokens = json.load(open(os.path.join(d, "tokens.json")))[0]
    hw = gaincell.HardwareConfig.paper()
    if ring:
        hw.array.tile_mapping = "ring"
    got = gaincell.Model(d, attention=attention, hw=hw, window=128).logits(tokens)
    ref = np.load(os.path.join(d, golden)).reshape(got.shape)
    err = np.abs(got - ref).max()
    assert err <= 1e-4, err
