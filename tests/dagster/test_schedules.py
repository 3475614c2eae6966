"""The loop's timing, evaluated at chosen moments with Dagster's own APIs (no clock, no daemon): what each
schedule asks for and when, which automation starts running in which profile, and that the embeddings follow
a fresh wallet refresh by their automation condition."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from orchestration.definitions import assemble
from quant.settings import ServiceSettings, Settings

SETTINGS = Settings.from_env({"QUANT_WORLD": "small", "QUANT_DAYS": "8"})  # 2026-01-01 + 8 days


def _defs(profile: str = "LOCAL", automation: str | None = None) -> dg.Definitions:
    return assemble(SETTINGS, ServiceSettings(profile=profile, automation=automation))


def _tick(defs: dg.Definitions, name: str, at: datetime) -> list[dg.RunRequest]:
    schedule = defs.get_schedule_def(name)
    with dg.build_schedule_context(scheduled_execution_time=at) as context:
        return list(schedule.evaluate_tick(context).run_requests or [])


@pytest.mark.parametrize(("profile", "automation", "running"), [
    ("LOCAL", None, True), ("LOCAL", "off", False), ("PROD", None, False), ("PROD", "on", True)])
def test_schedules_and_sensors_run_from_the_start_in_local_and_wait_for_the_operator_in_prod(profile, automation,
                                                                                             running):
    defs = _defs(profile, automation)
    want_schedule = dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED
    want_sensor = dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED
    assert {s.name: s.default_status for s in defs.schedules} == {s.name: want_schedule for s in defs.schedules}
    assert {s.name: s.default_status for s in defs.sensors} == {s.name: want_sensor for s in defs.sensors}


def test_a_bad_automation_switch_is_refused_by_name():
    with pytest.raises(ValueError, match="QUANT_AUTOMATION"):
        ServiceSettings.from_env({"QUANT_AUTOMATION": "maybe"})


def test_each_daily_schedule_asks_for_the_day_that_just_ended():
    defs = _defs()
    for name, at in (("daily_ingest", datetime(2026, 1, 5, 0, 20, tzinfo=UTC)),
                     ("nightly_retrain", datetime(2026, 1, 5, 2, 0, tzinfo=UTC))):
        (request,) = _tick(defs, name, at)
        assert request.partition_key == "2026-01-04", name
    (request,) = _tick(defs, "refresh_wallets", datetime(2026, 1, 5, 3, 0, tzinfo=UTC))
    assert defs.get_schedule_def("refresh_wallets").job_name == "refresh_wallets" and request.partition_key is None
    weekly = defs.get_schedule_def("weekly_agents")
    assert weekly.cron_schedule == "0 4 * * 0" and weekly.execution_timezone == "UTC"


def test_the_refresh_job_holds_the_wallet_assets_and_the_embeddings_follow_it():
    defs = _defs()
    graph = defs.resolve_asset_graph()
    job = defs.resolve_job_def("refresh_wallets")
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == {
        "wallet_profiles", "funding_connections", "funding_clusters", "wallet_scores", "wallet_evaluation"}
    embeddings = ["embeddings/identity_tracking", "embeddings/funding_connections", "embeddings/trade_history",
                  "embedding_evaluation"]
    for key in embeddings:
        assert graph.get(dg.AssetKey.from_user_string(key)).automation_condition is not None, key

    instance = dg.DagsterInstance.ephemeral()
    # Nothing materialized yet: the eager condition waits for what the embeddings read.
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.total_requested == 0
    upstream = [k for k in graph.get_all_asset_keys() if k.to_user_string() in (
        "wallet_profiles", "wallet_scores", "funding_clusters", "funding_connections")]
    for key in upstream:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key))
    after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    identity = after.get_num_requested(dg.AssetKey(["embeddings", "identity_tracking"]))
    funding = after.get_num_requested(dg.AssetKey(["embeddings", "funding_connections"]))
    assert identity == 1 and funding == 1
    assert after.get_num_requested(dg.AssetKey(["embeddings", "trade_history"])) == 0  # no swaps partition yet
