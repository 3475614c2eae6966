"""Raw batches exactly as the source returned them, kept before validation so nothing is ever lost."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd


class RawStore(dg.ConfigurableResource):
    directory: str = ".data/raw"

    def keep(self, table: str, partition_key: str, df: pd.DataFrame) -> Path:
        """Write (or overwrite, on a re-run) the raw batch of one partition; returns its path."""
        path = Path(self.directory) / table / f"{partition_key}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        df.to_parquet(path, index=False)
        return path
