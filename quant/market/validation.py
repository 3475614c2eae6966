"""Splits a batch into rows that honour their contract and rows to quarantine, each with its reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from quant.market.schemas import CHECK_FIELDS, CONTRACTS


@dataclass
class Split:
    valid: pd.DataFrame
    quarantined: pd.DataFrame  # the original columns, plus `reason`

    @property
    def reasons(self) -> dict[str, int]:
        """How many rows each rule quarantined (a row counts once, under its first reason)."""
        if self.quarantined.empty:
            return {}
        return self.quarantined.reason.str.split(":").str[0].value_counts().to_dict()


def _row_reasons(df: pd.DataFrame, schema: type[pa.DataFrameModel]) -> pd.Series:
    reasons = pd.Series("", index=df.index, dtype=object)
    try:
        schema.validate(df, lazy=True)
    except SchemaErrors as err:
        fc = err.failure_cases
        table_level = fc[fc["index"].isna()]
        if not table_level.empty:
            row = table_level.iloc[0]
            raise ValueError(f"{schema.__name__}: column {row['column']!r} fails {row['check']!r} "
                             f"({row['failure_case']!r}): the batch breaks its contract as a whole") from err
        for _, f in fc.iterrows():
            i = f["index"]
            if i in reasons.index and not reasons.at[i]:
                check = str(f["check"])
                column = CHECK_FIELDS.get(check, f["column"])
                value = df.at[i, column] if column in df.columns else f["failure_case"]
                reasons.at[i] = f"{check}: {column}={value}"
    return reasons


def split_valid(table: str, df: pd.DataFrame, start: datetime, end: datetime) -> Split:
    """Quarantine rows whose ts is outside [start, end), repeats of a key (the first is kept), and rows that
    break the table's pandera contract. Every row ends up in exactly one of the two outputs."""
    schema, key = CONTRACTS[table]
    df = df.reset_index(drop=True)
    reasons = pd.Series("", index=df.index, dtype=object)
    ts = pd.to_datetime(df["ts"])
    lo, hi = pd.Timestamp(start).tz_localize(None), pd.Timestamp(end).tz_localize(None)
    outside = (ts < lo) | (ts >= hi) | ts.isna()
    reasons[outside] = "outside_partition: ts=" + ts[outside].astype(str) + f" not in [{lo}, {hi})"
    dup = df.duplicated(subset=key, keep="first") & (reasons == "")
    if dup.any():
        reasons[dup] = "duplicate_key: " + df.loc[dup, key].astype(str).agg(",".join, axis=1)
    rest = reasons == ""
    if rest.any():
        schema_reasons = _row_reasons(df[rest], schema)
        reasons[schema_reasons.index] = schema_reasons
    bad = reasons != ""
    quarantined = df[bad].copy()
    quarantined["reason"] = reasons[bad]
    valid = schema.validate(df[~bad]) if (~bad).any() else df[~bad]
    return Split(valid=valid.reset_index(drop=True), quarantined=quarantined.reset_index(drop=True))
