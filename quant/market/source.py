"""Where market tables come from: the interface the simulated market and the real chain clients share."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import pandas as pd

MARKET_TABLES = ("pool_snapshots", "swaps", "transfers", "cex_prices")


class MarketSource(Protocol):
    def fetch(self, table: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Rows of `table` with start <= ts < end, as the chain reported them (unvalidated)."""
        ...
