"""The drift and run-failure sensors through Dagster's sensor test contexts, on a tiny champion registered
with the registry's own functions and feature rows written straight into a temp warehouse."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from assets.partitions import daily_partitions_for
from orchestration.jobs import partitioned_jobs
from quant.drift import DriftSettings
from quant.features import FEATURES
from quant.models import metrics
from quant.models.specs import ModelSpec
from quant.models.train import predict, reference_histograms, train_booster
from quant.settings import Settings
from resources import LiveJournal, ModelRegistry, Warehouse
from sensors.drift import build_drift_sensor
from sensors.failures import build_failure_sensor

PARTITIONS = daily_partitions_for(Settings.from_env())  # as orchestration.definitions builds them
retrain_job = partitioned_jobs(PARTITIONS).retrain_job

SPEC = ModelSpec("moon_model", "will_moon", FEATURES, "binary:logistic", rounds=20)
SIGNAL = ("ret_10", "volatility_10")  # the features the synthetic target depends on: the top features by gain
REFERENCE_DAY, NEW_DAY = pd.Timestamp("2026-01-03"), pd.Timestamp("2026-01-04")
ROWS = 3000
SETTINGS = DriftSettings(top_features=5, min_rows=500, cooldown_hours=12, live_window_hours=6)


def feature_rows(day: pd.Timestamp, seed: int, shift: float = 0.0, flip_labels: bool = False) -> pd.DataFrame:
    """ROWS snapshots of one day: every feature standard normal, the SIGNAL features shifted by `shift`
    standard deviations, and a label that rises with them (inverted when `flip_labels`)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(ROWS, len(FEATURES))), columns=list(FEATURES))
    for f in SIGNAL:
        frame[f] += shift
    logit = 2.0 * (frame[SIGNAL[0]] - shift) + 1.5 * (frame[SIGNAL[1]] - shift) - 1.0
    y = (rng.random(ROWS) < 1 / (1 + np.exp(-logit))).astype(float)
    frame["will_moon"] = 1.0 - y if flip_labels else y
    frame.insert(0, "ts", day + pd.to_timedelta(np.arange(ROWS) * 86_400 // ROWS, unit="s"))
    frame.insert(0, "pool_id", [f"pool{i % 50}" for i in range(ROWS)])
    return frame


@pytest.fixture
def env(tmp_path):
    """A champion trained on day 2 and held out on day 3 (its reference), and a warehouse with day 4."""
    registry = ModelRegistry(root=str(tmp_path / "registry"))
    warehouse = Warehouse(database=str(tmp_path / "warehouse.duckdb"))
    train, holdout = feature_rows(REFERENCE_DAY - pd.Timedelta(days=1), 1), feature_rows(REFERENCE_DAY, 2)
    booster = train_booster(SPEC, train)
    pred = predict(booster, holdout, SPEC.features)
    y = holdout.will_moon.to_numpy()
    reg = registry.registry()
    version = reg.register(SPEC.name, booster, list(FEATURES), target="will_moon",
                           metrics={"roc_auc": metrics.roc_auc(y, pred), "brier": metrics.brier(y, pred)},
                           training_window={"test_start": str(REFERENCE_DAY), "test_end": str(NEW_DAY)},
                           reference=reference_histograms(holdout, FEATURES, pred))
    reg.promote(SPEC.name, version, reason="test")
    return {"warehouse": warehouse, "model_registry": registry,
            "live_journal": LiveJournal(directory=str(tmp_path / "journal"))}


def journal_rows(env, frame: pd.DataFrame, version: str = "v0001", error_alarm: bool = False) -> None:
    """`frame` as the live runtime journals it: each row a prediction by `version`, then its outcome."""
    from live_runtime.journal import Journal

    pred = predict(env["model_registry"].registry().load("moon_model", version).booster, frame, SPEC.features)
    journal = Journal(env["live_journal"].directory)
    journal.resume()
    n = len(frame)
    ts = frame.ts.to_numpy().astype("datetime64[us]").astype(np.int64)
    journal.add_predictions({"seq": np.arange(n), "ts": ts, "pool_id": frame.pool_id.tolist(), "p_moon": pred,
                             "moon_version": [version] * n, **{f: frame[f].to_numpy() for f in FEATURES}})
    journal.add_outcomes({"seq": np.arange(n), "ts": ts, "pool_id": frame.pool_id.tolist(),
                          "will_moon": frame.will_moon.to_numpy(), "p_moon": pred, "moon_version": [version] * n})
    if error_alarm:  # as the runtime journals its Page-Hinkley detector's alarm on the champion's errors
        journal.add("error_drift", n - 1, int(ts[-1]), None, {"model": "moon_model", "version": version,
                                                               "detector": "page_hinkley"})
    journal.commit({"position": n}, int(ts[-1]))


def store(env, frame: pd.DataFrame, labels: bool = False) -> None:
    day = frame.ts.min().floor("D")
    env["warehouse"].replace_window("pool_features", frame.drop(columns="will_moon"), day, day + pd.Timedelta(days=1))
    if labels:
        env["warehouse"].replace_window("pool_labels", frame[["pool_id", "ts", "will_moon"]], day,
                                        day + pd.Timedelta(days=1))


def tick(env, cursor: dict | None = None, settings: DriftSettings = SETTINGS, events: list | None = None):
    """One sensor evaluation: (its run request or skip reason, the cursor it leaves as a dict); the asset
    events it emits are appended to `events`."""
    sensor = build_drift_sensor(retrain_job, settings)
    context = dg.build_sensor_context(cursor=json.dumps({settings.model: cursor}) if cursor is not None else None,
                                      resources=env, instance=dg.DagsterInstance.ephemeral())
    result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    if events is not None:
        events.extend(result.asset_events)
    decision = result.run_requests[0] if result.run_requests else result.skip_reason
    return decision, json.loads(context.cursor)[settings.model] if context.cursor else None  # one entry per model


def test_fires_on_drifted_features_with_reason_and_figures(env):
    store(env, feature_rows(NEW_DAY, 3, shift=1.0))
    result, cursor = tick(env)
    assert isinstance(result, dg.RunRequest), result
    assert result.partition_key == "2026-01-04"
    assert result.run_key == "drift-moon_model-v0001-2026-01-04"
    tags = result.tags
    assert tags["quant/trigger"] == "drift" and tags["quant/champion"] == "moon_model@v0001"
    assert tags["quant/drift_reason"].startswith("psi>0.2 on 2 of 5 top features")
    drifted = dict(kv.split("=") for kv in tags["quant/drift_psi"].split(","))
    assert set(drifted) == set(SIGNAL)
    assert all(float(v) > 0.2 for v in drifted.values())
    assert cursor["last_run_key"] == result.run_key and cursor["last_partition"] == "2026-01-04"
    assert abs(cursor["last_request_at"] - time.time()) < 60


def test_skips_on_stationary_features_with_the_figures(env):
    store(env, feature_rows(NEW_DAY, 4))
    result, cursor = tick(env)
    assert isinstance(result, dg.SkipReason)
    text = result.skip_message
    assert text.startswith("no drift: moon_model@v0001 vs 2026-01-04 (3000 rows): PSI ")
    psis = [float(kv.split("=")[1]) for kv in text.split("PSI ")[1].split(";")[0].split(", ")]
    assert len(psis) == 5 and max(psis) < 0.2
    assert "no resolved labels" in text
    assert cursor == {"observed": "2026-01-04:3000:moon_model@v0001"}  # no request, no cooldown started


def test_figures_are_observed_on_the_partition_once(env):
    store(env, feature_rows(NEW_DAY, 3, shift=1.0))
    events = []
    _, cursor = tick(env, events=events)
    assert len(events) == 1 and isinstance(events[0], dg.AssetObservation)
    obs = events[0]
    assert obs.asset_key == dg.AssetKey("pool_features") and obs.partition == "2026-01-04"
    psi = obs.metadata["drift_psi"].value
    assert set(psi) >= set(SIGNAL) and obs.metadata["drift_max_psi"].value == max(psi.values()) > 0.2
    tick(env, cursor, events=events)  # the same figures again: not observed twice
    assert len(events) == 1


def test_cooldown_walks_through_each_state(env):
    store(env, feature_rows(NEW_DAY, 3, shift=1.0))
    first, cursor = tick(env)  # no cursor: fires and starts the cooldown
    assert isinstance(first, dg.RunRequest)
    second, cursor2 = tick(env, cursor)  # drift persists, within the cooldown: skips, cursor unchanged
    assert isinstance(second, dg.SkipReason)
    assert "in cooldown" in second.skip_message and "cooldown 12 h" in second.skip_message
    assert "drift-moon_model-v0001-2026-01-04" in second.skip_message and "ret_10=" in second.skip_message
    assert cursor2 == cursor
    expired = {**cursor, "last_request_at": time.time() - 12.5 * 3600}
    third, cursor3 = tick(env, expired)  # cooldown over: requests again, with the same deterministic key
    assert isinstance(third, dg.RunRequest) and third.run_key == first.run_key
    assert cursor3["last_request_at"] > expired["last_request_at"]
    store(env, feature_rows(NEW_DAY, 5))  # the data settles: no drift, whatever the cursor
    fourth, cursor4 = tick(env, cursor3)
    assert isinstance(fourth, dg.SkipReason) and fourth.skip_message.startswith("no drift")
    assert cursor4 == cursor3


def test_calendar_features_are_exempt_from_psi(env):
    frame = feature_rows(NEW_DAY, 7)
    frame["pool_age_min"] += 10.0  # established pools a day older: out of every reference bin
    frame["log_k"] += 3.0
    store(env, frame)
    every = DriftSettings(top_features=len(FEATURES), min_rows=500)
    result, _ = tick(env, settings=every)
    assert isinstance(result, dg.SkipReason) and result.skip_message.startswith("no drift")
    assert "pool_age_min" not in result.skip_message
    fired, _ = tick(env, settings=DriftSettings(top_features=len(FEATURES), min_rows=500, exempt=()))
    assert isinstance(fired, dg.RunRequest)
    assert set(dict(kv.split("=") for kv in fired.tags["quant/drift_psi"].split(","))) == {"pool_age_min", "log_k"}


def test_fires_on_prediction_quality_when_labels_resolve_badly(env):
    store(env, feature_rows(NEW_DAY, 6, flip_labels=True), labels=True)  # features stationary, outcomes inverted
    result, _ = tick(env)
    assert isinstance(result, dg.RunRequest), result
    assert "brier worse by" in result.tags["quant/drift_reason"] and "psi>" not in result.tags["quant/drift_reason"]
    assert float(result.tags["quant/drift_brier_delta"]) > SETTINGS.brier_margin


def test_skips_without_champion_or_newer_data(env, tmp_path):
    empty = {**env, "model_registry": ModelRegistry(root=str(tmp_path / "none"))}
    result, _ = tick(empty)
    assert result.skip_message == "moon_model has no champion yet: nothing to compare against"
    result, _ = tick(env)
    assert result.skip_message == "pool_features is empty: no feature partition to compare"
    store(env, feature_rows(REFERENCE_DAY, 2))
    result, _ = tick(env)
    assert "inside moon_model@v0001's reference window" in result.skip_message


def test_failure_sensor_records_failed_runs_and_calls_the_alert_hook(tmp_path):
    @dg.op
    def boom():
        raise RuntimeError("training data missing")

    @dg.job(name="retrain")
    def failing():
        boom()

    alerts = []
    sensor = build_failure_sensor(failing, alerts=(alerts.append,))
    instance = dg.DagsterInstance.ephemeral()
    run = failing.execute_in_process(instance=instance, raise_on_error=False, tags={"quant/trigger": "drift"})
    assert not run.success
    warehouse = Warehouse(database=str(tmp_path / "warehouse.duckdb"))
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_instance=instance, dagster_run=run.dagster_run,
        dagster_event=run.get_run_failure_event(), resources={"warehouse": warehouse}).for_run_failure()
    sensor(context)
    rows = warehouse.query("SELECT * FROM run_failures")
    assert rows.run_id.tolist() == [run.run_id] and rows.job_name.tolist() == ["retrain"]
    assert rows.trigger.tolist() == ["drift"] and "boom: RuntimeError: training data missing" in rows.message.iloc[0]
    assert alerts and alerts[0]["run_id"] == run.run_id


def test_definitions_list_both_sensors_on_the_retrain_job():
    from orchestration.definitions import defs

    sensors = {s.name: s for s in defs().get_repository_def().sensor_defs}
    assert sensors["drift_sensor"].job_name == "retrain"
    assert "moon_model" in sensors["drift_sensor"].description and "rug_model" in sensors["drift_sensor"].description
    assert sensors["drift_sensor"].minimum_interval_seconds == 900
    assert {"drift_sensor", "retrain_failure_sensor"} <= set(sensors)


def test_market_assets_carry_the_ingest_freshness_policy():
    from datetime import timedelta

    from assets.market_data import market_assets

    for asset in market_assets(PARTITIONS):
        policy = asset.specs_by_key[asset.key].freshness_policy
        assert policy.fail_window.to_timedelta() == timedelta(hours=26), asset.key
        assert policy.warn_window.to_timedelta() == timedelta(hours=25), asset.key


def test_sensor_from_definitions_evaluates_as_the_daemon_does(env):
    """The daemon's path: the sensor of the repository, its resources passed in, a tick evaluated with the
    repository (which checks the requested partition against the retrain job's partitions)."""
    from orchestration.definitions import defs

    store(env, feature_rows(NEW_DAY, 3, shift=1.0))
    repo = defs().get_repository_def()
    context = dg.build_sensor_context(repository_def=repo, instance=dg.DagsterInstance.ephemeral(), resources=env)
    tick_data = repo.get_sensor_def("drift_sensor").evaluate_tick(context)
    assert [r.partition_key for r in tick_data.run_requests] == ["2026-01-04"]
    cursor = json.loads(tick_data.cursor)
    assert cursor["moon_model"]["last_run_key"] == "drift-moon_model-v0001-2026-01-04"
    assert "last_run_key" not in cursor["rug_model"]  # no rug champion here: nothing to compare, no cooldown


def test_every_served_model_is_watched_with_its_own_cooldown_and_one_run_names_them_all(env):
    """Moon and rug champions both see the drift: one retrain run, naming both models and their reasons; each
    model's cooldown then holds on its own."""
    reg = env["model_registry"].registry()
    train, holdout = feature_rows(REFERENCE_DAY - pd.Timedelta(days=1), 1), feature_rows(REFERENCE_DAY, 2)
    rug = ModelSpec("rug_model", "will_moon", FEATURES, "binary:logistic", rounds=20)  # the synthetic label
    booster = train_booster(rug, train)
    version = reg.register("rug_model", booster, list(FEATURES), target="will_rug", metrics={},
                           training_window={"test_start": str(REFERENCE_DAY), "test_end": str(NEW_DAY)},
                           reference=reference_histograms(holdout, FEATURES, predict(booster, holdout, FEATURES)))
    reg.promote("rug_model", version, reason="test")
    store(env, feature_rows(NEW_DAY, 3, shift=1.0))
    served = tuple(replace(SETTINGS, model=m) for m in ("moon_model", "rug_model"))
    sensor = build_drift_sensor(retrain_job, served)

    def tick_both(cursor):
        context = dg.build_sensor_context(cursor=cursor, resources=env, instance=dg.DagsterInstance.ephemeral())
        result = sensor(context)
        return (result.run_requests[0] if result.run_requests else result.skip_reason), context.cursor

    first, cursor = tick_both(None)
    assert isinstance(first, dg.RunRequest), first
    assert first.tags["quant/drift_models"] == "moon_model,rug_model" and first.partition_key == "2026-01-04"
    assert first.run_key == "drift-moon_model-v0001-2026-01-04+drift-rug_model-v0001-2026-01-04"
    assert {"quant/drift_reason_moon_model", "quant/drift_reason_rug_model"} <= set(first.tags)
    state = json.loads(cursor)
    assert {m: state[m]["last_run_key"] for m in state} == {"moon_model": "drift-moon_model-v0001-2026-01-04",
                                                              "rug_model": "drift-rug_model-v0001-2026-01-04"}
    second, _ = tick_both(cursor)  # both within their cooldowns: one skip that speaks for each
    assert isinstance(second, dg.SkipReason) and "moon_model: " in second.skip_message
    assert "rug_model: " in second.skip_message
    expired = json.dumps({**state, "rug_model": {**state["rug_model"], "last_request_at": time.time() - 13 * 3600}})
    third, _ = tick_both(expired)  # the rug model's cooldown is over, the moon model's is not
    assert isinstance(third, dg.RunRequest) and third.tags["quant/drift_models"] == "rug_model"


def test_fires_on_the_live_journal_before_the_day_is_stored(env):
    store(env, feature_rows(REFERENCE_DAY, 2))  # the warehouse holds nothing newer than the reference
    env["warehouse"].replace_window("pool_snapshots", pd.DataFrame({"pool_id": ["p"], "ts": [REFERENCE_DAY]}),
                                    REFERENCE_DAY, NEW_DAY)
    live = feature_rows(NEW_DAY, 8, shift=1.0).iloc[:700]  # 5.6 hours of the new day, traded live
    journal_rows(env, live)
    result, _ = tick(env)
    assert isinstance(result, dg.RunRequest), result
    assert result.run_key == "drift-moon_model-v0001-2026-01-03-live" and result.partition_key == "2026-01-03"
    assert result.tags["quant/drift_reason"].startswith("live psi>0.2 on 2 of 5 top features")
    assert set(dict(kv.split("=") for kv in result.tags["quant/drift_live_psi"].split(","))) == set(SIGNAL)
    assert result.tags["quant/drift_live_rows"] == "700"


def test_live_journal_of_the_same_world_does_not_fire_and_reports_its_figures(env):
    store(env, feature_rows(NEW_DAY, 4))
    journal_rows(env, feature_rows(NEW_DAY, 9).iloc[:700])
    result, _ = tick(env)
    assert isinstance(result, dg.SkipReason), result
    assert "vs the live journal's last 6 h (700 rows): PSI " in result.skip_message


def test_live_brier_drift_fires(env):
    store(env, feature_rows(NEW_DAY, 4))
    journal_rows(env, feature_rows(NEW_DAY, 10, flip_labels=True).iloc[:700])
    result, _ = tick(env)
    assert isinstance(result, dg.RunRequest), result
    assert result.tags["quant/drift_reason"].startswith("live brier worse by")
    assert float(result.tags["quant/drift_live_brier_delta"]) > SETTINGS.brier_margin


def test_a_live_error_alarm_fires(env):
    store(env, feature_rows(NEW_DAY, 4))
    journal_rows(env, feature_rows(NEW_DAY, 9).iloc[:700], error_alarm=True)
    result, _ = tick(env)
    assert isinstance(result, dg.RunRequest), result
    assert result.tags["quant/drift_reason"] == "live page-hinkley alarm on the champion's errors (1)"
