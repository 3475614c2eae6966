"""Leak scans. A feature that knows a label's future shows up in one of two ways: alone it ranks the label
almost perfectly (the label's own path, copied in), or its value at time t moves when only rows after t move
(a window that reaches forward). `single_feature_auc` finds the first, `moved_before` the second."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant.models import metrics

# A feature alone above this against a label is treated as a leak unless `EXPLAINED` says why it is not.
# The honest features of the small and default worlds stay below 0.92 (rug against pool age: rugs are
# front-loaded, MARKET_FACTS); a feature that copies the label's own path scores above 0.99.
AUC_CEILING = 0.95
EXPLAINED: dict[tuple[str, str], str] = {}


def single_feature_auc(frame: pd.DataFrame, features: list[str] | tuple[str, ...], target: str) -> dict[str, float]:
    """Each feature's ROC-AUC alone against `target` on `frame`'s rows, direction-free (max(a, 1 - a)), rows
    where either is null left out; NaN for a feature with no such rows or a single class among them."""
    out = {}
    for f in features:
        ok = frame[f].notna() & frame[target].notna()
        y, x = frame.loc[ok, target].to_numpy(np.float64), frame.loc[ok, f].to_numpy(np.float64)
        if len(y) == 0 or y.min() == y.max():
            out[f] = float("nan")
            continue
        a = metrics.roc_auc(y, x)
        out[f] = max(a, 1 - a)
    return out


def suspects(frame: pd.DataFrame, features, targets) -> dict[tuple[str, str], float]:
    """(feature, target) pairs above `AUC_CEILING` that `EXPLAINED` does not account for."""
    return {(f, t): a for t in targets for f, a in single_feature_auc(frame, features, t).items()
            if a > AUC_CEILING and (f, t) not in EXPLAINED}


def moved_before(clean: pd.DataFrame, perturbed: pd.DataFrame, t: pd.Timestamp, columns,
                 keys=("pool_id", "ts"), tol: float = 1e-9) -> dict[str, int]:
    """For each column, how many rows at or before `t` differ between a frame computed from the data and one
    computed after every row later than `t` was changed (nulls must match exactly; values within `tol`,
    relative). A column computed from the past only moves on no row."""
    keys = list(keys)
    a = clean[clean.ts <= t].sort_values(keys).reset_index(drop=True)
    b = perturbed[perturbed.ts <= t].sort_values(keys).reset_index(drop=True)
    if len(a) != len(b) or not a[keys].equals(b[keys]):
        raise ValueError(f"rows at or before {t} differ: {len(a)} against {len(b)} (a key moved, not a value)")
    moved = {}
    for c in columns:
        x, y = a[c].to_numpy(np.float64), b[c].to_numpy(np.float64)
        same = (np.isnan(x) & np.isnan(y)) | np.isclose(x, y, rtol=tol, atol=tol)
        moved[c] = int((~same).sum())
    return moved
