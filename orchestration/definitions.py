"""The one Definitions of the project. It only assembles."""

from __future__ import annotations

import dagster as dg

from assets.evaluation import model_evaluation, model_promotion
from assets.features import pool_features, pool_labels
from assets.market_data import market_assets
from assets.models import model_assets
from orchestration.environment import get_environment, resources_for
from orchestration.jobs import daily_ingest_schedule, ingest_market_job, nightly_retrain_schedule, retrain_job

defs = dg.Definitions(
    assets=[*market_assets, pool_features, pool_labels, *model_assets, model_evaluation, model_promotion],
    jobs=[ingest_market_job, retrain_job],
    schedules=[daily_ingest_schedule, nightly_retrain_schedule],
    resources=resources_for(get_environment()),
)
