"""The events of the stream, one definition: a swap and a pool snapshot, each a NamedTuple (a tuple, so fast to
build and to sort), the market time first and the kind second, so that events sort by (ts_us, kind) and at
equal times a swap sorts before a snapshot, as the snapshot already shows it.

Every producer builds them here (`table_events`); consumers read them by name.
"""

from __future__ import annotations

import functools
import operator
from typing import NamedTuple

import numpy as np
import pandas as pd

SWAP, SNAPSHOT = 0, 1


class Swap(NamedTuple):
    ts_us: int
    kind: int  # SWAP
    id: str
    pool_id: str
    is_buy: bool
    quote_amount: float  # quote in (a buy) or out (a sell)
    wallet: str
    base_after: float  # the pool's reserves after the swap
    quote_after: float


class Snapshot(NamedTuple):
    ts_us: int
    kind: int  # SNAPSHOT
    id: str
    pool_id: str
    price: float
    base_reserve: float
    quote_reserve: float
    volume_24h: float
    trade_fee: float
    open_us: int
    quote_symbol: str
    chain: str
    base_decimals: int
    quote_decimals: int


Event = Swap | Snapshot
ORDER = operator.itemgetter(0, 1)  # the sort key: market time, then a swap before the snapshot at that time
TIME = operator.itemgetter(0)
# From rows already in field order, without the per-row Python of a NamedTuple's own constructor.
_swap = functools.partial(tuple.__new__, Swap)
_snapshot = functools.partial(tuple.__new__, Snapshot)


def _micros(values) -> np.ndarray:
    return np.asarray(values).astype("datetime64[us]").astype(np.int64)


def table_events(snapshots: pd.DataFrame, swaps: pd.DataFrame) -> list[Event]:
    """Swaps and snapshots as events, in market-time order."""
    is_buy = swaps.side.to_numpy() == "buy"
    quote = np.where(is_buy, swaps.amount_in.to_numpy(), swaps.amount_out.to_numpy())
    base_after = swaps.reserve_base_before.to_numpy() + np.where(is_buy, -swaps.amount_out.to_numpy(),
                                                                  swaps.amount_in.to_numpy())
    quote_after = swaps.reserve_quote_before.to_numpy() + np.where(is_buy, swaps.amount_in.to_numpy(),
                                                                    -swaps.amount_out.to_numpy())
    swap_events = list(map(_swap, zip(_micros(swaps.ts).tolist(), [SWAP] * len(swaps), swaps.tx_id.tolist(),
                                      swaps.pool_id.tolist(), is_buy.tolist(), quote.tolist(), swaps.wallet.tolist(),
                                      base_after.tolist(), quote_after.tolist(), strict=True)))
    s = snapshots
    ts = _micros(s.ts)
    ids = (s.pool_id + "@" + pd.Series(ts, index=s.index).astype(str)).tolist()
    snap_events = list(map(_snapshot, zip(ts.tolist(), [SNAPSHOT] * len(s), ids, s.pool_id.tolist(),
                                          s.price.tolist(), s.base_reserve.tolist(), s.quote_reserve.tolist(),
                                          s.volume_24h.tolist(), s.trade_fee.tolist(),
                                          _micros(s.pool_open_time).tolist(), s.quote_symbol.tolist(),
                                          s.chain.tolist(), s.base_decimals.tolist(), s.quote_decimals.tolist(),
                                          strict=True)))
    events = swap_events + snap_events
    events.sort(key=ORDER)
    return events
