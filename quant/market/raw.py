"""Raw batches as JSON text, whatever their cells hold: the form a batch is kept in when Parquet cannot type
it (a column of mixed types, names that are not strings), and the form of a quarantined row.

JSON's own values (strings, numbers of any size, booleans, null, NaN and infinities as Python writes them)
stay what they were; timestamps and bytes are tagged so they read back as themselves; anything else is kept
as its repr under a tag, so nothing a source sent is lost or silently changed into something else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

import numpy as np
import pandas as pd

TIMESTAMP, BYTES, REPR = "$timestamp", "$bytes", "$repr"


def cell(value: object) -> object:
    """One cell as a JSON-ready value."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.bool_ | np.integer | np.floating):
        return value.item()
    if value is pd.NaT:
        return {TIMESTAMP: None}
    if isinstance(value, datetime):  # pd.Timestamp included; an offset, if any, stays in the text
        return {TIMESTAMP: value.isoformat()}
    if isinstance(value, bytes):
        return {BYTES: value.hex()}
    return {REPR: repr(value)}


def uncell(value: object) -> object:
    """The inverse of `cell` (a repr comes back as its string)."""
    if isinstance(value, dict) and len(value) == 1:
        (tag, inner), = value.items()
        if tag == TIMESTAMP:
            try:
                return pd.NaT if inner is None else pd.Timestamp(inner)
            except (ValueError, OverflowError):
                return inner
        if tag == BYTES:
            return bytes.fromhex(inner)
        if tag == REPR:
            return inner
    return value


def _dumps(value: object) -> str:
    return json.dumps(value, allow_nan=True, ensure_ascii=True, separators=(",", ":"), default=lambda v: {REPR: repr(v)})


def frame_to_lines(df: pd.DataFrame) -> Iterable[str]:
    """A header line (the column names, as JSON) and one JSON array per row."""
    yield _dumps({"columns": [cell(c) for c in df.columns]})
    for row in df.itertuples(index=False, name=None):
        yield _dumps([cell(v) for v in row])


def lines_to_frame(lines: Iterable[str]) -> pd.DataFrame:
    it = iter(lines)
    columns = [uncell(c) for c in json.loads(next(it))["columns"]]
    rows = [[uncell(v) for v in json.loads(line)] for line in it if line]
    frame = pd.DataFrame(rows, columns=range(len(columns)), dtype=object)
    frame.columns = columns  # set after building: repeated names stay repeated
    return frame


def row_json(columns: list, values: Iterable) -> str:
    """One quarantined row as a JSON object of its cells (a repeated name keeps its last value)."""
    return _dumps({str(c): cell(v) for c, v in zip(columns, values, strict=True)})

