"""Jobs and schedules."""

from __future__ import annotations

import dagster as dg

from assets.partitions import daily_partitions

ingest_market_job = dg.define_asset_job(
    "ingest_market", selection=dg.AssetSelection.groups("market_data"), partitions_def=daily_partitions,
    description="Fetch, validate and store one day of market data.",
)

daily_ingest_schedule = dg.build_schedule_from_partitioned_job(
    ingest_market_job, hour_of_day=0, minute_of_hour=20, name="daily_ingest",
    description="Ingest the day that just ended, 20 minutes after midnight UTC.",
)
