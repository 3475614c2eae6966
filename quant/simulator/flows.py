"""Order flow of each pool: retail round trips whose rate follows a clustered 'attention' process, and the
actions that make a pool's fate: pump buyers before a moon, accumulators in a climb, liquidity pulled and
dev tokens dumped in a rug, with the noisy precursors that come before (and sometimes without) a rug."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from quant.simulator.config import WorldConfig
from quant.simulator.engine import ARBITRAGE, REMOVE_LIQUIDITY, SELL_BASE, SELL_DOWN_TO, SELL_VALUE
from quant.simulator.entities import CHAIN_PARAMS, HOLDER_SHARE, TOKEN_SUPPLY
from quant.simulator.events import Events, PositionIds, actions, liquidity_positions, positions
from quant.simulator.rng import stream

MIN_S = 60
ATTENTION_PHI = np.exp(-1 / 45)  # attention remembers ~45 minutes: volatility clusters over hours
ATTENTION_SD = 1.4
LAUNCH_BURST, LAUNCH_BURST_MIN, FLIPPER_HOLD_S = 8.0, 40.0, 2 * MIN_S
# A pool's retail entries per minute, at most: MARKET_FACTS' whole Raydium stream is 8,000-10,000 pool messages a
# minute, so one pool with more than about 1% of it would be among the busiest of the market. Without it, the
# attention process's lognormal peaks gave single launches 1,000-2,400 entries a minute.
MAX_ENTRIES_PER_MIN = 100.0
# Retail trade sizes: lognormal, scaled up in hot stretches (exp(SIZE_HEAT * attention)).
TRADE_SIGMA, SIZE_HEAT = 1.1, 0.6
# A launch's creator group sells into its first buyers in this share of rugs and slow deaths (fast dumps:
# MARKET_FACTS' first hour crashes 49% of launches' prices by 90%, more than the 41% whose liquidity is pulled).
EARLY_DUMP_P, EARLY_DUMP_MEAN_S, EARLY_DUMP_SHARE = 0.85, 10 * 60, (0.2, 0.7)
# Share of rugs whose creator also dumps the rest of the allocation after the pull: a pull alone leaves the
# price (MARKET_FACTS: 28.5% of launches crash 99% in price, 41% lose 99% of their liquidity).
RUG_DUMP_P = 0.2
# The creator group sells into pumps of the first two hours above 1.2-3x the launch price.
SELL_INTO_PUMPS_S, PUMP_LIMIT = 2 * 3600, (1.2, 3.0)
FINAL_PULL = (0.985, 0.999)  # the creator holds the LP tokens: a rug takes nearly all of the liquidity
# Share of retail holders who sell for what they can get after a rug (the rest abandon the token): a pull alone
# leaves the price standing, so fewer launches crash 99% in price than lose 99% of their liquidity (0.25: seeds 1-2
# then crash 99% in 0.30 of launches, published 0.285).
PANIC_SHARE = 0.25
# Share of holders who sell within minutes of a creator's public sale or withdrawal before the rug ("dev sold"
# alerts). It is an exit, not a wave of new buyers: buying excited by dumps pumped dumped pools 200x and made
# buying every launch win on average (seed 2), which real launch buyers do not.
DEV_ALERT_EXIT_P, DEV_ALERT_DELAY_S = 0.5, (10, 600)
# Sales by wallets that held the token before its pool existed, per retail entry, fading over ~1.5 hours.
HOLDER_SELL_RATIO, HOLDER_MEMORY_MIN = 1.4, 90.0
HOLDER_LIMIT = (0.02, 1.0)  # each holder's lowest price, as a multiple of the launch price (some sell at any price)
# The price impact a retail buyer accepts: lognormal, median 15% (one in ten accepts over 40%).
MAX_IMPACT_MEDIAN, MAX_IMPACT_SIGMA = 0.15, 0.8
# Take-profits of retail holders (trading bots offer them; "taking initials at 2x" is the common rule): the share
# who set one, and the multiple of their fill they sell at (lognormal excess, median 2x). A bot's order watches the
# price all through the hold: in a new pool here it looks about once a minute (at most TAKE_PROFIT_LOOKS times, spread
# over the hold), so a pump meets the sales of the holders it has made rich as it goes, not only at a glance.
TAKE_PROFIT_SHARE, TAKE_PROFIT_MEDIAN, TAKE_PROFIT_SIGMA = 0.5, 2.0, 0.7
TAKE_PROFIT_LOOK_S, TAKE_PROFIT_LOOKS = 60, 8
# A launch buyer looks at the chart first and walks away from one this far below its high (uniform per buyer): a
# dumped launch finds no new buyers, so its crash stays a crash (MARKET_FACTS: 49% of launches end their first hour
# >= 90% below their peak with at most 1% of the fall recovered).
WALK_AWAY = (0.6, 0.97)
MAX_PIECES, PIECE_GAP_S = 10, 40  # a larger order is split into at most this many buys, ~40 s apart
# Volume bots: in this share of launches the creator group runs small round trips (a buy sold seconds later) to keep
# the token on the trending lists, one every VOLUME_BOT_GAP_S on average, for a lognormal span (median
# VOLUME_BOT_SPAN_S), each a fraction of a retail trade. The same in every fate: a bot says the creator wants
# attention, not what it will do. No published rates; chosen against MARKET_FACTS' first-hour silences (52.7%) and
# busy launches (a median of ~350 transactions to the peak).
VOLUME_BOT_P, VOLUME_BOT_GAP_S, VOLUME_BOT_SPAN_S, VOLUME_BOT_SIZE = 0.4, 15.0, 60 * 60, (0.1, 0.5)
# Outside liquidity providers (no published rate; chosen so that LP churn is common, not rare): deposits per new
# pool, per established pool-day, their size as a share of the quote reserve, how long they stay, and the share of
# providers who withdraw within minutes of a creator's public sale or withdrawal.
LP_DEPOSITS_NEW, LP_DEPOSITS_PER_DAY = 0.5, 8.0
LP_SHARE_NEW, LP_SHARE_ESTABLISHED = (0.03, 0.25), (0.002, 0.02)
LP_STAY_NEW_S, LP_STAY_ESTABLISHED_S = 8 * 3600, 86_400
LP_FLIGHT_P = 0.7


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
                              None if cex_target is None else cex_target[d * 1440:(d + 1) * 1440], ids, day=d)
            for d in range(cfg.days)
        ])
    else:
        rng = stream(cfg.seed, "flow-" + pool.chain, 0, pool.day, pool.k)
        ev = _pool_day_or_life(cfg, pool, pool_idx, int(pool.open_ts), int(pool.close_ts), rng, retail,
                               retail_p, linked_insiders, arbitrageurs, None, ids, day=int(pool.day))
    return ev.take(np.flatnonzero(ev.ts < end_ts))


def _pool_day_or_life(cfg, pool, pool_idx, t_open, t_close, rng, retail, retail_p, linked_insiders,
                      arbitrageurs, cex_target, ids, day: int) -> Events:
    params = CHAIN_PARAMS[pool.chain]
    n_min = max((t_close - t_open) // MIN_S, 1)
    shift = cfg.regime_shift
    # A regime is market-wide: more trading in a new pool launched in it and in an established pool's days from
    # it on; noisier attention in the launches (an established pool's depth would turn it into whale trades).
    shifted = shift is not None and day >= shift.day
    hype = shift.activity_mult if shifted else 1.0
    vol = shift.volatility_mult if shifted and not pool.established else 1.0
    age = np.arange(n_min, dtype=np.float64)
    minute_ts = t_open + age.astype(np.int64) * MIN_S
    if pool.established:
        decay, burst, settled = np.ones(n_min), np.zeros(n_min), np.ones(n_min)
    else:
        # A launch's first minutes are its busiest (MARKET_FACTS: a median of ~350 transactions to the first
        # hour's peak), then interest settles to a quarter of the hours after launch.
        burst = LAUNCH_BURST * np.exp(-age / LAUNCH_BURST_MIN)
        settled = 0.25 + 0.75 * np.exp(-age / 180.0)
        decay = settled + burst
        if pool.fate == "slow_death":
            decay *= np.exp(-age / 300.0)
        if pool.fate == "rug":  # nobody new buys a pool whose liquidity is gone
            decay = np.where(minute_ts >= pool.rug_ts, 0.0, decay)
            settled = np.where(minute_ts >= pool.rug_ts, 0.0, settled)
    h = _attention(rng, n_min, ATTENTION_SD * vol)
    creator = Events.empty()
    if not pool.established:
        creator = _liquidity_and_dev(pool, pool_idx, t_open, t_close, rng, linked_insiders)
    # Deeper pools draw more trading: intensity grows with the square root of the pool's initial liquidity.
    depth = np.sqrt(pool.quote0 / params["liquidity"]) if not pool.established else 1.0
    lam = np.minimum(cfg.retail_entries_per_min * hype * pool.activity * depth * decay
                     * np.exp(h - (ATTENTION_SD * vol) ** 2 / 2), MAX_ENTRIES_PER_MIN)
    counts = rng.poisson(lam)
    n = int(counts.sum())
    t_in = np.repeat(minute_ts, counts) + rng.integers(0, MIN_S, n)
    if pool.fate == "rug":  # not even in the minute of the rug
        t_in = np.where(t_in < pool.rug_ts, t_in, pool.rug_ts - 1)
    # Hot stretches bring bigger trades as well as more of them: volatility clusters, not only trade counts.
    heat = np.repeat(np.exp(SIZE_HEAT * h - (SIZE_HEAT * ATTENTION_SD * vol) ** 2 / 2), counts)
    size = rng.lognormal(np.log(params["trade"]), TRADE_SIGMA, n) * heat
    # The launch burst is mostly flippers, out within minutes; later buyers hold longer.
    flipper = rng.random(n) < np.repeat(burst / np.maximum(decay, 1e-12), counts)
    hold = np.where(flipper, rng.lognormal(np.log(FLIPPER_HOLD_S), 1.0, n),
                    rng.lognormal(np.log(15 * MIN_S), 1.2, n)).astype(np.int64)
    t_out = t_in + hold
    if not pool.established:
        # A dump or a withdrawal is public the moment it lands: some holders sell soon after.
        for t in creator.ts[(creator.kind == SELL_BASE) | (creator.kind == REMOVE_LIQUIDITY)]:
            if pool.fate == "rug" and t >= pool.rug_ts:
                continue  # the rug's own panic, below
            alerted = (t_in < t) & (t_out > t) & (rng.random(n) < DEV_ALERT_EXIT_P)
            t_out = np.where(alerted, t + rng.integers(*DEV_ALERT_DELAY_S, n), t_out)
    # Holders with a take-profit order: it looks at the price through the hold and sells once it is high enough.
    # (An established pool's price does not double in a hold: one look there, at a random time, is enough.)
    if pool.established:
        looks = (t_in + rng.random(n) * hold).astype(np.int64)[:, None]
    else:
        gap = np.maximum(TAKE_PROFIT_LOOK_S, hold / TAKE_PROFIT_LOOKS)[:, None]
        looks = t_in[:, None] + np.cumsum(rng.exponential(1.0, (n, TAKE_PROFIT_LOOKS)) * gap, axis=1).astype(np.int64)
    glance = np.where((rng.random(n) < TAKE_PROFIT_SHARE)[:, None] & (looks < (t_in + hold)[:, None]), looks, -1)
    take_profit = 1.0 + rng.lognormal(np.log(TAKE_PROFIT_MEDIAN - 1.0), TAKE_PROFIT_SIGMA, n)
    walk_away = rng.uniform(*WALK_AWAY, n)
    if pool.fate == "rug":
        holding = (t_in < pool.rug_ts) & (t_out > pool.rug_ts)
        panic = holding & (rng.random(n) < PANIC_SHARE)
        t_out = np.where(panic, pool.rug_ts + rng.integers(30, 600, n), np.where(holding, -1, t_out))
    t_out = np.where(t_out < pool.close_ts, t_out, -1)  # still holding when the pool is last seen
    wallet = rng.choice(retail, size=n, p=retail_p)
    # Buyers cap their own price impact (a trading UI shows it before the swap): no single retail buy doubles a pool.
    impact = rng.lognormal(np.log(MAX_IMPACT_MEDIAN), MAX_IMPACT_SIGMA, n)
    # A buy over that limit at the pool's launch depth goes in as several buys, tens of seconds apart.
    pieces = np.clip(np.ceil(size / (float(pool.quote0) * (np.sqrt(1 + impact) - 1))), 1, MAX_PIECES).astype(np.int64)
    src = np.repeat(np.arange(n), pieces)
    gaps = rng.exponential(PIECE_GAP_S, len(src)).astype(np.int64)
    first = np.cumsum(pieces) - pieces
    gaps[first] = 0
    run = np.cumsum(gaps)
    offset = run - np.repeat(run[first], pieces)
    t_in_p, t_out_p = t_in[src] + offset, np.where(t_out[src] >= 0, t_out[src] + offset, -1)
    glance_p = np.where(glance[src] >= 0, glance[src] + offset[:, None], -1)
    ok = np.ones(len(src), bool)
    if pool.fate == "rug":
        ok = t_in_p < pool.rug_ts
        t_out_p = np.where((t_out[src] >= 0) & (t_out[src] < pool.rug_ts) & (t_out_p >= pool.rug_ts), -1, t_out_p)
        glance_p = np.where(glance_p < pool.rug_ts, glance_p, -1)
    t_out_p = np.where(t_out_p < pool.close_ts, t_out_p, -1)
    glance_p = np.where((glance_p < pool.close_ts) & ((t_out_p[:, None] < 0) | (glance_p < t_out_p[:, None])),
                        glance_p, -1)
    parts = [positions(ids, np.full(int(ok.sum()), pool_idx), wallet[src][ok], t_in_p[ok], t_out_p[ok],
                       (size[src] / pieces[src])[ok], max_impact=impact[src][ok],
                       take_profit=take_profit[src][ok], t_check=glance_p[ok],
                       walk_away=None if pool.established else walk_away[src][ok])]
    if not pool.established:
        parts.append(_early_holders(pool, pool_idx, minute_ts, lam, h, age, rng, retail, retail_p))

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

    parts.append(creator)
    if not pool.established:
        parts.append(_volume_bot(pool, pool_idx, t_open, t_close, rng, linked_insiders, ids))
    loud_ts = creator.ts[(creator.kind == SELL_BASE) | (creator.kind == REMOVE_LIQUIDITY)]
    parts.append(_liquidity_providers(pool, pool_idx, t_open, t_close, rng, retail, retail_p, loud_ts, ids))
    if pool.established and cex_target is not None:
        t_arb = t_open + np.cumsum(rng.integers(60, 300, n_min // 2))
        t_arb = t_arb[t_arb < t_close]
        minute = np.clip((t_arb - t_open) // MIN_S, 0, len(cex_target) - 1)
        parts.append(actions(ARBITRAGE, np.full(len(t_arb), pool_idx), rng.choice(arbitrageurs, len(t_arb)),
                             t_arb, rng.uniform(0.5, 0.9, len(t_arb)), cex_target[minute]))
    return Events.concat(parts)


def _liquidity_providers(pool, pool_idx, t_open, t_close, rng, retail, retail_p, loud_ts, ids) -> Events:
    """Deposits by wallets other than the creator and their withdrawals: after a stay, or soon after the
    creator's first public sale or withdrawal that follows the deposit (seen on chain as it lands)."""
    if pool.established:
        n, share, stay = rng.poisson(LP_DEPOSITS_PER_DAY), LP_SHARE_ESTABLISHED, LP_STAY_ESTABLISHED_S
        t_add = rng.integers(t_open, max(t_close, t_open + 1), n)
    else:
        n, share, stay = rng.poisson(LP_DEPOSITS_NEW), LP_SHARE_NEW, LP_STAY_NEW_S
        t_add = t_open + rng.lognormal(np.log(2 * 3600), 1.0, n).astype(np.int64)
    t_out = t_add + rng.lognormal(np.log(stay), 1.0, n).astype(np.int64)
    flee = rng.random(n) < LP_FLIGHT_P
    delay = rng.integers(10, 600, n)
    for i in range(n):
        after = loud_ts[loud_ts > t_add[i]]
        if flee[i] and len(after):
            t_out[i] = min(t_out[i], after.min() + delay[i])
    wallet = rng.choice(retail, n, p=retail_p)
    size = rng.uniform(*share, n)
    ok = (t_add < t_close) & ((pool.rug_ts < 0) | (t_add < pool.rug_ts))  # nobody deposits into a pulled pool
    t_out = np.where(t_out < t_close, t_out, -1)
    return liquidity_positions(ids, np.full(int(ok.sum()), pool_idx), wallet[ok], t_add[ok], t_out[ok], size[ok])


def _creator_group(pool, linked) -> np.ndarray:
    """The creator's wallet and its linked wallets."""
    return np.r_[pool.creator, linked] if len(linked) else np.array([pool.creator])


def _volume_bot(pool, pool_idx, t_open, t_close, rng, linked, ids) -> Events:
    """The creator group's small round trips that keep a launch busy, until its span ends or the pool is pulled."""
    if rng.random() >= VOLUME_BOT_P:
        return Events.empty()
    end = min(t_open + rng.lognormal(np.log(VOLUME_BOT_SPAN_S), 1.0), t_close)
    if pool.fate == "rug":
        end = min(end, pool.rug_ts)
    n = int(rng.poisson(max(end - t_open, 0) / VOLUME_BOT_GAP_S))
    t_in = np.sort(rng.uniform(t_open, end, n)).astype(np.int64)
    t_out = t_in + rng.integers(2, 30, n)
    group = _creator_group(pool, linked)
    size = CHAIN_PARAMS[pool.chain]["trade"] * rng.uniform(*VOLUME_BOT_SIZE, n)
    return positions(ids, np.full(n, pool_idx), rng.choice(group, n), t_in, np.where(t_out < t_close, t_out, -1), size)


def _early_holders(pool, pool_idx, minute_ts, lam, h, age, rng, retail, retail_p) -> Events:
    """Wallets that hold the token from before the pool (a launchpad's bonding curve, an airdrop) sell it into
    the launch's buyers as they come, most in the first hours: a launch's early buying is met by more selling."""
    counts = rng.poisson(HOLDER_SELL_RATIO * lam * np.exp(-age / HOLDER_MEMORY_MIN))
    n = int(counts.sum())
    ts = np.repeat(minute_ts, counts) + rng.integers(0, MIN_S, n)
    heat = np.repeat(np.exp(SIZE_HEAT * h), counts)
    value = rng.lognormal(np.log(CHAIN_PARAMS[pool.chain]["trade"]), TRADE_SIGMA, n) * heat
    # Holders sell at most what they hold, valued at the launch price (the engine stops them at what they have).
    launch_price = pool.quote0 / (TOKEN_SUPPLY * pool.pool_share)
    value = value[np.cumsum(value) <= HOLDER_SHARE * pool.quote0 * (1 - pool.pool_share) / pool.pool_share]
    # Each sells only above its own price (what it paid, or what it will take): holders take profit into buyers,
    # they do not chase a collapsing pool down.
    raw_price = launch_price * 10.0 ** (CHAIN_PARAMS[pool.chain]["quote_decimals"] - CHAIN_PARAMS[pool.chain]["base_decimals"])
    limit = raw_price * rng.uniform(*HOLDER_LIMIT, len(value))
    return actions(SELL_VALUE, np.full(len(value), pool_idx), rng.choice(retail, len(value), p=retail_p),
                   ts[: len(value)], value, limit)


def _liquidity_and_dev(pool, pool_idx, t_open, t_close, rng, linked) -> Events:
    """What the creator's group does with its allocation and the liquidity: sales into the first buyers, the
    rug with its precursors, the slow bleed, and false alarms."""
    dev_alloc = TOKEN_SUPPLY * (1 - pool.pool_share) * (1 - HOLDER_SHARE)
    creator = pool.creator
    group = _creator_group(pool, linked)
    parts = []
    sold = 0.0
    rug = int(pool.rug_ts)
    # Into any pump of the first hours the group sells down toward its own price, a few times a minute.
    t = np.arange(t_open + 20, t_open + int(SELL_INTO_PUMPS_S), 20)
    if pool.fate == "rug":
        t = t[t < pool.rug_ts]
    raw_price = (pool.quote0 / (TOKEN_SUPPLY * pool.pool_share)
                 * 10.0 ** (CHAIN_PARAMS[pool.chain]["quote_decimals"] - CHAIN_PARAMS[pool.chain]["base_decimals"]))
    parts.append(actions(SELL_DOWN_TO, np.full(len(t), pool_idx), rng.choice(group, len(t)), t,
                         rng.uniform(0.3, 0.8, len(t)), np.full(len(t), raw_price * rng.uniform(*PUMP_LIMIT))))
    if pool.fate in ("rug", "slow_death") and rng.random() < EARLY_DUMP_P:
        # The group sells part of its allocation into the launch's first buyers, in a few quick chunks.
        sold = rng.uniform(*EARLY_DUMP_SHARE)
        k = int(rng.integers(3, 11))
        t = t_open + 5 + rng.exponential(EARLY_DUMP_MEAN_S, k).astype(np.int64)
        if pool.fate == "rug":
            t = np.minimum(t, rug - 1)
        parts.append(actions(SELL_BASE, np.full(k, pool_idx), rng.choice(group, k), t,
                             dev_alloc * sold * rng.dirichlet(np.ones(k))))
    if pool.fate == "rug":
        before = rug - t_open
        if rng.random() < 0.6:  # a small withdrawal before the rug: a precursor, not a certainty
            parts.append(actions(REMOVE_LIQUIDITY, pool_idx, creator,
                                 rug - int(min(rng.integers(20, 120) * MIN_S, before * rng.uniform(0.2, 0.8))),
                                 rng.uniform(0.05, 0.15)))
        if sold == 0.0 and rng.random() < 0.5:  # insiders start selling first
            sold = rng.uniform(0.1, 0.3)
            parts.append(actions(SELL_BASE, pool_idx, rng.choice(group),
                                 rug - int(min(rng.integers(10, 90) * MIN_S, before * rng.uniform(0.1, 0.9))),
                                 dev_alloc * sold))
        if pool.soft_rug:  # Solidus: creators often withdraw gradually
            k = int(rng.integers(3, 7))
            t = rug - np.sort(rng.uniform(0, min(150 * MIN_S, 0.9 * before), k))[::-1].astype(np.int64)
            parts.append(actions(REMOVE_LIQUIDITY, np.full(k, pool_idx), creator, t, rng.uniform(0.1, 0.25, k)))
            parts.append(actions(REMOVE_LIQUIDITY, pool_idx, creator, rug + 1, rng.uniform(*FINAL_PULL)))
        else:
            parts.append(actions(REMOVE_LIQUIDITY, pool_idx, creator, rug, rng.uniform(*FINAL_PULL)))
        if rng.random() < RUG_DUMP_P:  # what is left of the allocation, into what is left of the pool
            parts.append(actions(SELL_BASE, pool_idx, creator, rug + rng.integers(2, 120), dev_alloc * (1 - sold)))
    else:
        if rng.random() < 0.15:  # false alarm: a withdrawal in a pool that is not rugging
            parts.append(actions(REMOVE_LIQUIDITY, pool_idx, creator, rng.integers(t_open, t_close),
                                 rng.uniform(0.05, 0.15)))
        if rng.random() < 0.10:
            parts.append(actions(SELL_BASE, pool_idx, creator, rng.integers(t_open, t_close),
                                 dev_alloc * rng.uniform(0.05, 0.1)))
        if pool.fate == "slow_death":  # the soft rug: the team bleeds the rest of its allocation into the pool
            hour = 3600
            if rng.random() < 0.7:
                parts.append(actions(REMOVE_LIQUIDITY, pool_idx, creator, rng.integers(t_open + hour, t_open + 6 * hour),
                                     rng.uniform(0.3, 0.6)))
            # in a few sessions, each a handful of sales minutes apart
            sessions = rng.integers(t_open + hour, t_open + 12 * hour, int(rng.integers(2, 5)))
            k = int(rng.integers(5, 16))
            t = rng.choice(sessions, k) + rng.exponential(3 * MIN_S, k).astype(np.int64)
            parts.append(actions(SELL_BASE, np.full(k, pool_idx), creator, t,
                                 dev_alloc * (1 - sold) * rng.dirichlet(np.ones(k)) * rng.uniform(0.7, 1.0)))
    ev = Events.concat(parts)
    keep = (ev.ts >= t_open) & (ev.ts < t_close)
    return ev.take(np.flatnonzero(keep))
