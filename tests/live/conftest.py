"""The live runtime's fixtures: the small world's history (3 days) and its next day as the stream, and a
registry whose moon and rug champions were trained on that history, as the retrain job would."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from live_runtime.config import DecisionConfig, RuntimeConfig
from live_runtime.sources import simulated_stream
from quant.features import FEATURES, batch_features
from quant.features.labels import build_labels
from quant.models.registry import Registry
from quant.models.specs import MOON, RUG
from quant.models.train import predict, reference_histograms, train_booster
from quant.settings import Settings
from quant.simulator.config import world_config
from quant.simulator.market import SimulatedMarket

HISTORY_DAYS = 3


@pytest.fixture(scope="session")
def live_root(tmp_path_factory) -> Path:
    """A data dir with the world cache and the registry, shared (read-only) by the live tests."""
    return build_live_root(tmp_path_factory.mktemp("live"))


def build_live_root(root: Path) -> Path:
    """The small world's cache and a registry of moon and rug champions trained on its history (also the
    `soak_rpc` benchmark's)."""
    settings = Settings(data_dir=root, world="small", seed=7, start=None, days=HISTORY_DAYS)
    history = SimulatedMarket(world_config("small", 7, None, HISTORY_DAYS + 1), root / "worlds")
    end = pd.Timestamp(settings.world_config().start) + pd.Timedelta(days=HISTORY_DAYS)
    snaps = history.fetch("pool_snapshots", pd.Timestamp("2000-01-01"), end)
    swaps = history.fetch("swaps", pd.Timestamp("2000-01-01"), end)
    frame = batch_features(snaps, swaps).to_pandas().merge(build_labels(snaps).to_pandas(), on=["pool_id", "ts"])
    frame = frame[frame.will_moon.notna()]
    registry = Registry(root / "registry")
    for spec in (MOON, RUG):
        booster = train_booster(replace(spec, rounds=60), frame)
        version = registry.register(spec.name, booster, list(FEATURES), metrics={"roc_auc": 0.0},
                                    reference=reference_histograms(frame, FEATURES, predict(booster, frame, FEATURES)))
        registry.promote(spec.name, version, "test fixture")
    return root


def live_settings(root: Path) -> Settings:
    return Settings(data_dir=root, world="small", seed=7, start=None, days=HISTORY_DAYS)


def live_config(root: Path, work: Path, **overrides) -> RuntimeConfig:
    """Registry and worlds from the shared root; journal and kill switch in this test's own folder.
    Looser entry thresholds than the defaults so that a short stream trades."""
    decision = DecisionConfig(moon_threshold=0.5, rug_threshold=0.4, cascade_moon_gate=0.4, online_weight=0.0)
    cfg = RuntimeConfig(data_dir=work, registry_dir=root / "registry", journal_dir=work / "journal",
                        decision=decision, max_batch=64)
    return replace(cfg, **overrides)


@pytest.fixture(scope="session")
def stream_events(live_root):
    """The forward day's events and the warm-up history, built once."""
    s = simulated_stream(live_settings(live_root))
    return s.events, s.history()
