"""The features -> labels -> models -> evaluation -> promotion graph, materialized end to end on the small
world into a temp warehouse and registry."""

from __future__ import annotations

import dagster as dg
import pytest

from assets.evaluation import model_evaluation, model_promotion
from assets.features import feature_assets
from assets.market_data import market_assets as build_market_assets
from assets.models import model_assets
from assets.partitions import daily_partitions_for
from quant.features import FEATURES
from quant.models.specs import SPECS
from quant.settings import Settings
from resources import ChainSource, ModelRegistry, RawStore, Warehouse
from resources.queries import NothingUpstream, training_window, window_views
from tests.conftest import SMALL_DAYS

PARTITIONS = daily_partitions_for(Settings.from_env())  # as orchestration.definitions builds them
market_assets = build_market_assets(PARTITIONS)
pool_features, pool_labels = feature_assets(PARTITIONS)

DAYS = [f"2026-01-0{d + 1}" for d in range(SMALL_DAYS)]
ALL = [*market_assets, pool_features, pool_labels, *model_assets, model_evaluation, model_promotion]
SMALL_WINDOWS = {"train_days": 2, "holdout_days": 1, "slippage_rows": 20_000}
MODEL_STEPS = [*SPECS, "model_evaluation", "model_promotion"]


def run_config() -> dict:
    return {"ops": {name: {"config": SMALL_WINDOWS} for name in MODEL_STEPS}}


def materialize_days(resources: dict, selection: list[str]) -> None:
    for day in DAYS:
        result = dg.materialize(ALL, partition_key=day, resources=resources, selection=selection)
        assert result.success


@pytest.fixture(scope="module")
def built(tmp_path_factory, world_cache):
    """Market data, features and labels of every small-world day, then the models and their evaluation:
    built once for the module (the tests below read it; the retrain test only adds runs)."""
    tmp = tmp_path_factory.mktemp("model_assets")
    resources = {
        "chain_source": ChainSource(world="small", days=SMALL_DAYS, cache_dir=str(world_cache)),
        "warehouse": Warehouse(database=str(tmp / "warehouse.duckdb")),
        "raw_store": RawStore(directory=str(tmp / "raw")),
        "model_registry": ModelRegistry(root=str(tmp / "registry")),
    }
    materialize_days(resources, ["pool_snapshots", "swaps"])
    materialize_days(resources, ["pool_features"])
    materialize_days(resources, ["pool_labels"])
    result = dg.materialize(ALL, resources=resources, selection=MODEL_STEPS, run_config=run_config())
    return resources, result


def test_graph_builds_models_evaluation_and_champions(built):
    resources, result = built
    assert result.success
    registry = resources["model_registry"].registry()
    for name, spec in SPECS.items():
        champion = registry.champion(name)
        assert champion == "v0001"
        loaded = registry.load(name, expected_features=list(spec.features))
        manifest = loaded.manifest
        assert manifest["training_window"]["test_start"] == "2026-01-03 00:00:00"
        assert set(manifest["reference"]["features"]) == set(spec.features)
        assert manifest["data_fingerprint"] and manifest["code_version"]
    evaluation = result.asset_materializations_for_node("model_evaluation")[0].metadata
    table = evaluation["moon_model_vs_baselines"].value
    assert "base_rate" in table and "rule_based" in table and "roc_auc" in table
    assert "data:image/png;base64," in evaluation["equity_curves"].value
    backtest_table = evaluation["backtest"].value
    assert all(b in backtest_table for b in ("entry_model", "no_trade", "launch_flip", "random_entry", "rule_based",
                                             "buy_and_hold"))
    assert "spearman" in evaluation["entry_model_vs_baselines"].value
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    pnl = checks["model_pnl_beats_best_baseline"].metadata
    assert pnl["no_trade_pnl"].value == 0.0
    best = max(v.value for k, v in pnl.items() if k not in ("model_pnl", "entry_model_pnl"))
    assert checks["model_pnl_beats_best_baseline"].passed == (pnl["model_pnl"].value > best)
    assert all(checks[f"{m}_promotion"].passed for m in SPECS)
    stored = resources["warehouse"].query("SELECT * FROM pool_features LIMIT 5")
    assert list(stored.columns) == ["pool_id", "ts", *FEATURES]


def test_retrain_on_same_data_keeps_champion_and_passes(built):
    resources, _ = built
    again = dg.materialize(ALL, resources=resources, selection=MODEL_STEPS, run_config=run_config())
    assert again.success
    registry = resources["model_registry"].registry()
    for name in SPECS:
        assert registry.versions(name) == ["v0001"]  # deterministic: the same bytes, no new version
        assert registry.champion(name) == "v0001"


def test_labels_read_next_day_head(built):
    resources, _ = built
    wh = resources["warehouse"]
    # Day 1's last snapshots have labels (day 2's head was read); only the last day's end is null.
    nulls = wh.query("SELECT date_trunc('day', ts) AS day, count(*) FILTER (WHERE will_moon IS NULL) AS n "
                     "FROM pool_labels GROUP BY 1 ORDER BY 1")
    by_day = dict(zip(nulls.day.dt.strftime("%Y-%m-%d"), nulls.n, strict=True))
    assert by_day[DAYS[-1]] > 0
    tracked_to_midnight = wh.query(
        "SELECT count(*) AS n FROM pool_labels l WHERE ts = TIMESTAMP '2026-01-01 23:59:00' AND will_moon IS NULL "
        "AND EXISTS (SELECT 1 FROM pool_snapshots s WHERE s.pool_id = l.pool_id AND s.ts = TIMESTAMP '2026-01-02 00:09:00')")
    assert tracked_to_midnight.n.iloc[0] == 0


@pytest.mark.parametrize("create", [False, True], ids=["missing", "empty"])
def test_nothing_upstream_names_what_is_missing(tmp_path, create):
    """An empty or missing upstream table fails the step with one error type, naming the table."""
    warehouse = Warehouse(database=str(tmp_path / "warehouse.duckdb"))
    if create:
        with warehouse.get_connection() as con:
            con.execute("CREATE TABLE pool_labels (ts TIMESTAMP, horizon INTEGER)")
            con.execute("CREATE TABLE swaps (ts TIMESTAMP)")
    with pytest.raises(NothingUpstream, match="pool_labels is empty: materialize pool_features and pool_labels"):
        training_window(warehouse, 2, 1)
    with warehouse.get_connection() as con, pytest.raises(NothingUpstream, match="swaps is empty"):
        window_views(con, 0)


def test_promotion_keeps_the_champion_pair_when_the_strategy_does_not_beat_the_best_baseline(built):
    """A better moon candidate by ROC-AUC is refused while its strategy's verdict says it did not beat the best
    baseline, and promoted once it did: model_pnl_beats_best_baseline blocks promotion through this."""
    import numpy as np
    import xgboost as xgb

    from quant.models import promotion

    resources, result = built
    registry = resources["model_registry"].registry()
    verdict = result.asset_materializations_for_node("model_evaluation")[0].metadata["strategy_verdict"].value
    assert promotion.read_strategy(registry.root, "v0001", "v0001") == verdict
    assert set(verdict["baselines"]) >= {"no_trade", "launch_flip", "random_entry", "rule_based"}
    # A poor champion (one round on random labels) beside the good candidate v0001.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, len(FEATURES)))
    poor = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=rng.integers(0, 2, 200),
                                                                   feature_names=list(FEATURES)), 1)
    worse = registry.register("moon_model", poor, list(FEATURES), metrics={})
    registry.promote("moon_model", worse, "test: a poor champion")
    registry.mark_candidate("moon_model", "v0001")
    try:
        for beats, champion in ((False, worse), (True, "v0001")):
            promotion.write_strategy(registry.root, {**verdict, "beats_best_baseline": beats})
            run = dg.materialize(ALL, resources=resources, selection=["model_promotion"],
                                 run_config={"ops": {"model_promotion": {"config": SMALL_WINDOWS}}},
                                 raise_on_error=False)
            check = {c.check_name: c for c in run.get_asset_check_evaluations()}["moon_model_promotion"]
            assert registry.champion("moon_model") == champion and check.passed == beats
            assert ("refused: the candidates' strategy made" in check.metadata["reason"].value) == (not beats)
    finally:
        registry.promote("moon_model", "v0001", "test: restored")
        promotion.write_strategy(registry.root, verdict)
