"""The opportunity model and the six agents, materialized on the small world after the XGBoost models:
registered, evaluated on the unseen last day with their baselines and plots, and loadable from the registry."""

from __future__ import annotations

import shutil

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from assets.agents import AgentConfig, _inputs, agent_assets
from assets.evaluation import model_promotion
from assets.features import feature_assets
from assets.market_data import market_assets as build_market_assets
from assets.models import model_assets
from assets.opportunity import opportunity_model
from assets.partitions import daily_partitions_for
from quant.agents import AGENTS, load_agent
from quant.agents.data import target_buys, targets_before
from quant.agents.team import env_factory
from quant.features import FEATURES
from quant.models.sequence import load_sequence_model
from quant.settings import Settings
from resources import ChainSource, ModelRegistry, RawStore, Warehouse
from tests.conftest import SMALL_DAYS

PARTITIONS = daily_partitions_for(Settings.from_env())  # as orchestration.definitions builds them
market_assets = build_market_assets(PARTITIONS)
pool_features, pool_labels = feature_assets(PARTITIONS)

DAYS = [f"2026-01-0{d + 1}" for d in range(SMALL_DAYS)]
ALL = [*market_assets, pool_features, pool_labels, *model_assets, model_promotion, opportunity_model, *agent_assets]
WINDOWS = {"train_days": 2, "holdout_days": 1, "slippage_rows": 5_000}
SMALL_SEQUENCE = {**WINDOWS, "max_epochs": 2, "max_train_windows": 2_000}
SMALL_AGENTS = {"timesteps": 1_024, "seeds": [0, 1, 2], "max_steps": 60}


def run_config() -> dict:
    ops = {name: {"config": WINDOWS} for name in ("moon_model", "rug_model", "slippage_model", "model_promotion")}
    ops["opportunity_model"] = {"config": SMALL_SEQUENCE}
    ops |= {name: {"config": SMALL_AGENTS} for name in AGENTS}
    return {"ops": ops}


@pytest.fixture(scope="module")
def built(tmp_path_factory, world_cache):
    tmp = tmp_path_factory.mktemp("agent_assets")
    resources = {
        "chain_source": ChainSource(world="small", days=SMALL_DAYS, cache_dir=str(world_cache)),
        "warehouse": Warehouse(database=str(tmp / "warehouse.duckdb")),
        "raw_store": RawStore(directory=str(tmp / "raw")),
        "model_registry": ModelRegistry(root=str(tmp / "registry")),
    }
    for selection in (["pool_snapshots", "swaps", "transfers", "cex_prices"], ["pool_features"], ["pool_labels"]):
        for day in DAYS:
            assert dg.materialize(ALL, partition_key=day, resources=resources, selection=selection).success
    selection = ["moon_model", "rug_model", "slippage_model", "model_promotion", "opportunity_model", *AGENTS]
    result = dg.materialize(ALL, resources=resources, selection=selection, run_config=run_config())
    return resources, result


def test_opportunity_model_is_registered_evaluated_beside_xgboost_and_promoted(built):
    resources, result = built
    assert result.success
    registry = resources["model_registry"].registry()
    scorer = load_sequence_model(registry)
    assert scorer.version == registry.champion("opportunity_model") == "v0001"
    assert scorer.manifest["training_window"]["test_start"] == "2026-01-03 00:00:00"
    windows = np.random.default_rng(0).normal(size=(5, scorer.seq_len, len(FEATURES)))
    windows[0, :4] = np.nan
    p = scorer.predict(windows)
    assert p.shape == (5,) and ((p >= 0) & (p <= 1)).all()
    meta = result.asset_materializations_for_node("opportunity_model")[0].metadata
    table = meta["walk_forward_vs_xgboost_and_baselines"].value
    assert all(name in table for name in ("sequence_model", "xgboost", "base_rate", "rule_based", "roc_auc"))
    assert "data:image/png;base64," in meta["equity_curves"].value
    assert 0.0 <= meta["holdout_roc_auc"].value <= 1.0


def test_every_agent_is_registered_with_an_out_of_sample_evaluation(built):
    resources, result = built
    registry = resources["model_registry"].registry()
    checks = {(c.asset_key.to_user_string(), c.check_name): c for c in result.get_asset_check_evaluations()}
    for name in AGENTS:
        meta = result.asset_materializations_for_node(name)[0].metadata
        report = meta["report"].value
        assert len(report["agent_pnl_by_seed"]) == 3 and report["baseline_pnl"]["no_trade"] == 0.0
        assert {"no_trade", "rule_based"} <= set(report["baseline_pnl"])
        if name in ("agent_entry_timing", "agent_whale_copy"):  # the trader's baselines on new pools
            assert {"launch_flip", "random_entry", "buy_and_hold"} <= set(report["baseline_pnl"])
            draws = report["random_entry_draws"]
            assert len(draws) == 20 and report["baseline_pnl"]["random_entry"] == sorted(draws)[10]
        assert meta["window"].value["train_end"] <= meta["window"].value["test_start"] == "2026-01-03 00:00:00"
        assert "data:image/png;base64," in meta["equity_curves"].value
        beats = report["beats_no_trade"] and report["registered_beats_no_trade"]
        assert checks[(name, "beats_no_trade")].passed == beats
        # The registered policy is the median seed's and is champion exactly when it beat no-trade.
        pnl = sorted(report["agent_pnl_by_seed"].values())
        assert report["registered_pnl"] == pnl[1] == report["agent_pnl_by_seed"][str(report["registered_seed"])]
        assert (registry.champion(name) == meta["version"].value) == beats
        policy = load_agent(registry, name, meta["version"].value)
        obs = np.zeros((4, policy.observation_size), np.float32)
        first = policy.act(obs)
        assert first.shape == (4,) and (policy.act(obs) == first).all()
        assert policy.manifest["evaluation"] == report


def test_whale_targets_come_from_before_the_test_period(built, tmp_path):
    """The scanner rerun as of the test start names the same TARGETs whether or not later days exist."""
    resources, _ = built
    test_start = pd.Timestamp("2026-01-03")
    with resources["warehouse"].get_connection() as con:
        targets = targets_before(con, test_start)
        con.execute("CHECKPOINT")
    copy = tmp_path / "cut.duckdb"
    shutil.copy(resources["warehouse"].database, copy)
    with duckdb.connect(str(copy)) as con:
        for table in ("swaps", "transfers", "pool_snapshots"):
            con.execute(f"DELETE FROM {table} WHERE ts >= ?", [test_start])
        assert targets and targets_before(con, test_start) == targets


def test_whale_copy_trades_every_new_pool_and_sees_a_buy_only_after_it(built):
    """The copier's universe is the entry agent's (every new Solana pool, TARGET-bought or not), and a TARGET's
    buy shows at the first snapshot at or after it: cutting the swaps at t leaves every snapshot up to t alike."""
    resources, _ = built
    registry = resources["model_registry"].registry()
    inputs = _inputs("agent_whale_copy", AgentConfig(**SMALL_AGENTS), resources["warehouse"], registry)
    for split in ("train", "test"):
        whale = env_factory("agent_whale_copy", inputs, registry)(split, True)
        entry = env_factory("agent_entry_timing", inputs, registry)(split, True)
        assert [p.pool_id for p in whale.paths] == [p.pool_id for p in entry.paths]
        bought = [p.extra["target_buys"].sum() > 0 for p in whale.paths]
        assert any(bought) and not all(bought)  # pools no TARGET ever buys are traded too
    lo, hi = inputs.window.train_start, inputs.window.test_end
    swaps = resources["warehouse"].read_window("swaps", lo, hi)
    with resources["warehouse"].get_connection() as con:
        targets = targets_before(con, inputs.window.test_start)
    cut = inputs.window.test_start + pd.Timedelta(hours=12)
    early = target_buys(swaps[swaps.ts <= cut], targets, inputs.snapshots)
    key = ["pool_id", "ts"]
    full = inputs.signals.merge(early, on=key, suffixes=("", "_cut"))
    upto = full[full.ts <= cut]
    assert upto.target_buys.sum() > 0
    np.testing.assert_array_equal(upto.target_buys.to_numpy(), upto.target_buys_cut.to_numpy())
    np.testing.assert_array_equal(upto.target_buy_quote.to_numpy(), upto.target_buy_quote_cut.to_numpy())
