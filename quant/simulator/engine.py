"""Executes a market's events through the exact AMM, pool by pool in time order, vectorised across pools.

A pool's reserves after one swap are the input of the next, so execution is sequential within a pool.
Events are processed in rounds: round r applies the r-th event of every pool at once, so the Python loop
runs (events of the busiest pool) times, each step a handful of numpy operations over all pools.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quant.market.amm import (
    RAYDIUM_V4,
    FeeModel,
    amount_out_vec,
    deposit,
    fee_vec,
    initial_liquidity,
    raydium_v4_amount_out_int64,
    withdraw,
)

BUY, SELL_REF, SELL_BASE, REMOVE_LIQUIDITY, ARBITRAGE, SELL_VALUE, SELL_DOWN_TO, ADD_LIQUIDITY, WITHDRAW = range(9)
N_KINDS = 9
PPM = 1_000_000
# Rows of `execute`'s `held`: the creator group's tokens outside the pool, and everyone else's (early holders,
# outside liquidity providers).
GROUP, HOLDERS = 0, 1


def _ppm_of(x: np.ndarray, ppm: np.ndarray) -> np.ndarray:
    """floor(x * ppm / 1e6) exactly, without the int64 overflow of x * ppm."""
    return (x // PPM) * ppm + (x % PPM) * ppm // PPM


@dataclass
class Executed:
    """Per event: which side traded (0 buy, 1 sell, -1 none), the raw amounts and reserves around it, and the LP
    tokens a liquidity event minted or burnt."""

    side: np.ndarray
    amount_in: np.ndarray
    amount_out: np.ndarray
    fee: np.ndarray
    base_before: np.ndarray
    quote_before: np.ndarray
    base_after: np.ndarray
    quote_after: np.ndarray
    lp: np.ndarray


def execute(pool: np.ndarray, kind: np.ndarray, qty: np.ndarray, ref: np.ndarray, target: np.ndarray,
            base0: np.ndarray, quote0: np.ndarray, venue: FeeModel, held: np.ndarray | None = None,
            base_decimals: int = 6, walk_away: np.ndarray | None = None) -> Executed:
    """Run events (already sorted by pool, then time) against pools starting at reserves (base0, quote0).

    qty means: BUY quote in (at most what lifts the price to `target` times, where that is set); SELL_BASE base in; SELL_VALUE the base worth this much quote at the pool's price, if
    that price is at least `target`; the rest a fraction in ppm: SELL_REF of the referenced buy's output (if the price is at least
    `target` times the buy's fill, where that is set; once per buy),
    ARBITRAGE (SELL_DOWN_TO: its selling half) of the price gap to `target`, ADD_LIQUIDITY of the quote reserve
    (deposited with its base at the pool's ratio), REMOVE_LIQUIDITY of the LP tokens the creator still holds,
    WITHDRAW of the LP tokens the referenced ADD_LIQUIDITY minted. Each pool starts with the LP supply its venue
    mints at creation, all of it the creator's but the locked part (`quant.market.amm.initial_liquidity`).
    `ref` is the index of the referenced BUY or ADD_LIQUIDITY (earlier in the same pool) or -1. `held` (raw
    base, one row per owner, one column per pool) is what they own outside the pool at its creation: the creator
    group (row GROUP), whose SELL_BASE and SELL_DOWN_TO orders draw it down and whose REMOVE_LIQUIDITY refills it,
    and everyone else (row HOLDERS), whose SELL_VALUE orders and deposits draw it down and whose WITHDRAWs refill
    it; a sale or a deposit stops at what its owner has. `walk_away` (per event, BUY only, NaN: none): the buyer
    does not buy while the price is that fraction or more below the pool's high so far (a chart anyone sees).
    int64 reserves must stay below 2**53; object (Python int) reserves are exact at any size.
    """
    n = len(pool)
    dtype = base0.dtype
    python_ints = dtype == np.dtype(object)
    rb, rq = base0.copy(), quote0.copy()
    stock = None if held is None else held.copy()
    zeros = np.array([0] * n, dtype=object) if python_ints else np.zeros(n, dtype=dtype)
    out = Executed(np.full(n, -1, np.int8), *(zeros.copy() for _ in range(8)))
    closed = np.zeros(n, bool)  # per BUY: its position has sold
    if walk_away is not None:  # per pool: its highest price so far
        high = quote0.astype(np.float64) / np.maximum(base0.astype(np.float64), 1.0)
    if n == 0:
        return out
    # LP supply and the creator's LP per pool, as Python ints: their products with reserves overflow int64.
    lp_supply, creator_lp = {}, {}
    for i in np.unique(np.asarray(pool)[np.isin(kind, (REMOVE_LIQUIDITY, ADD_LIQUIDITY, WITHDRAW))]):
        lp_supply[i], creator_lp[i] = initial_liquidity(venue, int(base0[i]), int(quote0[i]), base_decimals)
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
        present = np.bincount(k, minlength=N_KINDS)
        price = q.astype(np.float64) / b.astype(np.float64)  # what every order of this round sees

        if present[BUY]:
            m = k == BUY
            a[m], side[m] = qty[idx[m]], 0
            # A buyer's price-impact limit (`target`, the price multiple it accepts; NaN: none) caps its size:
            # on x*y=k, quote a in lifts the price by (1 + a/q)**2.
            capped = m & np.isfinite(target[idx])
            if capped.any():
                cap = q[capped].astype(np.float64) * (np.sqrt(target[idx[capped]]) - 1)
                a[capped] = _at_most(a[capped], cap if python_ints else cap.astype(np.int64), python_ints)
            if walk_away is not None:
                dd = 1.0 - price[m] / high[p[m]]
                a[m] = np.where(dd >= walk_away[idx[m]], 0, a[m])  # NaN compares False: no limit
        if present[SELL_BASE]:
            m = k == SELL_BASE
            a[m], side[m] = qty[idx[m]], 1
        if present[SELL_VALUE]:
            m = k == SELL_VALUE
            # The order's size only (the fill below is the exact AMM's), at most the pool's own base reserve: in
            # a drained pool no seller's stock is worth the quote asked.
            a[m] = (np.array([min(v * bb // qq, bb) for v, bb, qq in zip(qty[idx[m]], b[m], q[m], strict=True)],
                             dtype=object)
                    if python_ints else np.minimum(qty[idx[m]] * (b[m] / q[m]), b[m]).astype(np.int64))
            # A limit: no sale below the seller's price (`target`, raw quote per raw base).
            a[m] = np.where(price[m] >= target[idx[m]], a[m], 0)
            side[m] = 1
        if present[SELL_REF]:
            m = k == SELL_REF
            held_by = ref[idx[m]]
            bought = out.amount_out[held_by]
            a[m] = _ppm_of(bought, qty[idx[m]])
            # A take-profit (`target`: a multiple of the buy's fill price; NaN: none) sells only at or above it,
            # and a position that has sold sells nothing more.
            tp = target[idx[m]]
            fill = out.amount_in[held_by].astype(np.float64) / np.maximum(bought.astype(np.float64), 1.0)
            a[m] = np.where(~closed[held_by] & (np.isnan(tp) | (price[m] >= tp * fill)), a[m], 0)
            side[m] = 1
        if present[ARBITRAGE] or present[SELL_DOWN_TO]:
            m = (k == ARBITRAGE) | (k == SELL_DOWN_TO)
            bf, qf = b[m].astype(np.float64), q[m].astype(np.float64)
            tgt, g = target[idx[m]], qty[idx[m]].astype(np.float64) / PPM
            up, down = tgt > price[m] * (1 + 2 * fee_frac), tgt < price[m] * (1 - 2 * fee_frac)
            up &= k[m] == ARBITRAGE  # SELL_DOWN_TO only sells, and only above its price
            amt = np.zeros(len(bf))
            # Size that moves the price a fraction g of the way to the target on x*y=k (the fill is exact).
            amt[up] = g[up] * (np.sqrt(bf[up] * qf[up] * tgt[up]) - qf[up])
            amt[down] = g[down] * (np.sqrt(bf[down] * qf[down] / tgt[down]) - bf[down])
            # EVM raw amounts pass int64 (18 decimals): those become Python ints.
            a[m] = np.array([int(x) for x in amt], dtype=object) if python_ints else amt.astype(np.int64)
            side[m] = np.where(up, 0, np.where(down, 1, -1))
        if present[REMOVE_LIQUIDITY] or present[ADD_LIQUIDITY] or present[WITHDRAW]:
            for j in np.flatnonzero((k == REMOVE_LIQUIDITY) | (k == ADD_LIQUIDITY) | (k == WITHDRAW)):
                b[j], q[j], out.lp[idx[j]] = _liquidity(int(k[j]), int(p[j]), int(qty[idx[j]]), int(b[j]), int(q[j]),
                                                        int(out.lp[ref[idx[j]]]) if ref[idx[j]] >= 0 else 0,
                                                        venue, lp_supply, creator_lp, stock)

        # Nobody sells tokens they do not have: a creator's or holder's sales stop when its stock is sold,
        # however long buyers keep coming (retail sells only what it bought: SELL_REF).
        if held is not None:
            for owner, own in ((GROUP, (k == SELL_BASE) | (k == SELL_DOWN_TO)), (HOLDERS, k == SELL_VALUE)):
                own &= side == 1
                if own.any():
                    has = stock[owner, p[own]]
                    a[own] = _at_most(a[own], has, python_ints)
                    stock[owner, p[own]] = has - a[own]
        trade = (side >= 0) & (a > 0)
        side[~trade] = -1
        closed[ref[idx[trade & (k == SELL_REF)]]] = True
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
        if walk_away is not None:
            high[p] = np.maximum(high[p], q.astype(np.float64) / np.maximum(b.astype(np.float64), 1.0))
    return out


def _at_most(a: np.ndarray, limit: np.ndarray, python_ints: bool) -> np.ndarray:
    """Element-wise min(a, limit), exact on Python-int (object) arrays."""
    if python_ints:
        return np.array([min(x, int(y)) for x, y in zip(a, limit, strict=True)], dtype=object)
    return np.minimum(a, limit)


def _liquidity(kind: int, pool: int, ppm: int, b: int, q: int, lp_of_ref: int, venue: FeeModel,
               lp_supply: dict, creator_lp: dict, stock: np.ndarray | None) -> tuple[int, int, int]:
    """Reserves after one liquidity event and the LP it minted or burnt, updating the pool's LP books and the
    tokens held outside the pool (a deposit's base comes from them, a withdrawal's goes back)."""
    supply = lp_supply[pool]
    if kind == ADD_LIQUIDITY:
        quote_in = q * ppm // PPM
        base_in, minted = deposit(venue, quote_in, b, q, supply)
        if stock is not None and base_in > stock[HOLDERS, pool]:  # a provider deposits only the tokens it has
            quote_in = quote_in * int(stock[HOLDERS, pool]) // base_in
            base_in, minted = deposit(venue, quote_in, b, q, supply)
        if minted == 0 or base_in == 0:
            return b, q, 0
        lp_supply[pool] = supply + minted
        if stock is not None:
            stock[HOLDERS, pool] -= base_in
        return b + base_in, q + quote_in, minted
    held = creator_lp[pool] if kind == REMOVE_LIQUIDITY else lp_of_ref
    burnt = held * ppm // PPM
    if kind == REMOVE_LIQUIDITY:
        creator_lp[pool] -= burnt
    base_out, quote_out = withdraw(burnt, b, q, supply)
    lp_supply[pool] = supply - burnt
    if stock is not None:
        stock[GROUP if kind == REMOVE_LIQUIDITY else HOLDERS, pool] += base_out
    return b - base_out, q - quote_out, burnt
