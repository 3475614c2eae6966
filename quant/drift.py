"""Drift statistics: is today's data (or today's error) still like the champion's reference?

- `psi`: population stability index of a sample against a reference histogram of `quant.models.train.histogram`
  (quantile edges, counts per bin), binned on the reference's own edges.
- `ks_2samp`: two-sample Kolmogorov-Smirnov statistic with its asymptotic (Kolmogorov) p-value.
- `quality_drift`: Brier score and ROC-AUC of resolved predictions against the champion's held-out metrics.
- `DriftSettings`, `measure` and `decide`: the drift sensor's figures of the newest days (stored and live)
  against the champion, and whether they call for a retrain.
- `PageHinkley`: a streaming detector of an upward shift in the mean of an error series.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from quant.models import metrics
from quant.models.registry import Registry
from quant.models.specs import SPECS
from quant.models.train import predict

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


# ---- the drift sensor's figures and decision ----------------------------------------------------------------

DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class DriftSettings:
    """When the newest data calls for a retrain of `model`, and how often it may.

    Measured before issue 19 (`python -m benchmarks.drift small|default`, champion held out on day 3,
    `RegimeShift(day=4)` against the same world without it): daily partitions fired on 0 of 13 stationary days
    and on 0 of 13 post-shift days of that mild shift; attention noise x5 and sniping x4 fired on every
    post-shift day of seeds 7-9. On the market of issue 19 (not yet re-run through benchmarks/drift.py; small
    worlds, day 4 against a champion held out on day 3, by hand): stationary days show a largest top-feature PSI
    of 0.04-0.12 (seeds 7-9); attention x5 no longer reliably moves them (0.08-0.26); the hype wave of
    `small_shift_world` (retail x5 market-wide) gives 0.31-0.48 on sells_10, and the live sensor fires on it at
    its first whole-day comparison (22 h of post-shift data, tests/e2e/test_drift_loop.py). Brier on day 4
    stays within +-0.015 of held out under both shifts: this sensor sees the market's activity change, not an
    error change.
    """

    model: str = "moon_model"
    psi_threshold: float = PSI_ALERT
    top_features: int = 10  # the champion's features with the most total gain
    window_days: int = 1  # newest days of features compared with the reference
    min_rows: int = 500  # fewer rows than this and PSI is too noisy to act on
    brier_margin: float = 0.05  # absolute Brier points worse than held out
    cooldown_hours: float = 12.0
    # Features whose marginal moves with the calendar in a stationary market, left out of PSI: measured on a
    # stationary simulated world (benchmarks/drift.py), established pools' age leaves the reference's bins
    # by a day a day (PSI ~1.7 every day) and their depth grows with fees (log_k PSI 0.2-0.6).
    exempt: tuple[str, ...] = ("pool_age_min", "log_k")
    # The live journal's newest hours of market time, compared as well once the journal spans 90% of them:
    # a whole day, as for stored partitions; shorter windows see the time of day (a night has fewer young
    # pools) and false-alarm (benchmarks/drift.py: 6-hour windows fire on 5-27% of stationary ones).
    live_window_hours: float = 24.0


@dataclass(frozen=True)
class DriftFigures:
    partition: str
    champion: str
    rows: int
    psi: dict[str, float]  # top features, largest PSI first
    quality: dict | None  # quality_drift on resolved labels, or None when too few have resolved
    live: dict | None = None  # the same figures on the live journal's newest window: {rows, psi, quality}

    def key(self) -> str:
        return f"{self.partition}:{self.rows}:{self.champion}" + (f":live{self.live['rows']}" if self.live else "")

    def drifted(self, s: DriftSettings) -> dict[str, float]:
        return {f: v for f, v in self.psi.items() if v > s.psi_threshold}

    def live_drifted(self, s: DriftSettings) -> dict[str, float]:
        return {f: v for f, v in self.live["psi"].items() if v > s.psi_threshold} if self.live else {}

    def reasons(self, s: DriftSettings) -> list[str]:
        out = []
        for where, psi, drifted, quality in (("", self.psi, self.drifted(s), self.quality),
                                             ("live ", (self.live or {}).get("psi", {}), self.live_drifted(s),
                                              (self.live or {}).get("quality"))):
            if drifted:
                out.append(f"{where}psi>{s.psi_threshold:g} on {len(drifted)} of {len(psi)} top features")
            if quality is not None and quality["brier_delta"] > s.brier_margin:
                out.append(f"{where}brier worse by {quality['brier_delta']:.4f} (> {s.brier_margin:g})")
        if self.live and self.live.get("error_alarms"):
            out.append(f"live page-hinkley alarm on the champion's errors ({self.live['error_alarms']})")
        return out

    def summary(self, n: int = 5) -> str:
        def part(rows, psi, q, where):
            top = ", ".join(f"{f}={v:.3f}" for f, v in list(psi.items())[:n])
            quality = (f"brier {q['brier']:.4f} ({q['brier_delta']:+.4f} vs held-out), auc {q['roc_auc']:.4f} "
                       f"({q['auc_delta']:+.4f}) on {q['rows']} resolved" if q else "no resolved labels to score")
            return f"{where} ({rows} rows): PSI {top or 'none'}; {quality}"
        text = f"{self.champion} vs " + part(self.rows, self.psi, self.quality, self.partition)
        if self.live:
            text += "; vs " + part(self.live["rows"], self.live["psi"], self.live["quality"],
                                   f"the live journal's last {self.live['hours']:g} h")
        return text


class StoredDays(Protocol):
    """The stored days the figures compare (resources.queries.DriftReads reads them from the warehouse)."""

    def newest_day(self, table: str) -> pd.Timestamp | None:
        """Midnight of the newest day in `table`; None when it is empty or not there yet."""

    def features(self, columns: list[str], lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
        """The `columns` of pool_features in [lo, hi), in any order."""

    def resolved(self, target: str, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
        """pool_features rows in [lo, hi) whose `target` label has resolved, as column `y`, in time order."""


class RecentJournal(Protocol):
    def recent(self, kind: str, hours: float) -> pd.DataFrame:
        """The live journal's rows of `kind` in its newest `hours` of market time (quant.journal.recent)."""


def journal_columns(model: str) -> tuple[str, str, str]:
    """(label, score, version) columns of `model` in the live journal: the spec's target `will_<x>` is
    journalled as the score `p_<x>` of the version in `<x>_version` (quant.journal)."""
    target = SPECS[model].target
    stem = target.removeprefix("will_")
    return target, f"p_{stem}", f"{stem}_version"


def top_features(registry: Registry, model: str, version: str, k: int, exempt=()) -> list[str]:
    """The champion's `k` features with the most total gain, `exempt` ones left out (features it never split
    on carry none)."""
    loaded = registry.load(model, version)
    gain = loaded.booster.get_score(importance_type="total_gain")
    ranked = sorted((f for f in loaded.features if f not in exempt), key=lambda f: -gain.get(f, 0.0))
    return [f for f in ranked if gain.get(f, 0.0) > 0][:k] or ranked[:k]


def measure(stored: StoredDays, registry: Registry, s: DriftSettings,
            journal: RecentJournal | None = None) -> DriftFigures | str:
    """The figures of the newest feature days, and of the live journal's newest hours, against the champion,
    or why there is nothing to compare."""
    champion = registry.champion(s.model)
    if champion is None:
        return f"{s.model} has no champion yet: nothing to compare against"
    figures = _measure_stored(stored, registry, s, champion)
    live = _measure_live(journal, registry, s, champion) if journal is not None else None
    if live is None:
        return figures
    if isinstance(figures, str):
        newest = stored.newest_day("pool_snapshots")
        if newest is None:
            return figures
        return DriftFigures(f"{newest:%Y-%m-%d}", f"{s.model}@{champion}", 0, {}, None, live)
    return DriftFigures(figures.partition, figures.champion, figures.rows, figures.psi, figures.quality, live)


def _measure_live(journal: RecentJournal, registry: Registry, s: DriftSettings, champion: str) -> dict | None:
    """PSI of the journal's newest `live_window_hours` of predictions made by the champion, and its Brier on
    their outcomes that have resolved; None when the champion has too few rows there."""
    manifest = registry.manifest(s.model, champion)
    target, score, version_column = journal_columns(s.model)
    pred = journal.recent("predictions", s.live_window_hours)
    if pred.empty or version_column not in pred:
        return None
    pred = pred[pred[version_column] == champion]
    if len(pred) < s.min_rows or pred.ts.max() - pred.ts.min() < pd.Timedelta(hours=0.9 * s.live_window_hours):
        return None
    features = top_features(registry, s.model, champion, s.top_features, s.exempt)
    psi = psi_table(manifest["reference"]["features"], pred, features)
    quality = None
    outcomes = journal.recent("outcomes", s.live_window_hours)
    if not outcomes.empty and "brier" in manifest["metrics"]:
        outcomes = outcomes[outcomes[version_column] == champion]
        if len(outcomes) >= s.min_rows:
            quality = quality_drift(outcomes[target].to_numpy(np.float64), outcomes[score].to_numpy(np.float64),
                                    manifest["metrics"])
    activity = journal.recent("activity", s.live_window_hours)
    alarms = 0
    if not activity.empty:
        for data in activity.loc[activity.kind == "error_drift", "data"]:
            alarm = json.loads(data)
            alarms += alarm["model"] == s.model and alarm["version"] == champion
    return {"rows": len(pred), "psi": psi, "quality": quality, "hours": s.live_window_hours,
            "until": str(pred.ts.max()), "error_alarms": alarms}


def _measure_stored(stored: StoredDays, registry: Registry, s: DriftSettings, champion: str) -> DriftFigures | str:
    manifest = registry.manifest(s.model, champion)
    newest = stored.newest_day("pool_features")
    if newest is None:
        return "pool_features is empty: no feature partition to compare"
    reference_end = pd.Timestamp(manifest["training_window"]["test_end"])
    if newest + DAY <= reference_end:
        return (f"newest features day {newest:%Y-%m-%d} is inside {s.model}@{champion}'s reference window "
                f"(ends {reference_end:%Y-%m-%d}): no newer data")
    lo, hi = max(newest - (s.window_days - 1) * DAY, reference_end), newest + DAY
    features = top_features(registry, s.model, champion, s.top_features, s.exempt)
    frame = stored.features(features, lo, hi)
    if len(frame) < s.min_rows:
        return f"{len(frame)} feature rows in [{lo:%Y-%m-%d}, {hi:%Y-%m-%d}): fewer than the {s.min_rows} needed"
    psi = psi_table(manifest["reference"]["features"], frame, features)
    quality = None
    resolved = stored.resolved(manifest["target"], lo, hi) if "brier" in manifest["metrics"] else pd.DataFrame()
    if len(resolved) >= s.min_rows:
        p = predict(registry.load(s.model, champion).booster, resolved, manifest["features"])
        quality = quality_drift(resolved.y.to_numpy(np.float64), p, manifest["metrics"])
    return DriftFigures(f"{newest:%Y-%m-%d}", f"{s.model}@{champion}", len(frame), psi, quality)


@dataclass(frozen=True)
class Decision:
    """What the figures call for: a retrain of `partition` under `run_key`, or (`run_key` None) a skip;
    `reason` says why, with the figures, and `cursor` is the sensor's state after it."""

    reason: str
    cursor: dict
    run_key: str | None = None
    partition: str | None = None


def decide(figures: DriftFigures | str, cursor: dict, now: float, s: DriftSettings) -> Decision:
    """Retrain when the figures give a reason and the last request (`cursor["last_request_at"]`, seconds)
    is more than `cooldown_hours` before `now`; the run key is fixed by champion and day, so one drift is
    requested once."""
    if isinstance(figures, str):
        return Decision(figures, cursor)
    reasons = figures.reasons(s)
    if not reasons:
        return Decision(f"no drift: {figures.summary()}", cursor)
    last = cursor.get("last_request_at")
    if last is not None and now - last < s.cooldown_hours * 3600:
        return Decision(
            f"drift ({'; '.join(reasons)}) but in cooldown: last retrain requested {(now - last) / 3600:.2f} h ago "
            f"({cursor.get('last_run_key')}), cooldown {s.cooldown_hours:g} h. {figures.summary()}", cursor)
    live_only = all(r.startswith("live ") for r in reasons)
    run_key = f"drift-{figures.champion.replace('@', '-')}-{figures.partition}" + ("-live" if live_only else "")
    return Decision("; ".join(reasons), {**cursor, "last_request_at": now, "last_run_key": run_key,
                                          "last_partition": figures.partition}, run_key, figures.partition)


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
