"""gaincell_attention against the attention-level goldens (tests/data/attention, float64 PyTorch reference of
paper-spec §2.4), the streaming GainCellArray against the training form, batch and grouped-query shapes."""
import json

import numpy as np
import pytest

import gaincell
from conftest import data_path, require

# params.json's per-head custom scalers (a, b), exact in float32.
CUSTOM = {"q": ([0.75, 1.25], [0.125, -0.0625]), "k": ([0.875, 1.125], [0.4375, 0.5]),
          "v": ([1.0625, 0.8125], [0.375, 0.46875]), "out": ([0.5, 1.5], [0.25, -0.125])}


def split_qkv(qkv, n_head):
    """[1, T, 3C] (q | k | v, heads head-major) -> q, k, v [H, T, D] float32 C-contiguous."""
    _, T, C3 = qkv.shape
    D = C3 // (3 * n_head)
    x = qkv[0].reshape(T, 3, n_head, D).transpose(1, 2, 0, 3)
    return [np.ascontiguousarray(x[i]) for i in range(3)]


def merge(out):
    H, T, D = out.shape
    return out.transpose(1, 0, 2).reshape(1, T, H * D)


def scaler_dict(s):
    return {f"{n}.{p}": np.array(ab[i], dtype=np.float32) for n, ab in s.items() for i, p in enumerate(("scale", "shift"))}


@pytest.mark.parametrize("golden", ["linear_default", "nonlinear_default", "linear_custom", "nonlinear_custom"])
def test_equals_attention_goldens(golden):
    path = data_path("attention/" + golden + ".npy")
    require(__import__("os").path.isfile(path), path)
    params = json.load(open(data_path("attention/params.json")))
    qkv = np.load(data_path("attention/qkv.npy"))
    ref = np.load(path)
    q, k, v = split_qkv(qkv, params["n_head"])
    hw = gaincell.HardwareConfig.paper()
    hw.leakage.decay_per_token = params["goldens"][golden + ".npy"]["decay_lambda"]
    mode = "linear" if golden.startswith("linear") else "nonlinear"
    scalers = scaler_dict(CUSTOM) if golden.endswith("custom") else None
    out = gaincell.gaincell_attention(q, k, v, hw=hw, mode=mode, window=params["window"], scalers=scalers)
    assert out.shape == q.shape and out.dtype == np.float32
    err = np.abs(merge(out) - ref).max()
    assert err <= 2e-6, err  # NaN-aware: a NaN makes the comparison false
    # The default scalers are what scalers=None means.
    if scalers is None:
        d = gaincell.default_scalers(2, 2, 64)
        again = gaincell.gaincell_attention(q, k, v, hw=hw, mode=mode, window=params["window"], scalers=d)
        assert again.tobytes() == out.tobytes()


def test_default_scalers():
    d = gaincell.default_scalers(4, 2, 32)
    assert set(d) == {f"{n}.{p}" for n in ("q", "k", "v", "out") for p in ("scale", "shift")}
    assert np.all(d["q.scale"] == 1) and np.all(d["q.shift"] == 0) and np.all(d["out.shift"] == 0)
    assert np.allclose(d["k.shift"], 0.45) and np.allclose(d["v.shift"], 0.45)
    assert len(d["q.scale"]) == 4


def test_batch_axis_equals_per_sequence_calls():
    rng = np.random.default_rng(3)
    q = rng.uniform(-0.2, 1.2, (2, 4, 20, 16)).astype(np.float32)
    k = rng.uniform(-0.4, 0.4, (2, 2, 20, 16)).astype(np.float32)  # grouped-query: 2 KV heads for 4 query heads
    v = rng.uniform(-0.4, 0.4, (2, 2, 20, 16)).astype(np.float32)
    out = gaincell.gaincell_attention(q, k, v, window=12)
    assert out.shape == (2, 4, 20, 16)
    for b in range(2):
        one = gaincell.gaincell_attention(q[b], k[b], v[b], window=12)
        assert one.tobytes() == out[b].tobytes()
    # Query heads 0 and 1 read KV head 0: with equal queries they give equal outputs.
    q2 = np.ascontiguousarray(np.repeat(q[0, :1], 4, axis=0))
    o2 = gaincell.gaincell_attention(q2, k[0], v[0], window=12)
    assert o2[0].tobytes() == o2[1].tobytes() and o2[2].tobytes() == o2[3].tobytes()
    assert not np.array_equal(o2[0], o2[2])


@pytest.mark.parametrize("mode", ["nonlinear", "linear"])
def test_array_streaming_equals_training_form(mode):
    """Reading after every write reproduces the training form on the physical (ring) arrays, window sliding."""
    rng = np.random.default_rng(11)
    T, D, W = 90, 32, 70
    q = rng.uniform(-0.2, 1.2, (1, T, D)).astype(np.float32)
    k = rng.uniform(-0.4, 0.4, (1, T, D)).astype(np.float32)
    v = rng.uniform(-0.4, 0.4, (1, T, D)).astype(np.float32)
    hw = gaincell.HardwareConfig.paper()
    hw.array.tile_mapping = "ring"
    hw.leakage.decay_per_token = 1e-3
    sc = {"q.scale": [1.1], "k.shift": [0.5], "out.scale": [0.75]}
    ref = gaincell.gaincell_attention(q, k, v, hw=hw, mode=mode, window=W, scalers=sc)[0]
    arr = gaincell.GainCellArray(D, hw=hw, mode=mode, window=W, scalers=sc)
    assert arr.window == W and arr.head_dim == D
    rows = []
    for t in range(T):
        arr.write(k[0, t], v[0, t])
        rows.append(arr.read(q[0, t]))
    got = np.stack(rows)
    err = np.abs(got - ref).max()
    assert err <= 1e-5, err
    assert arr.position == T
    age = arr.age
    assert age.shape == (W,) and age.min() == 0 and age.max() == W - 1
    assert int(age[(T - 1) % W]) == 0  # the newest token
    act = arr.activity()
    assert act["tokens"] == T and act["cell_writes"] == 2 * D * T


def test_array_read_before_write_raises():
    arr = gaincell.GainCellArray(8)
    with pytest.raises(gaincell.Error, match="write before the first read"):
        arr.read(np.zeros(8, np.float32))
    assert (arr.age == -1).all()


def test_gil_is_released_while_computing():
    """Another Python thread runs while a call computes in C++ (the GIL is released)."""
    import threading
    import time
    rng = np.random.default_rng(5)
    # Large enough to take tens of milliseconds (4 x 400 took 7 ms once the reads were vectorized: too few polls).
    q, k, v = [rng.uniform(-0.3, 0.9, (4, 1200, 64)).astype(np.float32) for _ in range(3)]
    done = threading.Event()
    result = {}

    def work():
        t0 = time.perf_counter()
        result["out"] = gaincell.gaincell_attention(q, k, v, window=1200)
        result["seconds"] = time.perf_counter() - t0
        done.set()

    count = 0
    th = threading.Thread(target=work)
    th.start()
    while not done.is_set():
        count += 1
        time.sleep(0.0005)
    th.join()
    assert result["out"].shape == q.shape and np.isfinite(result["out"]).all()
    # Held GIL: the loop could not run while the call computes (it would count ~0 iterations).
    assert count >= 10, (count, result["seconds"])
