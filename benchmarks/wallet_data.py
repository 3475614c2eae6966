"""Synthetic swaps, pools and transfers at benchmark scale, written straight into a DuckDB file.

Simulating a million wallets' worth of market takes far longer than the scanner itself, so the benchmark
draws the tables directly with numpy: wallets with a heavy-tailed number of round trips, pools with a
category, an opening time and a liquidity path that collapses for most of them, entries after opening,
lognormal holds and returns, and funding transfers from a few exchange hubs plus small patron clusters.
Wallets are real-format addresses (70% base58 Solana keys, 30% EIP-55 EVM addresses), so address
validation costs what it would on chain data. Written in chunks of wallets so the generator never holds
the whole table in memory."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from quant.simulator.addresses import evm_addresses, solana_pubkeys
from quant.simulator.config import CATEGORIES, CATEGORY_WEIGHTS

T0 = int(pd.Timestamp("2026-01-01", tz="UTC").timestamp())
DAYS = 10
CHUNK = 100_000


def write_world(path: Path, n_wallets: int, n_swaps: int, seed: int = 11) -> dict:
    """Write `swaps`, `pools` and `transfers` tables for about `n_swaps` swaps by `n_wallets` wallets."""
    rng = np.random.default_rng(seed)
    n_pools = max(n_wallets // 100, 10)
    pools = _pools(rng, n_pools)
    con = duckdb.connect(str(path))
    con.register("p", pools)
    con.execute("CREATE OR REPLACE TABLE pools AS SELECT pool_id, category, open_ts FROM p")
    con.unregister("p")
    trips_per_wallet = n_swaps / 2 / n_wallets
    first = True
    for lo in range(0, n_wallets, CHUNK):
        n = min(CHUNK, n_wallets - lo)
        swaps, transfers = _chunk(np.random.default_rng([seed, lo]), lo, n, trips_per_wallet, pools)
        for name, df in (("swaps", swaps), ("transfers", transfers)):
            con.register("batch", df)
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM batch" if first
                        else f"INSERT INTO {name} SELECT * FROM batch")
            con.unregister("batch")
        first = False
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("swaps", "pools", "transfers")}
    con.close()
    return counts


def _addresses(rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    evm = rng.random(n) < 0.3
    out = np.empty(n, dtype=object)
    out[~evm] = solana_pubkeys(rng, int((~evm).sum()))
    out[evm] = evm_addresses(rng, int(evm.sum()))
    return out, np.where(evm, "evm", "solana").astype(object)


def _pools(rng, n: int) -> pd.DataFrame:
    ids, _chain = _addresses(rng, n)
    open_ts = T0 + rng.integers(0, DAYS * 86_400 - 3600, n)
    collapses = rng.random(n) < 0.8  # most new pools are rugged (Solidus Labs 2025)
    return pd.DataFrame({
        "pool_id": ids, "category": rng.choice(CATEGORIES, n, p=CATEGORY_WEIGHTS),
        "open_ts": pd.to_datetime(open_ts, unit="s"), "open_s": open_ts,
        "collapse_s": np.where(collapses, open_ts + rng.lognormal(np.log(6 * 3600), 1.0, n).astype(np.int64),
                               np.iinfo(np.int64).max),
        "liquidity": rng.lognormal(np.log(40), 1.0, n),
    })


def _chunk(rng, lo: int, n: int, trips_per_wallet: float, pools: pd.DataFrame):
    wallet, chain = _addresses(rng, n)
    # Every wallet trades at least once; the rest is heavy-tailed (Lomax(3) has mean 1/2).
    trips = 1 + rng.poisson((trips_per_wallet - 1) * 2 * rng.pareto(3.0, n))
    w = np.repeat(np.arange(n), trips)
    pool = rng.integers(0, len(pools), len(w))
    entry = pools.open_s.to_numpy()[pool] + rng.exponential(3 * 3600, len(w)).astype(np.int64)
    hold = rng.lognormal(np.log(1800), 1.3, len(w)).astype(np.int64) + 30
    exit_ = entry + hold
    stake = rng.lognormal(np.log(0.25), 1.0, len(w))
    collapse = pools.collapse_s.to_numpy()[pool]
    ret = np.where(exit_ > collapse, -0.9, rng.normal(0.0, 0.3, len(w)))
    liq = pools.liquidity.to_numpy()[pool]
    price_in = rng.lognormal(np.log(1e-6), 1.0, len(w))
    base = stake / price_in * 0.997
    out_quote = np.maximum(base * price_in * (1 + ret), 1e-9)
    sold = exit_ < T0 + DAYS * 86_400
    side = np.r_[np.full(len(w), "buy"), np.full(int(sold.sum()), "sell")]
    ts = np.r_[entry, exit_[sold]]
    reserve = np.r_[liq * rng.uniform(0.8, 1.5, len(w)),
                    np.where(exit_[sold] > collapse[sold], liq[sold] * 0.05, liq[sold] * rng.uniform(0.8, 1.5, int(sold.sum())))]
    swaps = pd.DataFrame({
        "ts": pd.to_datetime(ts, unit="s"), "chain": np.r_[chain[w], chain[w][sold]],
        "pool_id": np.r_[pools.pool_id.to_numpy()[pool], pools.pool_id.to_numpy()[pool][sold]],
        "wallet": np.r_[wallet[w], wallet[w][sold]], "side": side,
        "amount_in": np.r_[stake, base[sold]], "amount_out": np.r_[base, out_quote[sold]],
        "reserve_base_before": 1e9, "reserve_quote_before": reserve, "price": np.r_[price_in, out_quote[sold] / base[sold]],
        "fee": 0.0,
    })
    hubs = solana_pubkeys(np.random.default_rng(0), 8)  # the same eight exchanges in every chunk
    # 2% of wallets come in groups of four funded by the group's first wallet: shared-funder clusters.
    leader = np.arange(n) // 4 * 4
    patron = (rng.random(n // 4 + 1) < 0.02)[np.arange(n) // 4] & (np.arange(n) != leader)
    funder = np.where(patron, wallet[leader], hubs[rng.integers(0, 8, n)])
    transfers = pd.DataFrame({"ts": pd.to_datetime(T0 + rng.integers(0, 86_400, n), unit="s"), "chain": chain,
                              "from_address": funder, "to_address": wallet, "amount": rng.lognormal(0, 1, n),
                              "fee": 0.0})
    return swaps, transfers
