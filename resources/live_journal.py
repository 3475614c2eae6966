"""The live runtime's journal, read by Dagster (the runtime writes it; Dagster never does)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd

from quant import journal


class LiveJournal(dg.ConfigurableResource):
    """Append-only Parquet segments under `directory` (format: quant.journal)."""

    directory: str = ".data/journal"

    def read(self, kind: str, since: pd.Timestamp | None = None, columns: list[str] | None = None) -> pd.DataFrame:
        return journal.read(Path(self.directory), kind, since, columns)

    def recent(self, kind: str, hours: float) -> pd.DataFrame:
        return journal.recent(Path(self.directory), kind, hours)

    def summary(self) -> dict:
        return journal.summary(Path(self.directory))
