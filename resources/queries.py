"""The warehouse reads that more than one asset or sensor makes, in one place, and the one error for "nothing
upstream": a table or partition that is empty or not there yet (`NothingUpstream`, raised here)."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import duckdb
import pandas as pd

from quant.models.datasets import Window, cadence, holdout_window, slippage_table
from resources.warehouse import Warehouse

DAY = pd.Timedelta(days=1)

LABELLED_SQL = """
SELECT f.*, l.will_moon, l.will_rug, l.regime, l.fwd_return, l.bankable_return
FROM pool_features f JOIN pool_labels l USING (pool_id, ts)
WHERE f.ts >= ? AND f.ts < ? AND l.will_moon IS NOT NULL ORDER BY f.ts, f.pool_id
"""


class NothingUpstream(dg.Failure):
    """What a step reads is empty or missing: `missing` says what, `materialize` what to run first."""

    def __init__(self, missing: str, materialize: str):
        super().__init__(description=f"{missing}: materialize {materialize} first",
                         metadata={"missing": missing, "materialize": materialize})
        self.missing, self.materialize = missing, materialize

    def __reduce__(self):  # pickles with its own arguments, not Failure's
        return type(self), (self.missing, self.materialize)


@dataclass(frozen=True)
class LabelSpan:
    first_day: pd.Timestamp  # midnight of the first labelled day
    end: pd.Timestamp  # the end of the last labelled day
    horizon: int  # the label horizon, in snapshots


def label_span(warehouse: Warehouse) -> LabelSpan:
    """The labelled days present in `pool_labels`, and the label horizon."""
    try:
        span = warehouse.query("SELECT min(ts) AS lo, max(ts) AS hi, max(horizon) AS horizon FROM pool_labels")
    except duckdb.CatalogException:  # the table appears with the first labels partition
        span = None
    if span is None or span.lo.isna().iloc[0]:
        raise NothingUpstream("pool_labels is empty", "pool_features and pool_labels")
    return LabelSpan(pd.Timestamp(span.lo.iloc[0]).floor("D"), pd.Timestamp(span.hi.iloc[0]).floor("D") + DAY,
                     int(span.horizon.iloc[0]))


def snapshot_cadence(warehouse: Warehouse, day: pd.Timestamp) -> pd.Timedelta:
    """The usual step between a pool's snapshots on `day`."""
    return cadence(warehouse.query("SELECT pool_id, ts FROM pool_snapshots WHERE ts >= ? AND ts < ?", [day, day + DAY]))


def training_window(warehouse: Warehouse, train_days: int, holdout_days: int) -> Window:
    """The held-out window over the labelled days present, with a purge gap of the label horizon."""
    span = label_span(warehouse)
    step = snapshot_cadence(warehouse, span.first_day)
    return holdout_window(span.first_day, span.end, train_days, holdout_days, span.horizon * step)


def labelled_data(warehouse: Warehouse, window: Window) -> pd.DataFrame:
    """Feature rows of the window joined with their resolved labels, in time order."""
    return warehouse.query(LABELLED_SQL, [window.train_start, window.test_end])


def slippage_data(warehouse: Warehouse, window: Window) -> pd.DataFrame:
    """The slippage model's table (quant.models.datasets.slippage_table) over the window."""
    lo, hi = window.train_start, window.test_end
    return slippage_table(warehouse.read_window("swaps", lo, hi), warehouse.read_window("pool_snapshots", lo, hi),
                          warehouse.read_window("pool_features", lo, hi))


def window_views(con: duckdb.DuckDBPyConnection, days: int) -> dict:
    """Temp views `swaps`, `transfers`, `pools` over the last `days` days of the warehouse tables (0 = all)."""
    db = con.execute("SELECT current_database()").fetchall()[0][0]  # qualified, so views never read themselves
    try:
        first, end = con.execute(f'SELECT min(ts), max(ts) FROM "{db}".main.swaps').fetchall()[0]
    except duckdb.CatalogException:  # the table appears with the first market_data partition
        end = None
    if end is None:
        raise NothingUpstream("swaps is empty", "the market_data partitions")
    start = con.execute("SELECT ?::TIMESTAMP - to_days(?)", [end, days]).fetchall()[0][0] if days else None
    where = f"ts > '{start}'::TIMESTAMP" if days else "TRUE"
    con.execute(f'CREATE OR REPLACE TEMP VIEW swaps AS SELECT * FROM "{db}".main.swaps WHERE {where}')
    con.execute(f'CREATE OR REPLACE TEMP VIEW transfers AS SELECT * FROM "{db}".main.transfers WHERE {where} '
                f"AND ts <= '{end}'::TIMESTAMP")
    con.execute('CREATE OR REPLACE TEMP VIEW pools AS SELECT pool_id, any_value(category) AS category, '
                f'min(pool_open_time) AS open_ts FROM "{db}".main.pool_snapshots GROUP BY pool_id')
    return {"window_start": str(start or first), "window_end": str(end), "window_days": days or "all"}


@dataclass(frozen=True)
class DriftReads:
    """The stored days the drift figures compare (quant.drift.StoredDays), read from the warehouse. Never
    raises NothingUpstream: a sensor skips, with the reason, where an asset would fail."""

    warehouse: Warehouse

    def newest_day(self, table: str) -> pd.Timestamp | None:
        try:
            hi = self.warehouse.query(f"SELECT max(ts) AS hi FROM {table}").hi.iloc[0]
        except duckdb.CatalogException:  # the table appears with its first partition
            return None
        return None if pd.isna(hi) else pd.Timestamp(hi).floor("D")

    def features(self, columns: list[str], lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
        # Only the compared columns, unordered: a sensor tick must stay cheap on a large world's day.
        cols = ", ".join(f'"{f}"' for f in columns)
        return self.warehouse.query(f"SELECT {cols} FROM pool_features WHERE ts >= ? AND ts < ?",
                                    [lo.to_pydatetime(), hi.to_pydatetime()])

    def resolved(self, target: str, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
        try:
            return self.warehouse.query(
                f"SELECT f.*, l.{target} AS y FROM pool_features f JOIN pool_labels l USING (pool_id, ts) "
                f"WHERE f.ts >= ? AND f.ts < ? AND l.{target} IS NOT NULL ORDER BY f.ts, f.pool_id", [lo, hi])
        except duckdb.CatalogException:  # no labels yet
            return pd.DataFrame()
