"""The tables the models learn from: features joined to labels, and swaps joined to the pool state a trader
saw before each swap (for slippage). Windows are cut here, with the purge gap between train and test."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl


def labelled(features: pd.DataFrame, labels: pd.DataFrame, target: str) -> pd.DataFrame:
    """Feature rows with a known `target` (labels near the end of the data are null and left out)."""
    cols = ["pool_id", "ts", target] + [c for c in ("fwd_return", "regime") if c != target]
    joined = features.merge(labels[cols], on=["pool_id", "ts"], how="inner", validate="one_to_one")
    return joined[joined[target].notna()].sort_values(["ts", "pool_id"], kind="stable").reset_index(drop=True)


def cp_slippage(size_over_reserve: np.ndarray, fee: np.ndarray) -> np.ndarray:
    """Cost against the mid of a constant-product trade of size x = a / R_in with fee f, as a fraction:
    1 - (1 - f) / (1 + (1 - f) x). The same for buys and sells, in their own input units."""
    net = 1.0 - fee
    return 1.0 - net / (1.0 + net * size_over_reserve)


def slippage_table(swaps: pd.DataFrame, snapshots: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """One row per swap: its size over the reserves of the pool's last snapshot strictly before it, that
    snapshot's features, the constant-product estimate from those reserves, and the realised slippage
    (execution price against the mid of the reserves just before the swap, fee included)."""
    state = _pl(snapshots, ["pool_id", "ts", "base_reserve", "quote_reserve", "trade_fee"]).join(
        _pl(features, ["pool_id", "ts", "volatility_10", "ret_1", "volume_spike", "log_k"]),
        on=["pool_id", "ts"], how="inner").rename({"ts": "snap_ts"}).sort("snap_ts")
    sw = _pl(swaps, ["ts", "pool_id", "side", "amount_in", "amount_out", "reserve_base_before",
                     "reserve_quote_before"]).sort("ts")
    # Strictly before: the snapshot at the swap's own second already includes it.
    joined = sw.join_asof(state, left_on="ts", right_on="snap_ts", by="pool_id", strategy="backward",
                          allow_exact_matches=False, check_sortedness=False).drop_nulls("snap_ts").to_pandas()
    buy = (joined.side == "buy").to_numpy()
    r_in_snap = np.where(buy, joined.quote_reserve, joined.base_reserve)
    mid = (joined.reserve_quote_before / joined.reserve_base_before).to_numpy()
    exec_price = np.where(buy, joined.amount_in / joined.amount_out, joined.amount_out / joined.amount_in)
    realised = np.where(buy, exec_price / mid - 1.0, 1.0 - exec_price / mid)
    size = joined.amount_in.to_numpy() / r_in_snap
    cp = cp_slippage(size, joined.trade_fee.to_numpy())
    out = joined[["ts", "pool_id", "trade_fee", "volatility_10", "ret_1", "volume_spike", "log_k"]].copy()
    out["is_buy"] = buy.astype(np.float64)
    out["size_over_reserve"] = size
    out["cp_estimate"] = cp
    out["realised_slippage"] = realised
    out["slippage_residual"] = realised - cp
    return out[np.isfinite(realised)].sort_values(["ts", "pool_id"], kind="stable").reset_index(drop=True)


def _pl(df: pd.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Columns of a pandas frame in polars, times in microseconds: tables read back from DuckDB may carry
    nanoseconds, and joins need one unit on both sides."""
    return pl.from_pandas(df[columns]).with_columns(pl.col("ts").cast(pl.Datetime("us")))


@dataclass(frozen=True)
class Window:
    """Train on [train_start, test_start - purge), test on [test_start, test_end)."""

    train_start: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    purge: pd.Timedelta

    def train(self, frame: pd.DataFrame) -> pd.DataFrame:
        ts = frame.ts
        return frame[(ts >= self.train_start) & (ts < self.test_start - self.purge)]

    def test(self, frame: pd.DataFrame) -> pd.DataFrame:
        ts = frame.ts
        return frame[(ts >= self.test_start) & (ts < self.test_end)]

    def choose_and_report(self) -> tuple[Window, Window]:
        """The held-out span cut in two at its middle: the first half chooses (champion/challenger), the
        second, after a purge gap, is where the chosen model's figures are reported, so no reported figure
        was measured on the rows that chose it. Both halves are after the training rows."""
        middle = self.test_start + (self.test_end - self.test_start) / 2
        return (Window(self.train_start, self.test_start, middle, self.purge),
                Window(self.train_start, middle + self.purge, self.test_end, self.purge))

    def describe(self) -> dict:
        return {"train_start": str(self.train_start), "train_end": str(self.test_start - self.purge),
                "test_start": str(self.test_start), "test_end": str(self.test_end), "purge": str(self.purge)}


def cadence(snapshots: pd.DataFrame) -> pd.Timedelta:
    """The usual step between a pool's snapshots."""
    s = snapshots.sort_values(["pool_id", "ts"])
    step = s.ts.diff()[s.pool_id.eq(s.pool_id.shift())]
    return pd.Timedelta(step.median()) if len(step) else pd.Timedelta(minutes=1)


def holdout_window(first_day: pd.Timestamp, last_day_end: pd.Timestamp, train_days: int, holdout_days: int,
                   purge: pd.Timedelta) -> Window:
    """The newest `holdout_days` days are held out; the `train_days` before them (less the purge) train."""
    test_start = last_day_end - pd.Timedelta(days=holdout_days)
    train_start = max(first_day, test_start - pd.Timedelta(days=train_days))
    if train_start >= test_start - purge:
        raise ValueError(f"no training days before the hold-out starting {test_start} (data from {first_day})")
    return Window(train_start, test_start, last_day_end, purge)


def walk_forward(window: Window, train_days: int) -> list[Window]:
    """One fold per held-out day: train on the `train_days` before it (less the purge), test on the day."""
    days = pd.date_range(window.test_start, window.test_end, freq="D", inclusive="left")
    return [Window(max(window.train_start, d - pd.Timedelta(days=train_days)), d, d + pd.Timedelta(days=1),
                   window.purge) for d in days]


