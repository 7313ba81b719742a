"""Bad input raises a Python exception carrying gaincell's message (never a crash), and repeated calls do not
leak memory."""
import gc
import os
import resource

import numpy as np
import pytest

import gaincell


def qkv(H=2, T=8, D=16, dtype=np.float32):
    rng = np.random.default_rng(0)
    return [rng.uniform(-0.3, 0.9, (H, T, D)).astype(dtype) for _ in range(3)]


def test_wrong_dtype_raises_type_error():
    q, k, v = qkv()
    with pytest.raises(TypeError, match="q: expected dtype float32, got float64"):
        gaincell.gaincell_attention(q.astype(np.float64), k, v)
    with pytest.raises(TypeError, match="k: expected a numpy.ndarray of float32, got list"):
        gaincell.gaincell_attention(q, k.tolist(), v)
    with pytest.raises(TypeError, match="token ids"):
        gaincell.Model(os.path.join(os.path.dirname(__file__), "..", "..", "models", "shakespeare-bytes")).logits("abc")


def test_wrong_shape_and_layout_raise_value_error():
    q, k, v = qkv()
    with pytest.raises(ValueError, match="q: expected 3 or 4 dimensions, got 2"):
        gaincell.gaincell_attention(q[0], k, v)
    with pytest.raises(ValueError, match="k, v: expected shape"):
        gaincell.gaincell_attention(q, np.ascontiguousarray(k[:, :4]), v)
    with pytest.raises(ValueError, match="H_kv dividing H"):
        gaincell.gaincell_attention(np.ascontiguousarray(np.concatenate([q, q[:1]])), k, v)
    with pytest.raises(ValueError, match="C-contiguous"):
        gaincell.gaincell_attention(q.transpose(1, 0, 2), k.transpose(1, 0, 2), v.transpose(1, 0, 2))
    with pytest.raises(ValueError, match="C-contiguous"):
        gaincell.gaincell_attention(q[:, ::2], k[:, ::2], v[:, ::2])
    big = [np.zeros((1, 4, 4097), np.float32)] * 3  # head_dim over the bound of the stacked arrays
    with pytest.raises(gaincell.Error, match=r"\[gaincell\] expected head_dim <= 4096, got 4097"):
        gaincell.gaincell_attention(*big)
    with pytest.raises(ValueError, match="mode"):
        gaincell.gaincell_attention(q, k, v, mode="cubic")
    with pytest.raises(ValueError, match=r"scalers\['q.scale'\]: expected 2 values, got 3"):
        gaincell.gaincell_attention(q, k, v, scalers={"q.scale": [1, 1, 1]})
    with pytest.raises(ValueError, match="scalers: expected keys among"):
        gaincell.gaincell_attention(q, k, v, scalers={"x.scale": [1, 1]})


def test_nan_raises():
    q, k, v = qkv()
    q[1, 3, 5] = np.nan
    with pytest.raises(ValueError, match="q: expected finite values, got NaN at flat index 181"):
        gaincell.gaincell_attention(q, k, v)
    q[1, 3, 5] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        gaincell.gaincell_attention(q, k, v)
    arr = gaincell.GainCellArray(16)
    with pytest.raises(ValueError, match="k: expected finite"):
        arr.write(np.full(16, np.nan, np.float32), np.zeros(16, np.float32))
    with pytest.raises(ValueError, match=r"q: expected shape \[16\]"):
        arr.read(np.zeros(8, np.float32))
    with pytest.raises(ValueError, match="scalers"):
        gaincell.gaincell_attention(*qkv(), scalers={"out.shift": [np.nan, 0]})


def test_missing_and_bad_files(tmp_path):
    with pytest.raises(gaincell.Error) as e:
        gaincell.Model(tmp_path / "nope")
    assert "nope" in str(e.value) and str(e.value).startswith("[")
    with pytest.raises(gaincell.Error, match="nope.toml"):
        gaincell.HardwareConfig.from_toml(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[array]\nrows = -3\n")
    with pytest.raises(gaincell.Error, match="array.rows"):
        gaincell.HardwareConfig.from_toml(bad)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(gaincell.Error, match="config.json"):
        gaincell.Model(tmp_path / "m")
    with pytest.raises(gaincell.Error, match="missing.csv"):
        gaincell.device_fit(tmp_path / "missing.csv")
    model = os.path.join(os.path.dirname(__file__), "..", "..", "models", "shakespeare-bytes")
    with pytest.raises(gaincell.Error, match="attention"):
        gaincell.Model(model, attention="nope")
    m = gaincell.Model(model)
    with pytest.raises(gaincell.Error, match="256"):
        m.logits([1, 2, 300])  # id outside the vocabulary
    with pytest.raises(gaincell.Error, match="n_positions"):
        m.logits([1] * 129)
    with pytest.raises(gaincell.Error, match="at least one token"):
        m.logits([])
    with pytest.raises(gaincell.Error, match="top_p|top-p"):
        m.generate("a", n=2, top_p=1.5)


def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def test_no_leak_over_10000_calls():
    q, k, v = qkv(H=2, T=4, D=8)
    hw = gaincell.HardwareConfig.paper()
    dout = np.ones_like(q)

    def calls(n):
        for i in range(n):
            gaincell.gaincell_attention(q, k, v, hw=hw, window=4)
            if i % 4 == 0:
                gaincell.gaincell_attention_backward(q, k, v, dout, hw=hw, mode="linear", window=4)
            if i % 8 == 0:
                try:
                    gaincell.gaincell_attention(q.astype(np.float64), k, v)
                except TypeError:
                    pass
                try:
                    hw.array.rows = -1
                except gaincell.Error:
                    pass

    gaincell.set_threads(1)  # tiny calls: one thread (waking a pool per call dominates on a loaded machine)
    calls(1000)  # warm up allocator pools
    gc.collect()
    before = rss_kb()
    calls(10000)
    gc.collect()
    grown = rss_kb() - before
    assert grown <= 2048, f"RSS grew by {grown} KiB over 10,000 calls"
