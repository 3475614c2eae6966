"""The incremental execution of the features: per pool, its last WINDOW snapshots and the swap flow since the
latest one, held in fixed arrays (one slot per pool) so that a micro-batch of snapshots from many pools is
scored in one vectorised pass. The live runtime feeds swaps and snapshots as they arrive; `features(slots)`
returns each slot's features now, computed by the same definitions as the batch
(`quant.features.definitions`).

Young pools have fewer than WINDOW snapshots; their rows are NaN-padded on the left. That is exact, not an
approximation: every primitive treats NaN as missing history (lags of the first rows, rolling windows over
whatever history exists), so padding is indistinguishable from the history not existing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant.features.batch import MICROS_PER_MIN
from quant.features.definitions import FEATURES, INPUTS, MAX_RUN, WINDOW, define

_COL = {name: i for i, name in enumerate(INPUTS)}


TAIL = 16  # rows at the end of the window where rolling outputs are computed (see ArrayPrimitives)
# Snapshots a state keeps beyond WINDOW, so that the features of a pool's last TAIL snapshots, not only its
# latest, come out exact in one pass: the runtime scores a micro-batch holding several snapshots of a pool.
EXTRA = TAIL - 1


def _last_rows(x: np.ndarray, need: int) -> np.ndarray:
    """x's last `need` rows (along axis 1), NaN-padded on the left where x holds fewer."""
    if need > x.shape[1]:
        return np.concatenate([np.full((x.shape[0], need - x.shape[1]), np.nan), x], axis=1)
    return x[:, -need:]


def _windows(x: np.ndarray, n: int, tail: int) -> np.ndarray:
    """[B, tail, n], contiguous: element [b, i] holds the n values of x[b] ending at row W-tail+i, oldest first,
    NaN before the first row. A contiguous copy, because reducing a strided window view costs more than
    making it."""
    x = _last_rows(x, tail + n - 1)
    return np.stack([x[:, j:j + tail] for j in range(n)], axis=2)


class ArrayPrimitives:
    """The primitives over [pools, W] arrays, time along axis 1, NaN for null.

    Only the last row is wanted, so rolling windows are evaluated at the last TAIL rows and left NaN before
    them: no definition lags a rolling result that far (the batch/online parity test would catch one that did),
    and the window work shrinks from W rows to TAIL. The micro-batches are small, so the cost is in the number
    of numpy calls more than in their size: each input is made contiguous once, and windows are reduced
    along a contiguous axis."""

    def __init__(self, columns: np.ndarray, tail: int = TAIL):
        self.columns = np.ascontiguousarray(np.moveaxis(columns, 2, 0))  # [len(INPUTS), B, W]
        self.width = columns.shape[1]
        self.tail = min(tail, self.width)

    def col(self, name: str) -> np.ndarray:
        return self.columns[_COL[name]]

    def lag(self, x: np.ndarray, k: int) -> np.ndarray:
        k = min(k, x.shape[1])
        out = np.empty_like(x)
        out[:, :k] = np.nan
        out[:, k:] = x[:, : x.shape[1] - k]
        return out

    def _padded(self, values: np.ndarray) -> np.ndarray:
        out = np.empty((values.shape[0], self.width))
        out[:, : self.width - self.tail] = np.nan
        out[:, -self.tail:] = values
        return out

    def _count_sum(self, x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Counts and sums of the present values in the windows, as differences of running sums (a handful
        of calls for any n; the float sums agree with a direct sum to ~1e-16 of the window's magnitude)."""
        need = self.tail + n - 1
        x = _last_rows(x, need)
        missing = np.isnan(x)
        running = np.zeros((2, x.shape[0], need + 1))
        np.cumsum(~missing, axis=1, out=running[0, :, 1:])
        np.cumsum(np.where(missing, 0.0, x), axis=1, out=running[1, :, 1:])
        count, total = running[:, :, n:] - running[:, :, :-n]
        return count, total

    def rolling_sum(self, x: np.ndarray, n: int) -> np.ndarray:
        count, total = self._count_sum(x, n)
        return self._padded(np.where(count > 0, total, np.nan))

    def rolling_mean(self, x: np.ndarray, n: int) -> np.ndarray:
        count, total = self._count_sum(x, n)
        return self._padded(np.where(count > 0, total / np.maximum(count, 1), np.nan))

    def rolling_max(self, x: np.ndarray, n: int) -> np.ndarray:
        if n >= x.shape[1]:  # the window is all the history held: a running max, fmax skipping NaN
            return np.fmax.accumulate(x, axis=1)
        tail = self.tail
        if n < tail or tail < 2:
            return self._padded(np.fmax.reduce(_windows(x, n, tail), axis=2))
        # Long windows ending at the last `tail` rows share their middle: window i is the left block from row
        # i on, the shared core, and the right block up to row i (a reverse and a forward running max).
        x = _last_rows(x, tail + n - 1)
        out = np.fmax.reduce(x[:, tail - 1:n], axis=1)[:, None].repeat(tail, axis=1)
        out[:, :-1] = np.fmax(out[:, :-1], np.fmax.accumulate(x[:, tail - 2::-1], axis=1)[:, ::-1])
        out[:, 1:] = np.fmax(out[:, 1:], np.fmax.accumulate(x[:, n:], axis=1))
        return self._padded(out)

    def rolling_std(self, x: np.ndarray, n: int) -> np.ndarray:
        w = _windows(x, n, self.tail)
        missing = np.isnan(w)
        count = n - missing.sum(axis=2)
        w[missing] = 0.0
        mean = w.sum(axis=2) / np.maximum(count, 1)
        dev = (w - mean[:, :, None]) ** 2
        dev[missing] = 0.0
        var = dev.sum(axis=2) / np.maximum(count - 1, 1)
        return self._padded(np.where(count >= 2, np.sqrt(var), np.nan))

    def run_length(self, x: np.ndarray) -> np.ndarray:
        # Distance to the last row that was not a gain (or to before the first row), capped.
        idx = np.arange(x.shape[1])
        up = np.nan_to_num(x, nan=0.0) > 0
        last_reset = np.maximum.accumulate(np.where(up, -1, idx), axis=1)
        return np.minimum(idx - last_reset, MAX_RUN).astype(np.float64)

    def below(self, x: np.ndarray, threshold: float) -> np.ndarray:
        return np.where(np.isnan(x), np.nan, (x < threshold).astype(np.float64))

    def div(self, a: np.ndarray, b: np.ndarray, guard: np.ndarray) -> np.ndarray:
        ok = guard > 0
        return np.where(ok, a / np.where(ok, b, 1.0), np.nan)

    def log(self, x: np.ndarray) -> np.ndarray:
        return np.log(x)


def compute(columns: np.ndarray, back: np.ndarray | None = None) -> np.ndarray:
    """Features of each [W, INPUTS] window at its row `back` snapshots before the last (default: the last):
    [B, len(FEATURES)] in FEATURES order. Exact for back <= EXTRA when the window holds WINDOW + EXTRA rows."""
    with np.errstate(divide="ignore", invalid="ignore"):
        values = define(ArrayPrimitives(columns))
    if back is None:
        return np.stack([values[name][:, -1] for name in FEATURES], axis=1)
    rows = columns.shape[1] - 1 - np.asarray(back, np.int64)
    pick = np.arange(len(rows))
    return np.stack([values[name][pick, rows] for name in FEATURES], axis=1)


class OnlineFeatures:
    """Every pool's rolling window of snapshot inputs and its swap flow since the latest snapshot."""

    def __init__(self, window: int = WINDOW, capacity: int = 256):
        self.window = window
        window = window + EXTRA
        self.slots: dict[str, int] = {}
        self.pool_ids: list[str] = []
        self.inputs = np.full((capacity, window, len(INPUTS)), np.nan)
        self.snapshot_ts = np.zeros((capacity, window), np.int64)  # µs since the epoch
        self.snapshots_seen = np.zeros(capacity, np.int64)
        self.flow = np.zeros((capacity, 4))  # n_buys, n_sells, buy_volume, sell_volume since the last snapshot
        self.buyers: list[set[str]] = []
        self.free: list[int] = []  # slots of released pools, reused before the arrays grow

    def slot(self, pool_id: str) -> int:
        s = self.slots.get(pool_id)
        if s is not None:
            return s
        if self.free:
            s = self.free.pop()
            self.pool_ids[s] = pool_id
        else:
            s = len(self.pool_ids)
            if s == len(self.inputs):
                self._grow()
            self.pool_ids.append(pool_id)
            self.buyers.append(set())
        self.slots[pool_id] = s
        return s

    def forget_history(self, slot: int) -> None:
        """Clear a slot's window (the pool starts afresh, as the batch's features do for a pool with no
        snapshot in the day before); the swap flow of the open interval stays."""
        self.inputs[slot] = np.nan
        self.snapshot_ts[slot] = 0
        self.snapshots_seen[slot] = 0

    def release(self, pool_id: str) -> int | None:
        """Forget a pool entirely; its slot goes to the next new pool. Returns the slot it had."""
        s = self.slots.pop(pool_id, None)
        if s is None:
            return None
        self.forget_history(s)
        self.flow[s] = 0.0
        self.buyers[s].clear()
        self.pool_ids[s] = None
        self.free.append(s)
        return s

    def _grow(self) -> None:
        n = len(self.inputs)
        self.inputs = np.concatenate([self.inputs, np.full_like(self.inputs, np.nan)])
        self.snapshot_ts = np.concatenate([self.snapshot_ts, np.zeros_like(self.snapshot_ts)])
        self.snapshots_seen = np.concatenate([self.snapshots_seen, np.zeros(n, np.int64)])
        self.flow = np.concatenate([self.flow, np.zeros((n, 4))])

    def add_swap(self, slot: int, is_buy: bool, quote_amount: float, wallet: str) -> None:
        """A swap at or before the pool's next snapshot; `quote_amount` is quote in (buy) or out (sell)."""
        flow = self.flow[slot]
        if is_buy:
            flow[0] += 1
            flow[2] += quote_amount
            self.buyers[slot].add(wallet)
        else:
            flow[1] += 1
            flow[3] += quote_amount

    def add_snapshot(self, slot: int, ts_us: int, price: float, base_reserve: float, quote_reserve: float,
                     volume_24h: float, trade_fee: float, open_us: int) -> None:
        """Close the swap interval at this snapshot and push it into the pool's window."""
        rows, times = self.inputs[slot], self.snapshot_ts[slot]
        rows[:-1] = rows[1:]
        times[:-1] = times[1:]
        flow = self.flow[slot]
        rows[-1] = (price, base_reserve, quote_reserve, volume_24h, trade_fee, (ts_us - open_us) / MICROS_PER_MIN,
                    flow[0], flow[1], flow[2], flow[3], len(self.buyers[slot]))
        times[-1] = ts_us
        self.snapshots_seen[slot] += 1
        flow[:] = 0.0
        self.buyers[slot].clear()

    @property
    def capacity(self) -> int:
        """Slots the arrays hold now (they grow as pools arrive)."""
        return len(self.inputs)

    def snapshots(self, slot: int) -> int:
        """How many snapshots the slot's pool has had since its window last started."""
        return int(self.snapshots_seen[slot])

    def last_snapshot_ts(self, slot: int) -> int:
        """The market time (µs) of the slot's latest snapshot; 0 before its first."""
        return self.snapshot_ts[slot, -1]

    def idle_pools(self, cutoff_us: int) -> list[str]:
        """The pools (in the order they took their slots) whose latest snapshot is older than `cutoff_us`."""
        seen, ts = self.snapshots_seen, self.snapshot_ts
        return [pid for pid, s in self.slots.items() if seen[s] and ts[s, -1] < cutoff_us]

    def price_path(self, slot: int, first: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the price and the quote reserve of the slot's snapshots number `first` to `first + n - 1`
        (counted as `snapshots` counts, from 1), which the window must still hold."""
        end = self.inputs.shape[1] - (int(self.snapshots_seen[slot]) - (first + n - 1))  # the row after the last
        rows = self.inputs[slot, end - n:end]
        return rows[:, _COL["price"]].copy(), rows[:, _COL["quote_reserve"]].copy()

    def features(self, slots: np.ndarray | list[int], back: np.ndarray | None = None) -> np.ndarray:
        """[len(slots), len(FEATURES)]: each slot's features at its latest snapshot, or `back[i]` snapshots
        before it (at most EXTRA)."""
        if back is not None and len(back) and int(np.max(back)) > EXTRA:
            raise ValueError(f"features reach back at most {EXTRA} snapshots, asked for {int(np.max(back))}")
        return compute(self.inputs[np.asarray(slots, np.int64)], back)


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
    sw_pool, sw_buy, sw_wallet = sw.pool_id.to_numpy(), sw.side.to_numpy() == "buy", sw.wallet.to_numpy()
    cols = {c: snaps[c].to_numpy() for c in ("pool_id", "price", "base_reserve", "quote_reserve", "volume_24h",
                                              "trade_fee")}
    ts_us = snaps.ts.to_numpy().astype("datetime64[us]").astype(np.int64)
    open_us = snaps.pool_open_time.to_numpy().astype("datetime64[us]").astype(np.int64)
    rows = []
    for order, i in zip(events.order.to_numpy(), events.i.to_numpy(), strict=True):
        if order == 0:
            engine.add_swap(engine.slot(sw_pool[i]), bool(sw_buy[i]), float(quote[i]), sw_wallet[i])
            continue
        slot = engine.slot(cols["pool_id"][i])
        engine.add_snapshot(slot, int(ts_us[i]), cols["price"][i], cols["base_reserve"][i], cols["quote_reserve"][i],
                            cols["volume_24h"][i], cols["trade_fee"][i], int(open_us[i]))
        rows.append((i, engine.features([slot])[0]))
    out = pd.DataFrame(np.array([r for _, r in rows]).reshape(len(rows), len(FEATURES)), columns=list(FEATURES))
    order = [i for i, _ in rows]
    out.insert(0, "ts", snaps.ts.to_numpy()[order])
    out.insert(0, "pool_id", cols["pool_id"][order])
    return out.sort_values(["pool_id", "ts"]).reset_index(drop=True)
