"""Native transfers: exchange withdrawals that fund most wallets, creators funding their linked wallets
(sybil clusters), shared funders and circular A->B->C->A flows inside wash rings, and everyday noise."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant.simulator.config import WorldConfig
from quant.simulator.entities import CHAIN_PARAMS, CHAINS
from quant.simulator.rng import stream

SOLANA_FEE = 0.000005  # 5,000 lamports: one signature


def build_transfers(cfg: WorldConfig, wallets: pd.DataFrame, first_seen: np.ndarray, t0: int,
                    end_ts: int) -> pd.DataFrame:
    """One row per transfer: from_idx, to_idx, ts, amount (native units), chain, kind (truth)."""
    rng = stream(cfg.seed, "transfers")
    n = len(wallets)
    arche = wallets.archetype.to_numpy()
    chain = wallets.chain.to_numpy()
    exchanges = {c: np.flatnonzero((arche == "exchange") & (chain == c)) for c in CHAINS}
    trade = np.array([CHAIN_PARAMS[c]["trade"] for c in chain])
    # Wallets never seen trading are funded at a random moment; others shortly before their first trade.
    seen = np.where(first_seen > 0, first_seen, rng.integers(t0, end_ts, n))
    fund_ts = np.maximum(seen - rng.integers(60, 6 * 3600, n), t0)
    funder = np.full(n, -1, np.int64)
    for c in CHAINS:
        m = chain == c
        funder[m] = rng.choice(exchanges[c], int(m.sum()))
    kind = np.full(n, "exchange_withdrawal", dtype=object)
    for col, label in (("insider_group", "creator_funding"), ("ring_id", "shared_funder")):
        groups = wallets[wallets[col] >= 0].groupby(col).groups
        for _g, members in groups.items():
            members = np.asarray(members)
            funder[members[1:]] = members[0]
            kind[members[1:]] = label
            # the group's funder must hold funds before it passes them on
            fund_ts[members[0]] = min(fund_ts[members[0]], fund_ts[members[1:]].min() - 60)
    fund_ts = np.maximum(fund_ts, t0)
    is_wallet = arche != "exchange"
    rows = [pd.DataFrame({"from_idx": funder[is_wallet], "to_idx": np.flatnonzero(is_wallet),
                          "ts": fund_ts[is_wallet], "amount": trade[is_wallet] * rng.lognormal(np.log(20), 0.7,
                                                                                                 is_wallet.sum()),
                          "kind": kind[is_wallet]})]
    # Circular funding inside each wash ring: A->B->C->...->A, each hop soon after the last.
    for _r, members in wallets[wallets.ring_id >= 0].groupby("ring_id").groups.items():
        members = np.asarray(members)
        start = int(rng.integers(t0, max(end_ts - 86_400, t0 + 3600)))
        hops = start + np.cumsum(rng.integers(60, 1800, len(members)))
        amount = trade[members[0]] * rng.uniform(5, 15) * (1 - 0.01 * np.arange(len(members)))
        rows.append(pd.DataFrame({"from_idx": members, "to_idx": np.roll(members, -1), "ts": hops,
                                  "amount": amount, "kind": "circular"}))
    # Noise: wallet-to-wallet payments (first half) and deposits back to exchanges (second half).
    src = rng.integers(0, n, n // 4)
    src = src[is_wallet[src]]
    u = rng.random(len(src))
    dst = np.empty(len(src), np.int64)
    half = np.arange(len(src)) < len(src) // 2
    for c in CHAINS:
        peers = np.flatnonzero(is_wallet & (chain == c))
        for targets, which in ((peers, half), (exchanges[c], ~half)):
            m = which & (chain[src] == c)
            dst[m] = targets[(u[m] * len(targets)).astype(np.int64)]
    ts = np.maximum(first_seen[src], t0) + rng.integers(3600, 3 * 86_400, len(src))
    rows.append(pd.DataFrame({"from_idx": src, "to_idx": dst, "ts": ts,
                              "amount": trade[src] * rng.lognormal(np.log(5), 1.0, len(src)),
                              "kind": np.where(half, "payment", "exchange_deposit")}))
    out = pd.concat(rows, ignore_index=True)
    out = out[(out.ts >= t0) & (out.ts < end_ts) & (out.from_idx != out.to_idx)]
    out["chain"] = chain[out.from_idx.to_numpy()]
    gas_gwei = rng.lognormal(np.log(15), 0.5, len(out))
    out["fee"] = np.where(out.chain == "solana", SOLANA_FEE, 21_000 * gas_gwei * 1e-9)
    return out.sort_values(["ts", "from_idx", "to_idx"], kind="stable").reset_index(drop=True)
