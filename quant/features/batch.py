"""The vectorised execution of the features: polars over many pools at once.

Input is a partition of pool snapshots plus the tail of the day before (at least WINDOW - 1 snapshots per
pool, so every rolling window at the partition's first snapshot is complete) and the swaps of the same span.
Rows are sorted by pool and time; lags are global shifts masked by the row's position within its pool, which
keeps them off `over()` and fast on tens of millions of rows.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import polars as pl

from quant.features.definitions import FLOW_INPUTS, MAX_RUN, define

_POS, _POOL = "_pos", "_pool"
MICROS_PER_MIN = 60_000_000


class PolarsPrimitives:
    """The primitives of `quant.features.definitions` as polars expressions over a pool-sorted frame."""

    pos = pl.col(_POS)

    def col(self, name: str) -> pl.Expr:
        return pl.col(name)

    def lag(self, x: pl.Expr, k: int) -> pl.Expr:
        return pl.when(self.pos >= k).then(x.shift(k))

    # Windows of up to 10 rows are explicit sums of lags: no over(), and no add-and-subtract residue (a
    # running rolling sum leaves 1e-10 where the window holds only zeros).
    def _window(self, x: pl.Expr, n: int) -> tuple[list[pl.Expr], pl.Expr]:
        terms = [self.lag(x, j) for j in range(n)]
        return terms, pl.sum_horizontal([t.is_not_null() for t in terms])

    def rolling_sum(self, x: pl.Expr, n: int) -> pl.Expr:
        terms, count = self._window(x, n)
        return pl.when(count > 0).then(pl.sum_horizontal(terms))

    def rolling_mean(self, x: pl.Expr, n: int) -> pl.Expr:
        terms, count = self._window(x, n)
        return pl.when(count > 0).then(pl.sum_horizontal(terms) / count)

    def rolling_max(self, x: pl.Expr, n: int) -> pl.Expr:
        return x.rolling_max(n, min_samples=1).over(_POOL)

    def rolling_std(self, x: pl.Expr, n: int) -> pl.Expr:
        terms, count = self._window(x, n)
        mean = pl.sum_horizontal(terms) / count
        squares = pl.sum_horizontal([(t - mean) ** 2 for t in terms])
        return pl.when(count >= 2).then((squares / (count - 1)).sqrt())

    def run_length(self, x: pl.Expr) -> pl.Expr:
        # Cumulative count of true rows, minus its value at the last reset (a false row or a pool's first).
        up = (x > 0).fill_null(False).cast(pl.Int64)
        total = up.cum_sum()
        base = pl.when((up == 0) | (self.pos == 0)).then(total - up).forward_fill()
        return (total - base).clip(upper_bound=MAX_RUN).cast(pl.Float64)

    def below(self, x: pl.Expr, threshold: float) -> pl.Expr:
        return (x < threshold).cast(pl.Float64)

    def div(self, a: pl.Expr, b: pl.Expr, guard: pl.Expr) -> pl.Expr:
        return pl.when(guard > 0).then(a / b)

    def log(self, x: pl.Expr) -> pl.Expr:
        return x.log()


def swap_flow(snapshots: pl.DataFrame, swaps: pl.DataFrame) -> pl.DataFrame:
    """Per pool snapshot, the swaps since the pool's previous snapshot: counts, quote volumes, buyers.

    A snapshot at ts shows the pool after every swap at or before ts, so a swap belongs to the first
    snapshot of its pool at or after it. Swaps before a pool's first snapshot in the frame all land on that
    snapshot: exact when the frame starts at the pool's opening, and harmless in the tail, which only warms
    windows up and is dropped.
    """
    keys = snapshots.select("pool_id", pl.col("ts").alias("snap_ts")).sort("snap_ts")
    is_buy = pl.col("side") == "buy"
    sw = swaps.select(
        "pool_id", "ts", "wallet", is_buy.alias("is_buy"),
        pl.when(is_buy).then(pl.col("amount_in")).otherwise(pl.col("amount_out")).alias("quote"),
    ).sort("ts")
    joined = sw.join_asof(keys, left_on="ts", right_on="snap_ts", by="pool_id", strategy="forward",
                          check_sortedness=False)  # sorted by ts; polars cannot verify that within groups
    buy = pl.col("is_buy")
    return (joined.drop_nulls("snap_ts").group_by("pool_id", "snap_ts").agg(
        buy.sum().cast(pl.Float64).alias("n_buys"), (~buy).sum().cast(pl.Float64).alias("n_sells"),
        pl.col("quote").filter(buy).sum().alias("buy_volume"),
        pl.col("quote").filter(~buy).sum().alias("sell_volume"),
        pl.col("wallet").filter(buy).n_unique().cast(pl.Float64).alias("buyers"),
    ).rename({"snap_ts": "ts"}))


def feature_inputs(snapshots: pd.DataFrame | pl.DataFrame, swaps: pd.DataFrame | pl.DataFrame) -> pl.DataFrame:
    """Snapshots sorted by pool and time, with pool age, swap flow and the row's position in its pool."""
    us = pl.Datetime("us")  # one time unit on both sides of the joins, whatever the inputs carried
    snaps = _polars(snapshots).select("pool_id", pl.col("ts").cast(us), "price", "base_reserve", "quote_reserve",
                                      "volume_24h", "trade_fee", pl.col("pool_open_time").cast(us))
    flow = swap_flow(snaps, _polars(swaps).with_columns(pl.col("ts").cast(us)))
    frame = (snaps.join(flow, on=["pool_id", "ts"], how="left")
             .with_columns([pl.col(c).fill_null(0.0) for c in FLOW_INPUTS])
             .sort("pool_id", "ts"))
    age_us = (pl.col("ts") - pl.col("pool_open_time")).dt.total_microseconds()
    pool = pl.col("pool_id")
    row = pl.int_range(pl.len(), dtype=pl.Int64)
    return frame.with_columns(
        (age_us / MICROS_PER_MIN).alias("pool_age_min"),
        (pool != pool.shift(1)).fill_null(True).cum_sum().alias(_POOL), row.alias(_POS),
    ).with_columns((pl.col(_POS) - pl.col(_POS).min().over(_POOL)).alias(_POS))


def batch_features(snapshots: pd.DataFrame | pl.DataFrame, swaps: pd.DataFrame | pl.DataFrame,
                   since: datetime | None = None) -> pl.DataFrame:
    """Features of every snapshot (pool_id, ts, then FEATURES in order); rows before `since` (the tail that
    warmed the windows up) are dropped."""
    frame = feature_inputs(snapshots, swaps)
    out = frame.select("pool_id", "ts", **define(PolarsPrimitives()))
    if since is not None:
        out = out.filter(pl.col("ts") >= pd.Timestamp(since).tz_localize(None))
    return out


def _polars(df: pd.DataFrame | pl.DataFrame) -> pl.DataFrame:
    return df if isinstance(df, pl.DataFrame) else pl.from_pandas(df)
