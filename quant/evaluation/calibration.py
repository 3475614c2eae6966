"""The simulated market measured the way the real one was (`../shared/MARKET_FACTS.md`), beside the published figures.

First hour: for each new Solana pool, the reserve path rebuilt from its public swaps and liquidity events over the
hour after its first trade (price = quote / base after each transaction, TVL = the quote reserve), the same
definitions as the 32,594-launch Raydium cohort. Stylized facts: one-minute log returns of each new pool's
snapshots, figures per pool, median over pools (pooling pools would mistake their different volatilities for
clustering). Launch flip: buy every new Solana pool on its first snapshot (filled at the next, as in
`quant.evaluation.backtest`) and sell k snapshots later, exact AMM fills and fees.

    python -m quant.evaluation.calibration [--world default] [--seeds 7 11 23] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from quant.market.amm import round_trip
from quant.settings import data_dir
from quant.simulator.config import world_config
from quant.simulator.market import SimulatedMarket

HOUR_S = 3600
# MARKET_FACTS.md, "The first hour of a real launch": shares of 32,594 WSOL-quoted Raydium launches, Q4 2024.
PUBLISHED_FIRST_HOUR = {
    "price_crash_no_recovery": 0.492,
    "hard_price_crash": 0.285,
    "liquidity_pulled": 0.414,
    "liquidity_mostly_gone": 0.453,
    "silence_300s": 0.527,
}
PUBLISHED_MEDIAN_LAST_OVER_PEAK = 0.059
PUBLISHED_MEDIAN_TRANSACTIONS_TO_PEAK = 350
LAGS = (1, 5, 15, 60)
FLIP_HOLDS = (1, 5, 10, 30, 60)
MIN_RETURNS = 120  # minutes of returns a pool needs before its autocorrelation at lag 60 means anything


def drawdown(path: np.ndarray) -> tuple[float, float, float]:
    """(peak, lowest after the peak, last) of a path."""
    i = int(np.argmax(path))
    return float(path[i]), float(path[i:].min()), float(path[-1])


def crashed(path: np.ndarray, depth: float, max_recovery: float | None) -> bool:
    """The path fell at least `depth` of its peak after the peak, and its last value recovered at most
    `max_recovery` of that fall (None: recovery not considered)."""
    peak, low, last = drawdown(path)
    fall = peak - low
    if peak <= 0 or fall < depth * peak:
        return False
    return max_recovery is None or last - low <= max_recovery * fall


def longest_silence(ts: np.ndarray, end: float) -> float:
    """Longest stretch without a transaction, counting from the last one to `end`."""
    return float(np.diff(np.r_[ts, end]).max())


def pool_paths(swaps: pd.DataFrame, liquidity: pd.DataFrame) -> pd.DataFrame:
    """Every transaction of the given pools in order from each pool's first swap, with the reserves after it.

    A swap's reserves after are its reserves before plus what went in and minus what came out (the fee stays in
    the vault, as on Raydium); a liquidity event (`liquidity_events`: deposits and removals, the pool's creation
    aside) carries the reserves it left.
    """
    s = swaps.sort_values(["pool_id", "ts"], kind="stable")
    buy = (s.side == "buy").to_numpy()
    rows = pd.DataFrame({
        "pool_id": s.pool_id.to_numpy(), "ts": s.ts.to_numpy(), "order": 0,
        "base_after": s.reserve_base_before.to_numpy() + np.where(buy, -s.amount_out, s.amount_in),
        "quote_after": s.reserve_quote_before.to_numpy() + np.where(buy, s.amount_in, -s.amount_out),
    })
    liquidity = liquidity[liquidity.action != "create"]
    liq = pd.DataFrame({"pool_id": liquidity.pool_id.to_numpy(), "ts": liquidity.ts.to_numpy(), "order": 1,
                        "base_after": liquidity.base_reserve_after.to_numpy(),
                        "quote_after": liquidity.quote_reserve_after.to_numpy()})
    both = pd.concat([rows, liq], ignore_index=True).sort_values(["pool_id", "ts", "order"], kind="stable")
    started = (both.order == 0).groupby(both.pool_id).cummax()  # a liquidity event before any swap: no path yet
    both = both[started].copy()
    both["price"] = both.quote_after / both.base_after
    return both.reset_index(drop=True)


def first_hour(swaps: pd.DataFrame, liquidity: pd.DataFrame) -> dict:
    """The first-hour shares and the median last/peak price over the pools in `swaps`."""
    paths = pool_paths(swaps, liquidity)
    flags = []
    for _, p in paths.groupby("pool_id", sort=True):
        t = (p.ts.to_numpy().astype("datetime64[ns]").astype(np.int64) / 1e9)
        hour = t <= t[0] + HOUR_S
        price, tvl = p.price.to_numpy()[hour], p.quote_after.to_numpy()[hour]
        peak, _, last = drawdown(price)
        flags.append({
            "transactions_to_peak": int(np.argmax(price)) + 1,
            "price_crash_no_recovery": crashed(price, 0.90, 0.01),
            "hard_price_crash": crashed(price, 0.99, 0.005),
            "liquidity_pulled": crashed(tvl, 0.99, 0.01),
            "liquidity_mostly_gone": crashed(tvl, 0.90, None),
            "silence_300s": longest_silence(t[hour], t[0] + HOUR_S) >= 300,
            "last_over_peak": last / peak,
        })
    df = pd.DataFrame(flags)
    out = {k: float(df[k].mean()) for k in PUBLISHED_FIRST_HOUR}
    out["median_last_over_peak"] = float(df.last_over_peak.median())
    out["median_transactions_to_peak"] = float(df.transactions_to_peak.median())
    out["pools"] = len(df)
    return out


def _autocorr(x: np.ndarray, lag: int) -> float:
    a, b = x[:-lag] - x.mean(), x[lag:] - x.mean()
    denom = float((x - x.mean()) @ (x - x.mean()))
    return float(a @ b / denom) if denom > 0 else np.nan


def stylized_facts(snapshots: pd.DataFrame) -> dict:
    """Within-pool one-minute log returns: median excess kurtosis without each pool's largest move (a rug's
    single step dominates the moments otherwise), median autocorrelation of returns and absolute returns."""
    kurt, acf, acf_abs = [], {lag: [] for lag in LAGS}, {lag: [] for lag in LAGS}
    for _, g in snapshots.sort_values(["pool_id", "ts"]).groupby("pool_id", sort=False):
        r = np.diff(np.log(g.price.to_numpy()))
        r = r[np.isfinite(r)]
        if len(r) < MIN_RETURNS:
            continue
        r_body = np.delete(r, np.argmax(np.abs(r)))
        if r_body.std() > 0:
            z = (r_body - r_body.mean()) / r_body.std()
            kurt.append(float((z**4).mean() - 3.0))
        for lag in LAGS:
            acf[lag].append(_autocorr(r, lag))
            acf_abs[lag].append(_autocorr(np.abs(r), lag))
    return {
        "pools": len(kurt),
        "excess_kurtosis_without_largest_move": float(np.median(kurt)) if kurt else np.nan,
        "acf_returns": {lag: float(np.nanmedian(v)) for lag, v in acf.items()},
        "acf_abs_returns": {lag: float(np.nanmedian(v)) for lag, v in acf_abs.items()},
    }


def launch_flip(snapshots: pd.DataFrame, holds: Sequence[int] = FLIP_HOLDS, stake: float = 1.0) -> dict:
    """Buy `stake` SOL of every pool on the snapshot after its first, sell `k` snapshots later (or at its last)."""
    out = {}
    groups = [g.reset_index(drop=True) for _, g in snapshots.sort_values(["pool_id", "ts"]).groupby("pool_id")
              if len(g) >= 2]
    for k in holds:
        returns = []
        for g in groups:
            spent, received = round_trip(g.iloc[1], g.iloc[min(1 + k, len(g) - 1)], stake)
            returns.append(received / spent - 1.0)
        r = np.array(returns)
        out[k] = {"trades": len(r), "mean_return": float(r.mean()), "win_rate": float((r > 0).mean()),
                  "net_pnl_sol": float(r.sum() * stake)}
    return out


def figures(snapshots: pd.DataFrame, swaps: pd.DataFrame, liquidity: pd.DataFrame, start: pd.Timestamp) -> dict:
    """Every calibration figure of a world's tables: its pools opened from `start` on (the new pools)."""
    new = snapshots[snapshots.pool_open_time >= start]
    sol_new = set(new.pool_id[new.chain == "solana"])
    return {
        "first_hour": first_hour(swaps[swaps.pool_id.isin(sol_new)], liquidity[liquidity.pool_id.isin(sol_new)]),
        "stylized": stylized_facts(new),
        "launch_flip": launch_flip(new[new.pool_id.isin(sol_new)]),
    }


def measure(world: str = "default", seed: int = 7, cache_dir: Path | None = None) -> dict:
    """Every calibration figure of one world (built, or read from the worlds' cache)."""
    cfg = world_config(world, seed)
    market = SimulatedMarket(cfg, cache_dir or data_dir() / "worlds", progress=True)
    tables = (market.table(t) for t in ("pool_snapshots", "swaps", "liquidity_events"))
    return {"world": world, "seed": seed, **figures(*tables, pd.Timestamp(cfg.start))}


def report(per_seed: list[dict]) -> dict:
    """Per-seed figures, their mean over seeds and the absolute gap of each to the published value."""
    published = {**PUBLISHED_FIRST_HOUR, "median_last_over_peak": PUBLISHED_MEDIAN_LAST_OVER_PEAK,
                 "median_transactions_to_peak": PUBLISHED_MEDIAN_TRANSACTIONS_TO_PEAK}
    mean = {k: float(np.mean([m["first_hour"][k] for m in per_seed])) for k in published}
    return {
        "seeds": [m["seed"] for m in per_seed],
        "published": published,
        "first_hour_mean": mean,
        "first_hour_gap": {k: abs(mean[k] - v) for k, v in published.items()},
        "per_seed": per_seed,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quant.evaluation.calibration", description=__doc__.split("\n")[0])
    parser.add_argument("--world", default="default")
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 11, 23])
    parser.add_argument("--cache-dir", type=Path, default=None, help="worlds' cache (default $QUANT_DATA_DIR/worlds)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    out = report([measure(args.world, s, args.cache_dir) for s in args.seeds])
    if args.json:
        json.dump(out, sys.stdout, indent=1, default=float)
        print()
        return 0
    print(f"first hour, new Solana pools, seeds {out['seeds']}")
    print(f"{'figure':28s} {'published':>9s} {'simulated':>9s} {'gap':>6s}  per seed")
    for k, v in out["published"].items():
        seeds = " ".join(f"{m['first_hour'][k]:.3f}" for m in out["per_seed"])
        print(f"{k:28s} {v:9.3f} {out['first_hour_mean'][k]:9.3f} {out['first_hour_gap'][k]:6.3f}  {seeds}")
    for m in out["per_seed"]:
        st = m["stylized"]
        print(f"seed {m['seed']}: {m['first_hour']['pools']} pools; within-pool excess kurtosis "
              f"{st['excess_kurtosis_without_largest_move']:.1f}; acf returns "
              + " ".join(f"{lag}:{v:.3f}" for lag, v in st["acf_returns"].items()) + "; acf |returns| "
              + " ".join(f"{lag}:{v:.3f}" for lag, v in st["acf_abs_returns"].items()))
        print("  launch flip mean return by hold: "
              + " ".join(f"k={k}:{f['mean_return']:+.3f} (win {f['win_rate']:.2f})" for k, f in m["launch_flip"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
