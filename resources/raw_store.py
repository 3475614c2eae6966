"""Raw batches exactly as the source returned them, kept before validation so nothing is ever lost."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from quant.market.raw import frame_to_lines, lines_to_frame

FORMATS = (".parquet", ".jsonl")


def _exact_arrow(df: pd.DataFrame) -> pa.Table | None:
    """The batch as Arrow when that changes nothing: string column names, each object column all strings
    or None (Arrow would turn NaN into null, 1 into 1.0, and refuse a mix), every other column typed."""
    if not all(isinstance(c, str) for c in df.columns) or df.columns.has_duplicates:
        return None
    for c in df.columns:
        if df[c].dtype == object and not all(v is None or isinstance(v, str) for v in df[c].to_numpy()):
            return None
    try:
        return pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        return None


class RawStore(dg.ConfigurableResource):
    directory: str = ".data/raw"

    def keep(self, table: str, partition_key: str, df: pd.DataFrame) -> Path:
        """Write (or overwrite, on a re-run) the raw batch of one partition, whatever its cells hold: typed
        Parquet when every column has one type Arrow keeps exactly, else JSON lines (quant.market.raw), so
        a mixed column is kept as received rather than cast. Returns its path."""
        base = Path(self.directory) / table / partition_key
        base.parent.mkdir(parents=True, exist_ok=True)
        arrow = _exact_arrow(df)
        if arrow is not None:
            path = self._write(base.with_suffix(".parquet"), lambda f: pq.write_table(arrow, f))
        else:
            path = self._write(base.with_suffix(".jsonl"),
                               lambda f: Path(f).write_text("\n".join(frame_to_lines(df)) + "\n", encoding="ascii"))
        for other in FORMATS:  # a re-run may change the format: one file per partition
            if base.with_suffix(other) != path:
                base.with_suffix(other).unlink(missing_ok=True)
        return path

    def read(self, table: str, partition_key: str) -> pd.DataFrame:
        base = Path(self.directory) / table / partition_key
        if base.with_suffix(".parquet").exists():
            return pd.read_parquet(base.with_suffix(".parquet"))
        with base.with_suffix(".jsonl").open(encoding="ascii") as f:
            return lines_to_frame(line.rstrip("\n") for line in f)

    @staticmethod
    def _write(path: Path, write) -> Path:
        tmp = path.with_name(path.name + ".tmp")
        write(str(tmp))
        os.replace(tmp, path)  # a crash mid-write leaves the last complete batch, never half of one
        return path
