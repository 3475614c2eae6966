"""Native transfers: exchange withdrawals that fund most wallets, creators funding their linked wallets
(sybil clusters), shared funders and loops inside wash rings (of several shapes, some through a hub that several
rings share), and everyday payments, which repeat counterparties, are often paid back, and sometimes go around a
small group."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant.simulator.config import WorldConfig
from quant.simulator.entities import CHAIN_PARAMS, CHAINS
from quant.simulator.rng import stream

SOLANA_FEE = 0.000005  # 5,000 lamports: one signature
# How wash rings move their funds (truth: each ring draws one): a loop through all members, two loops of
# different lengths, a fan out from one member and back, or a loop routed through a hub that several rings share.
RING_SHAPES, RING_SHAPE_P = ("cycle", "cycles", "fan", "hub"), (0.4, 0.2, 0.2, 0.2)
RING_SHARED_FUNDER_P = 0.5  # the other rings' members draw their first funds from exchanges, like anyone
HOP_NOISE = 0.25  # each hop's amount: lognormal around the ring's stake, not a fixed 1% less per hop
# Ordinary payments: the share sent to the payer's usual counterparty, and the share of those paid back.
REPEAT_SHARE, PAY_BACK_SHARE = 0.5, 0.3
# Small groups of ordinary wallets that pay each other around (shared bills, a team): loops that are no wash ring.
GROUP_SHARE, GROUP_SIZE, GROUP_ROUNDS = 0.01, (3, 5), (1, 4)


def ring_shapes(cfg: WorldConfig, wallets: pd.DataFrame) -> dict[int, str]:
    """Each wash ring's funding shape (truth), as `build_transfers` draws it."""
    rng = stream(cfg.seed, "ring-shapes")
    rings = sorted(wallets.ring_id[wallets.ring_id >= 0].unique())
    return dict(zip(rings, rng.choice(RING_SHAPES, len(rings), p=RING_SHAPE_P), strict=True))


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
    rings = sorted(wallets.ring_id[wallets.ring_id >= 0].unique())
    shares_funder = dict(zip(rings, stream(cfg.seed, "ring-funders").random(len(rings)) < RING_SHARED_FUNDER_P,
                             strict=True))
    for col, label in (("insider_group", "creator_funding"), ("ring_id", "shared_funder")):
        groups = wallets[wallets[col] >= 0].groupby(col).groups
        for g, members in groups.items():
            members = np.asarray(members)
            if col == "ring_id" and not shares_funder[g]:
                continue
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
    rows += _ring_flows(rng, wallets, ring_shapes(cfg, wallets), trade, t0, end_ts)
    # Noise: wallet-to-wallet payments (first half) and deposits back to exchanges (second half).
    activity = wallets.activity.to_numpy()
    src = rng.choice(n, n // 4, p=activity / activity.sum())  # busy wallets pay often
    src = src[is_wallet[src]]
    u = rng.random(len(src))
    dst = np.empty(len(src), np.int64)
    half = np.arange(len(src)) < len(src) // 2
    for c in CHAINS:
        peers = np.flatnonzero(is_wallet & (chain == c))
        for targets, which in ((peers, half), (exchanges[c], ~half)):
            m = which & (chain[src] == c)
            dst[m] = targets[(u[m] * len(targets)).astype(np.int64)]
    # Most people pay the same few people again and again, and often get paid back.
    friend = np.empty(n, np.int64)
    for c in CHAINS:
        peers = np.flatnonzero(is_wallet & (chain == c))
        friend[chain == c] = peers[rng.integers(0, len(peers), int((chain == c).sum()))]
    usual = half & (rng.random(len(src)) < REPEAT_SHARE)
    dst[usual] = friend[src[usual]]
    ts = np.maximum(first_seen[src], t0) + rng.integers(3600, 3 * 86_400, len(src))
    amount = trade[src] * rng.lognormal(np.log(5), 1.0, len(src))
    rows.append(pd.DataFrame({"from_idx": src, "to_idx": dst, "ts": ts, "amount": amount,
                              "kind": np.where(half, "payment", "exchange_deposit")}))
    back = usual & (rng.random(len(src)) < PAY_BACK_SHARE)
    rows.append(pd.DataFrame({"from_idx": dst[back], "to_idx": src[back],
                              "ts": ts[back] + rng.integers(600, 86_400, int(back.sum())),
                              "amount": amount[back] * rng.lognormal(0, 0.3, int(back.sum())), "kind": "payment"}))
    rows.append(_payment_groups(rng, is_wallet, chain, trade, first_seen, t0))
    out = pd.concat(rows, ignore_index=True)
    out = out.assign(from_idx=out.from_idx.astype(np.int64), to_idx=out.to_idx.astype(np.int64),
                     ts=out.ts.astype(np.int64))
    out = out[(out.ts >= t0) & (out.ts < end_ts) & (out.from_idx != out.to_idx)]
    out["chain"] = chain[out.from_idx.to_numpy()]
    gas_gwei = rng.lognormal(np.log(15), 0.5, len(out))
    out["fee"] = np.where(out.chain == "solana", SOLANA_FEE, 21_000 * gas_gwei * 1e-9)
    return out.sort_values(["ts", "from_idx", "to_idx"], kind="stable").reset_index(drop=True)



def _ring_flows(rng, wallets: pd.DataFrame, shapes: dict[int, str], trade: np.ndarray, t0: int,
                end_ts: int) -> list[pd.DataFrame]:
    """Funding inside each wash ring, in its shape, each hop soon after the last."""
    chain = wallets.chain.to_numpy()
    hub: dict[str, int] = {}  # per chain, the first hub-shaped ring's first member carries the others' loops
    rows = []
    for r, members in sorted(wallets[wallets.ring_id >= 0].groupby("ring_id").groups.items()):
        m = np.asarray(members)
        shape = shapes[r]
        if shape == "cycle":
            src, dst = m, np.roll(m, -1)
        elif shape == "cycles":
            sub = rng.permutation(m)[: int(rng.integers(3, len(m) + 1))]
            src, dst = np.r_[m, sub], np.r_[np.roll(m, -1), np.roll(sub, -1)]
        elif shape == "fan":
            src, dst = np.r_[np.full(len(m) - 1, m[0]), m[1:]], np.r_[m[1:], np.full(len(m) - 1, m[0])]
        else:
            h = hub.setdefault(chain[m[0]], int(m[0]))
            if h == m[0]:
                src, dst = m, np.roll(m, -1)
            else:  # m0 -> hub -> m1 -> hub -> ... -> m0
                src = np.ravel(np.column_stack([m, np.full(len(m), h)]))
                dst = np.ravel(np.column_stack([np.full(len(m), h), np.roll(m, -1)]))
        start = int(rng.integers(t0, max(end_ts - 86_400, t0 + 3600)))
        hops = start + np.cumsum(rng.integers(60, 1800, len(src)))
        amount = trade[m[0]] * rng.uniform(5, 15) * rng.lognormal(0, HOP_NOISE, len(src))
        keep = src != dst
        rows.append(pd.DataFrame({"from_idx": src[keep], "to_idx": dst[keep], "ts": hops[keep],
                                  "amount": amount[keep], "kind": "circular"}))
    return rows


def _payment_groups(rng, is_wallet: np.ndarray, chain: np.ndarray, trade: np.ndarray, first_seen: np.ndarray,
                    t0: int) -> pd.DataFrame:
    """A few small groups of ordinary wallets paying each other in turn, a loop or two each."""
    rows = []
    for c in CHAINS:
        peers = rng.permutation(np.flatnonzero(is_wallet & (chain == c)))
        n_groups = int(len(peers) * GROUP_SHARE / np.mean(GROUP_SIZE))
        at = 0
        for _ in range(n_groups):
            g = peers[at: at + int(rng.integers(GROUP_SIZE[0], GROUP_SIZE[1] + 1))]
            at += len(g)
            for _ in range(int(rng.integers(*GROUP_ROUNDS))):
                order = rng.permutation(g)
                start = max(int(first_seen[order].max()), t0) + int(rng.integers(3600, 2 * 86_400))
                rows.append(pd.DataFrame({
                    "from_idx": order, "to_idx": np.roll(order, -1),
                    "ts": start + np.cumsum(rng.integers(600, 6 * 3600, len(order))),
                    "amount": trade[order] * rng.lognormal(np.log(3), 0.8, len(order)), "kind": "group_payment"}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["from_idx", "to_idx", "ts",
                                                                                 "amount", "kind"])
