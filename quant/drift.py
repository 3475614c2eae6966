"""Drift statistics: is today's data (or today's error) still like the champion's reference?

- `psi`: population stability index of a sample against a reference histogram of `quant.models.train.histogram`
  (quantile edges, counts per bin), binned on the reference's own edges.
- `ks_2samp`: two-sample Kolmogorov-Smirnov statistic with its asymptotic (Kolmogorov) p-value.
- `quality_drift`: Brier score and ROC-AUC of resolved predictions against the champion's held-out metrics.
- `PageHinkley`: a streaming detector of an upward shift in the mean of an error series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from quant.models import metrics

# A bin with no sample (or no reference) rows would make ln(a / e) infinite. Both shares are floored at
# PSI_EPS before the sum, the usual convention: one empty bin of ten then adds about 0.1 * ln(0.1 / 1e-4)
# ~ 0.7, a large but finite signal. The floor is applied to the shares, not the counts, so it does not
# depend on the sample size.
PSI_EPS = 1e-4
PSI_ALERT = 0.2  # the customary "significant shift" level; 0.1-0.2 is "moderate"


def bin_shares(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Share of `values` in each bin of `edges` (len(edges) - 1 bins). The outer bins are open-ended, so a
    value beyond the reference's range counts in the first or last bin; interior bins are [lo, hi), the
    last closed, as `np.histogram` builds the reference."""
    edges, values = np.asarray(edges, np.float64), np.asarray(values, np.float64)
    n_bins = len(edges) - 1
    if n_bins < 1:
        raise ValueError(f"a histogram needs at least two edges, got {len(edges)}")
    idx = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, n_bins - 1)
    return np.bincount(idx, minlength=n_bins) / max(len(values), 1)


def psi_shares(expected: np.ndarray, actual: np.ndarray, eps: float = PSI_EPS) -> float:
    """sum((a - e) * ln(a / e)) over bins, shares floored at `eps`."""
    e = np.maximum(np.asarray(expected, np.float64), eps)
    a = np.maximum(np.asarray(actual, np.float64), eps)
    return float(np.sum((a - e) * np.log(a / e)))


def psi(reference: dict, values, eps: float = PSI_EPS) -> float:
    """PSI of the finite `values` against `reference` ({"edges", "counts"}). NaN when either side has no
    finite values (nothing to compare; nulls are reported apart, as the null share)."""
    edges, counts = np.asarray(reference["edges"], np.float64), np.asarray(reference["counts"], np.float64)
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if len(edges) < 2 or counts.sum() == 0 or len(v) == 0:
        return float("nan")
    return psi_shares(counts / counts.sum(), bin_shares(edges, v), eps)


def psi_table(references: dict[str, dict], frame, features=None) -> dict[str, float]:
    """PSI of each feature column of `frame` against its reference, largest first (NaN last)."""
    names = list(features) if features is not None else list(references)
    values = {f: psi(references[f], np.asarray(frame[f], np.float64)) for f in names if f in references}
    return dict(sorted(values.items(), key=lambda kv: (math.isnan(kv[1]), -np.nan_to_num(kv[1]))))


def kolmogorov_sf(z: float) -> float:
    """P(K > z) for the Kolmogorov distribution (the limit of sqrt(n) D_n)."""
    if z <= 0:
        return 1.0
    if z < 1.0:  # the theta-function form converges fast for small z
        k = np.arange(1, 8)
        cdf = math.sqrt(2 * math.pi) / z * np.sum(np.exp(-((2 * k - 1) ** 2) * math.pi**2 / (8 * z * z)))
        return float(1.0 - cdf)
    k = np.arange(1, 101)
    return float(np.clip(2 * np.sum((-1.0) ** (k - 1) * np.exp(-2 * k * k * z * z)), 0.0, 1.0))


@dataclass(frozen=True)
class KSResult:
    statistic: float
    pvalue: float  # asymptotic: Kolmogorov's distribution at sqrt(n m / (n + m)) D


def ks_2samp(a, b) -> KSResult:
    """Largest distance between the two empirical CDFs, taken at every observed value (ties handled by
    counting values <= x on both sides), and its asymptotic two-sided p-value."""
    a, b = np.sort(np.asarray(a, np.float64)), np.sort(np.asarray(b, np.float64))
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"KS needs two non-empty samples, got {len(a)} and {len(b)}")
    points = np.concatenate([a, b])
    d = float(np.max(np.abs(np.searchsorted(a, points, side="right") / len(a)
                            - np.searchsorted(b, points, side="right") / len(b))))
    en = len(a) * len(b) / (len(a) + len(b))
    return KSResult(d, kolmogorov_sf(math.sqrt(en) * d))


def quality_drift(y, p, reference: dict, window: int | None = None) -> dict:
    """Brier and ROC-AUC of resolved predictions `p` (labels `y`, in time order) over the last `window`
    rows (all when None), beside the champion's held-out `reference` ({"brier", "roc_auc"}). AUC is NaN
    when the window holds one class only."""
    y, p = np.asarray(y, np.float64), np.asarray(p, np.float64)
    if window is not None:
        y, p = y[-window:], p[-window:]
    if len(y) == 0:
        raise ValueError("no resolved predictions to score")
    brier = metrics.brier(y, p)
    both = 0 < y.sum() < len(y)
    auc = metrics.roc_auc(y, p) if both else float("nan")
    return {"rows": len(y), "brier": brier, "roc_auc": auc,
            "brier_delta": brier - float(reference["brier"]),  # > 0: worse than held out
            "auc_delta": auc - float(reference["roc_auc"])}  # < 0: worse than held out


def rolling_brier(y, p, window: int) -> np.ndarray:
    """Brier score of each trailing `window` of predictions (NaN until a window is full)."""
    err = (np.asarray(p, np.float64) - np.asarray(y, np.float64)) ** 2
    out = np.full(len(err), np.nan)
    if len(err) >= window:
        c = np.concatenate([[0.0], np.cumsum(err)])
        out[window - 1:] = (c[window:] - c[:-window]) / window
    return out


class PageHinkley:
    """Page-Hinkley test for an increase in the mean of a stream (e.g. squared errors).

    m_t = sum_{i<=t} (x_i - mean_i - delta), M_t = min_{i<=t} m_i; alarm when m_t - M_t > threshold, after
    at least `min_samples` values. `delta` is the drift tolerated as noise; `threshold` (lambda) trades
    detection delay against false alarms. After an alarm the detector starts afresh.
    """

    def __init__(self, delta: float = 0.005, threshold: float = 5.0, min_samples: int = 30):
        self.delta, self.threshold, self.min_samples = delta, threshold, min_samples
        self.reset()

    def reset(self) -> None:
        self.n, self.mean, self.cum, self.min_cum = 0, 0.0, 0.0, 0.0

    def state(self) -> dict:
        """The running sums, for a checkpoint (JSON-able); `restore` takes them back."""
        return {"n": self.n, "mean": self.mean, "cum": self.cum, "min_cum": self.min_cum}

    def restore(self, state: dict) -> None:
        self.n, self.mean, self.cum, self.min_cum = state["n"], state["mean"], state["cum"], state["min_cum"]

    def update(self, x: float) -> bool:
        """Add one value; True when it raises an alarm."""
        self.n += 1
        self.mean += (x - self.mean) / self.n
        self.cum += x - self.mean - self.delta
        self.min_cum = min(self.min_cum, self.cum)
        if self.n >= self.min_samples and self.cum - self.min_cum > self.threshold:
            self.reset()
            return True
        return False

    def alarms(self, series) -> list[int]:
        """Indices of `series` at which the detector alarms (it restarts after each). The same sums as
        `update`, vectorised between alarms: running sums instead of one Python call per value."""
        x = np.asarray(series, np.float64)
        found, start = [], 0
        while start < len(x):
            seg = x[start:]
            n = self.n + np.arange(1, len(seg) + 1)
            mean = (self.mean * self.n + np.cumsum(seg)) / n
            cum = self.cum + np.cumsum(seg - mean - self.delta)
            min_cum = np.minimum(self.min_cum, np.minimum.accumulate(cum))
            hit = np.flatnonzero((n >= self.min_samples) & (cum - min_cum > self.threshold))
            if not hit.size:
                self.n, self.mean, self.cum, self.min_cum = int(n[-1]), float(mean[-1]), float(cum[-1]), float(min_cum[-1])
                break
            found.append(start + int(hit[0]))
            self.reset()
            start += int(hit[0]) + 1
        return found
