"""The wallet assets end to end on the small world: market partitions, then profiles, funding graph, scores
and the evaluation against truth, with every asset check reported."""

import dagster as dg
import pytest

from assets.market_data import market_assets as build_market_assets
from assets.partitions import daily_partitions_for
from assets.wallet_evaluation import THRESHOLDS, wallet_evaluation
from assets.wallets import funding_graph, wallet_profiles, wallet_scores
from quant.settings import Settings
from tests.conftest import SMALL_DAYS

PARTITIONS = daily_partitions_for(Settings.from_env())  # as orchestration.definitions builds them
market_assets = build_market_assets(PARTITIONS)

WALLET_ASSETS = [wallet_profiles, funding_graph, wallet_scores, wallet_evaluation]


@pytest.fixture
def built(dagster_resources):
    for day in range(1, SMALL_DAYS + 1):
        result = dg.materialize(market_assets, partition_key=f"2026-01-{day:02d}", resources=dagster_resources)
        assert result.success
    result = dg.materialize(WALLET_ASSETS, resources=dagster_resources)
    assert result.success
    return result, dagster_resources["warehouse"]


def _metadata(result, key: str) -> dict:
    [event] = [m for m in result.get_asset_materialization_events() if m.asset_key.path[-1] == key]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_wallet_assets_materialize_with_passing_checks(built):
    result, warehouse = built
    checks = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    expected = {("wallet_profiles", "every_swapping_wallet_profiled"), ("wallet_scores", "targets_found"),
                ("wallet_scores", "every_wallet_in_one_stage_with_reasons"), ("funding_clusters", "clusters_found"),
                ("funding_connections", "connections_typed")}
    assert expected <= set(checks)
    assert all(checks[c] for c in expected), checks
    profiles = warehouse.query("SELECT count(*) AS n FROM wallet_profiles").n[0]
    scores = warehouse.query("SELECT count(*) AS n, count(DISTINCT wallet) AS d FROM wallet_scores")
    assert profiles > 500 and scores.n[0] == profiles == scores.d[0]


def test_wallet_evaluation_reports_figures_against_truth(built):
    result, _ = built
    meta = _metadata(result, "wallet_evaluation")
    # Floors with margin under the small world's figures (2026-12-07: TARGET precision 0.40, martingale precision
    # 0.80, ring recall 0.89, ring precision 0.47), far below the default world's goals (THRESHOLDS), which
    # the checks below judge: a change that makes the scanner or the graph worse fails here.
    floors = {"target_precision": 0.2, "ring_recall": 0.7, "ring_precision": 0.3}
    for name, floor in floors.items():
        assert meta[name] is not None and meta[name] >= floor, (name, meta[name])
    assert meta["martingale"]["precision"] >= 0.5 and meta["smart_money_recall"] is not None
    assert meta["martingale"]["flagged"] > 0 and meta["planted_rings"] > 0
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()
              if e.asset_key.path[-1] == "wallet_evaluation"}
    assert len(checks) == len(THRESHOLDS)
    # Each check passes exactly when its figure clears its floor. Which pass is the market's verdict on the
    # rules (market makers that decide without future prices no longer sit inside PILLAR 3's 48-52% band):
    # reported, not asserted.
    for name, floor in THRESHOLDS.items():
        e = checks[f"{name}_at_least_{floor}".replace(".", "_")]
        value = e.metadata["value"].value
        assert e.passed == (value is not None and value >= floor), (name, value)


def test_invalid_addresses_are_quarantined_with_the_reason(built, dagster_resources):
    _, warehouse = built
    with warehouse.get_connection() as con:  # a row that bypassed ingestion's contract
        con.execute("INSERT INTO swaps SELECT * REPLACE ('not-a-solana-key' AS wallet, tx_id || 'x' AS tx_id) "
                    "FROM swaps WHERE chain = 'solana' LIMIT 1")
    assert dg.materialize([wallet_profiles], resources=dagster_resources).success
    rows = warehouse.query("SELECT reason, row_json FROM quarantine WHERE table_name = 'wallet_profiles'")
    assert len(rows) == 1 and rows.reason[0].startswith("invalid_address")
    assert "not-a-solana-key" in rows.row_json[0]
