"""Training and prediction: XGBoost boosters, deterministic for the same data (fixed seed, fixed threads,
histogram method), plus the facts a registry manifest records about the training data."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

from quant.models.metrics import recall_at
from quant.models.specs import ModelSpec

REFERENCE_BINS = 10
_QUANT_DIR = Path(__file__).resolve().parents[1]


# Between the rows a weight is fitted on and the day it is judged on: longer than the label horizon (ten
# one-minute snapshots), so no label of the one overlaps the other's prices.
VALIDATION_PURGE = pd.Timedelta(minutes=30)


def train_booster(spec: ModelSpec, frame: pd.DataFrame) -> xgb.Booster:
    """Fit `spec` on the rows of `frame` (its features and target; no nulls in the target). With an operating
    point, the weight of positive rows is chosen first on the frame's own last day (`positive_weight`), and
    the booster records it and the recall it reached there as attributes."""
    y = frame[spec.target].to_numpy(np.float64)
    if np.isnan(y).any():
        raise ValueError(f"{spec.name}: {int(np.isnan(y).sum())} null targets in the training frame")
    if len(y) == 0:
        raise ValueError(f"{spec.name}: empty training frame")
    if spec.operating_point is None:
        return fit_weighted(spec, frame, 1.0)
    multiple, recall = positive_weight(spec, frame)
    booster = fit_weighted(spec, frame, multiple)
    booster.set_attr(positive_weight=f"{multiple:g}", operating_point_recall=f"{recall:.6f}")
    return booster


def fit_weighted(spec: ModelSpec, frame: pd.DataFrame, multiple: float) -> xgb.Booster:
    """Fit with positive rows weighted `multiple` times the class ratio (when the spec balances classes)."""
    y = frame[spec.target].to_numpy(np.float64)
    weight = None
    if spec.balance_classes:
        pos = y.sum()
        if pos == 0 or pos == len(y):
            raise ValueError(f"{spec.name}: training frame has a single class ({int(pos)} of {len(y)} positive)")
        weight = np.where(y > 0, multiple * (len(y) - pos) / pos, 1.0)
    dtrain = xgb.DMatrix(matrix(frame, spec.features), label=y, weight=weight, feature_names=list(spec.features))
    return xgb.train(spec.xgb_params(), dtrain, num_boost_round=spec.rounds)


def positive_weight(spec: ModelSpec, frame: pd.DataFrame) -> tuple[float, float]:
    """(The smallest weight multiple of `spec.operating_point` whose fit on the frame before its last day
    reaches the recall goal on that day with 95% confidence, the recall it reached). The largest when none
    does; 1.0 with NaN when the frame is too short to hold a day out or that day has no positive row.

    Confidence, because one day's recall is a noisy estimate of the next day's: a rug makes ~10 positive
    snapshots of one pool, so the sample is the day's positive pools, not its rows, and the one-sided 95%
    lower bound of the recall (normal approximation over those pools) must reach the goal."""
    point = spec.operating_point
    last_day = frame.ts.max().floor("D")
    fit_rows, check = frame[frame.ts < last_day - VALIDATION_PURGE], frame[frame.ts >= last_day]
    y = check[spec.target].to_numpy(np.float64)
    if len(fit_rows) == 0 or y.sum() == 0 or fit_rows[spec.target].nunique() < 2:
        return 1.0, float("nan")
    events = check.loc[y > 0, "pool_id"].nunique()
    recall = float("nan")
    for multiple in point.weights:
        recall = recall_at(y, predict(fit_weighted(spec, fit_rows, multiple), check, spec.features), point.threshold)
        if recall - 1.645 * np.sqrt(recall * (1 - recall) / events) >= point.recall:
            return multiple, recall
    return point.weights[-1], recall


def predict(booster: xgb.Booster, frame: pd.DataFrame, features: tuple[str, ...] | list[str]) -> np.ndarray:
    """Model output for each row: a probability for classifiers, the target for regressors."""
    return booster.predict(xgb.DMatrix(matrix(frame, features), feature_names=list(features)))


def matrix(frame: pd.DataFrame, features) -> np.ndarray:
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise KeyError(f"frame lacks model features {missing}")
    return frame[list(features)].to_numpy(np.float64)


def data_fingerprint(frame: pd.DataFrame, columns: list[str]) -> str:
    """sha256 of the training rows' values, in order: the same data gives the same fingerprint."""
    hashed = pd.util.hash_pandas_object(frame[columns].reset_index(drop=True), index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def code_version() -> str:
    """The git commit (with +dirty when the quant sources differ from it) and a hash of quant's sources."""
    sources = sorted(_QUANT_DIR.rglob("*.py"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:12]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=_QUANT_DIR, capture_output=True,
                              text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", str(_QUANT_DIR)], cwd=_QUANT_DIR,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head, dirty = "", ""
    return f"{head or 'nogit'}{'+dirty' if dirty else ''} quant-src:{digest}"


def histogram(values: np.ndarray, bins: int = REFERENCE_BINS) -> dict:
    """Reference distribution for drift checks: quantile bin edges of the finite values, counts per bin,
    and how many values were null."""
    v = np.asarray(values, np.float64)
    finite = v[np.isfinite(v)]
    if len(finite) == 0:
        return {"edges": [], "counts": [], "nulls": int(len(v))}
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)))
    if len(edges) == 1:
        edges = np.array([edges[0], edges[0]])
    counts, _ = np.histogram(finite, bins=edges)
    return {"edges": edges.tolist(), "counts": counts.tolist(), "nulls": int(len(v) - len(finite))}


def reference_histograms(frame: pd.DataFrame, features, predictions: np.ndarray) -> dict:
    return {"features": {f: histogram(frame[f].to_numpy()) for f in features},
            "predictions": histogram(predictions)}
