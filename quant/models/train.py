"""Training and prediction: XGBoost boosters, deterministic for the same data (fixed seed, fixed threads,
histogram method), plus the facts a registry manifest records about the training data."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

from quant.models.specs import ModelSpec

REFERENCE_BINS = 10
_QUANT_DIR = Path(__file__).resolve().parents[1]


def train_booster(spec: ModelSpec, frame: pd.DataFrame) -> xgb.Booster:
    """Fit `spec` on the rows of `frame` (its features and target; no nulls in the target)."""
    y = frame[spec.target].to_numpy(np.float64)
    if np.isnan(y).any():
        raise ValueError(f"{spec.name}: {int(np.isnan(y).sum())} null targets in the training frame")
    if len(y) == 0:
        raise ValueError(f"{spec.name}: empty training frame")
    weight = None
    if spec.balance_classes:
        pos = y.sum()
        if pos == 0 or pos == len(y):
            raise ValueError(f"{spec.name}: training frame has a single class ({int(pos)} of {len(y)} positive)")
        weight = np.where(y > 0, (len(y) - pos) / pos, 1.0)
    dtrain = xgb.DMatrix(matrix(frame, spec.features), label=y, weight=weight, feature_names=list(spec.features))
    return xgb.train(spec.xgb_params(), dtrain, num_boost_round=spec.rounds)


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
