"""First-in first-out pairing of each wallet's buys and sells in each pool, vectorised.

Walk S = buys - sells so far within a (wallet, pool) group. A sell is unmatched (nothing open: a creator's
dump, or a position opened before the window) exactly when it takes S below min(0, every earlier S); the
reflected walk is then at zero. Otherwise it closes the k-th buy of its group, where
k = sells so far + min(0, the running minimum of S before it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quant.wallets import segments


@dataclass
class Pairing:
    buy_row: np.ndarray  # per round trip: the row of its opening buy
    sell_row: np.ndarray  # per round trip: the row of its closing sell
    exit_of_row: np.ndarray  # per row: for a buy, its closing sell's row, else -1


def pair_fifo(group_new: np.ndarray, is_buy: np.ndarray) -> Pairing:
    """Rows sorted by (wallet, pool, time); `group_new` marks each (wallet, pool) group's first row.
    Counts stay in int32 (groups hold fewer than 2**31 rows) and temporaries are dropped early: at ten
    million rows each int64 temporary costs 80 MB."""
    n = len(is_buy)
    start = segments.first_row(group_new)
    s_now = segments.cumsum(np.where(is_buy, 1, -1).astype(np.int32), group_new, start)
    before = np.zeros(n, np.int32)
    if n:
        before[1:] = segments.cummin_int(s_now, group_new)[:-1]
    before[group_new] = 0
    low = np.minimum(before, 0)
    del before
    matched_sell = ~is_buy & (s_now >= low)
    del s_now
    sell_row = np.flatnonzero(matched_sell)
    del matched_sell
    sells_so_far = segments.cumsum((~is_buy).astype(np.int32), group_new, start)
    k = sells_so_far[sell_row] + low[sell_row]  # this sell closes the k-th buy of its group
    del sells_so_far, low
    # The k-th buy of a group is buy number (buys before the group + k) overall.
    buys_through = np.cumsum(is_buy, dtype=np.int64)
    buys_before_group = buys_through[start[sell_row]] - is_buy[start[sell_row]]
    del buys_through, start
    buy_row = np.flatnonzero(is_buy)[buys_before_group + k - 1]
    exit_of_row = np.full(n, -1, np.int32 if n < 2**31 else np.int64)
    exit_of_row[buy_row] = sell_row
    return Pairing(buy_row=buy_row, sell_row=sell_row, exit_of_row=exit_of_row)
