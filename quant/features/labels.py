"""Forward-looking labels of each pool snapshot, over a horizon counted in snapshots.

`will_moon`: the best price within the horizon is at least +15% above now. `will_rug`: the worst is at
least 50% below now, or a reserve drain (a one-step quote-reserve fall of 30% or more) happens within it.
`regime` names the path: rug_dump, moon_mission, steady_climb (ends at least +5% up) or sideways_chop.
`bankable_return`: what the strategy banks, not what the price touches — the return of buying `stake` SOL at
the next snapshot's reserves and selling `horizon` snapshots after that, net of both fees, on Raydium v4's
exact integer math (quant.market.amm.round_trip, our buy left in the pool as the backtest leaves it); Solana
pools only (the backtest's venue), computed where the snapshots carry reserves and decimals.
A snapshot with fewer than `horizon` snapshots after it in the data gets null labels, never labels computed
on a shortened horizon; the label assets read the next day's head so that only the true end stays null.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl

from quant.features.definitions import DRAIN_THRESHOLD
from quant.market.amm import round_trip_vec

LABELS = ("will_moon", "will_rug", "regime")
REGIMES = ("moon_mission", "steady_climb", "sideways_chop", "rug_dump")


@dataclass(frozen=True)
class LabelConfig:
    horizon: int = 10  # snapshots ahead (10 minutes at the simulator's one-minute cadence)
    moon_return: float = 0.15
    rug_return: float = -0.5
    drain: float = DRAIN_THRESHOLD
    climb_return: float = 0.05
    stake: float = 10.0 / 3  # SOL per trade: the backtest's (quant.evaluation.backtest.BacktestConfig.stake)


AMM_COLUMNS = ("chain", "base_reserve", "base_decimals", "quote_decimals")


def build_labels(snapshots: pd.DataFrame | pl.DataFrame, cfg: LabelConfig = LabelConfig()) -> pl.DataFrame:
    """pool_id, ts, will_moon, will_rug (1.0 / 0.0 / null), regime, the forward returns behind them and, where
    the snapshots carry AMM_COLUMNS, bankable_return."""
    df = snapshots if isinstance(snapshots, pl.DataFrame) else pl.from_pandas(snapshots)
    amm = all(c in df.columns for c in AMM_COLUMNS)
    df = df.select("pool_id", "ts", "price", "quote_reserve", *(AMM_COLUMNS if amm else ()))
    # Sorted by pool (in the order of its id) and time, through integer codes: sorting and grouping on
    # 44-character ids costs several times more at millions of rows.
    ids = df["pool_id"].unique().sort()
    df = df.with_columns(pl.col("pool_id").cast(pl.Enum(ids)).to_physical().alias("_pool")).sort("_pool", "ts")
    pool, row = pl.col("_pool"), pl.int_range(pl.len(), dtype=pl.Int64)
    # Snapshots after this one in the same pool: the distance to the pool's last row.
    last = (pool != pool.shift(-1)).fill_null(True)
    remaining = (pl.when(last).then(row).backward_fill() - row).alias("_remaining")
    step_drop = (pl.col("quote_reserve") / pl.col("quote_reserve").shift(1) - 1).alias("_step")
    df = df.with_columns(remaining, pl.when(pool == pool.shift(1)).then(step_drop).alias("_step"))
    h = cfg.horizon
    extra = [pl.Series("bankable_return", _bankable(df, cfg)).fill_nan(None)] if amm else []
    df = df.with_columns(*extra)
    ahead = [pl.col("price").shift(-j) / pl.col("price") - 1 for j in range(1, h + 1)]
    drains = [(pl.col("_step").shift(-j) < cfg.drain) for j in range(1, h + 1)]
    full = pl.col("_remaining") >= h
    # Lazy, so polars shares the forward returns between the max and the min (eager with_columns would
    # compute each twice) and evaluates the columns in parallel.
    out = df.lazy().with_columns(
        pl.when(full).then(pl.max_horizontal(ahead)).alias("fwd_max_return"),
        pl.when(full).then(pl.min_horizontal(ahead)).alias("fwd_min_return"),
        pl.when(full).then(pl.col("price").shift(-h) / pl.col("price") - 1).alias("fwd_return"),
        pl.when(full).then(pl.any_horizontal(drains)).alias("_drained"),
    )
    moon = pl.col("fwd_max_return") >= cfg.moon_return
    rug = (pl.col("fwd_min_return") <= cfg.rug_return) | pl.col("_drained")
    regime = (pl.when(rug).then(pl.lit("rug_dump")).when(moon).then(pl.lit("moon_mission"))
              .when(pl.col("fwd_return") >= cfg.climb_return).then(pl.lit("steady_climb"))
              .otherwise(pl.lit("sideways_chop")))
    return out.select(
        "pool_id", "ts",
        moon.cast(pl.Float64).alias("will_moon"), rug.cast(pl.Float64).alias("will_rug"),
        pl.when(full).then(regime).alias("regime"),
        "fwd_max_return", "fwd_min_return", "fwd_return", *(["bankable_return"] if amm else []),
    ).collect()


def _bankable(df: pl.DataFrame, cfg: LabelConfig) -> np.ndarray:
    """`bankable_return` of each row of `df` (sorted by pool and time, with `_remaining`); NaN where the
    exit lies past the pool's data, off Solana, or a reserve is empty."""
    h, n = cfg.horizon, len(df)
    base, quote = df["base_reserve"].to_numpy(), df["quote_reserve"].to_numpy()
    ok = (df["_remaining"].to_numpy() >= h + 1) & (df["chain"].to_numpy() == "solana")
    rows = np.flatnonzero(ok)
    entry, exit_ = rows + 1, rows + 1 + h
    live = (base[entry] > 0) & (quote[entry] > 0) & (base[exit_] > 0) & (quote[exit_] > 0)
    rows, entry, exit_ = rows[live], entry[live], exit_[live]
    spent, received = round_trip_vec(base[entry], quote[entry], base[exit_], quote[exit_],
                                     df["base_decimals"].to_numpy()[entry], df["quote_decimals"].to_numpy()[entry],
                                     cfg.stake)
    out = np.full(n, np.nan)
    out[rows] = received / spent - 1
    return out


def label_paths(price: np.ndarray, quote_reserve: np.ndarray, cfg: LabelConfig = LabelConfig()) -> tuple[np.ndarray, np.ndarray]:
    """`will_moon` and `will_rug` of the first snapshot of each [R, horizon + 1] path of one pool's prices and
    quote reserves: the labels `build_labels` gives that snapshot, computed on the path alone (the live
    runtime resolves its predictions this way; a test holds the two equal)."""
    h = cfg.horizon
    if price.shape[1] != h + 1 or quote_reserve.shape != price.shape:
        raise ValueError(f"paths must be [R, {h + 1}] (the horizon {h} plus the snapshot itself), got {price.shape}")
    ahead = price[:, 1:] / price[:, :1] - 1
    drained = (quote_reserve[:, 1:] / quote_reserve[:, :-1] - 1 < cfg.drain).any(axis=1)
    moon = ahead.max(axis=1) >= cfg.moon_return
    rug = (ahead.min(axis=1) <= cfg.rug_return) | drained
    return moon.astype(np.float64), rug.astype(np.float64)
