"""The vectorised execution of the features: polars over many pools at once.

Input is a partition of pool snapshots plus the tail of the day before (at least WINDOW - 1 snapshots per
pool, so every rolling window at the partition's first snapshot is complete) and the swaps of the same span.
Rows are sorted by pool and time; lags are global shifts masked by the row's position within its pool, which
keeps them off `over()` and fast on tens of millions of rows.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import polars as pl

from quant.features.definitions import MAX_RUN, define

_POS, _POOL = "_pos", "_pool"
MICROS_PER_MIN = 60_000_000


class PolarsPrimitives:
    """The primitives of `quant.features.definitions` as polars expressions over a pool-sorted frame.

    An expression that a lag or window reuses is first stored as a column of `frame`, so it is computed
    once rather than once per lag (eager polars does not share subexpressions)."""

    pos = pl.col(_POS)

    def __init__(self, frame: pl.DataFrame):
        self.frame = frame

    def _stored(self, x: pl.Expr) -> pl.Expr:
        if x.meta.is_column():
            return x
        name = f"_t{len(self.frame.columns)}"
        self.frame = self.frame.with_columns(x.alias(name))
        return pl.col(name)

    def col(self, name: str) -> pl.Expr:
        return pl.col(name)

    def lag(self, x: pl.Expr, k: int) -> pl.Expr:
        return pl.when(self.pos >= k).then(self._stored(x).shift(k))

    # Windows of up to 10 rows are explicit sums of lags: no over(), and no add-and-subtract residue (a
    # running rolling sum leaves 1e-10 where the window holds only zeros).
    def _window(self, x: pl.Expr, n: int) -> tuple[list[pl.Expr], pl.Expr]:
        x = self._stored(x)
        terms = [self.lag(x, j) for j in range(n)]
        return terms, pl.sum_horizontal([t.is_not_null() for t in terms])

    def rolling_sum(self, x: pl.Expr, n: int) -> pl.Expr:
        terms, count = self._window(x, n)
        return self._stored(pl.when(count > 0).then(pl.sum_horizontal(terms)))

    def rolling_mean(self, x: pl.Expr, n: int) -> pl.Expr:
        terms, count = self._window(x, n)
        return self._stored(pl.when(count > 0).then(pl.sum_horizontal(terms) / count))

    def rolling_max(self, x: pl.Expr, n: int) -> pl.Expr:
        return x.rolling_max(n, min_samples=1).over(_POOL)

    def rolling_std(self, x: pl.Expr, n: int) -> pl.Expr:
        # From the sums of x and x^2 (one pass; each term a lag): clipped at 0 against rounding below it.
        terms, count = self._window(x, n)
        total, squares = pl.sum_horizontal(terms), pl.sum_horizontal([t * t for t in terms])
        var = ((squares - total * total / count) / (count - 1)).clip(lower_bound=0.0)
        return pl.when(count >= 2).then(var.sqrt())

    def run_length(self, x: pl.Expr) -> pl.Expr:
        x = self._stored(x)
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


def swap_flow(frame: pl.DataFrame, swaps: pl.DataFrame) -> dict[str, np.ndarray]:
    """For each row of `frame` (snapshots sorted by pool code `_pool`, then time), the swaps since the
    pool's previous snapshot: counts, quote volumes and distinct buyers.

    A snapshot at ts shows the pool after every swap at or before ts, so a swap belongs to the first
    snapshot of its pool at or after it. Swaps before a pool's first snapshot in the frame all land on that
    snapshot: exact when the frame starts at the pool's opening, and harmless in the tail, which only warms
    windows up and is dropped. Sums run in time order, as the online state adds them.
    """
    keys = frame.select(_POOL, pl.col("ts").alias("snap_ts"), pl.int_range(pl.len(), dtype=pl.Int64).alias("_row"))
    is_buy = pl.col("side") == "buy"
    sw = swaps.select(
        _POOL, "ts", pl.col("wallet").hash().alias("wallet"), is_buy.alias("is_buy"),  # 64-bit hash: cheap to count
        pl.when(is_buy).then(pl.col("amount_in")).otherwise(pl.col("amount_out")).alias("quote"),
    ).sort("ts")
    joined = sw.join_asof(keys.sort("snap_ts"), left_on="ts", right_on="snap_ts", by=_POOL, strategy="forward",
                          check_sortedness=False).drop_nulls("_row")  # sorted by ts; unverifiable per group
    row, buy = joined["_row"].to_numpy(), joined["is_buy"].to_numpy()
    quote, n = joined["quote"].to_numpy(), frame.height
    # Lazy: the same distinct (row, wallet) pairs at less than half the eager unique's cost.
    buyer_rows = joined.lazy().filter(pl.col("is_buy")).select("_row", "wallet").unique().collect()["_row"].to_numpy()
    return {
        "n_buys": np.bincount(row, weights=buy, minlength=n), "n_sells": np.bincount(row, weights=~buy, minlength=n),
        "buy_volume": np.bincount(row, weights=np.where(buy, quote, 0.0), minlength=n),
        "sell_volume": np.bincount(row, weights=np.where(buy, 0.0, quote), minlength=n),
        "buyers": np.bincount(buyer_rows, minlength=n).astype(np.float64),
    }


def feature_inputs(snapshots: pd.DataFrame | pl.DataFrame, swaps: pd.DataFrame | pl.DataFrame) -> pl.DataFrame:
    """Snapshots grouped by pool (in order of first appearance) and sorted by time within each, with pool
    age, swap flow and the row's position in its pool. Pools are keyed by integer codes internally: joins,
    sorts and groups on 44-character addresses cost several times more."""
    us = pl.Datetime("us")  # one time unit on both sides of the joins, whatever the inputs carried
    snaps = _polars(snapshots).select("pool_id", pl.col("ts").cast(us), "price", "base_reserve", "quote_reserve",
                                      "volume_24h", "trade_fee", pl.col("pool_open_time").cast(us))
    codes = snaps.select(pl.col("pool_id").unique(maintain_order=True)).with_row_index(_POOL)
    frame = snaps.join(codes, on="pool_id", how="left").sort(_POOL, "ts")
    swaps = _polars(swaps).with_columns(pl.col("ts").cast(us)).join(codes, on="pool_id", how="inner")
    frame = frame.with_columns(**{name: pl.Series(v) for name, v in swap_flow(frame, swaps).items()})
    age_us = (pl.col("ts") - pl.col("pool_open_time")).dt.total_microseconds()
    pool = pl.col(_POOL)
    row = pl.int_range(pl.len(), dtype=pl.Int64)
    first = (pool != pool.shift(1)).fill_null(True)
    return frame.with_columns(
        (age_us / MICROS_PER_MIN).alias("pool_age_min"),
        (row - pl.when(first).then(row).forward_fill()).alias(_POS),
    )


def batch_features(snapshots: pd.DataFrame | pl.DataFrame, swaps: pd.DataFrame | pl.DataFrame,
                   since: datetime | None = None) -> pl.DataFrame:
    """Features of every snapshot (pool_id, ts, then FEATURES in order), grouped by pool and in time order
    within each; rows before `since` (the tail that warmed the windows up) are dropped."""
    p = PolarsPrimitives(feature_inputs(snapshots, swaps))
    features = define(p)
    # Lazy, so that subexpressions the features share (the lag terms of windows) are computed once.
    out = p.frame.lazy().select("pool_id", "ts", **features).collect()
    if since is not None:
        out = out.filter(pl.col("ts") >= pd.Timestamp(since).tz_localize(None))
    return out


def _polars(df: pd.DataFrame | pl.DataFrame) -> pl.DataFrame:
    return df if isinstance(df, pl.DataFrame) else pl.from_pandas(df)
