"""The XGBoost champions on the compiled tree kernel: the same probabilities as XGBoost (at the split thresholds
and on missing values too), the kernel built once, refused when broken or handed a booster it cannot take
(XGBoost serves), and what the runtime serves from its first event."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from live_runtime.compiled import compiled_or_none, flatten, kernel_library, probe_rows
from live_runtime.engine import Engine
from live_runtime.models import ModelSet
from live_runtime.sources import TableStream
from quant.features import FEATURES
from quant.models.registry import Registry
from tests.live.conftest import live_config


def test_compiled_trees_give_xgboosts_probabilities_and_are_built_once(live_root, stream_events, tmp_path):
    registry = Registry(live_root / "registry")
    model = registry.load("rug_model", registry.champion("rug_model"), list(FEATURES))
    ranges = ModelSet(model, model)  # the training ranges, as the outlier gate reads them
    probe = probe_rows(ranges.lo, ranges.hi)
    cache = tmp_path / "compiled"
    compiled = compiled_or_none(model.booster, "rug", cache, probe)
    assert compiled is not None and compiled.library == kernel_library(cache) and compiled.library.parent == cache
    # rows the runtime really scores, and rows spanning the training ranges with values missing
    events, history = stream_events
    engine = Engine(live_config(live_root, tmp_path / "work", compile_trees=False), TableStream(events[:5_000], history))
    engine.warm_up()
    engine.run()
    live_rows = engine.journal.read("predictions")[list(FEATURES)].to_numpy(np.float64)
    for x in (live_rows, probe, probe[:1]):
        expected = model.booster.inplace_predict(x, validate_features=False)
        np.testing.assert_allclose(compiled.predict(x), expected, rtol=0, atol=1e-5)
    assert np.isnan(probe).any() and np.isnan(live_rows).any() and len(live_rows) > 500
    built = compiled.library.stat().st_mtime_ns
    moon = registry.load("moon_model", registry.champion("moon_model"), list(FEATURES))
    again = compiled_or_none(moon.booster, "moon", cache, probe)
    assert again is not None and again.library.stat().st_mtime_ns == built  # from the cache, not rebuilt


def test_a_broken_library_is_refused_and_xgboost_serves(live_root, tmp_path, caplog):
    registry = Registry(live_root / "registry")
    model = registry.load("moon_model", registry.champion("moon_model"), list(FEATURES))
    cache = tmp_path / "compiled"
    cache.mkdir()
    kernel_library(cache).write_bytes(b"not a shared library")
    probe = probe_rows(np.zeros(len(FEATURES)), np.ones(len(FEATURES)))
    assert compiled_or_none(model.booster, "moon", cache, probe) is None
    assert "compiled trees unavailable for moon, XGBoost serves" in caplog.text


def test_the_runtime_serves_compiled_champions_from_its_first_event(live_root, stream_events, tmp_path):
    events, history = stream_events
    engine = Engine(live_config(live_root, tmp_path), TableStream(events[:5_000], history))
    assert set(engine.watcher.current.compiled) == {"moon", "rug"}  # built (or cached) before any event
    engine.warm_up()
    engine.run()
    engine.publish()
    assert engine.status.published["models"]["moon_model"]["compiled"] and engine.status.published["models"]["rug_model"]["compiled"]
    served = Engine(live_config(live_root, tmp_path / "xgb", compile_trees=False), TableStream(events[:5_000], history))
    served.warm_up()
    served.run()
    ours, theirs = engine.journal.read("predictions"), served.journal.read("predictions")
    assert len(ours) == len(theirs) > 500
    np.testing.assert_allclose(ours.p_moon, theirs.p_moon, rtol=0, atol=1e-5)
    np.testing.assert_allclose(ours.p_rug, theirs.p_rug, rtol=0, atol=1e-5)


def test_the_kernel_branches_as_xgboost_at_each_threshold_and_on_missing_values(live_root, tmp_path):
    """Rows sitting exactly on every split threshold (float32, as XGBoost compares), a hair either side of
    it, and with the split feature missing: the kernel must take XGBoost's branch at each."""
    registry = Registry(live_root / "registry")
    model = registry.load("moon_model", registry.champion("moon_model"), list(FEATURES))
    nodes, *_ = flatten(model.booster)
    splits = nodes[nodes["left"] != np.arange(len(nodes))]  # leaves point at themselves
    ranges, rng = ModelSet(model, model), np.random.default_rng(3)
    base = probe_rows(ranges.lo, ranges.hi, n=len(splits), seed=3)
    rows = []
    for value in (splits["value"].astype(np.float64), np.nextafter(splits["value"], np.float32(np.inf)),
                  np.nextafter(splits["value"], np.float32(-np.inf)), np.full(len(splits), np.nan)):
        x = base.copy()
        x[np.arange(len(splits)), splits["feature"]] = value
        rows.append(x[rng.permutation(len(x))])
    x = np.concatenate(rows)
    compiled = compiled_or_none(model.booster, "moon", tmp_path, base)
    np.testing.assert_allclose(compiled.predict(x), model.booster.inplace_predict(x, validate_features=False),
                               rtol=0, atol=1e-5)


def test_a_booster_the_kernel_cannot_take_is_refused_and_xgboost_serves(tmp_path, caplog):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    regression = xgb.train({"objective": "reg:squarederror", "max_depth": 2}, xgb.DMatrix(x, label=x[:, 0]), 5)
    with pytest.raises(ValueError, match="objective=reg:squarederror"):
        flatten(regression)
    assert compiled_or_none(regression, "regression", tmp_path, x) is None
    assert "compiled trees unavailable for regression, XGBoost serves" in caplog.text
