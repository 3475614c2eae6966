"""Wallets, tokens and pools of a simulated world, with the hidden truth (archetypes, fates) beside them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant.simulator.addresses import evm_addresses, solana_pubkeys
from quant.simulator.config import ARCHETYPES, CATEGORIES, CATEGORY_WEIGHTS, FATES, WorldConfig
from quant.simulator.rng import stream

DAY_S = 86_400
CHAINS = ("solana", "evm")
# Per chain: quote symbol, quote decimals, base decimals, fee fraction, median new-pool quote liquidity,
# median retail trade in quote. SOL at ~$150 and ETH at ~$3,000 make 40 SOL ~ 2 ETH ~ $6,000 of liquidity.
CHAIN_PARAMS = {
    "solana": dict(quote="SOL", quote_decimals=9, base_decimals=6, fee=0.0025, liquidity=40.0, trade=0.25,
                   quote_usd=150.0),
    "evm": dict(quote="WETH", quote_decimals=18, base_decimals=18, fee=0.003, liquidity=2.0, trade=0.0125,
                quote_usd=3000.0),
}
EXCHANGES_PER_CHAIN = 4
TOKEN_SUPPLY = 1_000_000_000
FAST_RUG_SHARE, FAST_RUG_MEAN_S = 0.54, 12 * 60
# Share of the supply a new pool is seeded with; the rest is held outside it. Pump.fun graduates
# (58% of MARKET_FACTS' cohort) reach Raydium with about 20% of their supply in the pool.
GRADUATE_SHARE, GRADUATE_POOL_SHARE, DIRECT_POOL_SHARE = 0.58, (0.18, 0.25), (0.6, 0.9)
# Of the supply outside a new pool, the share held by wallets other than the creator group (a launchpad's curve
# buyers, an airdrop's recipients): they sell it into the launch's buyers independently of the creator.
HOLDER_SHARE = 0.3
# A launch's share of retail attention: lognormal, the mean kept at exp(0.125). Attention to launches is heavy
# tailed (MARKET_FACTS: 53% of launches see a 5-minute silence in their first hour, yet the median takes ~350
# transactions to its first-hour peak). Sigma 1.0 made quiet launches when buyers ignored the chart; now that a
# crashed launch goes quiet by itself (`flows.WALK_AWAY`), 0.5 (seeds 1-2: silence 0.56, where 1.0 gave 0.68).
ACTIVITY_SIGMA = 0.5


def start_ts(cfg: WorldConfig) -> int:
    return int(pd.Timestamp(cfg.start, tz="UTC").timestamp())


def build_wallets(cfg: WorldConfig) -> pd.DataFrame:
    """Every wallet with its chain, archetype (truth), home category and wash ring; exchanges last."""
    rng = stream(cfg.seed, "wallets")
    mix = cfg.archetype_mix
    counts = {a: int(round(mix.get(a, 0.0) * cfg.n_wallets)) for a in ARCHETYPES if a != "retail"}
    counts["retail"] = cfg.n_wallets - sum(counts.values())
    archetype = np.concatenate([np.full(counts[a], a, dtype=object) for a in ARCHETYPES])
    rng.shuffle(archetype)
    n = len(archetype)
    chain = np.where(rng.random(n) < cfg.evm_share, "evm", "solana").astype(object)
    home = rng.choice(len(CATEGORIES), size=n, p=CATEGORY_WEIGHTS)
    activity = rng.pareto(1.3, n) + 1.0
    ring = _groups(rng, archetype, chain, "wash_trader")
    insider_group = _groups(rng, archetype, chain, "insider")
    ex_chain = np.repeat(np.array(CHAINS, dtype=object), EXCHANGES_PER_CHAIN)
    df = pd.DataFrame({
        "archetype": np.r_[archetype, np.full(len(ex_chain), "exchange", dtype=object)],
        "chain": np.r_[chain, ex_chain],
        "home_category": np.r_[np.array(CATEGORIES, dtype=object)[home], np.full(len(ex_chain), None)],
        "activity": np.r_[activity, np.ones(len(ex_chain))],
        "ring_id": np.r_[ring, np.full(len(ex_chain), -1)],
        "insider_group": np.r_[insider_group, np.full(len(ex_chain), -1)],
    })
    address = np.empty(len(df), dtype=object)
    for c, make in (("solana", solana_pubkeys), ("evm", evm_addresses)):
        m = (df["chain"] == c).to_numpy()
        address[m] = make(stream(cfg.seed, f"addresses-{c}"), int(m.sum()))
    df.insert(0, "address", address)
    return df


def _groups(rng: np.random.Generator, archetype: np.ndarray, chain: np.ndarray, kind: str) -> np.ndarray:
    """Split one archetype's wallets into groups of 3-5 per chain; leftovers become retail."""
    group = np.full(len(archetype), -1, np.int64)
    next_id = 0
    for c in CHAINS:
        members = np.flatnonzero((archetype == kind) & (chain == c))
        sizes: list[int] = []
        while sum(sizes) < len(members):
            sizes.append(int(rng.integers(3, 6)))
        for g in np.split(members, np.cumsum(sizes)[:-1]):
            if len(g) >= 3:
                group[g] = next_id
                next_id += 1
            else:
                archetype[g] = "retail"
    return group


def _fate_mix(cfg: WorldConfig, day: int) -> np.ndarray:
    shift = cfg.regime_shift
    mix = shift.fate_mix if shift is not None and day >= shift.day else cfg.fate_mix
    return np.asarray(mix) / np.sum(mix)


def build_pools(cfg: WorldConfig, wallets: pd.DataFrame) -> pd.DataFrame:
    """New pools day by day (each with a fresh token and a hidden fate), plus long-lived established pools
    of cross-listed tokens, one on each chain."""
    t0 = start_ts(cfg)
    # Creators are the first wallet of each insider group; the rest of the group are its linked wallets.
    leaders = wallets[wallets.insider_group >= 0].groupby("insider_group").head(1)
    insiders = {c: leaders.index[leaders.chain == c].to_numpy() for c in CHAINS}
    rows = []
    for day in range(cfg.days):
        rng = stream(cfg.seed, "pools", day)
        n = cfg.pools_per_day
        open_ts = t0 + day * DAY_S + np.sort(rng.integers(0, DAY_S, n))
        chain = np.where(rng.random(n) < cfg.evm_share, "evm", "solana")
        fate = np.array(FATES)[rng.choice(len(FATES), size=n, p=_fate_mix(cfg, day))]
        category = np.array(CATEGORIES)[rng.choice(len(CATEGORIES), size=n, p=CATEGORY_WEIGHTS)]
        hours = 3600.0
        # Rugs are front-loaded with a long tail: MARKET_FACTS' first hour has 41% of launches' liquidity pulled,
        # so with 80% of launches rugging, about half of the rugs come within the hour.
        fast = rng.random(n) < FAST_RUG_SHARE
        rug_delay = np.where(fast, 60 + rng.exponential(FAST_RUG_MEAN_S, n),
                             hours + rng.lognormal(np.log(4 * hours), 0.9, n))
        rug_at = open_ts + np.minimum(rug_delay, cfg.max_pool_life_h * hours * 0.9)
        peak_at = open_ts + rng.lognormal(np.log(5 * hours), 0.6, n)
        # How long the crowd keeps trading the pool; how long a tracker watches it is decided later from its
        # public data alone (`quant.market.tracking`).
        life = {
            "rug": rug_at - open_ts + rng.uniform(0.5, 2.0, n) * hours,
            "slow_death": rng.lognormal(np.log(10 * hours), 0.5, n),
            "climb": rng.lognormal(np.log(48 * hours), 0.4, n),
            "moon": peak_at - open_ts + rng.uniform(12, 36, n) * hours,
        }
        life_s = np.select([fate == f for f in FATES], [life[f] for f in FATES])
        close_ts = open_ts + np.minimum(life_s, cfg.max_pool_life_h * hours)
        liquidity_mult = rng.lognormal(0.0, 0.6, n)
        for i in range(n):
            c = chain[i]
            creator = rng.choice(insiders[c]) if len(insiders[c]) else -1
            rows.append(dict(
                open_ts=int(open_ts[i]), close_ts=int(close_ts[i]), chain=c, fate=fate[i], category=category[i],
                rug_ts=int(rug_at[i]) if fate[i] == "rug" else -1,
                peak_ts=int(min(peak_at[i], close_ts[i] - 60)) if fate[i] == "moon" else -1,
                peak_mult=float(np.clip(4.0 + rng.pareto(1.5) * 4.0, 4.0, 40.0)) if fate[i] == "moon" else np.nan,
                quote0=CHAIN_PARAMS[c]["liquidity"] * liquidity_mult[i],
                pool_share=float(rng.uniform(*(GRADUATE_POOL_SHARE if rng.random() < GRADUATE_SHARE else DIRECT_POOL_SHARE))), activity=float(rng.lognormal(0.125 - ACTIVITY_SIGMA**2 / 2, ACTIVITY_SIGMA)),
                creator=int(creator), soft_rug=bool(rng.random() < 0.5), established=False, day=day, k=i,
            ))
    rng = stream(cfg.seed, "established")
    end_ts = t0 + cfg.days * DAY_S
    for j in range(cfg.n_established):
        category = str(rng.choice(["defi", "ai", "gaming"]))
        for c in CHAINS:
            rows.append(dict(
                open_ts=t0 - 30 * DAY_S, close_ts=end_ts + 365 * DAY_S, chain=c, fate="established",
                category=category, rug_ts=-1, peak_ts=-1, peak_mult=np.nan,
                quote0=CHAIN_PARAMS[c]["liquidity"] * 150.0 * float(rng.lognormal(0, 0.3)),
                pool_share=np.nan, activity=3.0, creator=-1, soft_rug=False, established=True, day=-1, k=j,
            ))
    pools = pd.DataFrame(rows)
    pools["token_index"] = np.where(pools.established, -1 - pools.k, np.arange(len(pools)))
    return pools


def assign_addresses(cfg: WorldConfig, pools: pd.DataFrame) -> pd.DataFrame:
    """Pool and token-mint addresses, per chain; an established token keeps one symbol on both chains."""
    pools = pools.copy()
    pool_id = np.empty(len(pools), dtype=object)
    mint = np.empty(len(pools), dtype=object)
    makers = {"solana": solana_pubkeys, "evm": evm_addresses}
    # Keyed by (chain, day): a longer window adds pools without renaming the earlier ones.
    for (c, day), group in pools.groupby(["chain", "day"]):
        rng = stream(cfg.seed, f"pool-addresses-{c}", day + 1)
        idx = group.index.to_numpy()
        both = makers[c](rng, 2 * len(idx))
        pool_id[idx], mint[idx] = both[0::2], both[1::2]
    pools.insert(0, "pool_id", pool_id)
    pools.insert(1, "base_mint", mint)
    pools["symbol"] = np.where(pools.established, "EST" + pools.k.astype(str), "T" + pools.index.astype(str))
    for key in ("quote", "quote_decimals", "base_decimals", "fee"):
        pools[key] = pools.chain.map({c: p[key] for c, p in CHAIN_PARAMS.items()})
    return pools
