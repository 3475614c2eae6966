"""The two warehouses (a DuckDB file; DuckDB over Parquet files) give the same answers to the same calls."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from resources import ParquetWarehouse, Warehouse

DAY1, DAY2, DAY3 = (pd.Timestamp(f"2026-01-0{d}", tz="UTC") for d in (1, 2, 3))


@pytest.fixture(params=["duckdb", "parquet"])
def warehouse(request, tmp_path):
    if request.param == "duckdb":
        return Warehouse(database=str(tmp_path / "warehouse.duckdb"))
    return ParquetWarehouse(directory=str(tmp_path / "warehouse"))


def hourly(start: str, hours: int, scale: int = 1) -> pd.DataFrame:
    return pd.DataFrame({"ts": pd.date_range(start, periods=hours, freq="h"), "pool_id": "p",
                         "x": [scale * i for i in range(hours)]})


def test_replace_window_replaces_only_the_window(warehouse):
    warehouse.replace_window("t", hourly("2026-01-01", 48), DAY1, DAY3)
    # a re-run of day 2 with other values and a column missing (null), then again in full: idempotent
    warehouse.replace_window("t", hourly("2026-01-02", 24, scale=10).drop(columns="pool_id"), DAY2, DAY3)
    assert warehouse.query("SELECT count(*) AS n FROM t WHERE pool_id IS NULL").n.iloc[0] == 24
    warehouse.replace_window("t", hourly("2026-01-02", 24, scale=10), DAY2, DAY3)
    totals = warehouse.query("SELECT count(*) AS n, sum(x) AS s FROM t")
    assert totals.n.iloc[0] == 48 and totals.s.iloc[0] == 11 * sum(range(24))
    window = warehouse.read_window("t", DAY2, DAY2 + pd.Timedelta(hours=2))
    assert window.x.tolist() == [0, 10] and list(window.columns) == ["ts", "pool_id", "x"]
    # an empty batch clears the window
    warehouse.replace_window("t", hourly("2026-01-02", 0), DAY2, DAY3)
    assert warehouse.query("SELECT count(*) AS n FROM t").n.iloc[0] == 24


def test_quarantine_replaces_a_partitions_rows_and_exists_when_empty(warehouse):
    no_rows = pd.DataFrame({"a": pd.Series(dtype=int), "reason": pd.Series(dtype=str)})
    assert warehouse.quarantine("swaps", "2026-01-01", no_rows) == 0
    assert warehouse.query("SELECT count(*) AS n FROM quarantine").n.iloc[0] == 0  # the table exists
    warehouse.quarantine("swaps", "2026-01-02", pd.DataFrame({"a": [1, 2], "reason": ["bad", "worse"]}))
    warehouse.quarantine("swaps", "2026-01-02", pd.DataFrame({"a": [3], "reason": ["late"]}))
    warehouse.quarantine("swaps", "2026-01-03", pd.DataFrame({"a": [4], "reason": ["odd"]}))
    rows = warehouse.query("SELECT partition_key, reason, row_json FROM quarantine ORDER BY ALL")
    assert rows.values.tolist() == [["2026-01-02", "late", '{"a":3}'], ["2026-01-03", "odd", '{"a":4}']]
    types = warehouse.query("DESCRIBE quarantine").set_index("column_name").column_type.to_dict()
    assert types == {"table_name": "VARCHAR", "partition_key": "VARCHAR", "reason": "VARCHAR",
                     "row_json": "VARCHAR", "quarantined_at": "TIMESTAMP"}


def test_replace_table_and_the_connection_see_the_same_tables(warehouse):
    warehouse.replace_table("profiles", pd.DataFrame({"wallet": ["a", "b"], "score": [1.0, 2.0]}))
    warehouse.replace_table("profiles", pd.DataFrame({"wallet": ["c"], "stage": [3]}))  # schema changes too
    with warehouse.get_connection() as con:
        db = con.execute("SELECT current_database()").fetchall()[0][0]
        assert con.execute(f'SELECT * FROM "{db}".main.profiles').fetchall() == [("c", 3)]
    with pytest.raises(duckdb.CatalogException):
        warehouse.query("SELECT * FROM never_written")


def test_parquet_files_are_one_per_day_and_never_half_written(tmp_path):
    warehouse = ParquetWarehouse(directory=str(tmp_path))
    warehouse.replace_window("t", hourly("2026-01-01", 48), DAY1, DAY3)
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["2026-01-01.parquet", "2026-01-02.parquet"]
    # a writer killed mid-file leaves only a temporary name, which no reader sees
    (tmp_path / "t" / "2026-01-02.parquet.tmp-deadbeef").write_bytes(b"PAR1 half a file")
    assert warehouse.query("SELECT count(*) AS n FROM t").n.iloc[0] == 48


def test_a_batch_with_a_new_column_extends_the_table(warehouse):
    """A table stored before a column existed (pool_labels before bankable_return) takes the newer batches."""
    warehouse.replace_window("t", hourly("2026-01-01", 24), DAY1, DAY2)
    warehouse.replace_window("t", hourly("2026-01-02", 24).assign(y=2.5), DAY2, DAY3)
    stored = warehouse.query("SELECT * FROM t ORDER BY ts")
    assert list(stored.columns) == ["ts", "pool_id", "x", "y"]
    assert stored.y.isna().sum() == 24 and (stored.y[24:] == 2.5).all()
