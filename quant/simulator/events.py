"""The event table every part of the simulator writes into: a columnar batch of planned market actions."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from quant.simulator.engine import (
    ADD_LIQUIDITY,
    ARBITRAGE,
    BUY,
    REMOVE_LIQUIDITY,
    SELL_BASE,
    SELL_DOWN_TO,
    SELL_REF,
    SELL_VALUE,
    WITHDRAW,
)


@dataclass
class Events:
    """Planned actions. `amount` is in whole tokens (quote for BUY and SELL_VALUE, base for SELL_BASE) or a fraction in
    [0, 1] (SELL_REF of the referenced buy, ARBITRAGE of the price gap, ADD_LIQUIDITY of the quote reserve,
    REMOVE_LIQUIDITY of the creator's LP, WITHDRAW of the referenced deposit's LP). `ref` points at a BUY or an
    ADD_LIQUIDITY by its position id; `pos_id` is -1 for events that open no position. `walk_away` (BUY only; NaN:
    none) is the buyer's limit on the chart: no buy while the price is that fraction or more below the pool's high."""

    pool: np.ndarray
    ts: np.ndarray
    kind: np.ndarray
    wallet: np.ndarray
    amount: np.ndarray
    pos_id: np.ndarray
    ref: np.ndarray
    target: np.ndarray
    walk_away: np.ndarray

    @staticmethod
    def empty() -> Events:
        return Events(*(np.empty(0, d) for d in (np.int32, np.int64, np.int8, np.int32, np.float64,
                                                    np.int64, np.int64, np.float64, np.float32)))

    @staticmethod
    def concat(parts: list[Events]) -> Events:
        parts = [p for p in parts if len(p.pool)]
        if not parts:
            return Events.empty()
        return Events(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Events)))

    def take(self, idx: np.ndarray) -> Events:
        return Events(*(getattr(self, f.name)[idx] for f in fields(Events)))

    def __len__(self) -> int:
        return len(self.pool)


class PositionIds:
    """Hands out position ids that are unique within one simulated world."""

    def __init__(self) -> None:
        self.next = 0

    def take(self, n: int) -> np.ndarray:
        ids = np.arange(self.next, self.next + n, dtype=np.int64)
        self.next += n
        return ids


def positions(ids: PositionIds, pool, wallet, t_in, t_out, size_quote, sell_frac=1.0, max_impact=None,
              take_profit=None, t_check=None, walk_away=None) -> Events:
    """Round trips: a BUY of `size_quote` at t_in and, where t_out >= 0, a sale of `sell_frac` of what it got.
    `max_impact` (a fraction per buy) caps a buy at what lifts the price that much. At each of a position's times
    in `t_check` (one per position, or a row of them; -1: none) the holder looks at the price and sells everything
    if it is at least `take_profit` times its fill price (a position sells once: its later checks and exit then
    sell nothing). `walk_away`: see `Events`."""
    pool, wallet = np.asarray(pool, np.int32), np.asarray(wallet, np.int32)
    t_in, t_out = np.asarray(t_in, np.int64), np.asarray(t_out, np.int64)
    n = len(pool)
    pid = ids.take(n)
    sell_frac = np.broadcast_to(np.asarray(sell_frac, np.float64), (n,))
    exits = t_out >= 0
    t_out = np.where(exits, np.maximum(t_out, t_in + 1), -1)
    t_check = (np.full((n, 0), -1, np.int64) if t_check is None or n == 0
               else np.asarray(t_check, np.int64).reshape(n, -1))
    checks = t_check >= 0
    of_check = np.nonzero(checks)[0]  # the position of each check, row-major: a position's checks stay together
    t_check = np.maximum(t_check[checks], t_in[of_check] + 1)
    m, c = int(exits.sum()), len(of_check)
    limits = np.full(n + m + c, np.nan)
    if max_impact is not None:
        limits[:n] = 1.0 + np.broadcast_to(max_impact, (n,))
    if c:
        limits[n + m:] = np.broadcast_to(take_profit, (n,))[of_check]
    chart = np.full(n + m + c, np.nan, np.float32)
    if walk_away is not None:
        chart[:n] = np.broadcast_to(walk_away, (n,))
    return Events(
        pool=np.r_[pool, pool[exits], pool[of_check]], ts=np.r_[t_in, t_out[exits], t_check],
        kind=np.r_[np.full(n, BUY, np.int8), np.full(m + c, SELL_REF, np.int8)],
        wallet=np.r_[wallet, wallet[exits], wallet[of_check]],
        amount=np.r_[np.asarray(size_quote, np.float64), sell_frac[exits], np.ones(c)],
        pos_id=np.r_[pid, np.full(m + c, -1, np.int64)], ref=np.r_[np.full(n, -1, np.int64), pid[exits], pid[of_check]],
        target=limits, walk_away=chart,
    )


def liquidity_positions(ids: PositionIds, pool, wallet, t_add, t_withdraw, share, withdraw_frac=1.0) -> Events:
    """Deposits of `share` of the quote reserve (with base at the pool's ratio) at t_add and, where t_withdraw >= 0,
    the burning of `withdraw_frac` of the LP each minted."""
    ev = positions(ids, pool, wallet, t_add, t_withdraw, share, withdraw_frac)
    ev.kind = np.where(ev.kind == BUY, ADD_LIQUIDITY, WITHDRAW).astype(np.int8)
    return ev


def actions(kind: int, pool, wallet, ts, amount, target=None) -> Events:
    """Single actions that are not round trips: dev sales, liquidity removals, arbitrage trades."""
    pool = np.atleast_1d(np.asarray(pool, np.int32))
    n = len(pool)
    return Events(
        pool=pool, ts=np.broadcast_to(np.asarray(ts, np.int64), (n,)).copy(),
        kind=np.full(n, kind, np.int8), wallet=np.broadcast_to(np.asarray(wallet, np.int32), (n,)).copy(),
        amount=np.broadcast_to(np.asarray(amount, np.float64), (n,)).copy(),
        pos_id=np.full(n, -1, np.int64), ref=np.full(n, -1, np.int64),
        target=np.full(n, np.nan) if target is None else np.asarray(target, np.float64),
        walk_away=np.full(n, np.nan, np.float32),
    )


__all__ = ["Events", "PositionIds", "positions", "liquidity_positions", "actions", "BUY", "SELL_REF", "SELL_BASE",
           "REMOVE_LIQUIDITY", "ARBITRAGE", "SELL_VALUE", "SELL_DOWN_TO", "ADD_LIQUIDITY", "WITHDRAW"]
