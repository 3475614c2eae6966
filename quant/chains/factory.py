"""Builds a chain market source from plain settings (used by the Dagster resource and the live runtime)."""

from __future__ import annotations

import asyncio

from web3 import Web3

from quant.chains.evm.rpc import EvmRpc, GuardedHTTPProvider
from quant.chains.evm.source import UniswapV2Source
from quant.chains.solana.rpc import SolanaRpc
from quant.chains.solana.source import RaydiumSource
from quant.settings import ChainSettings


def web3_for(url: str, timeout_s: float = 10.0) -> Web3:
    """An HTTP(S) provider. Table fetches are request/response; websocket subscriptions (web3's async
    `WebSocketProvider`) are for the live runtime, not for backfilling partitions."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"the EVM market source needs an http(s) RPC URL, got {url.split('://')[0]}://...")
    return Web3(GuardedHTTPProvider(url, timeout_s))


def evm_source(url: str, factory: str, quote_tokens: dict[str, str], usd_pairs: dict[str, str] | None = None,
               first_block: int = 0, confirmations: int = 12, max_range: int = 2000,
               rate_per_s: float = 0.0, timeout_s: float = 10.0) -> UniswapV2Source:
    return UniswapV2Source(EvmRpc(web3_for(url, timeout_s), rate_per_s=rate_per_s), factory, quote_tokens,
                           first_block=first_block, confirmations=confirmations, max_range=max_range,
                           usd_pairs=usd_pairs or {})


class SyncRaydiumSource:
    """The `MarketSource` fetch for Raydium pools: one event loop and one client per call (steps are sync)."""

    def __init__(self, url: str, pools: list[str], commitment: str = "confirmed", rate_per_s: float = 10.0):
        self.url, self.pools, self.commitment, self.rate = url, pools, commitment, rate_per_s

    def fetch(self, table: str, start, end):
        async def go():
            async with SolanaRpc(self.url, self.commitment, self.rate) as rpc:
                return await RaydiumSource(rpc, self.pools).afetch(table, start, end)
        return asyncio.run(go())


def market_source(kind: str, chain: ChainSettings):
    """The real chain's market source from its settings (the variables docs/chain_sources.md lists):
    EVM_RPC_URL, EVM_FACTORY, EVM_QUOTE_TOKENS, EVM_USD_PAIRS, EVM_FIRST_BLOCK, EVM_CONFIRMATIONS,
    EVM_RPC_TIMEOUT_S; SOLANA_RPC_URL, SOLANA_POOLS."""
    if kind == "evm":
        missing = [name for name, value in (("EVM_RPC_URL", chain.evm_rpc_url), ("EVM_FACTORY", chain.evm_factory))
                   if not value]
        if missing:
            raise ValueError(f"the EVM market source needs {', '.join(missing)} in the environment")
        return evm_source(chain.evm_rpc_url, chain.evm_factory, chain.evm_quote_tokens, chain.evm_usd_pairs,
                          chain.evm_first_block, confirmations=chain.evm_confirmations, timeout_s=chain.evm_timeout_s)
    if kind == "solana":
        if not chain.solana_rpc_url:
            raise ValueError("the Solana market source needs SOLANA_RPC_URL in the environment")
        return SyncRaydiumSource(chain.solana_rpc_url, list(chain.solana_pools))
    raise ValueError(f"chain kind must be evm or solana, got {kind!r}")
