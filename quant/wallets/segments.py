"""Running sums, minima and maxima within contiguous groups of a sorted array, without a loop per group.

Rows of one group must be contiguous; `new` marks each group's first row."""

from __future__ import annotations

import numpy as np
import polars as pl


def group_starts(*keys: np.ndarray) -> np.ndarray:
    """True where any key differs from the row before (and on the first row)."""
    n = len(keys[0])
    new = np.zeros(n, dtype=bool)
    if n:
        new[0] = True
        for k in keys:
            new[1:] |= k[1:] != k[:-1]
    return new


def group_ids(new: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... per group."""
    return np.cumsum(new) - 1


def first_row(new: np.ndarray) -> np.ndarray:
    """Index of each row's group's first row."""
    idx = np.arange(len(new), dtype=np.int32 if len(new) < 2**31 else np.int64)
    idx[~new] = 0
    return np.maximum.accumulate(idx, out=idx)


def cumsum(x: np.ndarray, new: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """Running sum within each group, this row included (in x's dtype: mind overflow); `start` is
    first_row(new) when the caller already has it."""
    start = first_row(new) if start is None else start
    c = np.cumsum(x, dtype=x.dtype)
    c -= c[start] - x[start]
    return c


def cummin_int(x: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Running minimum of integers within each group. Later groups are shifted below every earlier value, so
    one global running minimum never carries a value across a group boundary."""
    if len(x) == 0:
        return x.copy()
    span = int(x.max()) - int(x.min()) + 1
    shift = group_ids(new).astype(np.int64)
    shift *= span
    out = x.astype(np.int64) - shift
    np.minimum.accumulate(out, out=out)
    out += shift
    return out


def cummax_bounded(x: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Running maximum of floats within each group; exact enough when |x| is modest (values are shifted by
    group number times their range, so keep x normalised, e.g. in units of a wallet's stake)."""
    if len(x) == 0:
        return x.copy()
    span = float(x.max() - x.min()) + 1.0
    shift = group_ids(new).astype(np.float64) * span
    return np.maximum.accumulate(x + shift) - shift


def packed_order(*keys: np.ndarray) -> np.ndarray:
    """Row order by `keys` (non-negative integers, most significant first). Packs them into one 64-bit key
    and sorts that when they fit (one fast sort), else falls back to a lexicographic sort."""
    bits = [max(int(k.max()) if len(k) else 1, 1).bit_length() for k in keys]
    if sum(bits) > 63:
        return np.lexsort(keys[::-1])
    packed = np.zeros(len(keys[0]), np.int64)
    for k, b in zip(keys, bits, strict=True):
        packed = packed << b | k.astype(np.int64)
    return pl.Series(packed).arg_sort().to_numpy()


def group_sum(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    return np.bincount(group, weights=values, minlength=n_groups)


def group_count(group: np.ndarray, n_groups: int) -> np.ndarray:
    return np.bincount(group, minlength=n_groups)
