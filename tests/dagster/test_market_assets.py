"""The market assets through Dagster: materialize into a temp warehouse, re-run, quarantine."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from assets.market_data import MARKET_TABLES
from assets.market_data import market_assets as build_market_assets
from assets.partitions import daily_partitions_for
from quant.settings import Settings
from resources import ChainSource

PARTITIONS = daily_partitions_for(Settings.from_env())  # as orchestration.definitions builds them
market_assets = build_market_assets(PARTITIONS)

PARTITION = "2026-01-02"
WINDOW = (pd.Timestamp("2026-01-02"), pd.Timestamp("2026-01-03"))


def _materialize(resources, partition=PARTITION):
    return dg.materialize(market_assets, partition_key=partition, resources=resources)


def _count(warehouse, table):
    return int(warehouse.query(f"SELECT count(*) AS n FROM {table}").n[0])


def test_materialize_stores_each_table_and_passes_its_checks(dagster_resources):
    result = _materialize(dagster_resources)
    assert result.success
    wh, source = dagster_resources["warehouse"], dagster_resources["chain_source"]
    for table in MARKET_TABLES:
        assert _count(wh, table) == len(source.fetch(table, *WINDOW)) > 0
        mats = result.asset_materializations_for_node(table)
        assert mats[0].metadata["quarantined"].value == 0
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 2 * len(MARKET_TABLES) and all(c.passed for c in checks)
    raw = list(Path(dagster_resources["raw_store"].directory).rglob("*.parquet"))
    assert len(raw) == len(MARKET_TABLES)


def test_rematerializing_a_partition_replaces_it_exactly(dagster_resources):
    wh = dagster_resources["warehouse"]
    _materialize(dagster_resources)
    _materialize(dagster_resources, "2026-01-03")
    before = {t: _count(wh, t) for t in MARKET_TABLES}
    first = wh.read_window("swaps", *WINDOW)
    assert _materialize(dagster_resources).success
    assert {t: _count(wh, t) for t in MARKET_TABLES} == before
    pd.testing.assert_frame_equal(first, wh.read_window("swaps", *WINDOW))
    assert int(wh.query("SELECT count(*) - count(DISTINCT tx_id) AS d FROM swaps").d[0]) == 0


class CorruptingChainSource(ChainSource):
    """The simulated source with a few broken rows, as a flaky RPC would return them."""

    def fetch(self, table, start, end):
        df = super().fetch(table, start, end).copy()
        if table == "swaps":
            df.loc[0, "price"] = np.nan
            df.loc[1, "wallet"] = "zzz"
            df = pd.concat([df, df.iloc[[2]]], ignore_index=True)
        if table == "pool_snapshots":
            df.loc[0, "quote_reserve"] = 0.0
        return df


def test_bad_rows_are_quarantined_counted_and_kept_raw(dagster_resources):
    good = dagster_resources["chain_source"]
    resources = {**dagster_resources, "chain_source": CorruptingChainSource(
        world=good.world, days=good.days, cache_dir=good.cache_dir)}
    result = _materialize(resources)
    assert result.success
    wh = resources["warehouse"]
    q = wh.query("SELECT table_name, reason FROM quarantine ORDER BY ALL")
    assert q.table_name.value_counts().to_dict() == {"swaps": 3, "pool_snapshots": 1}
    assert result.asset_materializations_for_node("swaps")[0].metadata["quarantined"].value == 3
    assert _count(wh, "swaps") == len(good.fetch("swaps", *WINDOW)) - 2  # the duplicate's first copy stays
    raw = pd.read_parquet(next(Path(resources["raw_store"].directory).glob("swaps/*.parquet")))
    assert len(raw) == len(good.fetch("swaps", *WINDOW)) + 1  # raw holds everything, bad rows included
    # a clean re-run clears this partition's quarantine
    assert _materialize(dagster_resources).success
    assert wh.query("SELECT count(*) AS n FROM quarantine").n[0] == 0


class HostileChainSource(ChainSource):
    """Cells of mixed types, as a JSON RPC gateway would hand them over; or, with `drop`, a column missing."""

    drop: str = ""

    def fetch(self, table, start, end):
        df = super().fetch(table, start, end).copy()
        if table != "swaps":
            return df
        if self.drop:
            return df.drop(columns=self.drop)
        df = df.astype(object)
        df.at[0, "price"] = "not a number"
        df.at[1, "fee"] = float("inf")
        df.at[2, "ts"] = "2026-01-02T10:00:00+02:00"
        df.at[3, "amount_in"] = True
        df.at[4, "price"] = "2.5"  # an ASCII number string is read, not quarantined
        return df


def test_a_batch_of_mixed_cells_is_kept_raw_and_only_its_bad_rows_quarantined(dagster_resources):
    good = dagster_resources["chain_source"]
    resources = {**dagster_resources, "chain_source": HostileChainSource(
        world=good.world, days=good.days, cache_dir=good.cache_dir)}
    result = _materialize(resources)
    assert result.success
    store = resources["raw_store"]
    assert (Path(store.directory) / "swaps" / f"{PARTITION}.jsonl").exists()
    raw = store.read("swaps", PARTITION)
    assert raw.at[0, "price"] == "not a number" and raw.at[3, "amount_in"] is True
    q = resources["warehouse"].query("SELECT reason FROM quarantine WHERE table_name = 'swaps' ORDER BY ALL")
    assert q.reason.str.split(":").str[0].tolist() == ["not_a_number", "not_a_number", "not_finite", "tz_aware"]
    assert _count(resources["warehouse"], "swaps") == len(good.fetch("swaps", *WINDOW)) - 4


def test_a_batch_missing_a_column_fails_its_partition_once_with_the_reason(dagster_resources):
    good = dagster_resources["chain_source"]
    resources = {**dagster_resources, "chain_source": HostileChainSource(
        world=good.world, days=good.days, cache_dir=good.cache_dir, drop="wallet")}
    result = dg.materialize(market_assets, partition_key=PARTITION, resources=resources, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "missing columns ['wallet']" in failure.event_specific_data.error.message
    assert not any(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)
    assert (Path(resources["raw_store"].directory) / "swaps" / f"{PARTITION}.parquet").exists()
