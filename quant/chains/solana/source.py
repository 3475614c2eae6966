"""The Raydium AMM v4 market source: pools, reserves and swaps from a Solana RPC, as market tables."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from quant.chains.errors import BadAccount
from quant.chains.solana.layout import (
    AMM_INFO_SIZE,
    AMM_V4_PROGRAM,
    OFFSETS,
    AmmInfo,
    decode_amm_info,
    decode_token_account,
)
from quant.chains.solana.rpc import SolanaRpc
from quant.chains.solana.transactions import RaydiumSwap, parse_swaps
from quant.chains.tables import empty, naive_utc, unique_ids

WSOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
USDT = "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB"
# The quote side of a pool: the first of these it holds (SOL-USDC is priced in USDC, memecoins in SOL).
QUOTE_MINTS = {USDC: "USDC", USDT: "USDT", WSOL: "SOL"}
LAMPORTS = 10**9


@dataclass
class Pool:
    pool_id: str
    info: AmmInfo

    @property
    def base_is_coin(self) -> bool:
        coin, pc = str(self.info.coin_mint), str(self.info.pc_mint)
        rank = list(QUOTE_MINTS)
        return pc in QUOTE_MINTS and (coin not in QUOTE_MINTS or rank.index(pc) < rank.index(coin)) \
            or coin not in QUOTE_MINTS and pc not in QUOTE_MINTS

    @property
    def quote_mint(self) -> str:
        return str(self.info.pc_mint if self.base_is_coin else self.info.coin_mint)


@dataclass
class RaydiumSource:
    """Market tables for a set of Raydium AMM v4 pools (given, or discovered by mint)."""

    rpc: SolanaRpc
    pools: list[str] = field(default_factory=list)
    max_signatures: int = 5000
    category: str = "unknown"

    async def discover(self, mint: str, side: str = "coin_mint") -> list[str]:
        """Pool ids holding `mint` on `side` (coin_mint or pc_mint): getProgramAccounts, size + memcmp."""
        accounts = await self.rpc.program_accounts(str(AMM_V4_PROGRAM), AMM_INFO_SIZE, {OFFSETS[side]: mint})
        return [a["pubkey"] for a in accounts]

    async def load_pools(self, ids: list[str]) -> dict[str, Pool]:
        """Decode each pool account; wrong owner or size is a `BadAccount` error naming the pool."""
        accounts = await self.rpc.multiple_accounts(ids)
        out = {}
        for pid, acct in accounts.items():
            if acct is None:
                raise BadAccount(f"pool {pid}: account not found")
            out[pid] = Pool(pid, decode_amm_info(acct["data"], acct.get("owner"), where=f"pool {pid}"))
        return out

    async def reserves(self, pools: dict[str, Pool]) -> dict[str, tuple[int, int]]:
        """Price reserves (coin, pc): vault balances minus need_take_pnl, vaults fetched in batches."""
        vaults = [str(v) for p in pools.values() for v in (p.info.coin_vault, p.info.pc_vault)]
        accounts = await self.rpc.multiple_accounts(vaults)
        out = {}
        for pid, p in pools.items():
            amounts = []
            for vault, mint, pnl in ((p.info.coin_vault, p.info.coin_mint, p.info.need_take_pnl_coin),
                                     (p.info.pc_vault, p.info.pc_mint, p.info.need_take_pnl_pc)):
                acct = accounts[str(vault)]
                if acct is None:
                    raise BadAccount(f"pool {pid}: vault {vault} not found")
                tok = decode_token_account(acct["data"], acct.get("owner"), where=f"vault {vault}")
                if tok.mint != mint:
                    raise BadAccount(f"pool {pid}: vault {vault} holds {tok.mint}, expected {mint}")
                amounts.append(tok.amount - pnl)
            out[pid] = (amounts[0], amounts[1])
        return out

    async def snapshots(self, now: float | None = None) -> pd.DataFrame:
        """One snapshot of every pool now (RPC state has no history; call on a cadence to build one)."""
        now = now if now is not None else time.time()
        pools = await self.load_pools(self.pools)
        res = await self.reserves(pools)
        day = swaps_table(await self.swaps(now - 86_400, now + 1), pools)
        volume = day.assign(q=day.amount_in.where(day.side == "buy", day.amount_out)).groupby("pool_id").q.sum()
        ts = naive_utc(now)
        rows = []
        for pid, p in pools.items():
            coin, pc = res[pid]
            (b, q), (bd, qd) = ((coin, pc), (p.info.coin_decimals, p.info.pc_decimals)) if p.base_is_coin \
                else ((pc, coin), (p.info.pc_decimals, p.info.coin_decimals))
            base, quote = b / 10**bd, q / 10**qd
            rows.append({"pool_id": pid, "chain": "solana", "ts": ts, "price": quote / base if base else float("nan"),
                         "base_reserve": base, "quote_reserve": quote, "volume_24h": float(volume.get(pid, 0.0)),
                         "trade_fee": p.info.trade_fee, "pool_open_time": naive_utc(p.info.pool_open_time),
                         "base_decimals": bd, "quote_decimals": qd, "category": self.category,
                         "base_mint": str(p.info.coin_mint if p.base_is_coin else p.info.pc_mint),
                         "quote_symbol": QUOTE_MINTS.get(p.quote_mint, p.quote_mint[:8])})
        return pd.DataFrame(rows) if rows else empty("pool_snapshots")

    async def signatures_between(self, address: str, start: float, end: float) -> list[str]:
        """Successful signatures touching `address` with start <= blockTime < end, oldest first."""
        out, before = [], None
        while len(out) < self.max_signatures:
            page = await self.rpc.signatures(address, before=before)
            if not page:
                break
            for s in page:
                t = s.get("blockTime")
                if t is not None and start <= t < end and s.get("err") is None:
                    out.append(s["signature"])
            before = page[-1]["signature"]
            if page[-1].get("blockTime") is not None and page[-1]["blockTime"] < start:
                break
        return out[::-1]

    async def swaps(self, start: float, end: float) -> list[RaydiumSwap]:
        found = []
        for pid in self.pools:
            for sig in await self.signatures_between(pid, start, end):
                found += [s for s in parse_swaps(await self.rpc.transaction(sig)) if s.pool == pid]
        return found

    async def swap_rows(self, start: float, end: float) -> pd.DataFrame:
        pools = await self.load_pools(self.pools)
        return swaps_table(await self.swaps(start, end), pools)

    async def afetch(self, table: str, start: datetime, end: datetime) -> pd.DataFrame:
        """The `MarketSource` fetch, async. Snapshots exist only for now: RPC state has no history."""
        lo, hi = pd.Timestamp(start).timestamp(), pd.Timestamp(end).timestamp()
        if table == "swaps":
            return await self.swap_rows(lo, hi)
        if table == "pool_snapshots":
            now = time.time()
            return await self.snapshots(now) if lo <= now < hi else empty(table)
        if table in ("transfers", "cex_prices"):
            return empty(table)  # not served by this source: see docs/chain_sources.md
        raise ValueError(f"unknown market table {table!r}")


def swaps_table(swaps: list[RaydiumSwap], pools: dict[str, Pool]) -> pd.DataFrame:
    """Swap rows in whole-token units, oriented base/quote as the pool's snapshots are."""
    rows = []
    for s in swaps:
        p = pools[s.pool]
        cd, pd_ = p.info.coin_decimals, p.info.pc_decimals
        base_in = s.coin_to_pc == p.base_is_coin  # base goes in: a sell
        bd, qd = (cd, pd_) if p.base_is_coin else (pd_, cd)
        b_before, q_before = (s.pool_coin_before, s.pool_pc_before) if p.base_is_coin \
            else (s.pool_pc_before, s.pool_coin_before)
        a_in = s.amount_in / 10**(bd if base_in else qd)
        a_out = s.amount_out / 10**(qd if base_in else bd)
        rows.append({"tx_id": s.signature, "ts": naive_utc(s.block_time), "chain": "solana", "pool_id": s.pool,
                     "wallet": s.wallet, "side": "sell" if base_in else "buy", "amount_in": a_in,
                     "amount_out": a_out, "reserve_base_before": b_before / 10**bd,
                     "reserve_quote_before": q_before / 10**qd,
                     "price": a_out / a_in if base_in else a_in / a_out,
                     "fee": s.fee / 10**(bd if base_in else qd)})
    if not rows:
        return empty("swaps")
    df = pd.DataFrame(rows)
    df["tx_id"] = unique_ids(df["tx_id"])
    return df
