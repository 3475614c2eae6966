"""The DuckDB warehouse. DuckDB allows one writing process per file, so each call opens a connection only
for as long as it reads or writes (dagster-duckdb retries a locked file with backoff)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from dagster_duckdb import DuckDBResource

QUARANTINE_DDL = """
CREATE TABLE IF NOT EXISTS quarantine (
    table_name VARCHAR, partition_key VARCHAR, reason VARCHAR, row_json VARCHAR, quarantined_at TIMESTAMP
)"""


class Warehouse(DuckDBResource):
    """DuckDB with the few operations the assets need: replace a time window, quarantine rows, query."""

    def replace_window(self, table: str, df: pd.DataFrame, start: datetime, end: datetime, ts_col: str = "ts") -> int:
        """Delete rows of `table` in [start, end) and insert `df`, in one transaction: re-runs never duplicate."""
        with self.get_connection() as con:
            con.register("batch", df)
            con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM batch LIMIT 0")
            con.execute("BEGIN TRANSACTION")
            con.execute(f"DELETE FROM {table} WHERE {ts_col} >= ? AND {ts_col} < ?", [_naive(start), _naive(end)])
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM batch")
            con.execute("COMMIT")
            con.unregister("batch")
        return len(df)

    def quarantine(self, table: str, partition_key: str, rows: pd.DataFrame) -> int:
        """Replace this partition's quarantined rows of `table` with `rows` (which carry a `reason`)."""
        records = pd.DataFrame({
            "table_name": table, "partition_key": partition_key,
            "reason": rows["reason"].astype(str) if len(rows) else pd.Series(dtype=str),
            "row_json": rows.drop(columns="reason").to_json(orient="records", lines=True, date_format="iso")
            .splitlines() if len(rows) else pd.Series(dtype=str),
            "quarantined_at": pd.Timestamp.now(tz="UTC").tz_localize(None),
        })
        with self.get_connection() as con:
            con.execute(QUARANTINE_DDL)
            con.execute("BEGIN TRANSACTION")
            con.execute("DELETE FROM quarantine WHERE table_name = ? AND partition_key = ?", [table, partition_key])
            if len(records):
                con.register("q", records)
                con.execute("INSERT INTO quarantine BY NAME SELECT * FROM q")
                con.unregister("q")
            con.execute("COMMIT")
        return len(records)

    def read_window(self, table: str, start: datetime, end: datetime, ts_col: str = "ts") -> pd.DataFrame:
        return self.query(f"SELECT * FROM {table} WHERE {ts_col} >= ? AND {ts_col} < ? ORDER BY ALL",
                          [_naive(start), _naive(end)])

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with self.get_connection() as con:
            return con.execute(sql, params or []).df()


def _naive(t: datetime) -> datetime:
    """Tables hold UTC timestamps without a zone; Dagster hands out zone-aware window bounds."""
    ts = pd.Timestamp(t)
    return (ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo else ts).to_pydatetime()
