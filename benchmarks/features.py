"""Feature and label build throughput (`quant.features.batch_features` + `quant.features.labels.build_labels`).

default: the default simulated world (8 days, ~260k snapshots, ~1M swaps), built by the simulator.
large: 10M pool snapshots with ~10M swaps, synthesised directly with numpy (random-walk prices, reserves and
24h volumes per pool, Poisson swap counts per snapshot), because simulating a world that large takes far
longer than the feature build being measured. Figures are the median of 3 runs; time to load inputs is not
counted; rows_per_s counts snapshots.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import polars as pl

from benchmarks.common import median_seconds, peak_rss_mb
from quant.features import batch_features
from quant.features.labels import build_labels
from quant.settings import Settings
from quant.simulator.config import default_world
from quant.simulator.market import SimulatedMarket

SIZES = ("default", "large")
LARGE_SNAPSHOTS = 10_000_000
LARGE_POOLS = 25_000


def synthetic(n_snapshots: int = LARGE_SNAPSHOTS, n_pools: int = LARGE_POOLS, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Pool snapshots one minute apart (pools of random lengths) and swaps between them."""
    rng = np.random.default_rng(seed)
    lengths = rng.multinomial(n_snapshots - n_pools, np.full(n_pools, 1 / n_pools)) + 1
    pool = np.repeat(np.arange(n_pools), lengths)
    start = np.cumsum(lengths) - lengths
    pos = np.arange(n_snapshots) - np.repeat(start, lengths)
    t0 = np.datetime64("2026-01-01T00:00:00", "us")
    open_ts = t0 + rng.integers(0, 86_400, n_pools).astype("timedelta64[s]")
    ts = np.repeat(open_ts, lengths) + ((pos + 1) * 60).astype("timedelta64[s]")
    steps = rng.normal(0, 0.03, n_snapshots)
    steps[start] = 0.0
    log_price = np.cumsum(steps)
    log_price -= np.repeat(log_price[start], lengths)
    quote = 40.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n_snapshots)) * 0.3)
    ids = np.char.add("pool", np.arange(n_pools).astype(str)).astype(object)
    snaps = pl.DataFrame({
        "pool_id": ids[pool], "ts": ts, "price": 1e-7 * np.exp(log_price), "quote_reserve": quote,
        "volume_24h": np.abs(rng.normal(50, 20, n_snapshots)), "trade_fee": 0.0025,
        "pool_open_time": np.repeat(open_ts, lengths),
    }).with_columns(base_reserve=pl.col("quote_reserve") / pl.col("price"))
    n_swaps = rng.poisson(1.0, n_snapshots)
    row = np.repeat(np.arange(n_snapshots), n_swaps)
    swaps = pl.DataFrame({
        "ts": ts[row] - rng.integers(1, 60, len(row)).astype("timedelta64[s]"), "pool_id": ids[pool[row]],
        "wallet": np.char.add("w", rng.integers(0, 200_000, len(row)).astype(str)).astype(object),
        "side": np.where(rng.random(len(row)) < 0.55, "buy", "sell").astype(object),
        "amount_in": rng.lognormal(-1.4, 1.3, len(row)), "amount_out": rng.lognormal(-1.4, 1.3, len(row)),
    })
    return snaps, swaps


def default_world_tables() -> dict[str, pd.DataFrame]:
    """The default world's market tables, simulated once and cached under $QUANT_DATA_DIR/worlds."""
    market = SimulatedMarket(default_world(), Settings.from_env().data_dir / "worlds")
    return {t: market.table(t) for t in ("pool_snapshots", "swaps")}


def _inputs(size: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    if size == "large":
        return synthetic()
    tables = default_world_tables()
    return pl.from_pandas(tables["pool_snapshots"]), pl.from_pandas(tables["swaps"])


def run(size: str) -> dict:
    snaps, swaps = _inputs(size)
    feature_s, feats = median_seconds(lambda: batch_features(snaps, swaps))
    label_s, _ = median_seconds(lambda: build_labels(snaps))
    total = feature_s + label_s
    return {
        "snapshots": snaps.height, "swaps": swaps.height, "features": len(feats.columns) - 2,
        "feature_seconds": round(feature_s, 3), "label_seconds": round(label_s, 3),
        "features_and_labels_seconds": round(total, 3), "rows_per_s": round(snaps.height / total),
        "peak_rss_mb": round(peak_rss_mb()), "load_avg": round(os.getloadavg()[0], 1), "goal_10M_under_10s": size != "large" or total < 10.0,
        "source": "synthesised" if size == "large" else "simulated default world",
    }
