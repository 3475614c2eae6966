"""Executes a market's events through the exact AMM, pool by pool in time order, vectorised across pools.

A pool's reserves after one swap are the input of the next, so execution is sequential within a pool.
Events are processed in rounds: round r applies the r-th event of every pool at once, so the Python loop
runs (events of the busiest pool) times, each step a handful of numpy operations over all pools.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quant.market.amm import RAYDIUM_V4, FeeModel, amount_out_vec, fee_vec, raydium_v4_amount_out_int64

BUY, SELL_REF, SELL_BASE, REMOVE_LIQUIDITY, ARBITRAGE = 0, 1, 2, 3, 4
PPM = 1_000_000


def _ppm_of(x: np.ndarray, ppm: np.ndarray) -> np.ndarray:
    """floor(x * ppm / 1e6) exactly, without the int64 overflow of x * ppm."""
    return (x // PPM) * ppm + (x % PPM) * ppm // PPM


@dataclass
class Executed:
    """Per event: which side traded (0 buy, 1 sell, -1 none) and the raw amounts and reserves around it."""

    side: np.ndarray
    amount_in: np.ndarray
    amount_out: np.ndarray
    fee: np.ndarray
    base_before: np.ndarray
    quote_before: np.ndarray
    base_after: np.ndarray
    quote_after: np.ndarray


def execute(pool: np.ndarray, kind: np.ndarray, qty: np.ndarray, ref: np.ndarray, target: np.ndarray,
            base0: np.ndarray, quote0: np.ndarray, venue: FeeModel) -> Executed:
    """Run events (already sorted by pool, then time) against pools starting at reserves (base0, quote0).

    qty means: BUY quote in; SELL_BASE base in; SELL_REF and REMOVE_LIQUIDITY and ARBITRAGE a fraction in
    ppm (of the referenced buy's output, of the reserves, of the gap to `target`). `ref` is the index of the
    referenced BUY (earlier in the same pool) or -1. int64 reserves must stay below 2**53; object (Python
    int) reserves are exact at any size.
    """
    n = len(pool)
    dtype = base0.dtype
    python_ints = dtype == np.dtype(object)
    rb, rq = base0.copy(), quote0.copy()
    zeros = np.array([0] * n, dtype=object) if python_ints else np.zeros(n, dtype=dtype)
    out = Executed(np.full(n, -1, np.int8), zeros.copy(), zeros.copy(), zeros.copy(),
                   zeros.copy(), zeros.copy(), zeros.copy(), zeros.copy())
    if n == 0:
        return out
    starts = np.r_[0, np.flatnonzero(np.diff(pool)) + 1]
    rank = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    order = np.argsort(rank, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(rank))]
    fee_frac = venue.fee_fraction
    exact_int64 = dtype == np.int64 and venue is RAYDIUM_V4
    if exact_int64 and max(base0.max(), quote0.max(), qty.max(initial=0)) >= 2**50:
        raise OverflowError("int64 simulation needs reserves and amounts below 2**50 (exact AMM range 2**53)")
    for r in range(len(bounds) - 1):
        idx = order[bounds[r]:bounds[r + 1]]
        p = pool[idx]
        b, q, k = rb[p], rq[p], kind[idx]
        out.base_before[idx], out.quote_before[idx] = b, q
        a = zeros[: len(idx)].copy()
        side = np.full(len(idx), -1, np.int8)
        present = np.bincount(k, minlength=5)

        if present[BUY]:
            m = k == BUY
            a[m], side[m] = qty[idx[m]], 0
        if present[SELL_BASE]:
            m = k == SELL_BASE
            a[m], side[m] = qty[idx[m]], 1
        if present[SELL_REF]:
            m = k == SELL_REF
            bought = out.amount_out[ref[idx[m]]]
            a[m] = _ppm_of(bought, qty[idx[m]])
            side[m] = 1
        if present[ARBITRAGE]:
            m = k == ARBITRAGE
            bf, qf = b[m].astype(np.float64), q[m].astype(np.float64)
            tgt, g = target[idx[m]], qty[idx[m]].astype(np.float64) / PPM
            price = qf / bf
            up, down = tgt > price * (1 + 2 * fee_frac), tgt < price * (1 - 2 * fee_frac)
            amt = np.zeros(len(bf))
            # Size that moves the price a fraction g of the way to the target on x*y=k (the fill is exact).
            amt[up] = g[up] * (np.sqrt(bf[up] * qf[up] * tgt[up]) - qf[up])
            amt[down] = g[down] * (np.sqrt(bf[down] * qf[down] / tgt[down]) - bf[down])
            # EVM raw amounts pass int64 (18 decimals): those become Python ints.
            a[m] = np.array([int(x) for x in amt], dtype=object) if python_ints else amt.astype(np.int64)
            side[m] = np.where(up, 0, np.where(down, 1, -1))
        if present[REMOVE_LIQUIDITY]:
            m = k == REMOVE_LIQUIDITY
            frac = qty[idx[m]]
            new_b = np.maximum(b[m] - _ppm_of(b[m], frac), 1)
            new_q = np.maximum(q[m] - _ppm_of(q[m], frac), 1)
            b[m], q[m] = new_b, new_q

        trade = (side >= 0) & (a > 0)
        side[~trade] = -1
        if trade.any():
            buys, sells = trade & (side == 0), trade & (side == 1)
            r_in = np.where(buys, q, b)
            r_out = np.where(buys, b, q)
            got = zeros[: len(idx)].copy()
            t_a, t_in, t_out = a[trade], r_in[trade], r_out[trade]
            got[trade] = (raydium_v4_amount_out_int64(t_a, t_in, t_out) if exact_int64
                          else amount_out_vec(venue, t_a, t_in, t_out))
            out.fee[idx[trade]] = fee_vec(venue, t_a)
            out.amount_in[idx], out.amount_out[idx] = a, got
            b = np.where(buys, b - got, np.where(sells, b + a, b))
            q = np.where(buys, q + a, np.where(sells, q - got, q))
        out.side[idx] = side
        out.base_after[idx], out.quote_after[idx] = b, q
        rb[p], rq[p] = b, q
    return out
