"""The one Definitions of the project. It only assembles."""

from __future__ import annotations

import dagster as dg

from assets.market_data import market_assets
from orchestration.environment import get_environment, resources_for
from orchestration.jobs import daily_ingest_schedule, ingest_market_job

defs = dg.Definitions(
    assets=[*market_assets],
    jobs=[ingest_market_job],
    schedules=[daily_ingest_schedule],
    resources=resources_for(get_environment()),
)
