"""Where market data comes from, chosen by configuration: the embedded simulated market by default, or a
real chain (Solana/Raydium AMM v4, EVM/Uniswap-V2) whose RPC URL comes from the environment."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import PrivateAttr

from quant.chains.factory import SyncRaydiumSource, evm_source
from quant.market.source import MarketSource
from quant.simulator.config import WorldConfig, world_config
from quant.simulator.market import SimulatedMarket
from quant.simulator.world import Truth

SOURCE_KINDS = ("simulated", "solana", "evm")


class ChainSource(dg.ConfigurableResource):
    """A market data source. `kind` picks the implementation; the simulated one is configured by its world
    preset, seed and window, and caches the built world under `cache_dir`. The chain kinds read `rpc_url`
    (set it with `dg.EnvVar("SOLANA_RPC_URL")` / `dg.EnvVar("EVM_RPC_URL")`, never in code)."""

    kind: str = "simulated"
    world: str = "default"
    seed: int = 7
    start: str | None = None
    days: int | None = None
    cache_dir: str = ".data/worlds"
    rpc_url: str | None = None
    # solana: the Raydium AMM v4 pool ids to follow
    pools: list[str] = []
    commitment: str = "confirmed"
    # evm: the Uniswap-V2-style factory, quote tokens (address -> symbol, preferred first), USD reference pairs
    factory: str | None = None
    quote_tokens: dict[str, str] = {}
    usd_pairs: dict[str, str] = {}
    first_block: int = 0
    confirmations: int = 12
    max_block_range: int = 2000
    rate_per_s: float = 10.0

    _market: MarketSource | None = PrivateAttr(default=None)

    def market(self) -> MarketSource:
        if self._market is None:
            self._market = self._build()
        return self._market

    def _build(self) -> MarketSource:
        if self.kind == "simulated":
            return SimulatedMarket(self.world_config(), Path(self.cache_dir))
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"ChainSource.kind must be one of {SOURCE_KINDS}, got {self.kind!r}")
        if not self.rpc_url:
            raise ValueError(f"ChainSource(kind={self.kind!r}) needs rpc_url (e.g. dg.EnvVar('EVM_RPC_URL'))")
        if self.kind == "solana":
            return SyncRaydiumSource(self.rpc_url, list(self.pools), self.commitment, self.rate_per_s)
        if not self.factory or not self.quote_tokens:
            raise ValueError("ChainSource(kind='evm') needs factory and quote_tokens")
        return evm_source(self.rpc_url, self.factory, dict(self.quote_tokens), dict(self.usd_pairs),
                          self.first_block, self.confirmations, self.max_block_range, self.rate_per_s)

    def world_config(self) -> WorldConfig:
        return world_config(self.world, self.seed, self.start, self.days)

    def fetch(self, table: str, start: datetime, end: datetime) -> pd.DataFrame:
        return self.market().fetch(table, start, end)

    def truth(self) -> Truth:
        """The simulator's hidden truth, for evaluation assets only."""
        market = self.market()
        if not isinstance(market, SimulatedMarket):
            raise ValueError(f"truth exists only for the simulated source, not {self.kind!r}")
        return market.truth()
