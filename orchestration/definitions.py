"""The one Definitions of the project. It only assembles, and only when Dagster loads it: importing this
module reads no environment (the settings are read inside `defs`)."""

from __future__ import annotations

import dagster as dg

from assets.agents import agent_assets
from assets.embedding_evaluation import embedding_evaluation
from assets.embeddings import funding_connections, identity_tracking, trade_history
from assets.evaluation import model_evaluation, model_promotion
from assets.features import feature_assets
from assets.live_journal import observe_live_journal
from assets.market_data import market_assets
from assets.models import model_assets
from assets.opportunity import opportunity_model
from assets.partitions import daily_partitions_for
from assets.wallet_evaluation import wallet_evaluation
from assets.wallets import funding_graph, wallet_profiles, wallet_scores
from orchestration.environment import automation_running, executor_for, get_environment, resources_for
from orchestration.jobs import (
    cron_schedules,
    observe_live_journal_job,
    partitioned_jobs,
    refresh_wallets_job,
    sensor_status,
    train_agents_job,
)
from quant.settings import ChainSettings, ServiceSettings, Settings
from sensors.drift import build_drift_sensor
from sensors.failures import build_failure_sensor


def assemble(settings: Settings, services: ServiceSettings, chain: ChainSettings | None = None) -> dg.Definitions:
    """The assets, jobs, schedules, sensors, resources and executor of these settings."""
    environment = get_environment(services)
    running = automation_running(environment, services)
    partitions = daily_partitions_for(settings)
    daily = partitioned_jobs(partitions, running)
    return dg.Definitions(
        assets=[*market_assets(partitions), *feature_assets(partitions), *model_assets, model_evaluation,
                model_promotion, wallet_profiles, funding_graph, wallet_scores, wallet_evaluation,
                identity_tracking, funding_connections, trade_history, embedding_evaluation,
                opportunity_model, *agent_assets, observe_live_journal],
        jobs=[daily.ingest_market_job, daily.retrain_job, train_agents_job, refresh_wallets_job,
              observe_live_journal_job],
        schedules=[daily.daily_ingest_schedule, daily.nightly_retrain_schedule, *cron_schedules(running)],
        sensors=[build_drift_sensor(daily.retrain_job, default_status=sensor_status(running)),
                 build_failure_sensor(daily.retrain_job, default_status=sensor_status(running)),
                 # the embeddings' automation conditions (assets/embeddings.py) are evaluated by this sensor
                 dg.AutomationConditionSensorDefinition(
                     "embeddings_automation", target=dg.AssetSelection.groups("embeddings")
                     | dg.AssetSelection.assets("embedding_evaluation"), default_status=sensor_status(running),
                     description="Re-embeds wallets, funding links and trades once what they read has changed.")],
        resources=resources_for(environment, settings, services, chain),
        executor=executor_for(environment),  # None in LOCAL: Dagster's multiprocess executor
    )


@dg.definitions
def defs() -> dg.Definitions:
    """What the workspace, `dagster dev`, the Celery workers and orchestration/materialize.py load."""
    return assemble(Settings.from_env(), ServiceSettings.from_env())
