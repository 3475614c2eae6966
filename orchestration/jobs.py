"""Jobs and schedules."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import dagster as dg

if TYPE_CHECKING:  # what define_asset_job returns; not exported at dagster's top level
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition


class PartitionedJobs(NamedTuple):
    ingest_market_job: UnresolvedAssetJobDefinition
    daily_ingest_schedule: dg.ScheduleDefinition
    retrain_job: UnresolvedAssetJobDefinition
    nightly_retrain_schedule: dg.ScheduleDefinition


def schedule_status(running: bool) -> dg.DefaultScheduleStatus:
    return dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED


def sensor_status(running: bool) -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED


def partitioned_jobs(partitions: dg.PartitionsDefinition, running: bool = False) -> PartitionedJobs:
    """The daily jobs over `partitions` (assets.partitions.daily_partitions_for) and their schedules, running
    from the start when `running` (orchestration.environment.automation_running)."""
    ingest_market_job = dg.define_asset_job(
        "ingest_market", selection=dg.AssetSelection.groups("market_data"), partitions_def=partitions,
        description="Fetch, validate and store one day of market data.",
    )

    daily_ingest_schedule = dg.build_schedule_from_partitioned_job(
        ingest_market_job, hour_of_day=0, minute_of_hour=20, name="daily_ingest",
        description="Ingest the day that just ended, 20 minutes after midnight UTC.",
        default_status=schedule_status(running),
    )

    # Features and labels of the day that just ended, then models, evaluation and promotion over the rolling
    # windows of days already stored. The job targets one partition; the unpartitioned models read every day.
    retrain_job = dg.define_asset_job(
        "retrain", partitions_def=partitions,
        # Named, not by group: other teams' assets share the evaluation group and have their own jobs.
        selection=dg.AssetSelection.assets("pool_features", "pool_labels", "moon_model", "rug_model", "slippage_model",
                                           "model_evaluation", "model_promotion"),
        description="Features and labels of a day, then models, evaluation and champion/challenger promotion.",
    )

    nightly_retrain_schedule = dg.build_schedule_from_partitioned_job(
        retrain_job, hour_of_day=2, minute_of_hour=0, name="nightly_retrain",
        description="Retrain at 02:00 UTC, after the day's ingest, on the day that just ended.",
        default_status=schedule_status(running),
    )
    return PartitionedJobs(ingest_market_job, daily_ingest_schedule, retrain_job, nightly_retrain_schedule)


# The sequence model and the agents: heavier than the nightly XGBoost retrain and slower to go stale, so
# weekly, after Sunday's nightly retrain has promoted the XGBoost models the entry agent reads.
train_agents_job = dg.define_asset_job(
    "train_agents", selection=dg.AssetSelection.assets("opportunity_model") | dg.AssetSelection.groups("agents"),
    description="The opportunity model (trained, judged, promoted), then the six PPO agents and their evaluations.",
)

# The wallet intelligence over its rolling window. The embeddings are not in it: they follow a fresh
# `wallet_scores` and funding graph by their automation condition (assets/embeddings.py), because "after these
# tables changed" says what they need, and a second cron would guess how long this job takes.
refresh_wallets_job = dg.define_asset_job(
    "refresh_wallets", selection=dg.AssetSelection.assets("wallet_profiles", "funding_connections", "funding_clusters",
                                                          "wallet_scores", "wallet_evaluation"),
    description="Wallet profiles, the funding graph, the scanner's scores and their evaluation over the window.",
)

# The live runtime's journal is written outside Dagster: observing it records a new data version (a new
# committed segment) with what it holds, so the UI shows the decisions made downstream of the models.
observe_live_journal_job = dg.define_asset_job(
    "observe_journal", selection=dg.AssetSelection.assets("live_journal"),
    description="Observe the live runtime's journal: segments, rows, fills, model versions in service.",
)


def cron_schedules(running: bool = False) -> list[dg.ScheduleDefinition]:
    """The schedules of the unpartitioned jobs."""
    status = schedule_status(running)
    return [
        dg.ScheduleDefinition(name="weekly_agents", job=train_agents_job, cron_schedule="0 4 * * 0",
                              execution_timezone="UTC", description="Sundays at 04:00 UTC, after the nightly retrain.",
                              default_status=status),
        dg.ScheduleDefinition(name="refresh_wallets", job=refresh_wallets_job, cron_schedule="0 3 * * *",
                              execution_timezone="UTC", default_status=status,
                              description="Daily at 03:00 UTC, after the day's ingest (00:20) and retrain (02:00)."),
        dg.ScheduleDefinition(name="observe_journal", job=observe_live_journal_job, cron_schedule="*/15 * * * *",
                              execution_timezone="UTC", description="Every 15 minutes.", default_status=status),
    ]
