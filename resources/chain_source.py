"""Where market data comes from, chosen by configuration: the embedded simulated market by default."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import PrivateAttr

from quant.market_source import MarketSource, SimulatedMarket
from quant.simulator.config import WorldConfig, world_config
from quant.simulator.world import Truth

SOURCE_KINDS = ("simulated",)


class ChainSource(dg.ConfigurableResource):
    """A market data source. `kind` picks the implementation; the simulated one is configured by its world
    preset, seed and window, and caches the built world under `cache_dir`."""

    kind: str = "simulated"
    world: str = "default"
    seed: int = 7
    start: str | None = None
    days: int | None = None
    cache_dir: str = ".data/worlds"

    _market: MarketSource | None = PrivateAttr(default=None)

    def market(self) -> MarketSource:
        if self._market is None:
            if self.kind != "simulated":
                raise ValueError(f"ChainSource.kind must be one of {SOURCE_KINDS}, got {self.kind!r}")
            self._market = SimulatedMarket(self.world_config(), Path(self.cache_dir))
        return self._market

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
