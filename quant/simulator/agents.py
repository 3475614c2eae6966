"""What each wallet archetype does, as planned round trips. Each archetype leaves the trace that a scanner
is meant to find: smart money's informed early entries and exits before rugs, market makers' short holds,
generalists' spread over categories, copiers trailing viral wallets, snipers at launch, wash rings cycling
volume, and martingale sizing after losses (planned in `plan_martingale`, which needs prices)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from quant.simulator.config import CATEGORIES, WorldConfig
from quant.simulator.entities import CHAIN_PARAMS, CHAINS, DAY_S
from quant.simulator.events import Events, PositionIds, positions
from quant.simulator.rng import stream

MIN_S = 60
SMART_PICK_WEIGHT = {"moon": 30.0, "climb": 12.0, "slow_death": 1.0, "rug": 1.0, "established": 0.0}
VIRAL_PICK_WEIGHT = {"moon": 4.0, "climb": 2.0, "slow_death": 1.0, "rug": 1.0, "established": 0.0}
MM_PICK_WEIGHT = {"established": 6.0, "climb": 3.0, "slow_death": 2.0, "moon": 1.0, "rug": 1.0}


class Market:
    """The pools as agents see them: which are open when, on which chain, and their hidden fates."""

    def __init__(self, cfg: WorldConfig, pools: pd.DataFrame, t0: int, end_ts: int):
        self.cfg, self.pools, self.t0, self.end_ts = cfg, pools, t0, end_ts
        self.open = pools.open_ts.to_numpy()
        # Unclipped by the window: an exit after the window's end is cut later, not moved inside it.
        self.close = pools.close_ts.to_numpy()
        self.chain = pools.chain.to_numpy()
        self.fate = pools.fate.to_numpy()
        self.category = pools.category.to_numpy()
        self.rug = pools.rug_ts.to_numpy()
        self.peak = pools.peak_ts.to_numpy()
        # New positions only while a pool can be bought into: never after its rug.
        self.entry_end = np.where(self.rug > 0, np.minimum(self.rug, self.close), self.close)

    def alive_on(self, day: int, chain: str, new_only: bool = False) -> np.ndarray:
        lo, hi = self.t0 + day * DAY_S, min(self.t0 + (day + 1) * DAY_S, self.end_ts)
        m = (self.chain == chain) & (self.close > lo) & (self.open < hi) & (self.close > self.open)
        if new_only:
            m &= self.open >= lo
        return np.flatnonzero(m)

    def time_within(self, rng, pool: np.ndarray, day: int) -> np.ndarray:
        lo = np.maximum(self.open[pool], self.t0 + day * DAY_S)
        hi = np.minimum(self.close[pool], self.t0 + (day + 1) * DAY_S)
        return lo + (rng.random(len(pool)) * np.maximum(hi - lo, 1)).astype(np.int64)


def _choose(rng, candidates: np.ndarray, weight: np.ndarray, n: int) -> np.ndarray:
    if len(candidates) == 0 or n == 0 or weight.sum() <= 0:
        return np.empty(0, np.int64)
    return rng.choice(candidates, size=n, p=weight / weight.sum())


def _of(wallets: pd.DataFrame, archetype: str, chain: str) -> np.ndarray:
    return np.flatnonzero(((wallets.archetype == archetype) & (wallets.chain == chain)).to_numpy())


def _size(rng, chain: str, mult: float, n: int, sigma: float = 0.6) -> np.ndarray:
    return rng.lognormal(np.log(CHAIN_PARAMS[chain]["trade"] * mult), sigma, n)


def _keep(m: Market, pool, wallet, t_in, t_out, size, ids) -> Events:
    """Drop entries outside a pool's life; exits after it closes become holds."""
    pool = np.asarray(pool, np.int64)
    ok = (t_in >= m.open[pool]) & (t_in < m.entry_end[pool])
    t_out = np.where(t_out < m.close[pool], t_out, -1)
    return positions(ids, pool[ok], np.asarray(wallet)[ok], t_in[ok], t_out[ok], size[ok])


def plan_agents(cfg: WorldConfig, m: Market, wallets: pd.DataFrame, ids: PositionIds) -> Events:
    """Every archetype's round trips but the martingale's, day by day."""
    parts = []
    shift = cfg.regime_shift
    for day in range(cfg.days):
        sniper_mult = shift.sniper_mult if shift is not None and day >= shift.day else 1.0
        for chain in CHAINS:
            rng = stream(cfg.seed, "agents-" + chain, day)
            new = m.alive_on(day, chain, new_only=True)
            alive = m.alive_on(day, chain)
            parts += [
                _smart_money(rng, m, wallets, chain, new, ids),
                _generalists(rng, m, wallets, chain, alive, day, ids),
                _viral_and_copiers(rng, m, wallets, chain, new, ids),
                _snipers(rng, m, wallets, chain, new, min(0.5 * sniper_mult, 1.0), ids),
                _wash_rings(rng, m, wallets, chain, alive, day, ids),
            ]
    return Events.concat(parts)


def _smart_money(rng, m, wallets, chain, new, ids) -> Events:
    who = _of(wallets, "smart_money", chain)
    counts = rng.poisson(1.5, len(who))
    wallet = np.repeat(who, counts)
    home = wallets.home_category.to_numpy()[wallet]
    off_home = rng.random(len(wallet)) < 0.15
    category = np.where(off_home, rng.choice(CATEGORIES, len(wallet)), home)
    pool = np.full(len(wallet), -1, np.int64)
    weight_all = np.array([SMART_PICK_WEIGHT[f] for f in m.fate[new]]) if len(new) else np.empty(0)
    for c in np.unique(category):
        sel = np.flatnonzero(category == c)
        cand = new[m.category[new] == c]
        w = weight_all[m.category[new] == c]
        if len(cand) and w.sum() > 0:
            pool[sel] = _choose(rng, cand, w, len(sel))
    ok = pool >= 0
    wallet, pool = wallet[ok], pool[ok]
    t_in = m.open[pool] + rng.exponential(20 * MIN_S, len(pool)).astype(np.int64)
    fate = m.fate[pool]
    t_out = np.select(
        [fate == "rug", fate == "moon", fate == "climb"],
        [m.rug[pool] - rng.integers(5, 40, len(pool)) * MIN_S,
         m.peak[pool] + rng.normal(0, 20 * MIN_S, len(pool)).astype(np.int64),
         t_in + rng.lognormal(np.log(8 * 3600), 0.5, len(pool)).astype(np.int64)],
        t_in + rng.exponential(60 * MIN_S, len(pool)).astype(np.int64),
    )
    return _keep(m, pool, wallet, t_in, t_out, _size(rng, chain, 8.0, len(pool), 0.5), ids)


def _generalists(rng, m, wallets, chain, alive, day, ids) -> Events:
    who = _of(wallets, "generalist", chain)
    wallet = np.repeat(who, rng.poisson(3, len(who)))
    pool = _choose(rng, alive, (m.fate[alive] != "established").astype(float), len(wallet))
    if len(pool) == 0:
        return Events.empty()
    t_in = m.time_within(rng, pool, day)
    t_out = t_in + rng.lognormal(np.log(2 * 3600), 0.8, len(pool)).astype(np.int64)
    return _keep(m, pool, wallet, t_in, t_out, _size(rng, chain, 2.0, len(pool)), ids)


def _viral_and_copiers(rng, m, wallets, chain, new, ids) -> Events:
    who = _of(wallets, "viral", chain)
    copiers = _of(wallets, "copier", chain)
    wallet = np.repeat(who, rng.poisson(2, len(who)))
    w = np.array([VIRAL_PICK_WEIGHT[f] for f in m.fate[new]]) if len(new) else np.empty(0)
    pool = _choose(rng, new, w, len(wallet))
    if len(pool) == 0 or len(copiers) == 0:
        return Events.empty()
    t_in = m.open[pool] + rng.exponential(30 * MIN_S, len(pool)).astype(np.int64)
    t_out = t_in + rng.lognormal(np.log(60 * MIN_S), 0.6, len(pool)).astype(np.int64)
    lead = _keep(m, pool, wallet, t_in, t_out, _size(rng, chain, 3.0, len(pool)), ids)
    k = rng.integers(3, 11, len(pool))
    src = np.repeat(np.arange(len(pool)), k)
    follower = rng.choice(copiers, len(src))
    c_in = t_in[src] + rng.integers(30, 300, len(src))
    c_out = t_out[src] + rng.integers(60, 600, len(src))
    follow = _keep(m, pool[src], follower, c_in, c_out, _size(rng, chain, 1.5, len(src)), ids)
    return Events.concat([lead, follow])


def _snipers(rng, m, wallets, chain, new, p_snipe, ids) -> Events:
    who = _of(wallets, "sniper", chain)
    if len(who) == 0 or len(new) == 0:
        return Events.empty()
    k = rng.binomial(3, p_snipe, len(new))
    pool = np.repeat(new, k)
    wallet = rng.choice(who, len(pool))
    t_in = m.open[pool] + rng.integers(2, 90, len(pool))
    t_out = t_in + 30 + rng.exponential(20 * MIN_S, len(pool)).astype(np.int64)
    return _keep(m, pool, wallet, t_in, t_out, _size(rng, chain, 4.0, len(pool)), ids)


def _wash_rings(rng, m, wallets, chain, alive, day, ids) -> Events:
    rings = wallets[(wallets.ring_id >= 0) & (wallets.chain == chain)].groupby("ring_id").groups
    parts = []
    cand = alive[m.fate[alive] != "established"]
    for _ring_id, members in sorted(rings.items()):
        if len(cand) == 0 or rng.random() > 0.6:
            continue
        pool = int(rng.choice(cand))
        n = int(rng.integers(10, 31))
        t0 = m.time_within(rng, np.array([pool]), day)[0]
        t_in = t0 + np.cumsum(rng.integers(20, 120, n))
        t_out = t_in + rng.integers(30, 120, n)
        member = np.asarray(members)[np.arange(n) % len(members)]
        parts.append(_keep(m, np.full(n, pool), member, t_in, t_out, _size(rng, chain, 4.0, n, 0.3), ids))
    return Events.concat(parts)


def plan_market_makers(cfg: WorldConfig, m: Market, wallets: pd.DataFrame, ids: PositionIds,
                       price_at: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Events:
    """Market makers: ~20 short round trips a day in calm moments. Their skill is timing: from candidate
    trips (priced on the flow without them) they take ones that move under 2%, as many winners as losers
    net of fees, so they end with a win rate near 50% and a small edge per trade."""
    parts = []
    for day in range(cfg.days):
        for chain in CHAINS:
            rng = stream(cfg.seed, "market-makers-" + chain, day)
            who = _of(wallets, "market_maker", chain)
            alive = m.alive_on(day, chain)
            alive = alive[(m.fate[alive] != "established") & (m.entry_end[alive] > m.open[alive])]
            if len(who) == 0 or len(alive) == 0:
                continue
            wanted = rng.poisson(20, len(who))
            cand_wallet = np.repeat(who, wanted * 10)
            w = np.array([MM_PICK_WEIGHT[f] for f in m.fate[alive]])
            pool = _choose(rng, alive, w, len(cand_wallet))
            t_in = m.time_within(rng, pool, day)
            t_out = t_in + 30 + rng.exponential(8 * MIN_S, len(pool)).astype(np.int64)
            # Trips end within their day: the choice then sees only that day's prices, the same in any window.
            ok = (t_in < m.entry_end[pool]) & (t_out < m.close[pool]) & (t_out < m.t0 + (day + 1) * DAY_S)
            ret = price_at(pool, t_out) / price_at(pool, t_in) * (1 - 2 * CHAIN_PARAMS[chain]["fee"]) - 1
            # Winners need a margin over their own price impact and the flow planned after this pass, which
            # together cost ~0.3-0.5% of a trip against the prices it was chosen on.
            calm = ok & (np.abs(ret) < 0.02)
            pick = _balanced(rng, cand_wallet, calm & (ret > 0.01), calm & (ret < 0), np.repeat(wanted, wanted * 10))
            parts.append(positions(ids, pool[pick], cand_wallet[pick], t_in[pick], t_out[pick],
                                   _size(rng, chain, 0.5, len(pick), 0.3)))
    return Events.concat(parts)


def _balanced(rng, wallet: np.ndarray, win: np.ndarray, loss: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Per wallet, k winning and k losing candidates (indices into the candidates), k = min(winners
    available, losers available, half of what the wallet wants)."""
    n_wallets = int(wallet.max()) + 1 if len(wallet) else 0
    k = np.minimum(np.bincount(wallet[win], minlength=n_wallets), np.bincount(wallet[loss], minlength=n_wallets))
    half = np.zeros(n_wallets, np.int64)
    half[wallet] = (wanted + 1) // 2
    k = np.minimum(k, half)
    picked = []
    for mask in (win, loss):
        idx = np.flatnonzero(mask)
        idx = idx[rng.permutation(len(idx))]
        idx = idx[np.argsort(wallet[idx], kind="stable")]
        rank = np.arange(len(idx)) - np.searchsorted(wallet[idx], wallet[idx])
        picked.append(idx[rank < k[wallet[idx]]])
    return np.sort(np.concatenate(picked))


def plan_martingale(cfg: WorldConfig, m: Market, wallets: pd.DataFrame, ids: PositionIds,
                    price_at: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Events:
    """Loss chasers: one position at a time; after a loss (judged on the prices they saw) the next stake is
    1.6-2.5x the last, after a win it goes back to the base stake."""
    who = np.flatnonzero((wallets.archetype == "martingale").to_numpy())
    if len(who) == 0:
        return Events.empty()
    chain = wallets.chain.to_numpy()[who]
    base = np.array([CHAIN_PARAMS[c]["trade"] for c in chain]) * 1.5
    rng0 = stream(cfg.seed, "martingale-start")
    t = m.t0 + rng0.integers(0, 6 * 3600, len(who))
    stake = base.copy()
    parts = []
    step = 0
    while True:
        active = t < m.end_ts
        if not active.any():
            break
        rng = stream(cfg.seed, "martingale", step)
        # Fixed-size draws over all chasers, so who is still active never shifts anyone's numbers.
        tries = rng.random((30, len(who)))
        hold = 60 + rng.lognormal(np.log(30 * MIN_S), 0.7, len(who)).astype(np.int64)
        chase_u, mult = rng.random(len(who)), rng.uniform(1.6, 2.5, len(who))
        gap = rng.exponential(90 * MIN_S, len(who)).astype(np.int64) + 60
        pool = np.full(len(who), -1, np.int64)
        day_of = (t - m.t0) // DAY_S
        for c in CHAINS:
            for day in np.unique(day_of[active & (chain == c)]):
                sel = np.flatnonzero(active & (chain == c) & (day_of == day))
                alive = m.alive_on(int(day), c)
                alive = alive[m.fate[alive] != "established"]
                if len(alive) == 0:
                    continue
                for i in range(len(tries)):
                    todo = sel[pool[sel] < 0]
                    if len(todo) == 0:
                        break
                    pick = alive[(tries[i, todo] * len(alive)).astype(np.int64)]
                    ok = (m.open[pick] <= t[todo]) & (m.entry_end[pick] > t[todo] + 120)
                    pool[todo[ok]] = pick[ok]
        traded = active & (pool >= 0)
        idx = np.flatnonzero(traded)
        t_out = np.minimum(t + hold, m.close[np.maximum(pool, 0)] - 1)
        if len(idx):
            parts.append(positions(ids, pool[idx], who[idx], t[idx], t_out[idx], stake[idx]))
            p_in = price_at(pool[idx], t[idx])
            p_out = price_at(pool[idx], t_out[idx])
            lost = p_out * (1 - 0.006) < p_in
            chase = lost & (chase_u[idx] < 0.85)
            stake[idx] = np.where(chase, np.minimum(stake[idx] * mult[idx], base[idx] * 50), base[idx])
        t = np.where(traded, t_out + gap, t + gap)
        step += 1
    return Events.concat(parts)
