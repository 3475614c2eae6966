"""Simulates a whole world: entities, order flow, exact AMM execution, and the tables a chain would show
(pool snapshots, swaps, transfers, CEX prices), with the truth kept apart from them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
from tqdm import tqdm

from quant.market.amm import RAYDIUM_V4, UNISWAP_V2
from quant.market.tracking import LIQUIDITY_FLOOR, tracked_until
from quant.simulator import agents, entities, flows
from quant.simulator.addresses import evm_tx_hashes, solana_signatures
from quant.simulator.cex import build_cex_prices
from quant.simulator.config import WorldConfig
from quant.simulator.engine import (
    ADD_LIQUIDITY,
    BUY,
    PPM,
    REMOVE_LIQUIDITY,
    SELL_BASE,
    SELL_VALUE,
    WITHDRAW,
    Executed,
    execute,
)
from quant.simulator.entities import CHAIN_PARAMS, CHAINS, DAY_S
from quant.simulator.events import Events, PositionIds
from quant.simulator.funding import build_transfers
from quant.simulator.rng import stream

VENUES = {"solana": RAYDIUM_V4, "evm": UNISWAP_V2}
QUOTE_SYMBOL = {"solana": "SOL", "evm": "ETH"}
KEY_SHIFT = np.int64(2**33)


@dataclass
class Truth:
    """What a chain hides: wallet archetypes and groups, pool fates, the regime shift. For evaluation only."""

    wallets: pd.DataFrame
    pools: pd.DataFrame
    shift_ts: int | None


@dataclass
class World:
    config: WorldConfig
    pool_snapshots: pd.DataFrame
    swaps: pd.DataFrame
    transfers: pd.DataFrame
    cex_prices: pd.DataFrame
    liquidity_events: pd.DataFrame
    truth: Truth
    raw: dict = field(default_factory=dict)


def simulate(cfg: WorldConfig, progress: bool = False, keep_raw: bool = False) -> World:
    """Build the world for `cfg`. Deterministic: the same config gives identical tables."""
    t0 = entities.start_ts(cfg)
    end_ts = t0 + cfg.days * DAY_S
    wallets = entities.build_wallets(cfg)
    pools = entities.assign_addresses(cfg, entities.build_pools(cfg, wallets))

    token_usd = {f"EST{j}": float(stream(cfg.seed, "est-price", j).lognormal(0.5, 0.8))
                 for j in range(cfg.n_established)}
    quote_usd = {"SOL": CHAIN_PARAMS["solana"]["quote_usd"], "ETH": CHAIN_PARAMS["evm"]["quote_usd"]}
    n_minutes = cfg.days * DAY_S // 60
    cex = build_cex_prices(cfg.seed, t0, n_minutes, quote_usd, token_usd)
    usd = {s: g.price_usd.to_numpy() for s, g in cex.groupby("symbol")}
    base0, quote0 = _initial_reserves(pools, usd)

    ids = PositionIds()
    retail = {c: np.flatnonzero(((wallets.archetype == "retail") & (wallets.chain == c)).to_numpy()) for c in CHAINS}
    retail_p = {c: wallets.activity.to_numpy()[retail[c]] / wallets.activity.to_numpy()[retail[c]].sum()
                for c in CHAINS}
    arbs = {c: np.flatnonzero(((wallets.archetype == "arbitrageur") & (wallets.chain == c)).to_numpy()) for c in CHAINS}
    groups = wallets.insider_group.to_numpy()
    parts = []
    rows = pools.itertuples(index=True)
    for p in tqdm(rows, total=len(pools), desc="pool flows", disable=not progress, leave=False):
        c = p.chain
        linked = np.flatnonzero(groups == groups[p.creator])[1:] if p.creator >= 0 else np.empty(0, np.int64)
        target = None
        if p.established:
            target = usd[p.symbol] / usd[QUOTE_SYMBOL[c]] * 10.0 ** (p.quote_decimals - p.base_decimals)
        parts.append(flows.pool_flow(cfg, p, p.Index, end_ts, retail[c], retail_p[c], linked,
                                     arbs[c] if len(arbs[c]) else retail[c], target, ids))
    market = agents.Market(cfg, pools, t0, end_ts, len(wallets))
    parts.append(agents.plan_agents(cfg, market, wallets, ids))
    planned = Events.concat(parts)
    del parts

    # Chasers and market makers decide on the prices of the flow planned so far: a first pass executes it
    # (`_run` concatenates its batches into a new array, so `planned` stays whole for the second).
    price_at = _price_lookup(_run([planned], pools, base0, quote0, ids, end_ts), pools, t0)
    chasers = agents.plan_martingale(cfg, market, wallets, ids, price_at)
    makers = agents.plan_market_makers(cfg, market, wallets, ids, price_at, _exchange_price(pools, usd, t0))
    del price_at  # frees the pre-pass
    # Hand the event batches over (not a copy) so each is freed once merged: memory is the limit here.
    batches = [planned, chasers, makers]
    del planned, chasers, makers
    ev, ex = _run(batches, pools, base0, quote0, ids, end_ts, keep_raw)

    swaps = _swaps_table(cfg, ev, ex, pools, wallets)
    pools["close_ts"] = _tracked_until(cfg, ev, ex, pools)
    snapshots = _snapshots(cfg, ev, ex, pools, base0, quote0, t0, end_ts)
    traded = ex["side"] >= 0
    first = np.full(len(wallets), np.iinfo(np.int64).max)
    np.minimum.at(first, ev.wallet[traded], ev.ts[traded])
    first_seen = np.where(first == np.iinfo(np.int64).max, 0, first)
    liquidity = _liquidity_table(ev, ex, pools, wallets, base0, quote0, t0)
    raw = {"events": ev, "executed": ex, "base0": base0, "quote0": quote0, "held": ex.get("held")} if keep_raw else {}
    del ev, ex, traded
    transfers = build_transfers(cfg, wallets, first_seen, t0, end_ts)
    addr = wallets.address.to_numpy()
    transfers_table = pd.DataFrame({
        "tx_id": _tx_ids(cfg, "transfer", transfers.chain.to_numpy()),
        "ts": _to_time(transfers.ts.to_numpy()), "chain": transfers.chain.to_numpy(),
        "from_address": addr[transfers.from_idx.to_numpy()], "to_address": addr[transfers.to_idx.to_numpy()],
        "amount": transfers.amount.to_numpy(), "fee": transfers.fee.to_numpy(),
    })
    cex["ts"] = _to_time(cex.ts.to_numpy())
    truth = Truth(
        wallets=wallets[["address", "chain", "archetype", "home_category", "ring_id", "insider_group"]].copy(),
        pools=pools[["pool_id", "chain", "symbol", "base_mint", "category", "fate", "open_ts", "close_ts",
                     "rug_ts", "peak_ts", "peak_mult", "soft_rug", "established"]].copy(),
        shift_ts=None if cfg.regime_shift is None else t0 + cfg.regime_shift.day * DAY_S,
    )
    truth.pools["creator"] = np.where(pools.creator >= 0, addr[np.maximum(pools.creator, 0)], None)
    return World(cfg, snapshots, swaps, transfers_table, cex, liquidity, truth, raw)


def _tracked_until(cfg: WorldConfig, ev: Events, ex: dict, pools: pd.DataFrame) -> np.ndarray:
    """When a tracker stops watching each pool, from the public events alone (`quant.market.tracking`);
    established pools are watched throughout."""
    public = np.flatnonzero((ex["side"] >= 0) | np.isin(ev.kind, LIQUIDITY_KINDS))
    floor = pools.chain.map(LIQUIDITY_FLOOR).to_numpy()
    end = tracked_until(pools.open_ts.to_numpy(), floor, ev.pool[public].astype(np.int64), ev.ts[public],
                        ex["side"][public] >= 0, ex["quote_after"][public], cfg.max_pool_life_h * 3600)
    return np.where(pools.established, pools.close_ts.to_numpy(), end)


LIQUIDITY_KINDS = (REMOVE_LIQUIDITY, ADD_LIQUIDITY, WITHDRAW)


def _liquidity_table(ev: Events, ex: dict, pools: pd.DataFrame, wallets: pd.DataFrame, base0: dict, quote0: dict,
                     t0: int) -> pd.DataFrame:
    """Every change of a pool's liquidity as a chain shows it: who, which way, the amounts, the reserves after,
    and the share of the pool's LP supply it minted or burnt; a new pool's creation first."""
    liq = np.flatnonzero(np.isin(ev.kind, LIQUIDITY_KINDS))
    new = np.flatnonzero(~pools.established.to_numpy() & (pools.open_ts.to_numpy() >= t0))
    bd, qd = pools.base_decimals.to_numpy(), pools.quote_decimals.to_numpy()
    b_init, q_init = np.zeros(len(pools)), np.zeros(len(pools))
    for c in CHAINS:
        m = (pools.chain == c).to_numpy()
        b_init[m] = base0[c][m].astype(np.float64) / 10.0 ** bd[m]
        q_init[m] = quote0[c][m].astype(np.float64) / 10.0 ** qd[m]
    adds = ev.kind[liq] == ADD_LIQUIDITY
    base_change = ex["base_after"][liq] - ex["base_before"][liq]
    quote_change = ex["quote_after"][liq] - ex["quote_before"][liq]
    addr = wallets.address.to_numpy()
    creator = np.where(pools.creator.to_numpy() >= 0, addr[np.maximum(pools.creator.to_numpy(), 0)], None)
    table = pd.DataFrame({
        "ts": _to_time(np.r_[pools.open_ts.to_numpy()[new], ev.ts[liq]]),
        "pool_id": pools.pool_id.to_numpy()[np.r_[new, ev.pool[liq]]],
        "wallet": np.r_[creator[new], addr[ev.wallet[liq]]],
        "action": np.r_[np.full(len(new), "create", dtype=object), np.where(adds, "add", "remove")],
        "base_amount": np.r_[b_init[new], np.abs(base_change)],
        "quote_amount": np.r_[q_init[new], np.abs(quote_change)],
        "base_reserve_after": np.r_[b_init[new], ex["base_after"][liq]],
        "quote_reserve_after": np.r_[q_init[new], ex["quote_after"][liq]],
        # Share of the pool removed (of each reserve, as burnt LP / supply); 0 for deposits.
        "fraction_removed": np.r_[np.zeros(len(new)), np.where(adds, 0.0, -quote_change / np.maximum(
            ex["quote_before"][liq], 1e-300))],
    })
    return table.sort_values(["ts", "pool_id"], kind="stable").reset_index(drop=True)


def _initial_reserves(pools: pd.DataFrame, usd: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """Raw reserves per chain: int64 on Solana (exact below 2**53), Python ints on EVM (18 decimals)."""
    price0 = np.array([usd[s][0] / usd[QUOTE_SYMBOL[c]][0] if est else np.nan
                       for s, c, est in zip(pools.symbol, pools.chain, pools.established, strict=True)])
    base_tokens = np.where(pools.established, pools.quote0 / price0, entities.TOKEN_SUPPLY * pools.pool_share)
    base0, quote0 = {}, {}
    for c in CHAINS:
        p = CHAIN_PARAMS[c]
        base0[c] = _raw(np.where(pools.chain == c, base_tokens, 1.0), p["base_decimals"], c)
        quote0[c] = _raw(np.where(pools.chain == c, pools.quote0, 1.0), p["quote_decimals"], c)
    return base0, quote0


def _raw(tokens: np.ndarray, decimals: int, chain: str) -> np.ndarray:
    if chain == "solana":
        return np.floor(tokens * 10.0**decimals).astype(np.int64)
    return np.floor(tokens * 1e9).astype(np.int64).astype(object) * 10 ** (decimals - 9)


TX_CHUNK = 1_000_000
CHUNK_EVENTS = 4_000_000  # pools are executed in groups of about this many events, to bound memory


def _run(batches: list[Events], pools: pd.DataFrame, base0: dict, quote0: dict, ids: PositionIds, end_ts: int,
         keep_raw: bool = False) -> tuple[Events, dict]:
    """Sort events by pool and time and execute each chain through its venue's exact AMM.

    Pools are independent once their events are planned, so they run in chunks: the raw integer arrays
    (Python ints on EVM) of one chunk at a time. `keep_raw` keeps them, in one chunk, for tests."""
    ev = Events.concat(batches)
    batches.clear()
    order = np.lexsort((ev.kind, ev.ts, ev.pool))
    ev = ev.take(order[ev.ts[order] < end_ts])
    del order
    n = len(ev)
    row_of_pos = np.full(ids.next, -1, np.int64)
    is_buy = ev.pos_id >= 0
    row_of_pos[ev.pos_id[is_buy]] = np.flatnonzero(is_buy)
    ref_row = np.where(ev.ref >= 0, row_of_pos[np.maximum(ev.ref, 0)], -1)
    del row_of_pos, is_buy
    chain_of_pool = pools.chain.to_numpy()
    cols = {k: np.zeros(n) for k in ("amount_in", "amount_out", "fee", "base_before", "quote_before",
                                      "base_after", "quote_after")}
    cols["side"] = np.full(n, -1, np.int8)
    qd_pool, bd_pool = pools.quote_decimals.to_numpy(), pools.base_decimals.to_numpy()
    # Tokens outside each pool at its creation, by owner (engine.GROUP, engine.HOLDERS): a new token's supply less
    # its pool's seed, split between its creator group and other holders; for an established token, as much again
    # as its pool for each.
    outside = np.nan_to_num(entities.TOKEN_SUPPLY * (1 - pools.pool_share.to_numpy()))
    shares = np.array([[1 - entities.HOLDER_SHARE], [entities.HOLDER_SHARE]])
    established = pools.established.to_numpy()
    held = {c: np.where(established, base0[c], _raw(shares * outside, CHAIN_PARAMS[c]["base_decimals"], c))
            for c in CHAINS}
    if keep_raw:
        cols["held"] = held
    pool_start = np.searchsorted(ev.pool, np.arange(len(pools) + 1))
    limit = n + 1 if keep_raw else CHUNK_EVENTS
    chunks, lo = [], 0
    for hi in range(1, len(pools) + 1):
        if pool_start[hi] - pool_start[lo] >= limit or hi == len(pools):
            chunks.append((pool_start[lo], pool_start[hi]))
            lo = hi
    for s, e in chunks:
        for c in CHAINS:
            idx = s + np.flatnonzero(chain_of_pool[ev.pool[s:e]] == c)
            if len(idx) == 0:
                continue
            local = np.full(e - s, -1, np.int64)
            local[idx - s] = np.arange(len(idx))
            ref = np.where(ref_row[idx] >= 0, local[np.maximum(ref_row[idx] - s, 0)], -1)
            out = _execute_chain(ev.take(idx), ref, c, base0[c], quote0[c], held[c])
            qd, bd = qd_pool[ev.pool[idx]], bd_pool[ev.pool[idx]]
            in_dec = np.where(out.side == 0, qd, bd)
            out_dec = np.where(out.side == 0, bd, qd)
            cols["side"][idx] = out.side
            cols["amount_in"][idx] = out.amount_in.astype(np.float64) / 10.0**in_dec
            cols["amount_out"][idx] = out.amount_out.astype(np.float64) / 10.0**out_dec
            cols["fee"][idx] = out.fee.astype(np.float64) / 10.0**in_dec
            for k in ("base_before", "base_after"):
                cols[k][idx] = getattr(out, k).astype(np.float64) / 10.0**bd
            for k in ("quote_before", "quote_after"):
                cols[k][idx] = getattr(out, k).astype(np.float64) / 10.0**qd
            if keep_raw:
                cols.setdefault("raw", {})[c] = (idx, out)
    return ev, cols


def _execute_chain(sub: Events, ref: np.ndarray, chain: str, base0: np.ndarray, quote0: np.ndarray,
                   held: np.ndarray) -> Executed:
    """Raw integer quantities for one chain's events, then the exact AMM."""
    p = CHAIN_PARAMS[chain]
    qty = np.round(sub.amount * PPM).astype(np.int64)  # fractions, in ppm
    if chain != "solana":
        qty = qty.astype(object)
    buy, dump = (sub.kind == BUY) | (sub.kind == SELL_VALUE), sub.kind == SELL_BASE
    qty[buy] = _raw(sub.amount[buy], p["quote_decimals"], chain)
    qty[dump] = _raw(sub.amount[dump], p["base_decimals"], chain)
    return execute(sub.pool, sub.kind, qty, ref, sub.target, base0, quote0, VENUES[chain], held,
                   p["base_decimals"], sub.walk_away)


def _asof(ev: Events, pool: np.ndarray, ts: np.ndarray, t0: int) -> np.ndarray:
    """Index of the last event of `pool` at or before `ts`, or -1."""
    keys = ev.pool.astype(np.int64) * KEY_SHIFT + (ev.ts - t0)
    q = pool.astype(np.int64) * KEY_SHIFT + (ts - t0)
    j = np.searchsorted(keys, q, side="right") - 1
    ok = (j >= 0) & (ev.pool[np.maximum(j, 0)] == pool)
    return np.where(ok, j, -1)


def _price_lookup(run: tuple[Events, dict], pools: pd.DataFrame, t0: int):
    ev, ex = run
    p0 = (pools.quote0 / np.where(pools.established, np.nan, entities.TOKEN_SUPPLY * pools.pool_share)).to_numpy()
    after = np.divide(ex["quote_after"], ex["base_after"], out=np.full(len(ev), np.nan), where=ex["base_after"] > 0)

    def price_at(pool: np.ndarray, ts: np.ndarray) -> np.ndarray:
        j = _asof(ev, pool, ts, t0)
        return np.where(j >= 0, after[np.maximum(j, 0)], p0[pool])

    return price_at


def _exchange_price(pools: pd.DataFrame, usd: dict[str, np.ndarray], t0: int):
    """The centralised exchange's price of each established pool's token in its quote, as of each minute."""
    est = np.flatnonzero(pools.established.to_numpy())
    row = np.full(len(pools), -1, np.int64)
    row[est] = np.arange(len(est))
    table = np.array([usd[pools.symbol.iat[i]] / usd[QUOTE_SYMBOL[pools.chain.iat[i]]] for i in est])

    def fair_at(pool: np.ndarray, ts: np.ndarray) -> np.ndarray:
        minute = np.clip((ts - t0) // 60, 0, table.shape[1] - 1)
        return table[row[pool], minute]

    return fair_at


def _to_time(ts: np.ndarray) -> np.ndarray:
    return pd.to_datetime(np.asarray(ts, np.int64), unit="s", utc=True).as_unit("us").tz_localize(None).to_numpy()


def _tx_ids(cfg: WorldConfig, what: str, chain: np.ndarray) -> pd.Series:
    """Transaction ids as Arrow strings: tens of millions of Python strings would not fit in memory."""
    parts, rows = [], []
    for c, make in (("solana", solana_signatures), ("evm", evm_tx_hashes)):
        where = np.flatnonzero(chain == c)
        rng = stream(cfg.seed, f"tx-{what}-{c}")
        # Fixed-size chunks bound the digit matrices' memory and keep ids prefix-stable.
        parts += [make(rng, min(TX_CHUNK, len(where) - i), as_arrow=True) for i in range(0, len(where), TX_CHUNK)]
        rows.append(where)
    order = np.argsort(np.concatenate(rows), kind="stable")
    ids = pa.concat_arrays(parts).take(pa.array(order))
    return pd.Series(pd.arrays.ArrowExtensionArray(ids))


def _swaps_table(cfg: WorldConfig, ev: Events, ex: dict, pools: pd.DataFrame, wallets: pd.DataFrame) -> pd.DataFrame:
    t = np.flatnonzero(ex["side"] >= 0)
    t = t[np.lexsort((ev.pool[t], ev.ts[t]))]  # time order; ties by pool, then execution order (stable)
    side = ex["side"][t]
    pool = ev.pool[t]
    a_in, a_out = ex["amount_in"][t], ex["amount_out"][t]
    with np.errstate(divide="ignore", invalid="ignore"):
        price = np.where(side == 0, a_in / a_out, a_out / a_in)
    df = pd.DataFrame({
        "ts": _to_time(ev.ts[t]), "chain": pools.chain.to_numpy()[pool],
        "pool_id": pools.pool_id.to_numpy()[pool], "wallet": wallets.address.to_numpy()[ev.wallet[t]],
        "side": np.array(["buy", "sell"], dtype=object)[side], "amount_in": a_in, "amount_out": a_out,
        "reserve_base_before": ex["base_before"][t], "reserve_quote_before": ex["quote_before"][t],
        "price": price, "fee": ex["fee"][t],
    }, copy=False)
    # Ids are drawn in time order, so a longer window appends ids instead of renaming earlier swaps.
    df.insert(0, "tx_id", _tx_ids(cfg, "swap", df.chain.to_numpy()))
    return df


def _snapshots(cfg, ev: Events, ex: dict, pools: pd.DataFrame, base0: dict, quote0: dict, t0: int,
               end_ts: int) -> pd.DataFrame:
    """One row per pool per cadence step while it is tracked: reserves as of that moment, rolling volume."""
    step = cfg.cadence_s
    lo = np.maximum(pools.open_ts.to_numpy(), t0)
    first = -(-lo // step) * step
    last = np.minimum(pools.close_ts.to_numpy(), end_ts)
    counts = np.maximum((last - first + step - 1) // step, 0)
    pool = np.repeat(np.arange(len(pools)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    ts = np.repeat(first, counts) + offsets * step
    j = _asof(ev, pool, ts, t0)
    qd = pools.quote_decimals.to_numpy()
    bd = pools.base_decimals.to_numpy()
    b_init = np.zeros(len(pools))
    q_init = np.zeros(len(pools))
    for c in CHAINS:
        m = (pools.chain == c).to_numpy()
        b_init[m] = base0[c][m].astype(np.float64) / 10.0 ** bd[m]
        q_init[m] = quote0[c][m].astype(np.float64) / 10.0 ** qd[m]
    has = j >= 0
    jj = np.maximum(j, 0)
    base = np.where(has, ex["base_after"][jj], b_init[pool])
    quote = np.where(has, ex["quote_after"][jj], q_init[pool])
    vol = np.where(ex["side"] == 0, ex["amount_in"], np.where(ex["side"] == 1, ex["amount_out"], 0.0))
    # Per-pool sums, so a pool's figures never depend on other pools' rounding.
    cum = pd.Series(vol).groupby(ev.pool).cumsum().to_numpy()
    j24 = _asof(ev, pool, ts - DAY_S, t0)
    c_now = np.where(has, cum[jj], 0.0)
    c_then = np.where(j24 >= 0, cum[np.maximum(j24, 0)], 0.0)
    return pd.DataFrame({
        "pool_id": pools.pool_id.to_numpy()[pool], "chain": pools.chain.to_numpy()[pool], "ts": _to_time(ts),
        "price": quote / base, "base_reserve": base, "quote_reserve": quote, "volume_24h": c_now - c_then,
        "trade_fee": pools.fee.to_numpy()[pool], "pool_open_time": _to_time(pools.open_ts.to_numpy()[pool]),
        "base_decimals": bd[pool].astype(np.int16), "quote_decimals": qd[pool].astype(np.int16),
        "category": pools.category.to_numpy()[pool], "base_mint": pools.base_mint.to_numpy()[pool],
        "quote_symbol": pools.quote.to_numpy()[pool],
    })
