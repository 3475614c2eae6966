"""The XGBoost champions compiled to native code: the same probabilities as XGBoost, built once per model file
(cached by its sha256), refused when broken (XGBoost serves), and what the runtime serves from its first event."""

from __future__ import annotations

import numpy as np

from live_runtime.compiled import compiled_or_none, probe_rows
from live_runtime.engine import Engine
from live_runtime.models import ModelSet
from live_runtime.sources import TableStream
from quant.features import FEATURES
from quant.registry import Registry
from tests.live.conftest import live_config


def test_compiled_trees_give_xgboosts_probabilities_and_are_built_once(live_root, stream_events, tmp_path):
    registry = Registry(live_root / "registry")
    model = registry.load("rug_model", registry.champion("rug_model"), list(FEATURES))
    ranges = ModelSet(model, model)  # the training ranges, as the outlier gate reads them
    probe = probe_rows(ranges.lo, ranges.hi)
    cache = tmp_path / "compiled"
    compiled = compiled_or_none(model.booster, model.manifest["sha256"], cache, probe)
    assert compiled is not None and compiled.library == cache / f"{model.manifest['sha256']}.so"
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
    again = compiled_or_none(model.booster, model.manifest["sha256"], cache, probe)
    assert again is not None and again.library.stat().st_mtime_ns == built  # from the cache, not rebuilt


def test_a_broken_library_is_refused_and_xgboost_serves(live_root, tmp_path, caplog):
    registry = Registry(live_root / "registry")
    model = registry.load("moon_model", registry.champion("moon_model"), list(FEATURES))
    cache = tmp_path / "compiled"
    cache.mkdir()
    (cache / f"{model.manifest['sha256']}.so").write_bytes(b"not a shared library")
    probe = probe_rows(np.zeros(len(FEATURES)), np.ones(len(FEATURES)))
    assert compiled_or_none(model.booster, model.manifest["sha256"], cache, probe) is None
    assert "XGBoost serves" in caplog.text


def test_the_runtime_serves_compiled_champions_from_its_first_event(live_root, stream_events, tmp_path):
    events, history = stream_events
    engine = Engine(live_config(live_root, tmp_path), TableStream(events[:5_000], history))
    assert set(engine.watcher.current.compiled) == {"moon", "rug"}  # built (or cached) before any event
    engine.warm_up()
    engine.run()
    engine.publish()
    assert engine.published["models"]["moon_model"]["compiled"] and engine.published["models"]["rug_model"]["compiled"]
    served = Engine(live_config(live_root, tmp_path / "xgb", compile_trees=False), TableStream(events[:5_000], history))
    served.warm_up()
    served.run()
    ours, theirs = engine.journal.read("predictions"), served.journal.read("predictions")
    assert len(ours) == len(theirs) > 500
    np.testing.assert_allclose(ours.p_moon, theirs.p_moon, rtol=0, atol=1e-5)
    np.testing.assert_allclose(ours.p_rug, theirs.p_rug, rtol=0, atol=1e-5)
