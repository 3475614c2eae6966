"""Raydium AMM v4 swaps out of `getTransaction` (jsonParsed) responses.

Each swap instruction (outer or inner, in execution order) is paired with its `ray_log`; the amounts are
checked against the pool vaults' pre/post token balances, and a disagreement is an error, never a row.
"""

from __future__ import annotations

from dataclasses import dataclass

import base58

from quant.chains.errors import ChainError
from quant.chains.solana.layout import AMM_V4_PROGRAM
from quant.chains.solana.ray_log import ray_logs
from quant.market.amm import raydium_v4_fee

SWAP_TAGS = {9: "swap_base_in", 11: "swap_base_out"}
PROGRAM = str(AMM_V4_PROGRAM)


@dataclass(frozen=True)
class RaydiumSwap:
    signature: str
    slot: int
    block_time: int
    pool: str
    wallet: str  # the fee payer, who signed the route
    coin_to_pc: bool
    amount_in: int
    amount_out: int
    fee: int  # Raydium's trade fee, in input units
    pool_coin_before: int  # coin vault balance before the swap
    pool_pc_before: int
    coin_vault: str
    pc_vault: str
    owner_deltas: dict[str, int]  # the wallet's net change per mint over the whole transaction


def _instructions(result: dict) -> list[dict]:
    """Every instruction in execution order: outer i, then the inner ones it invoked."""
    outer = result["transaction"]["message"]["instructions"]
    inner = {g["index"]: g["instructions"] for g in result["meta"].get("innerInstructions") or []}
    flat = []
    for i, ix in enumerate(outer):
        flat.append(ix)
        flat.extend(inner.get(i, []))
    return flat


def _balances(meta: dict, key: str, keys: list[str]) -> dict[str, tuple[str, str, int]]:
    """account -> (mint, owner, raw amount) from pre/postTokenBalances."""
    return {keys[b["accountIndex"]]: (b["mint"], b.get("owner", ""), int(b["uiTokenAmount"]["amount"]))
            for b in meta.get(key) or []}


def _owner_deltas(pre: dict, post: dict, owner: str) -> dict[str, int]:
    deltas: dict[str, int] = {}
    for acct in set(pre) | set(post):
        mint, who, _ = post.get(acct) or pre[acct]
        if who == owner:
            d = (post[acct][2] if acct in post else 0) - (pre[acct][2] if acct in pre else 0)
            deltas[mint] = deltas.get(mint, 0) + d
    return {m: d for m, d in deltas.items() if d}


def parse_swaps(response: dict) -> list[RaydiumSwap]:
    """Raydium v4 swaps of one getTransaction response (the JSON-RPC envelope or its result)."""
    result = response.get("result", response) if "jsonrpc" in response else response
    if result is None:
        raise ChainError("getTransaction returned null: unknown signature or not yet confirmed")
    meta, msg = result["meta"], result["transaction"]["message"]
    sig = result["transaction"]["signatures"][0]
    if meta.get("err") is not None:
        return []  # a failed transaction moved nothing
    keys = [k["pubkey"] if isinstance(k, dict) else k for k in msg["accountKeys"]]
    if msg["accountKeys"] and not isinstance(msg["accountKeys"][0], dict):  # "json": lookups listed apart
        loaded = meta.get("loadedAddresses") or {}
        keys += loaded.get("writable", []) + loaded.get("readonly", [])
    pre, post = _balances(meta, "preTokenBalances", keys), _balances(meta, "postTokenBalances", keys)
    ixs = [ix for ix in _instructions(result) if ix.get("programId") == PROGRAM and "data" in ix]
    ixs = [ix for ix in ixs if (d := base58.b58decode(ix["data"])) and d[0] in SWAP_TAGS]
    logs = ray_logs(meta.get("logMessages") or [], PROGRAM)
    if len(ixs) != len(logs):
        raise ChainError(f"{sig}: {len(ixs)} Raydium swap instructions but {len(logs)} ray_log swap lines")
    wallet = keys[0]
    deltas = _owner_deltas(pre, post, wallet)
    pools = [ix["accounts"][1] for ix in ixs]
    swaps = []
    for ix, log in zip(ixs, logs, strict=True):
        accts = ix["accounts"]
        coin_vault, pc_vault = (accts[5], accts[6]) if len(accts) == 18 else (accts[4], accts[5])
        for vault in (coin_vault, pc_vault):
            if vault not in pre or vault not in post:
                raise ChainError(f"{sig}: vault {vault} has no pre/post token balance")
        if (log.pool_coin, log.pool_pc) != (pre[coin_vault][2], pre[pc_vault][2]) and pools.count(accts[1]) == 1:
            raise ChainError(f"{sig}: ray_log vaults {log.pool_coin}/{log.pool_pc} != preTokenBalances "
                             f"{pre[coin_vault][2]}/{pre[pc_vault][2]}")
        if pools.count(accts[1]) == 1:  # one swap on this pool: the vault deltas must equal the log
            d_coin, d_pc = post[coin_vault][2] - pre[coin_vault][2], post[pc_vault][2] - pre[pc_vault][2]
            want = (log.amount_in, -log.amount_out) if log.coin_to_pc else (-log.amount_out, log.amount_in)
            if (d_coin, d_pc) != want:
                raise ChainError(f"{sig}: vault deltas {d_coin}/{d_pc} disagree with ray_log {want}")
        swaps.append(RaydiumSwap(
            signature=sig, slot=result["slot"], block_time=result["blockTime"], pool=accts[1], wallet=wallet,
            coin_to_pc=log.coin_to_pc, amount_in=log.amount_in, amount_out=log.amount_out,
            fee=raydium_v4_fee(log.amount_in), pool_coin_before=log.pool_coin, pool_pc_before=log.pool_pc,
            coin_vault=coin_vault, pc_vault=pc_vault, owner_deltas=deltas))
    return swaps
