"""Classification and regression metrics, written out so their definitions are visible and tested against
hand-worked examples: ROC-AUC (ties count half), PR-AUC as average precision, precision in the top k,
Brier score, recall at a threshold, and a calibration table."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata


def _check(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(y, np.float64), np.asarray(p, np.float64)
    if y.shape != p.shape or len(y) == 0:
        raise ValueError(f"labels and scores must be non-empty and the same shape, got {y.shape} and {p.shape}")
    if np.isnan(y).any() or np.isnan(p).any():
        raise ValueError("labels and scores must not contain NaN")
    return y, p


def roc_auc(y, p) -> float:
    """Probability that a random positive scores above a random negative (Mann-Whitney U / n+ n-)."""
    y, p = _check(y, p)
    pos = y > 0
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"ROC-AUC needs both classes, got {n_pos} positive and {n_neg} negative")
    ranks = rankdata(p)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pr_auc(y, p) -> float:
    """Average precision: the mean of the precision at the rank of each positive (ties share one threshold)."""
    y, p = _check(y, p)
    order = np.argsort(-p, kind="stable")
    ys, ps = y[order], p[order]
    tp = np.cumsum(ys)
    # evaluate only at the last row of each tied block of scores
    last = np.r_[ps[1:] != ps[:-1], True]
    tp_at, n_at = tp[last], np.flatnonzero(last) + 1
    precision, recall = tp_at / n_at, tp_at / max(tp[-1], 1)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def precision_at_k(y, p, k: int) -> float:
    """Share of positives among the k highest scores. Scores tied at the cut share the remaining places
    (their expected precision under a random tie-break), so a constant score gets the base rate."""
    y, p = _check(y, p)
    k = min(k, len(y))
    cut = np.sort(p)[::-1][k - 1]
    above, tied = p > cut, p == cut
    slots = k - int(above.sum())
    return float((y[above].sum() + slots * y[tied].mean()) / k)


def brier(y, p) -> float:
    y, p = _check(y, p)
    return float(np.mean((p - y) ** 2))


def recall_at(y, p, threshold: float) -> float:
    """Share of positives scored at or above `threshold`."""
    y, p = _check(y, p)
    pos = y > 0
    return float((p[pos] >= threshold).mean()) if pos.any() else float("nan")


def calibration_table(y, p, bins: int = 10) -> pd.DataFrame:
    """Per equal-width probability bin: rows, mean predicted probability, observed positive rate."""
    y, p = _check(y, p)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    df = pd.DataFrame({"bin": idx, "y": y, "p": p})
    table = df.groupby("bin").agg(rows=("y", "size"), mean_predicted=("p", "mean"), observed_rate=("y", "mean"))
    table.insert(0, "range", [f"{edges[b]:.1f}-{edges[b + 1]:.1f}" for b in table.index])
    return table.reset_index(drop=True)


def classifier_metrics(y, p, k: int, threshold: float) -> dict[str, float]:
    """Every scalar metric of one set of scores."""
    return {"roc_auc": roc_auc(y, p), "pr_auc": pr_auc(y, p), f"precision_at_{k}": precision_at_k(y, p, k),
            "brier": brier(y, p), f"recall_at_{threshold:g}": recall_at(y, p, threshold),
            "flagged_share": float((np.asarray(p) >= threshold).mean())}
