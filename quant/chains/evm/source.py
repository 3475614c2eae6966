"""The Uniswap-V2 market source: market tables from a factory's pairs on any EVM node (web3)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
from web3 import Web3

from quant.chains.evm.pairs import PairEvent, PairInfo, PairRegistry
from quant.chains.evm.rpc import EvmRpc
from quant.chains.tables import empty, naive_utc, unique_ids
from quant.market.amm import UNISWAP_V2

DAY_S = 86_400
WEI = 10**18


@dataclass
class UniswapV2Source:
    """`quote_tokens` (address -> symbol, in order of preference) decides each pair's quote side; pairs
    with no quote token are skipped. `usd_pairs` (symbol -> pair with a USD stablecoin) give `cex_prices`."""

    rpc: EvmRpc
    factory: str
    quote_tokens: dict[str, str]
    first_block: int = 0
    confirmations: int = 0
    cadence_s: int = 60
    max_range: int = 2000
    usd_pairs: dict[str, str] = field(default_factory=dict)
    category: str = "unknown"
    _times: dict[int, int] = field(default_factory=dict, repr=False)
    _senders: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self.quote_tokens = {Web3.to_checksum_address(a): s for a, s in self.quote_tokens.items()}
        self.registry = PairRegistry(self.rpc, self.factory, self.first_block, self.max_range)

    # ---- blocks and time -------------------------------------------------------------------------
    def safe_head(self) -> int:
        """The newest block at the configured confirmation depth (reorgs above it are not read)."""
        return self.rpc.call(lambda: self.rpc.w3.eth.block_number, "eth_blockNumber") - self.confirmations

    def complete_until(self) -> pd.Timestamp:
        """Every row before this time is final: blocks are read only to the safe head, and block times never
        decrease, so a later block cannot hold an earlier moment (its own second may still gain blocks)."""
        head = self.safe_head()
        return naive_utc(self.block_time(head)) if head >= 0 else pd.Timestamp(0)

    def block_time(self, n: int) -> int:
        if n not in self._times:
            block = self.rpc.call(lambda: self.rpc.w3.eth.get_block(n), f"eth_getBlockByNumber {n}")
            self._times[n] = int(block["timestamp"])
        return self._times[n]

    def first_block_at(self, ts: float, lo: int, hi: int) -> int:
        """The first block in [lo, hi] with timestamp >= ts, or hi + 1 (block times never decrease)."""
        while lo <= hi:
            mid = (lo + hi) // 2
            if self.block_time(mid) >= ts:
                hi = mid - 1
            else:
                lo = mid + 1
        return lo

    def blocks(self, start: float, end: float) -> tuple[int, int]:
        """Blocks [b0, b1] with start <= timestamp < end, up to the safe head (b1 < b0 when none)."""
        head = self.safe_head()
        b0 = self.first_block_at(start, self.first_block, head)
        return b0, self.first_block_at(end, b0, head) - 1

    # ---- pairs -----------------------------------------------------------------------------------
    def orientation(self, p: PairInfo) -> tuple[bool, str] | None:
        """(base is token0, quote token) for a pair with a quote token, else None."""
        rank = list(self.quote_tokens)
        quotes = [t for t in (p.token0, p.token1) if t in self.quote_tokens]
        if not quotes:
            return None
        quote = min(quotes, key=rank.index)
        return quote == p.token1, quote

    def tracked(self, to_block: int) -> dict[str, PairInfo]:
        return {a: p for a, p in self.registry.discover(to_block).items() if self.orientation(p)}

    def sender(self, tx_hash: str) -> str:
        if tx_hash not in self._senders:
            tx = self.rpc.call(lambda: self.rpc.w3.eth.get_transaction(tx_hash), f"eth_getTransactionByHash {tx_hash}")
            self._senders[tx_hash] = tx["from"]
        return self._senders[tx_hash]

    # ---- tables ----------------------------------------------------------------------------------
    def fetch(self, table: str, start: datetime, end: datetime) -> pd.DataFrame:
        """The `MarketSource` interface: rows with start <= ts < end, from blocks at the safe depth."""
        lo, hi = pd.Timestamp(start).timestamp(), pd.Timestamp(end).timestamp()
        if table == "swaps":
            b0, b1 = self.blocks(lo, hi)
            return self.swaps(b0, b1)
        if table == "transfers":
            return self.transfers(*self.blocks(lo, hi))
        if table == "pool_snapshots":
            return self.snapshots(lo, hi)
        if table == "cex_prices":
            return self.usd_prices(lo, hi)
        raise ValueError(f"unknown market table {table!r}")

    def swaps(self, b0: int, b1: int) -> pd.DataFrame:
        if b1 < b0:
            return empty("swaps")
        pairs = self.tracked(b1)
        return self._swap_rows(self.registry.events(sorted(pairs), b0, b1), pairs)

    def _swap_rows(self, events: list[PairEvent], pairs: dict[str, PairInfo]) -> pd.DataFrame:
        rows, last_sync = [], {}
        for ev in events:
            if ev.kind == "sync":
                last_sync[ev.pair] = ev
                continue
            sync = last_sync.get(ev.pair)
            if sync is None or sync.tx_hash != ev.tx_hash:
                raise ValueError(f"swap {ev.tx_hash}:{ev.log_index} on {ev.pair} has no Sync before it in its tx")
            rows.append(self._swap_row(ev, sync.values, pairs[ev.pair]))
        if not rows:
            return empty("swaps")
        df = pd.DataFrame(rows)
        df["tx_id"] = unique_ids(df["tx_id"])
        return df

    def _swap_row(self, ev: PairEvent, after: tuple[int, int], p: PairInfo) -> dict:
        a0in, a1in, a0out, a1out = ev.values
        r0, r1 = after[0] - a0in + a0out, after[1] - a1in + a1out  # the Sync gives reserves after the swap
        base0, quote = self.orientation(p)
        base_tok = p.token0 if base0 else p.token1
        bd, qd = self.registry.token(base_tok)[0], self.registry.token(quote)[0]
        (b_in, q_in, b_out, q_out, rb, rq) = (a0in, a1in, a0out, a1out, r0, r1) if base0 else \
            (a1in, a0in, a1out, a0out, r1, r0)
        sell = b_in > 0 and q_out > 0
        a_in, a_out = (b_in / 10**bd, q_out / 10**qd) if sell else (q_in / 10**qd, b_out / 10**bd)
        return {"tx_id": ev.tx_hash, "ts": naive_utc(self.block_time(ev.block)), "chain": "evm", "pool_id": ev.pair,
                "wallet": self.sender(ev.tx_hash), "side": "sell" if sell else "buy", "amount_in": a_in,
                "amount_out": a_out, "reserve_base_before": rb / 10**bd, "reserve_quote_before": rq / 10**qd,
                "price": a_out / a_in if sell else a_in / a_out if a_out else float("nan"),
                "fee": a_in * UNISWAP_V2.fee_fraction}

    def transfers(self, b0: int, b1: int) -> pd.DataFrame:
        """Plain native transfers (value > 0, no calldata) in the blocks, with the fee each sender paid."""
        rows = []
        for n in range(b0, b1 + 1):
            block = self.rpc.call(lambda n=n: self.rpc.w3.eth.get_block(n, full_transactions=True), f"block {n}")
            for tx in block["transactions"]:
                calldata = tx.get("input", tx.get("data", b""))  # eth-tester names it `data`
                if tx["value"] > 0 and tx.get("to") and len(calldata) in (0, 2) and calldata in (b"", "0x"):
                    h = tx["hash"].to_0x_hex()
                    rec = self.rpc.call(lambda h=h: self.rpc.w3.eth.get_transaction_receipt(h), f"receipt {h}")
                    if rec["status"] != 1:
                        continue
                    rows.append({"tx_id": h, "ts": naive_utc(block["timestamp"]), "chain": "evm",
                                 "from_address": tx["from"], "to_address": tx["to"], "amount": tx["value"] / WEI,
                                 "fee": rec["gasUsed"] * rec["effectiveGasPrice"] / WEI})
        return pd.DataFrame(rows) if rows else empty("transfers")

    def _reserve_paths(self, lo: float, hi: float, pairs: list[str]):
        """Per pair, Sync times and reserves from the block before `lo` through `hi`, and the swaps of the
        24 hours before each point (for volume)."""
        b_vol, b1 = self.blocks(lo - DAY_S, hi)
        b0 = self.first_block_at(lo, b_vol, b1)
        events = self.registry.events(pairs, b_vol, b1) if b1 >= b_vol else []
        start_state = {p: self.registry.reserves_at(p, b0 - 1) for p in pairs
                       if self.registry.pairs[p].created_block <= b0 - 1}
        return events, start_state, b0

    def snapshots(self, lo: float, hi: float, cadence_s: int | None = None) -> pd.DataFrame:
        """Each tracked pair every `cadence_s` (default: the source's) while it holds liquidity: reserves as of
        that moment (the last Sync at or before it) and the quote volume of the 24 hours up to it."""
        step = cadence_s or self.cadence_s
        head = self.safe_head()
        hi = min(hi, self.block_time(head) + 1)  # no snapshot of a moment the safe head has not reached
        pairs = self.tracked(head)
        if not pairs or hi <= lo:
            return empty("pool_snapshots")
        events, state, b0 = self._reserve_paths(lo, hi, sorted(pairs))
        swaps = self._swap_rows(events, pairs) if events else empty("swaps")
        rows = []
        grid = np.arange(-(-int(lo) // step) * step, hi, step)
        for addr, p in pairs.items():
            base0, quote = self.orientation(p)
            bd = self.registry.token(p.token0 if base0 else p.token1)[0]
            qd = self.registry.token(quote)[0]
            syncs = [e for e in events if e.pair == addr and e.kind == "sync" and e.block >= b0]
            times = [self.block_time(e.block) for e in syncs]
            opened = self.block_time(p.created_block)
            mine = swaps[swaps.pool_id == addr]
            q_vol = np.where(mine.side == "buy", mine.amount_in, mine.amount_out) if len(mine) else np.zeros(0)
            t_swap = (mine.ts - pd.Timestamp(0)).dt.total_seconds().to_numpy() if len(mine) else np.zeros(0)
            for t in grid[grid >= opened]:
                i = bisect.bisect_right(times, t) - 1
                r = syncs[i].values if i >= 0 else state.get(addr, (0, 0))
                rb, rq = (r[0], r[1]) if base0 else (r[1], r[0])
                if rb <= 0 or rq <= 0:
                    continue
                base, qr = rb / 10**bd, rq / 10**qd
                in_day = (t_swap > t - DAY_S) & (t_swap <= t)
                rows.append({"pool_id": addr, "chain": "evm", "ts": naive_utc(t), "price": qr / base,
                             "base_reserve": base, "quote_reserve": qr, "volume_24h": float(q_vol[in_day].sum()),
                             "trade_fee": UNISWAP_V2.fee_fraction, "pool_open_time": naive_utc(opened),
                             "base_decimals": bd, "quote_decimals": qd, "category": self.category,
                             "base_mint": p.token0 if base0 else p.token1,
                             "quote_symbol": self.quote_tokens[quote]})
        return pd.DataFrame(rows) if rows else empty("pool_snapshots")

    def usd_prices(self, lo: float, hi: float) -> pd.DataFrame:
        """Per minute, each `usd_pairs` symbol priced in its pair's USD stablecoin (empty when none set)."""
        if not self.usd_pairs:
            return empty("cex_prices")
        addrs = {Web3.to_checksum_address(a): s for s, a in self.usd_pairs.items()}
        snaps = self.snapshots_for(lo, hi, addrs)
        return snaps

    def snapshots_for(self, lo: float, hi: float, addrs: dict[str, str]) -> pd.DataFrame:
        """Per-minute prices of `addrs` (pair -> symbol), whatever the snapshot cadence (cex_prices are 1 min)."""
        snaps = self.snapshots(lo, hi, cadence_s=60)
        snaps = snaps[snaps.pool_id.isin(list(addrs))]
        if snaps.empty:
            return empty("cex_prices")
        return pd.DataFrame({"ts": snaps.ts, "symbol": snaps.pool_id.map(addrs),
                             "price_usd": snaps.price}).reset_index(drop=True)
