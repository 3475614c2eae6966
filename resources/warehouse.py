"""The warehouse: a DuckDB file (LOCAL), or DuckDB over a folder of Parquet files (PROD). The operations the
assets use are defined once, on `Warehouse`; each storage gives only the three primitives beneath them:
`get_connection` (the tables, readable by name), `_replace_rows` and `replace_table`."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
from dagster_duckdb import DuckDBResource
from pydantic import Field

from quant.market.raw import row_json


class Warehouse(DuckDBResource):
    """DuckDB with the few operations the assets need: replace a time window, quarantine rows, query.
    DuckDB allows one writing process per file, so each call holds a connection only while it reads or
    writes (dagster-duckdb retries a locked file with backoff)."""

    def replace_window(self, table: str, df: pd.DataFrame, start: datetime, end: datetime, ts_col: str = "ts") -> int:
        """Replace the rows of `table` in [start, end) with `df`: re-runs never duplicate."""
        self._replace_rows(table, df, f"{ts_col} >= ? AND {ts_col} < ?", [_naive(start), _naive(end)],
                           layout=f"strftime({ts_col}, '%Y-%m-%d')")
        return len(df)

    def quarantine(self, table: str, partition_key: str, rows: pd.DataFrame) -> int:
        """Replace this partition's quarantined rows of `table` with `rows` (which carry a `reason`)."""
        n = len(rows)
        cells = rows.drop(columns="reason")
        records = pd.DataFrame({  # typed even when empty: the first call may create the table
            "table_name": pd.Series([table] * n, dtype="string"),
            "partition_key": pd.Series([partition_key] * n, dtype="string"),
            "reason": pd.Series(rows["reason"].astype(str).tolist() if n else [], dtype="string"),
            "row_json": pd.Series([row_json(cells.columns.tolist(), values) for values in
                                   cells.itertuples(index=False, name=None)], dtype="string"),
            "quarantined_at": pd.Series([pd.Timestamp.now(tz="UTC").tz_localize(None)] * n, dtype="datetime64[us]"),
        })
        self._replace_rows("quarantine", records, "table_name = ? AND partition_key = ?", [table, partition_key],
                           layout="table_name || '.' || partition_key")
        return n

    def read_window(self, table: str, start: datetime, end: datetime, ts_col: str = "ts") -> pd.DataFrame:
        return self.query(f"SELECT * FROM {table} WHERE {ts_col} >= ? AND {ts_col} < ? ORDER BY ALL",
                          [_naive(start), _naive(end)])

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with self.get_connection() as con:
            return con.execute(sql, params or []).df()

    def replace_table(self, table: str, frame) -> int:
        """Replace the whole of `table` (schema included) with `frame` (pandas, polars or Arrow)."""
        with self.get_connection() as con:
            con.register("_frame", frame)
            con.execute(f"CREATE OR REPLACE TABLE main.{table} AS SELECT * FROM _frame")
            con.unregister("_frame")
        return len(frame)

    def _replace_rows(self, table: str, df: pd.DataFrame, where: str, params: list, layout: str) -> None:
        """Delete the rows of `table` matching `where` and insert `df`, in one transaction. The table takes
        its schema from the first batch; later batches are cast to it by column name. (`layout` names the
        file a row belongs to where the storage is a folder of files.)"""
        with self.get_connection() as con:
            con.register("batch", df)
            con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM batch LIMIT 0")
            _add_new_columns(con, table)
            con.execute("BEGIN TRANSACTION")
            con.execute(f"DELETE FROM {table} WHERE {where}", params)
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM batch")
            con.execute("COMMIT")
            con.unregister("batch")


class ParquetWarehouse(Warehouse):
    """The same warehouse as Parquet files under `directory`: `<table>/<day>.parquet` for time-windowed
    tables, `quarantine/<table>.<partition>.parquet`, `<table>/table.parquet` for whole tables. Every
    connection is in memory with one view per table, so any number of processes (Celery workers, other
    machines on shared storage) read and write at once. Each file is replaced atomically (written aside,
    then `os.replace`d): a reader or a killed writer never sees half a file; a window spanning several days
    is replaced day by day, and a re-run completes it."""

    directory: str = Field(description="Folder of the tables (a local path, or a mounted object-storage bucket)")
    database: str = Field(default=":memory:", description="Unused: connections are in memory over the files")

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with super().get_connection() as con:
            root = Path(self.directory)
            for folder in sorted(root.iterdir()) if root.is_dir() else []:
                if any(folder.glob("*.parquet")):
                    con.execute(f"CREATE VIEW main.{folder.name} AS SELECT * FROM "
                                f"read_parquet({_sql_str(str(folder / '*.parquet'))}, union_by_name = true)")
            yield con

    def replace_table(self, table: str, frame) -> int:
        folder = Path(self.directory) / table
        with self.get_connection() as con:
            con.register("_frame", frame)
            _write_atomic(con, "SELECT * FROM _frame", [], folder / "table.parquet")
            con.unregister("_frame")
        return len(frame)

    def _replace_rows(self, table: str, df: pd.DataFrame, where: str, params: list, layout: str) -> None:
        folder = Path(self.directory) / table
        with self.get_connection() as con:
            exists = bool(con.execute("SELECT 1 FROM duckdb_views() WHERE view_name = ?", [table]).fetchall())
            con.register("batch", df)
            con.execute(f"CREATE TEMP TABLE new AS SELECT * FROM {table if exists else 'batch'} LIMIT 0")
            _add_new_columns(con, "new")
            con.execute("INSERT INTO new BY NAME SELECT * FROM batch")
            files = {folder / f"{key}.parquet" for (key,) in con.execute(f"SELECT DISTINCT {layout} FROM new").fetchall()}
            if exists:  # and the files holding rows to delete
                files |= {Path(f) for (f,) in con.execute(
                    f"SELECT DISTINCT filename FROM read_parquet({_sql_str(str(folder / '*.parquet'))}, "
                    f"filename = true, union_by_name = true) WHERE {where}", params).fetchall()}
            elif not files:  # an empty first batch still creates the table, as CREATE TABLE does
                files = {folder / "empty.parquet"}
            for path in sorted(files):
                sql, args = f"SELECT * FROM new WHERE {layout} = ?", [path.stem]
                if path.exists():
                    sql += (f" UNION ALL BY NAME SELECT * FROM read_parquet({_sql_str(str(path))}) "
                            f"WHERE NOT coalesce({where}, false)")
                    args += params
                _write_atomic(con, sql, args, path)
            con.unregister("batch")


def _add_new_columns(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Columns the registered `batch` has and `table` lacks are added to it (null in its older rows): a
    table written before a column existed (a new label) takes the new batches instead of refusing them."""
    have = {name for (name, *_rest) in con.execute(f"DESCRIBE {table}").fetchall()}
    for name, kind, *_rest in con.execute("DESCRIBE batch").fetchall():
        if name not in have:
            con.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {kind}')


def _write_atomic(con: duckdb.DuckDBPyConnection, sql: str, params: list, path: Path) -> None:
    """Write the result of `sql` to `path`, replacing it whole (the temporary name ends outside `*.parquet`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _out AS {sql}", params)
    tmp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex}")
    try:
        con.execute(f"COPY _out TO {_sql_str(str(tmp))} (FORMAT parquet)")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _naive(t: datetime) -> datetime:
    """Tables hold UTC timestamps without a zone; Dagster hands out zone-aware window bounds."""
    ts = pd.Timestamp(t)
    return (ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo else ts).to_pydatetime()
