"""Splits a batch into rows that honour their contract and rows to quarantine, each with its reason.

A batch is refused as a whole only when its shape is wrong (not a table, a contract column missing, a column
the contract does not know, a name repeated). Otherwise every cell is read strictly by its field's kind, so a
source's bad cell quarantines its row instead of the batch: text must be a printable string without padding,
a number a real finite number (not a boolean, not a string of non-ASCII digits), an integer integral, a
timestamp naive UTC and representable. Then the partition window, the pandera contract's value rules, and
last the duplicate keys, compared canonically (EVM hex in lower case), so that a bad copy of a row never
pushes the clean one out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from quant.market.schemas import CHECK_FIELDS, CONTRACTS

_ASCII_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_ISO_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?)?"
                            r"(?P<zone>Z|[+-][0-9]{2}:?[0-9]{2})?", re.ASCII)
_SHOWN_CHARS = 80
_INT64_SAFE = 2**62


class BatchRejected(ValueError):
    """The batch's shape breaks the contract, so no row of it can be read: the partition fails with this."""


@dataclass
class Split:
    valid: pd.DataFrame
    quarantined: pd.DataFrame  # the original columns, as received, plus `reason`

    @property
    def reasons(self) -> dict[str, int]:
        """How many rows each rule quarantined (a row counts once, under its first reason)."""
        if self.quarantined.empty:
            return {}
        return self.quarantined.reason.str.split(":").str[0].value_counts().to_dict()


@cache
def field_kinds(table: str) -> dict[str, str]:
    """Each contract column's kind: text, number, integer or timestamp (from the pandera dtypes)."""
    kinds = {"str": "text", "float64": "number", "int64": "integer", "datetime64[ns]": "timestamp"}
    schema, _ = CONTRACTS[table]
    return {c: kinds[str(col.dtype)] for c, col in schema.to_schema().columns.items()}


@cache
def _row_schema(table: str) -> pa.DataFrameSchema:
    """The contract without its uniqueness rules: duplicates are judged last, among rows that pass the rest."""
    schema, _ = CONTRACTS[table]
    full = schema.to_schema()
    rows = full.update_columns({c: {"unique": False} for c, col in full.columns.items() if col.unique})
    rows.unique = None
    return rows


def show(value: object) -> str:
    """A cell as a reason shows it: plain strings as they are, anything else (or odd strings) by repr."""
    if isinstance(value, np.number | np.bool_):
        value = value.item()
    plain = isinstance(value, str) and value.isprintable() and value == value.strip() and value != ""
    text = value if plain else repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."


def check_shape(table: str, df: object) -> None:
    """Refuse a batch whose shape no row can be read from, naming what is wrong."""
    if not isinstance(df, pd.DataFrame):
        raise BatchRejected(f"{table}: a batch must be a table (pandas DataFrame), got {type(df).__name__}")
    columns = list(df.columns)
    expected = list(field_kinds(table))
    problems = []
    if any(not isinstance(c, str) for c in columns):
        problems.append(f"column names that are not strings {[c for c in columns if not isinstance(c, str)]!r}")
    if len(set(map(repr, columns))) < len(columns):
        problems.append(f"repeated columns {sorted({repr(c) for c in columns if columns.count(c) > 1})}")
    if missing := [c for c in expected if c not in columns]:
        problems.append(f"missing columns {missing}")
    if extra := [c for c in columns if isinstance(c, str) and c not in expected]:
        problems.append(f"columns outside the contract {extra}")
    if problems:
        raise BatchRejected(f"{table}: the batch breaks its contract as a whole: {'; '.join(problems)}")


def _is_null(v: object) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def _number(v: object) -> tuple[float, str]:
    """A cell read as a finite real number, or the rule it breaks."""
    if _is_null(v):
        return math.nan, "not_nullable"
    if isinstance(v, bool | np.bool_):
        return math.nan, "not_a_number"
    if isinstance(v, str):
        if not _ASCII_NUMBER.fullmatch(v):
            return math.nan, "not_a_number"
    elif not isinstance(v, int | float | np.integer | np.floating):
        return math.nan, "not_a_number"
    try:
        x = float(v)
    except (OverflowError, ValueError):
        return math.nan, "not_finite"
    if math.isnan(x):
        return x, "not_nullable"
    return (x, "") if math.isfinite(x) else (x, "not_finite")


def _numbers(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    n = len(s)
    if s.dtype.kind in "iuf":  # numeric storage (nullable dtypes included), never boolean
        x = s.to_numpy(dtype=float, na_value=np.nan)
        rules = np.full(n, "", dtype=object)
        rules[np.isnan(x)] = "not_nullable"
        rules[np.isinf(x)] = "not_finite"
        return x, rules
    read = [_number(v) for v in s.to_numpy(dtype=object)]
    return (np.fromiter((r[0] for r in read), float, n),
            np.fromiter((r[1] for r in read), object, n) if n else np.array([], dtype=object))


def _integers(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    x, rules = _numbers(s)
    ok = rules == ""
    rules[ok & (x != np.floor(np.where(ok, x, 0)))] = "not_an_integer"
    rules[(rules == "") & (np.abs(np.where(rules == "", x, 0)) > _INT64_SAFE)] = "out_of_range"
    return np.where(rules == "", x, 0).astype(np.int64), rules


def _timestamp(v: object) -> tuple[pd.Timestamp, str]:
    """A cell read as a naive-UTC timestamp representable in nanoseconds, or the rule it breaks."""
    if _is_null(v):
        return pd.NaT, "not_nullable"
    if isinstance(v, str):
        match = _ISO_TIMESTAMP.fullmatch(v)
        if not match:
            return pd.NaT, "unparseable_timestamp"
        if match["zone"]:
            return pd.NaT, "tz_aware"
    elif isinstance(v, np.datetime64):
        v = pd.Timestamp(v) if not np.isnat(v) else None
        if v is None:
            return pd.NaT, "not_nullable"
    elif not isinstance(v, datetime):
        return pd.NaT, "not_a_timestamp"  # a bare date or an epoch number: the time or the unit is a guess
    elif v.tzinfo is not None:
        return pd.NaT, "tz_aware"
    try:
        return pd.Timestamp(v).as_unit("ns"), ""
    except (ValueError, OverflowError):  # OutOfBoundsDatetime is a ValueError
        return pd.NaT, "unparseable_timestamp" if isinstance(v, str) else "out_of_range"


def _timestamps(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    n = len(s)
    if s.dtype.kind == "M" and getattr(s.dtype, "tz", None) is None:
        t = s.to_numpy(dtype="datetime64[ns]")
        rules = np.full(n, "", dtype=object)
        rules[np.isnat(t)] = "not_nullable"
        return t, rules
    read = [_timestamp(v) for v in s.to_numpy(dtype=object)]
    t = np.array([r[0].to_datetime64() if r[1] == "" else np.datetime64("NaT") for r in read], dtype="datetime64[ns]")
    return t, np.array([r[1] for r in read], dtype=object)


def _texts(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    values = s.to_numpy(dtype=object)
    n = len(values)
    rules = np.full(n, "", dtype=object)
    is_str = np.fromiter((isinstance(v, str) for v in values), bool, n)
    other = np.flatnonzero(~is_str)
    rules[other] = ["not_nullable" if _is_null(values[i]) else "not_a_string" for i in other]
    text = pd.Series(values[is_str], dtype=object).astype(str)
    where = np.flatnonzero(is_str)
    rules[where[(text.str.strip() != text).to_numpy()]] = "padded_or_blank"
    rules[where[(text == "").to_numpy()]] = "padded_or_blank"
    rules[where[~np.fromiter(map(str.isprintable, text), bool, len(text))]] = "control_character"
    return values, rules


PARSERS = {"text": _texts, "number": _numbers, "integer": _integers, "timestamp": _timestamps}


def _schema_reasons(table: str, typed: pd.DataFrame, shown: pd.DataFrame) -> pd.Series:
    """The first value rule each row breaks, `check: field=value` (value as received), '' where none."""
    reasons = pd.Series("", index=typed.index, dtype=object)
    try:
        _row_schema(table).validate(typed, lazy=True)
    except SchemaErrors as err:
        fc = err.failure_cases
        if fc["index"].isna().any():  # cells are typed by now: a table-level failure is a contract bug
            row = fc[fc["index"].isna()].iloc[0]
            raise BatchRejected(f"{table}: column {row['column']!r} fails {row['check']!r} "
                                f"({row['failure_case']!r})") from err
        for i, check, column in zip(fc["index"], fc["check"].astype(str), fc["column"], strict=True):
            if not reasons.at[i]:
                field = CHECK_FIELDS.get(check, column)
                value = shown.at[i, field] if field in shown.columns else None
                reasons.at[i] = f"{check}: {field}={show(value)}"
    return reasons


def _canonical_key(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """Key values as a chain compares them: EVM hex ids and addresses are case-insensitive."""
    out = frame[key].copy()
    for c in key:
        if out[c].dtype == object:
            text = out[c].astype(str)
            out[c] = text.where(~text.str.startswith("0x"), text.str.lower())
    return out


def split_valid(table: str, df: pd.DataFrame, start: datetime, end: datetime) -> Split:
    """Quarantine rows with a cell their field cannot hold, a ts outside [start, end), a broken value rule of
    the table's pandera contract, or a key already taken by an earlier clean row. Every row ends up in
    exactly one of the two outputs; a batch of the wrong shape raises BatchRejected."""
    check_shape(table, df)
    schema, key = CONTRACTS[table]
    df = df.reset_index(drop=True)
    reasons = pd.Series("", index=df.index, dtype=object)
    typed = {}
    for column, kind in field_kinds(table).items():
        typed[column], rules = PARSERS[kind](df[column])
        bad = (rules != "") & (reasons == "").to_numpy()
        if bad.any():
            reasons[bad] = [f"{r}: {column}={show(v)}" for r, v in zip(rules[bad], df[column].to_numpy(dtype=object)[bad],
                                                                      strict=True)]
    typed = pd.DataFrame(typed, index=df.index)
    lo, hi = pd.Timestamp(start).tz_localize(None), pd.Timestamp(end).tz_localize(None)
    outside = (reasons == "") & ((typed.ts < lo) | (typed.ts >= hi))
    reasons[outside] = "outside_partition: ts=" + typed.ts[outside].astype(str) + f" not in [{lo}, {hi})"
    rest = reasons == ""
    if rest.any():
        reasons[rest] = _schema_reasons(table, typed[rest], df[rest])
    rest = reasons == ""
    canonical = _canonical_key(typed[rest], key)
    dup = canonical.duplicated(keep="first")
    if dup.any():
        rows = dup.index[dup.to_numpy()]
        reasons[rows] = "duplicate_key: " + typed.loc[rows, key].astype(str).agg(",".join, axis=1)
    bad = reasons != ""
    quarantined = df[bad].copy()
    quarantined["reason"] = reasons[bad]
    valid = schema.validate(typed[~bad])
    return Split(valid=valid.reset_index(drop=True), quarantined=quarantined.reset_index(drop=True))
