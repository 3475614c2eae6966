"""The loop from live trading back to training, end to end on the small world whose regime shifts on day 4:
Dagster builds days 1-3 and the champions; the live runtime trades day 4 (the shift) and journals it; the
drift sensor, ticking every two hours of market time on the journal, fires within the day; the retrain job
runs on day 4 once it is ingested; the challenger is promoted only if it beats the champion on the post-shift
day; and the runtime serves whatever is champion then. The same on the world without the shift: no firing."""

from __future__ import annotations

import json

import dagster as dg
import pandas as pd
import pytest

from assets.evaluation import model_evaluation, model_promotion
from assets.features import feature_assets
from assets.market_data import market_assets as build_market_assets
from assets.models import model_assets
from assets.partitions import daily_partitions_for
from live_runtime.config import RuntimeConfig
from live_runtime.engine import Engine
from live_runtime.sources import simulated_stream
from orchestration.jobs import partitioned_jobs
from quant.models.specs import SPECS
from quant.settings import Settings
from resources import ChainSource, LiveJournal, ModelRegistry, RawStore, Warehouse
from sensors.drift import DriftSettings, build_drift_sensor

PARTITIONS = daily_partitions_for(Settings.from_env())  # as orchestration.definitions builds them
market_assets = build_market_assets(PARTITIONS)
pool_features, pool_labels = feature_assets(PARTITIONS)
retrain_job = partitioned_jobs(PARTITIONS).retrain_job

ALL = [*market_assets, pool_features, pool_labels, *model_assets, model_evaluation, model_promotion]
WINDOWS = {"train_days": 2, "holdout_days": 1, "slippage_rows": 20_000}
MODEL_STEPS = [*SPECS, "model_evaluation", "model_promotion"]
HOURS = pd.Timedelta(hours=1)
SENSOR = DriftSettings()  # the live journal compared over a whole day once it spans 90% of one


def materialize(resources, day: str | None, selection: list[str], refusal_allowed: bool = False):
    """A run; a refused challenger fails its blocking promotion check, which the retrain may allow."""
    config = {"ops": {name: {"config": WINDOWS} for name in MODEL_STEPS}} if day is None else None
    result = dg.materialize(ALL, partition_key=day, resources=resources, selection=selection, run_config=config,
                            raise_on_error=not refusal_allowed)
    assert result.success or refusal_allowed
    return result


def build(tmp_path, world: str) -> dict:
    resources = {
        "chain_source": ChainSource(world=world, days=4, cache_dir=str(tmp_path / "worlds")),
        "warehouse": Warehouse(database=str(tmp_path / "warehouse.duckdb")),
        "raw_store": RawStore(directory=str(tmp_path / "raw")),
        "model_registry": ModelRegistry(root=str(tmp_path / "registry")),
        "live_journal": LiveJournal(directory=str(tmp_path / "journal")),
    }
    for step in (["pool_snapshots", "swaps"], ["pool_features"], ["pool_labels"]):
        for day in ("2026-01-01", "2026-01-02", "2026-01-03"):
            materialize(resources, day, step)
    materialize(resources, None, MODEL_STEPS)
    return resources


def trade_day_and_tick(tmp_path, world: str, resources: dict) -> tuple[Engine, list]:
    """The runtime trades day 4 from where the history ends; the sensor ticks every 2 market hours."""
    settings = Settings(data_dir=tmp_path, world=world, seed=7, start=None, days=3)
    cfg = RuntimeConfig(data_dir=tmp_path, registry_dir=tmp_path / "registry", journal_dir=tmp_path / "journal")
    engine = Engine(cfg, simulated_stream(settings, forward_days=1))
    engine.warm_up()
    sensor = build_drift_sensor(retrain_job, SENSOR)
    instance, cursor, ticks = dg.DagsterInstance.ephemeral(), None, []
    day4 = pd.Timestamp("2026-01-04")
    for hour in range(2, 25, 2):
        engine.run(until_us=(day4 + hour * HOURS).value // 1000)
        context = dg.build_sensor_context(cursor=cursor, resources=resources, instance=instance)
        result = sensor(context)
        cursor = context.cursor
        ticks.append((hour, result.run_requests[0] if result.run_requests else result.skip_reason))
        if result.run_requests:
            break
    return engine, ticks


@pytest.mark.timeout(900)
def test_shift_fires_the_sensor_retrains_and_the_runtime_serves_the_champion(tmp_path):
    resources = build(tmp_path, "small-shift")
    registry = resources["model_registry"].registry()
    assert registry.champion("moon_model") == "v0001"
    engine, ticks = trade_day_and_tick(tmp_path, "small-shift", resources)
    hour, request = ticks[-1]
    assert isinstance(request, dg.RunRequest), f"no firing within the post-shift day: {ticks[-1][1]}"
    print(f"drift sensor fired after {hour} h of post-shift live data: {request.tags['quant/drift_reason']} "
          f"({request.tags['quant/drift_live_psi']})")
    assert request.tags["quant/drift_reason"].startswith("live ")
    assert request.partition_key == "2026-01-03"  # the newest stored day; day 4 is still being traded

    # The daily ingest brings day 4 in; the requested retrain then runs on the newest day.
    for step in (["pool_snapshots", "swaps"], ["pool_features"], ["pool_labels"]):
        materialize(resources, "2026-01-04", step)
    materialize(resources, None, MODEL_STEPS, refusal_allowed=True)
    moon = registry.manifest("moon_model", registry.candidate("moon_model"))
    evaluation = json.loads((tmp_path / "registry" / "moon_model" / "champion").read_text())
    promoted = registry.champion("moon_model") != "v0001"
    assert moon["training_window"]["test_start"].startswith("2026-01-04")  # judged on the post-shift day
    assert promoted == (evaluation["version"] == moon["version"])

    engine.watcher.check(force=True)
    assert engine.watcher.current.versions["moon_model"] == registry.champion("moon_model")
    engine.run()  # the rest of the day with whatever is champion now
    served = engine.journal.read("predictions").moon_version.unique().tolist()
    assert served == (["v0001", registry.champion("moon_model")] if promoted else ["v0001"])


@pytest.mark.timeout(900)
def test_stationary_world_does_not_fire(tmp_path):
    resources = build(tmp_path, "small")
    _, ticks = trade_day_and_tick(tmp_path, "small", resources)
    assert len(ticks) == 12 and all(isinstance(r, dg.SkipReason) for _, r in ticks), ticks[-1]
    compared = [r.skip_message for h, r in ticks if h >= 22]
    assert compared and all("vs the live journal's last 24 h" in m for m in compared), compared
