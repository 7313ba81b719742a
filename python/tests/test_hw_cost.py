"""HardwareConfig (fields, validation on assignment, TOML round trip), cost against `gaincell cost --json`, and
device_fit against `gaincell device fit`."""
import json
import os

import numpy as np
import pytest

import gaincell
from conftest import REPO


def test_fields_attributes_and_validation():
    hw = gaincell.HardwareConfig.paper()
    assert hw.array.rows == 64 and hw.array.window_tokens == 1024
    assert hw.converters.adc.levels == 32 and hw.converters.store.hi == pytest.approx(0.9)
    assert hw.device.coeffs_ua[3] == pytest.approx(46.05483778)
    assert hw["leakage.decay_per_token"] == pytest.approx(1.6e-4)
    paths = [p for p, _ in gaincell.HardwareConfig.fields()]
    assert len(paths) == len(set(paths)) > 30
    for p in paths:  # every field reachable as an attribute, equal to its item
        obj = hw
        for part in p.split("."):
            obj = getattr(obj, part)
        assert obj == hw[p], p
    hw.array.window_tokens = 256
    hw.converters.adc.levels = 16
    hw.noise.cell_gain_sigma = 0.05
    hw.device.coeffs_ua = [0.0, 19.3]
    assert hw.to_dict()["array"]["window_tokens"] == 256 and hw.device.coeffs_ua == [0.0, 19.3]
    with pytest.raises(gaincell.Error, match=r"\[hw\].*array.rows") as e:
        hw.array.rows = 0
    assert isinstance(e.value, ValueError)
    assert hw.array.rows == 64  # unchanged
    with pytest.raises(gaincell.Error, match="converters.adc.levels"):
        hw.converters.adc.levels = 1
    with pytest.raises(TypeError, match="array.rows: expected int, got float"):
        hw.array.rows = 2.5
    with pytest.raises(TypeError, match="expected bool"):
        hw.converters.adc.enabled = 1
    with pytest.raises(AttributeError, match="no field 'array.nope'"):
        hw.array.nope = 1
    with pytest.raises(AttributeError):
        hw.window_tokens = 3
    with pytest.raises(gaincell.Error):
        hw.update({"converters.store.lo": 0.5, "converters.store.hi": 0.4})
    assert hw.converters.store.lo == 0.0
    hw.update({"converters.store.lo": 0.1, "converters.store.hi": 0.8})
    assert (hw.converters.store.lo, hw.converters.store.hi) == (0.1, 0.8)
    assert hw.validate() == []


def test_toml_round_trip(tmp_path, cli):
    hw = gaincell.HardwareConfig.paper()
    hw.leakage.decay_per_token = 3.3e-4
    hw.array.tile_mapping = "ring"
    path = tmp_path / "hw.toml"
    hw.to_toml(path)
    back = gaincell.HardwareConfig.from_toml(path)
    assert back == hw and back.to_dict() == hw.to_dict()
    assert gaincell.HardwareConfig.from_toml(os.path.join(REPO, "configs", "paper.toml")) == \
        gaincell.HardwareConfig.paper()
    c = hw.copy()
    c.array.cols = 32
    assert hw.array.cols == 64 and c != hw


def test_cost_equals_cli(cli):
    ref = json.loads(cli("cost", "--model", "gpt2", "--gpu", "h100,a100", "--json").stdout)
    got = gaincell.cost("gpt2", gpus=("h100", "a100"))
    assert ref.pop("provenance")["argv"][1] == "cost"  # the CLI's record of its own run
    assert got == ref
    # A shape tuple gives the same numbers as the preset of that shape.
    shaped = gaincell.cost((12, 12, 64, 50257), gpus=("h100", "a100"))
    assert shaped["energy_per_token"] == ref["energy_per_token"] and shaped["latency_per_token"] == ref["latency_per_token"]
    hw = gaincell.HardwareConfig.paper()
    hw.array.window_tokens = 512
    small = gaincell.cost("gpt2", hw=hw)
    assert small["energy_per_token"] != ref["energy_per_token"]
    model = gaincell.Model(os.path.join(REPO, "models", "shakespeare-bytes"))
    assert gaincell.cost(model) == gaincell.cost(os.path.join(REPO, "models", "shakespeare-bytes"))
    with pytest.raises(gaincell.Error, match="expected a GPU in .*, got 'tpu'"):
        gaincell.cost("gpt2", gpus=("tpu",))


def test_device_fit_equals_cli(tmp_path, cli):
    # The paper's cubic in uA at 0.9 V, sampled over the store window, with a rows at another read voltage.
    alpha = [0.5213636139, 13.612260634, -2.620445619, 46.05483778]
    rows = ["v_store_V,v_in_V,i_read_A"]
    for vs in np.linspace(0.0, 0.9, 37):
        y = vs - 0.45
        rows.append(f"{vs:.6f},0.9,{sum(a * y ** p for p, a in enumerate(alpha)) * 1e-6:.9e}")
        rows.append(f"{vs:.6f},0.5,{1e-7:.9e}")
    csv = tmp_path / "iv.csv"
    csv.write_text("\n".join(rows) + "\n")
    fit = gaincell.device_fit(csv, out=tmp_path / "py.toml")
    assert fit["ok"] and fit["n_points"] == 37 and fit["n_rows"] == 74
    assert np.allclose(fit["coeffs_ua"], alpha, rtol=1e-6, atol=1e-6)
    assert fit["dropped"][0]["count"] == 37
    cli("device", "fit", "--csv", csv, "--out", tmp_path / "cli.toml")
    assert (tmp_path / "py.toml").read_text() == (tmp_path / "cli.toml").read_text()
    hw = gaincell.HardwareConfig.from_toml(tmp_path / "py.toml")
    assert hw.device.coeffs_ua == fit["coeffs_ua"]
