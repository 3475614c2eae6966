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
from quant.simulator.flows import WALK_AWAY
from quant.simulator.rng import stream

MIN_S = 60
SMART_PICK_WEIGHT = {"moon": 30.0, "climb": 12.0, "slow_death": 1.0, "rug": 1.0, "established": 0.0}
VIRAL_PICK_WEIGHT = {"moon": 4.0, "climb": 2.0, "slow_death": 1.0, "rug": 1.0, "established": 0.0}
MM_SLOTS_PER_DAY, MM_CANDIDATES, MM_WALLET_CHUNK = 96, 16, 2000
MM_MAX_HOLD_MIN = 20
SNIPERS_PER_LAUNCH = 8  # at most, each there with the day's sniping probability
# A maker buys when the pool is this far below the exchange, about the two fees of a round trip, and sells
# when the gap is back within MM_EXIT_GAP.
MM_ENTRY_GAP, MM_EXIT_GAP = 0.006, 0.001


class Market:
    """The pools as agents see them: which are open when, on which chain, and their hidden fates."""

    def __init__(self, cfg: WorldConfig, pools: pd.DataFrame, t0: int, end_ts: int, n_wallets: int):
        self.cfg, self.pools, self.t0, self.end_ts = cfg, pools, t0, end_ts
        # Each agent's own chart rule (`flows.WALK_AWAY`), a trait of the wallet: drawn once, whatever the window.
        self.walk_away = stream(cfg.seed, "walk-away").uniform(*WALK_AWAY, n_wallets)
        self.open = pools.open_ts.to_numpy()
        # Unclipped by the window: an exit after the window's end is cut later, not moved inside it.
        self.close = pools.close_ts.to_numpy()
        self.chain = pools.chain.to_numpy()
        self.fate = pools.fate.to_numpy()
        self.category = pools.category.to_numpy()
        self.rug = pools.rug_ts.to_numpy()
        self.peak = pools.peak_ts.to_numpy()
        self.established = pools.established.to_numpy(bool)
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
    """Drop entries outside a pool's life; exits after it closes, or after its liquidity is pulled (public at
    once: there is nothing left to sell into), become holds. In a new pool the buyer reads the chart first."""
    pool = np.asarray(pool, np.int64)
    ok = (t_in >= m.open[pool]) & (t_in < m.entry_end[pool])
    t_out = np.where((t_out < m.close[pool]) & ((m.rug[pool] < 0) | (t_out < m.rug[pool])), t_out, -1)
    wallet = np.asarray(wallet)[ok]
    walk_away = np.where(m.established[pool[ok]], np.nan, m.walk_away[wallet])
    return positions(ids, pool[ok], wallet, t_in[ok], t_out[ok], size[ok], walk_away=walk_away)


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
    """Bots in the launch's first seconds that sell into the buyers who follow within minutes."""
    who = _of(wallets, "sniper", chain)
    if len(who) == 0 or len(new) == 0:
        return Events.empty()
    k = rng.binomial(SNIPERS_PER_LAUNCH, p_snipe, len(new))
    pool = np.repeat(new, k)
    wallet = rng.choice(who, len(pool))
    t_in = m.open[pool] + rng.integers(1, 30, len(pool))
    t_out = t_in + 20 + rng.exponential(3 * MIN_S, len(pool)).astype(np.int64)
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
                       price_at: Callable[[np.ndarray, np.ndarray], np.ndarray],
                       fair_at: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Events:
    """Market makers in the deep established pools, deciding only from what is public at the moment: the pool's
    price (as the flow planned before them moves it) and the centralised exchange's. Through each slot of the
    day a maker watches a few moments; at the first where the pool trades more than MM_ENTRY_GAP below the
    exchange it buys, and it sells at the first minute the gap has closed to MM_EXIT_GAP, or when it has held
    MM_MAX_HOLD_MIN minutes, or at the slot's end. It stops for the day after about `cfg.mm_trips_per_day`
    trips. Its win rate and edge are whatever that rule earns on this market."""
    parts = []
    slot_s = DAY_S // MM_SLOTS_PER_DAY
    per_wallet = MM_SLOTS_PER_DAY * MM_CANDIDATES
    for day in range(cfg.days):
        for chain in CHAINS:
            rng = stream(cfg.seed, "market-makers-" + chain, day)
            who = _of(wallets, "market_maker", chain)
            deep = np.flatnonzero((m.fate == "established") & (m.chain == chain))
            if len(who) == 0 or len(deep) == 0:
                continue
            wanted = rng.poisson(cfg.mm_trips_per_day, len(who))
            for lo in range(0, len(who), MM_WALLET_CHUNK):  # bounds the candidates' memory on large worlds
                local = np.arange(lo, min(lo + MM_WALLET_CHUNK, len(who)))
                n = len(local) * per_wallet
                slot = np.repeat(np.arange(len(local) * MM_SLOTS_PER_DAY), MM_CANDIDATES)
                slot_start = m.t0 + day * DAY_S + (slot % MM_SLOTS_PER_DAY) * slot_s
                # Every draw has a fixed shape, so prices never shift anyone's random numbers.
                pool = deep[rng.integers(0, len(deep), n)]
                t_in = slot_start + rng.integers(0, slot_s // 2, n)
                size = _size(rng, chain, 0.5, len(local) * MM_SLOTS_PER_DAY, 0.3)
                order = np.lexsort((t_in, slot))
                pool, t_in = pool[order], t_in[order]
                cheap = price_at(pool, t_in) < fair_at(pool, t_in) * (1 - MM_ENTRY_GAP)
                slots, first = np.unique(slot[cheap], return_index=True)
                fired = np.flatnonzero(cheap)[first]
                owner = slots // MM_SLOTS_PER_DAY
                # Slots are in time order within a wallet: the first `wanted` that fire are its day's trips.
                taken = np.arange(len(slots)) - np.searchsorted(owner, owner) < wanted[local][owner]
                fired, slots = fired[taken], slots[taken]
                t_out = _mm_exit(pool[fired], t_in[fired], slot_start[fired] + slot_s - 1, price_at, fair_at)
                parts.append(positions(ids, pool[fired], who[local][slots // MM_SLOTS_PER_DAY], t_in[fired],
                                       t_out, size[slots]))
    return Events.concat(parts)


def _mm_exit(pool: np.ndarray, t_in: np.ndarray, last: np.ndarray, price_at, fair_at) -> np.ndarray:
    """A stopping time: the first whole minute after entry at which the pool's price is within MM_EXIT_GAP of
    the exchange's (each check sees only that moment), else the hold limit, never past `last`."""
    t_out = np.minimum(t_in + MM_MAX_HOLD_MIN * MIN_S, last)
    open_ = np.ones(len(pool), bool)
    for k in range(1, MM_MAX_HOLD_MIN):
        t = t_in + k * MIN_S
        look = np.flatnonzero(open_ & (t < t_out))
        if len(look) == 0:
            break
        closed = price_at(pool[look], t[look]) >= fair_at(pool[look], t[look]) * (1 - MM_EXIT_GAP)
        t_out[look[closed]] = t[look[closed]]
        open_[look[closed]] = False
    return t_out


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
                    # What a chaser sees at t: the pool trades and has not been pulled.
                    ok = (m.open[pick] <= t[todo]) & (m.close[pick] > t[todo]) & ((m.rug[pick] < 0) | (m.rug[pick] > t[todo]))
                    pool[todo[ok]] = pick[ok]
        traded = active & (pool >= 0)
        idx = np.flatnonzero(traded)
        t_out = t + hold
        if len(idx):
            parts.append(_keep(m, pool[idx], who[idx], t[idx], t_out[idx], stake[idx], ids))
            p_in = price_at(pool[idx], t[idx])
            p_out = price_at(pool[idx], t_out[idx])
            lost = p_out * (1 - 0.006) < p_in
            chase = lost & (chase_u[idx] < 0.85)
            stake[idx] = np.where(chase, np.minimum(stake[idx] * mult[idx], base[idx] * 50), base[idx])
        t = np.where(traded, t_out + gap, t + gap)
        step += 1
    return Events.concat(parts)
