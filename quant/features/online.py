"""The incremental execution of the features: one state per pool, holding its last WINDOW snapshots and the
swaps since the latest one. The live runtime feeds swaps and snapshots as they arrive; each snapshot returns
that pool's features, computed by the same definitions as the batch (`quant.features.definitions`)."""

from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd

from quant.features.batch import MICROS_PER_MIN
from quant.features.definitions import FEATURES, INPUTS, MAX_RUN, WINDOW, define


def _windows(x: np.ndarray, n: int) -> np.ndarray:
    """Row i holds x[i-n+1 .. i], NaN-padded before the first element."""
    padded = np.concatenate([np.full(n - 1, np.nan), x])
    return np.lib.stride_tricks.sliding_window_view(padded, n)


class NumpyPrimitives:
    """The primitives over one pool's window: numpy arrays, NaN for null; nulls inside windows are skipped."""

    def __init__(self, columns: dict[str, np.ndarray]):
        self.columns = columns

    def col(self, name: str) -> np.ndarray:
        return self.columns[name]

    def lag(self, x: np.ndarray, k: int) -> np.ndarray:
        return np.concatenate([np.full(min(k, len(x)), np.nan), x[: max(len(x) - k, 0)]])

    def _count_sum(self, x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        w = _windows(x, n)
        return (~np.isnan(w)).sum(axis=1), np.nansum(w, axis=1)

    def rolling_sum(self, x: np.ndarray, n: int) -> np.ndarray:
        count, total = self._count_sum(x, n)
        return np.where(count > 0, total, np.nan)

    def rolling_mean(self, x: np.ndarray, n: int) -> np.ndarray:
        count, total = self._count_sum(x, n)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    def rolling_max(self, x: np.ndarray, n: int) -> np.ndarray:
        w = _windows(x, n)
        return np.fmax.reduce(w, axis=1)  # fmax skips NaN; an all-NaN window stays NaN

    def rolling_std(self, x: np.ndarray, n: int) -> np.ndarray:
        w = _windows(x, n)
        count = (~np.isnan(w)).sum(axis=1)
        mean = np.nansum(w, axis=1) / np.maximum(count, 1)
        var = np.nansum((w - mean[:, None]) ** 2, axis=1) / np.maximum(count - 1, 1)
        return np.where(count >= 2, np.sqrt(var), np.nan)

    def run_length(self, x: np.ndarray) -> np.ndarray:
        up = np.nan_to_num(x, nan=0.0) > 0
        run = np.zeros(len(x))
        count = 0
        for i, u in enumerate(up):
            count = count + 1 if u else 0
            run[i] = min(count, MAX_RUN)
        return run

    def below(self, x: np.ndarray, threshold: float) -> np.ndarray:
        return np.where(np.isnan(x), np.nan, (x < threshold).astype(np.float64))

    def div(self, a: np.ndarray, b: np.ndarray, guard: np.ndarray) -> np.ndarray:
        ok = guard > 0
        return np.where(ok, a / np.where(ok, b, 1.0), np.nan)

    def log(self, x: np.ndarray) -> np.ndarray:
        return np.log(x)


class PoolFeatureState:
    """One pool's rolling window of snapshot inputs, and the swap flow since its latest snapshot."""

    def __init__(self, pool_id: str, window: int = WINDOW):
        self.pool_id = pool_id
        self.rows: dict[str, deque] = {name: deque(maxlen=window) for name in INPUTS}
        self._reset_flow()

    def _reset_flow(self) -> None:
        self.n_buys = self.n_sells = 0
        self.buy_volume = self.sell_volume = 0.0
        self.buyer_set: set[str] = set()

    def add_swap(self, side: str, quote_amount: float, wallet: str) -> None:
        """A swap at or before the next snapshot's time; `quote_amount` is quote in (buy) or out (sell)."""
        if side == "buy":
            self.n_buys += 1
            self.buy_volume += quote_amount
            self.buyer_set.add(wallet)
        else:
            self.n_sells += 1
            self.sell_volume += quote_amount

    def add_snapshot(self, ts: pd.Timestamp, price: float, base_reserve: float, quote_reserve: float,
                     volume_24h: float, trade_fee: float, pool_open_time: pd.Timestamp) -> dict[str, float]:
        """Close the swap interval at this snapshot, push it into the window, return the features now."""
        age_us = (pd.Timestamp(ts) - pd.Timestamp(pool_open_time)) // pd.Timedelta(microseconds=1)
        values = dict(price=price, base_reserve=base_reserve, quote_reserve=quote_reserve, volume_24h=volume_24h,
                      trade_fee=trade_fee, pool_age_min=age_us / MICROS_PER_MIN, n_buys=float(self.n_buys),
                      n_sells=float(self.n_sells), buy_volume=self.buy_volume, sell_volume=self.sell_volume,
                      buyers=float(len(self.buyer_set)))
        for name, v in values.items():
            self.rows[name].append(float(v))
        self._reset_flow()
        return self.features()

    def features(self) -> dict[str, float]:
        columns = {name: np.fromiter(q, np.float64, len(q)) for name, q in self.rows.items()}
        with np.errstate(divide="ignore", invalid="ignore"):
            values = define(NumpyPrimitives(columns))
        return {name: float(values[name][-1]) for name in FEATURES}


class OnlineFeatures:
    """Pool states keyed by pool id: what the live runtime holds."""

    def __init__(self, window: int = WINDOW):
        self.window = window
        self.pools: dict[str, PoolFeatureState] = {}

    def state(self, pool_id: str) -> PoolFeatureState:
        if pool_id not in self.pools:
            self.pools[pool_id] = PoolFeatureState(pool_id, self.window)
        return self.pools[pool_id]


def replay(snapshots: pd.DataFrame, swaps: pd.DataFrame, window: int = WINDOW) -> pd.DataFrame:
    """Feed a history to the online states in event order (a swap before the snapshot at or after it) and
    collect every snapshot's features, in the batch's row order: the live path run over recorded data."""
    engine = OnlineFeatures(window)
    snaps = snapshots.sort_values(["ts", "pool_id"], kind="stable")
    sw = swaps.sort_values("ts", kind="stable")
    quote = np.where(sw.side.to_numpy() == "buy", sw.amount_in.to_numpy(), sw.amount_out.to_numpy())
    # order 0 = swap, 1 = snapshot: at equal times the swap goes first, as the snapshot already shows it.
    events = pd.concat([
        pd.DataFrame({"ts": sw.ts.to_numpy(), "order": 0, "i": np.arange(len(sw))}),
        pd.DataFrame({"ts": snaps.ts.to_numpy(), "order": 1, "i": np.arange(len(snaps))}),
    ]).sort_values(["ts", "order", "i"], kind="stable")
    sw_pool, sw_side, sw_wallet = sw.pool_id.to_numpy(), sw.side.to_numpy(), sw.wallet.to_numpy()
    cols = {c: snaps[c].to_numpy() for c in ("pool_id", "ts", "price", "base_reserve", "quote_reserve",
                                              "volume_24h", "trade_fee", "pool_open_time")}
    out = []
    for order, i in zip(events.order.to_numpy(), events.i.to_numpy(), strict=True):
        if order == 0:
            engine.state(sw_pool[i]).add_swap(sw_side[i], float(quote[i]), sw_wallet[i])
            continue
        f = engine.state(cols["pool_id"][i]).add_snapshot(
            cols["ts"][i], cols["price"][i], cols["base_reserve"][i], cols["quote_reserve"][i],
            cols["volume_24h"][i], cols["trade_fee"][i], cols["pool_open_time"][i])
        out.append({"pool_id": cols["pool_id"][i], "ts": cols["ts"][i], **f})
    return pd.DataFrame(out, columns=["pool_id", "ts", *FEATURES]).sort_values(["pool_id", "ts"]).reset_index(drop=True)
