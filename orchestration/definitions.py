"""The one Definitions of the project. It only assembles."""

from __future__ import annotations

import dagster as dg

from assets.agents import agent_assets
from assets.embedding_evaluation import embedding_evaluation
from assets.embeddings import funding_connections, identity_tracking, trade_history
from assets.evaluation import model_evaluation, model_promotion
from assets.features import pool_features, pool_labels
from assets.live_journal import observe_live_journal
from assets.market_data import market_assets
from assets.models import model_assets
from assets.opportunity import opportunity_model
from assets.wallet_evaluation import wallet_evaluation
from assets.wallets import funding_graph, wallet_profiles, wallet_scores
from orchestration.environment import executor_for, get_environment, resources_for
from orchestration.jobs import (
    daily_ingest_schedule,
    ingest_market_job,
    live_journal_schedule,
    nightly_retrain_schedule,
    observe_live_journal_job,
    retrain_job,
    train_agents_job,
    weekly_agents_schedule,
)
from sensors.drift import build_drift_sensor
from sensors.failures import build_failure_sensor

defs = dg.Definitions(
    assets=[*market_assets, pool_features, pool_labels, *model_assets, model_evaluation, model_promotion,
            wallet_profiles, funding_graph, wallet_scores, wallet_evaluation,
            identity_tracking, funding_connections, trade_history, embedding_evaluation,
            opportunity_model, *agent_assets, observe_live_journal],
    jobs=[ingest_market_job, retrain_job, train_agents_job, observe_live_journal_job],
    schedules=[daily_ingest_schedule, nightly_retrain_schedule, weekly_agents_schedule, live_journal_schedule],
    sensors=[build_drift_sensor(retrain_job), build_failure_sensor(retrain_job)],
    resources=resources_for(get_environment()),
    executor=executor_for(get_environment()),  # None in LOCAL: Dagster's multiprocess executor
)
