"""Shared helpers for building market tables from chain data."""

from __future__ import annotations

import pandas as pd

from quant.market.schemas import CONTRACTS


def naive_utc(unix_s: float) -> pd.Timestamp:
    """Chain time (unix seconds) as the naive-UTC timestamps the market tables use."""
    return pd.Timestamp(int(unix_s), unit="s")


def empty(table: str) -> pd.DataFrame:
    """A table with no rows and the contract's columns."""
    schema, _ = CONTRACTS[table]
    return pd.DataFrame({c: pd.Series(dtype=object) for c in schema.to_schema().columns})


def unique_ids(ids: pd.Series) -> pd.Series:
    """Transaction ids made unique per row: the second and later rows of one transaction get `:n`."""
    n = ids.groupby(ids).cumcount()
    return ids.where(n == 0, ids + ":" + n.astype(str))
