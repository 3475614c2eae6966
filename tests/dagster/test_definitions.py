"""A snapshot of what the project defines: a forgotten module or a renamed asset shows up here in review."""

from __future__ import annotations

import dagster as dg

from orchestration.definitions import defs as load_defs

defs = load_defs()  # the lazily assembled Definitions, as Dagster loads them

ASSETS = [
    "agent_cex_dex_arb", "agent_cross_chain_arb", "agent_entry_timing", "agent_flash_loan_arb", "agent_risk_manager",
    "agent_whale_copy", "cex_prices", "embedding_evaluation", "embeddings/funding_connections", "embeddings/identity_tracking",
    "embeddings/trade_history", "funding_clusters", "funding_connections", "live_journal", "model_evaluation",
    "model_promotion", "moon_model", "opportunity_model", "pool_features", "pool_labels", "pool_snapshots", "rug_model",
    "slippage_model", "swaps", "transfers", "wallet_evaluation", "wallet_profiles", "wallet_scores",
]
JOBS = ["ingest_market", "observe_journal", "refresh_wallets", "retrain", "train_agents"]
SCHEDULES = [("daily_ingest", "20 0 * * *"), ("nightly_retrain", "0 2 * * *"), ("observe_journal", "*/15 * * * *"),
             ("refresh_wallets", "0 3 * * *"), ("weekly_agents", "0 4 * * 0")]
SENSORS = ["drift_sensor", "embeddings_automation", "retrain_failure_sensor"]
BLOCKING_CHECKS = [
    "cex_prices:schema", "model_promotion:moon_model_promotion", "model_promotion:rug_model_promotion",
    "model_promotion:slippage_model_promotion", "pool_features:feature_schema", "pool_snapshots:schema",
    "swaps:schema", "transfers:schema", "wallet_profiles:every_swapping_wallet_profiled",
    "wallet_scores:every_wallet_in_one_stage_with_reasons",
]


def test_definitions_snapshot():
    dg.Definitions.validate_loadable(defs)  # what `dagster dev` does: names unique across jobs and graphs
    graph = defs.resolve_asset_graph()
    assert sorted(k.to_user_string() for k in graph.get_all_asset_keys()) == ASSETS
    assert sorted(j.name for j in defs.jobs) == JOBS
    assert sorted((s.name, s.cron_schedule) for s in defs.schedules) == SCHEDULES
    assert sorted(s.name for s in defs.sensors) == SENSORS


def test_contract_and_promotion_checks_block_downstream():
    graph = defs.resolve_asset_graph()
    blocking = sorted(f"{key.asset_key.to_user_string()}:{key.name}" for key in graph.asset_check_keys
                      if graph.get_check_spec(key).blocking)
    assert blocking == BLOCKING_CHECKS


def test_every_asset_says_what_it_is_and_who_owns_it():
    for asset in defs.assets:
        for key in asset.keys:
            spec = asset.specs_by_key[key]
            assert spec.description and spec.owners and spec.group_name != "default", key
