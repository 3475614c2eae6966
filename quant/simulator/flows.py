"""Order flow of each pool: retail round trips whose rate follows a clustered 'attention' process, and the
actions that make a pool's fate: pump buyers before a moon, accumulators in a climb, liquidity pulled and
dev tokens dumped in a rug, with the noisy precursors that come before (and sometimes without) a rug."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from quant.simulator.config import WorldConfig
from quant.simulator.engine import ARBITRAGE, REMOVE_LIQUIDITY, SELL_BASE
from quant.simulator.entities import CHAIN_PARAMS, TOKEN_SUPPLY
from quant.simulator.events import Events, PositionIds, actions, positions
from quant.simulator.rng import stream

MIN_S = 60
ATTENTION_PHI = np.exp(-1 / 45)  # attention remembers ~45 minutes: volatility clusters over hours
ATTENTION_SD = 0.8


def _attention(rng: np.random.Generator, n: int, sd: float) -> np.ndarray:
    eps = rng.normal(0.0, sd * np.sqrt(1 - ATTENTION_PHI**2), n)
    eps[0] = rng.normal(0.0, sd)
    return lfilter([1.0], [1.0, -ATTENTION_PHI], eps)


def pool_flow(cfg: WorldConfig, pool: pd.Series, pool_idx: int, end_ts: int, retail: np.ndarray,
              retail_p: np.ndarray, linked_insiders: np.ndarray, arbitrageurs: np.ndarray,
              cex_target: np.ndarray | None, ids: PositionIds) -> Events:
    """Every retail and fate-driven action in one pool over its life, cut at the window's end.

    A new pool's whole life is drawn from its own stream and then cut, and an established pool draws day by
    day, so a longer window leaves every earlier event as it was."""
    if pool.established:
        t0 = end_ts - cfg.days * 86_400
        ev = Events.concat([
            _pool_day_or_life(cfg, pool, pool_idx, t0 + d * 86_400, t0 + (d + 1) * 86_400,
                              stream(cfg.seed, "flow-" + pool.chain, 1, pool.k, d), retail, retail_p,
                              linked_insiders, arbitrageurs,
                              None if cex_target is None else cex_target[d * 1440:(d + 1) * 1440], ids)
            for d in range(cfg.days)
        ])
    else:
        rng = stream(cfg.seed, "flow-" + pool.chain, 0, pool.day, pool.k)
        ev = _pool_day_or_life(cfg, pool, pool_idx, int(pool.open_ts), int(pool.close_ts), rng, retail,
                               retail_p, linked_insiders, arbitrageurs, None, ids)
    return ev.take(np.flatnonzero(ev.ts < end_ts))


def _pool_day_or_life(cfg, pool, pool_idx, t_open, t_close, rng, retail, retail_p, linked_insiders,
                      arbitrageurs, cex_target, ids) -> Events:
    params = CHAIN_PARAMS[pool.chain]
    n_min = max((t_close - t_open) // MIN_S, 1)
    shift = cfg.regime_shift
    vol = shift.volatility_mult if shift is not None and pool.day >= shift.day else 1.0
    age = np.arange(n_min, dtype=np.float64)
    minute_ts = t_open + age.astype(np.int64) * MIN_S
    if pool.established:
        decay = np.ones(n_min)
    else:
        decay = 0.25 + 0.75 * np.exp(-age / 180.0)
        if pool.fate == "slow_death":
            decay *= np.exp(-age / 300.0)
        if pool.fate == "rug":  # nobody new buys a pool whose liquidity is gone
            decay = np.where(minute_ts >= pool.rug_ts, 0.0, decay)
    h = _attention(rng, n_min, ATTENTION_SD * vol)
    lam = cfg.retail_entries_per_min * pool.activity * decay * np.exp(h - (ATTENTION_SD * vol) ** 2 / 2)
    counts = rng.poisson(lam)
    n = int(counts.sum())
    t_in = np.repeat(minute_ts, counts) + rng.integers(0, MIN_S, n)
    size = rng.lognormal(np.log(params["trade"]), 1.3, n)
    hold = rng.lognormal(np.log(15 * MIN_S), 1.2, n).astype(np.int64)
    t_out = t_in + hold
    if pool.fate == "rug":
        holding = (t_in < pool.rug_ts) & (t_out > pool.rug_ts)
        panic = holding & (rng.random(n) < 0.5)
        t_out = np.where(panic, pool.rug_ts + rng.integers(30, 600, n), t_out)
    t_out = np.where(t_out < pool.close_ts, t_out, -1)  # still holding when the pool is last seen
    wallet = rng.choice(retail, size=n, p=retail_p)
    parts = [positions(ids, np.full(n, pool_idx), wallet, t_in, t_out, size)]

    q0 = float(pool.quote0)
    if pool.fate == "moon":
        # Net quote inflow that lifts a constant-product price M-fold is q0 * (sqrt(M) - 1).
        need = q0 * (np.sqrt(pool.peak_mult) - 1)
        size_m = params["trade"] * 2
        k = max(int(need / (size_m * np.exp(0.5**2 / 2))), 1)
        span = pool.peak_ts - t_open
        t_b = t_open + (span * rng.beta(3.0, 1.0, k)).astype(np.int64)
        t_s = pool.peak_ts + rng.exponential(90 * MIN_S, k).astype(np.int64)
        parts.append(positions(ids, np.full(k, pool_idx), rng.choice(retail, k, p=retail_p), t_b,
                               np.where(t_s < pool.close_ts, t_s, -1), rng.lognormal(np.log(size_m), 0.5, k)))
    elif pool.fate == "climb":
        need = q0 * (np.sqrt(rng.uniform(1.5, 3.0)) - 1)
        k = max(int(need / params["trade"]), 1)
        t_b = rng.integers(t_open, max(t_close, t_open + 1), k)
        parts.append(positions(ids, np.full(k, pool_idx), rng.choice(retail, k, p=retail_p), t_b,
                               np.full(k, -1), rng.exponential(params["trade"], k)))

    if not pool.established:
        parts.append(_liquidity_and_dev(pool, pool_idx, t_open, t_close, rng, linked_insiders))
    elif cex_target is not None:
        t_arb = t_open + np.cumsum(rng.integers(60, 300, n_min // 2))
        t_arb = t_arb[t_arb < t_close]
        minute = np.clip((t_arb - t_open) // MIN_S, 0, len(cex_target) - 1)
        parts.append(actions(ARBITRAGE, np.full(len(t_arb), pool_idx), rng.choice(arbitrageurs, len(t_arb)),
                             t_arb, rng.uniform(0.5, 0.9, len(t_arb)), cex_target[minute]))
    return Events.concat(parts)


def _liquidity_and_dev(pool, pool_idx, t_open, t_close, rng, linked) -> Events:
    """Liquidity withdrawals and dev-allocation sales: the rug itself, its precursors, and false alarms."""
    dev_alloc = TOKEN_SUPPLY * (1 - pool.pool_share)
    creator = pool.creator
    helper = int(rng.choice(linked)) if len(linked) else creator
    parts = []
    if pool.fate == "rug":
        rug = int(pool.rug_ts)
        if rng.random() < 0.6:  # a small withdrawal before the rug: a precursor, not a certainty
            parts.append(actions(REMOVE_LIQUIDITY, pool_idx, creator, rug - rng.integers(20, 120) * MIN_S,
                                 rng.uniform(0.05, 0.15)))
        presold = 0.0
        if rng.random() < 0.5:  # insiders start selling first
            presold = rng.uniform(0.1, 0.3)
            parts.append(actions(SELL_BASE, pool_idx, helper, rug - rng.integers(10, 90) * MIN_S,
                                 dev_alloc * presold))
        if pool.soft_rug:  # Solidus: creators often withdraw gradually
            k = int(rng.integers(3, 7))
            t = rug - np.sort(rng.integers(0, 150, k))[::-1] * MIN_S
            parts.append(actions(REMOVE_LIQUIDITY, np.full(k, pool_idx), creator, t, rng.uniform(0.1, 0.25, k)))
            parts.append(actions(REMOVE_LIQUIDITY, pool_idx, creator, rug + 1, rng.uniform(0.9, 0.99)))
        else:
            parts.append(actions(REMOVE_LIQUIDITY, pool_idx, creator, rug, rng.uniform(0.9, 0.99)))
        parts.append(actions(SELL_BASE, pool_idx, creator, rug + rng.integers(2, 120),
                             dev_alloc * (1 - presold)))
    else:
        if rng.random() < 0.15:  # false alarm: a withdrawal in a pool that is not rugging
            parts.append(actions(REMOVE_LIQUIDITY, pool_idx, creator, rng.integers(t_open, t_close),
                                 rng.uniform(0.05, 0.15)))
        if rng.random() < 0.10:
            parts.append(actions(SELL_BASE, pool_idx, creator, rng.integers(t_open, t_close),
                                 dev_alloc * rng.uniform(0.05, 0.1)))
        if pool.fate == "slow_death":  # the soft rug: the team bleeds its allocation into the pool
            mid = t_open + (t_close - t_open) // 2
            if rng.random() < 0.7:
                parts.append(actions(REMOVE_LIQUIDITY, pool_idx, creator, rng.integers(t_open, mid),
                                     rng.uniform(0.3, 0.6)))
            k = int(rng.integers(5, 16))
            parts.append(actions(SELL_BASE, np.full(k, pool_idx), creator, rng.integers(mid, t_close, k),
                                 dev_alloc * rng.dirichlet(np.ones(k)) * rng.uniform(0.7, 1.0)))
    ev = Events.concat(parts)
    keep = (ev.ts >= t_open) & (ev.ts < t_close)
    return ev.take(np.flatnonzero(keep))
