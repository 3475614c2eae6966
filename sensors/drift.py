"""The drift sensor: retrain because the world changed, not only because a clock ticked, and never in a storm.

Every `minimum_interval_seconds` it compares the newest day(s) of `pool_features` in the warehouse, and the
live journal's newest `live_window_hours` of predictions and resolved outcomes (quant.journal), with the
champion's reference histograms (its held-out window, `reference.features` of the manifest) on the champion's
top features by gain, and, where labels of those days have resolved, the champion's Brier score on them with
its held-out Brier. When PSI > `psi_threshold` on any top feature, or Brier is worse by more than
`brier_margin`, it requests a `retrain` run of the newest day with a run key fixed by model, champion and day
(Dagster never launches one key twice) and tags naming the reason and the figures. Otherwise it skips with
the figures. A cooldown held in the JSON cursor ({"last_request_at", "last_run_key", "last_partition"}) keeps
it from requesting again within `cooldown_hours` of its last request, whatever the data says.

Measured (`python -m benchmarks.drift small|default`; champion held out on day 3, `RegimeShift(day=4)`
against the same world without it, days 4 on scored): on daily partitions, as the sensor runs, it fired on
0 of 13 stationary days (largest PSI 0.193) and on 0 of 13 post-shift days (largest 0.183), small worlds
(seeds 7-9) and the default world (seed 7) alike. The shift changes only pools launched from its day (fate
mix, attention noise, sniping), and their rows do not move the top features' marginals beyond day-to-day
noise, nor the champion's Brier (within +-0.016 of held out on both worlds). Six-hour windows fire on 27%
(small) and 5.5% (default) of stationary windows, and no more often after the shift. So: no false alarms
at the daily grain, but this shift is not detected within a day by feature PSI. A stronger shift (`small-strong`:
attention noise x5, sniping x4) is: the first post-shift daily partition fires on 3 of 3 seeds (PSI 0.255,
0.538, 0.269 on sells_10), all 9 post-shift days fire, still 0 of 9 stationary days: a delay of one daily
partition (24 h, 1,440 snapshots a pool) and one sensor interval.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import dagster as dg
import duckdb
import numpy as np
import pandas as pd

from quant.drift import PSI_ALERT, psi_table, quality_drift
from quant.models.registry import Registry
from quant.models.train import predict
from resources import LiveJournal, ModelRegistry, Warehouse

DAY = pd.Timedelta(days=1)
TAG = "quant/"


@dataclass(frozen=True)
class DriftSettings:
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


def top_features(registry: Registry, model: str, version: str, k: int, exempt=()) -> list[str]:
    """The champion's `k` features with the most total gain, `exempt` ones left out (features it never split
    on carry none)."""
    loaded = registry.load(model, version)
    gain = loaded.booster.get_score(importance_type="total_gain")
    ranked = sorted((f for f in loaded.features if f not in exempt), key=lambda f: -gain.get(f, 0.0))
    return [f for f in ranked if gain.get(f, 0.0) > 0][:k] or ranked[:k]


def _newest_day(warehouse: Warehouse) -> pd.Timestamp | None:
    try:
        hi = warehouse.query("SELECT max(ts) AS hi FROM pool_features").hi.iloc[0]
    except duckdb.CatalogException:  # the table appears with the first features partition
        return None
    return None if pd.isna(hi) else pd.Timestamp(hi).floor("D")


def _resolved(warehouse: Warehouse, target: str, lo, hi) -> pd.DataFrame:
    try:
        return warehouse.query(f"SELECT f.*, l.{target} AS y FROM pool_features f JOIN pool_labels l USING (pool_id, ts) "
                               f"WHERE f.ts >= ? AND f.ts < ? AND l.{target} IS NOT NULL ORDER BY f.ts, f.pool_id",
                               [lo, hi])
    except duckdb.CatalogException:  # no labels yet
        return pd.DataFrame()


def measure(warehouse: Warehouse, registry: Registry, s: DriftSettings,
            journal: LiveJournal | None = None) -> DriftFigures | str:
    """The figures of the newest feature days, and of the live journal's newest hours, against the champion,
    or why there is nothing to compare."""
    champion = registry.champion(s.model)
    if champion is None:
        return f"{s.model} has no champion yet: nothing to compare against"
    stored = _measure_stored(warehouse, registry, s, champion)
    live = _measure_live(journal, registry, s, champion) if journal is not None else None
    if live is None:
        return stored
    if isinstance(stored, str):
        newest = _newest_market_day(warehouse)
        if newest is None:
            return stored
        return DriftFigures(f"{newest:%Y-%m-%d}", f"{s.model}@{champion}", 0, {}, None, live)
    return DriftFigures(stored.partition, stored.champion, stored.rows, stored.psi, stored.quality, live)


def _newest_market_day(warehouse: Warehouse) -> pd.Timestamp | None:
    try:
        hi = warehouse.query("SELECT max(ts) AS hi FROM pool_snapshots").hi.iloc[0]
    except duckdb.CatalogException:
        return None
    return None if pd.isna(hi) else pd.Timestamp(hi).floor("D")


def _measure_live(journal: LiveJournal, registry: Registry, s: DriftSettings, champion: str) -> dict | None:
    """PSI of the journal's newest `live_window_hours` of predictions made by the champion, and its Brier on
    their outcomes that have resolved; None when the champion has too few rows there."""
    manifest = registry.manifest(s.model, champion)
    version_column = "moon_version" if s.model == "moon_model" else "rug_version"
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
    target, score = ("will_moon", "p_moon") if s.model == "moon_model" else ("will_rug", "p_rug")
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


def _measure_stored(warehouse: Warehouse, registry: Registry, s: DriftSettings, champion: str) -> DriftFigures | str:
    manifest = registry.manifest(s.model, champion)
    newest = _newest_day(warehouse)
    if newest is None:
        return "pool_features is empty: no feature partition to compare"
    reference_end = pd.Timestamp(manifest["training_window"]["test_end"])
    if newest + DAY <= reference_end:
        return (f"newest features day {newest:%Y-%m-%d} is inside {s.model}@{champion}'s reference window "
                f"(ends {reference_end:%Y-%m-%d}): no newer data")
    lo, hi = max(newest - (s.window_days - 1) * DAY, reference_end), newest + DAY
    features = top_features(registry, s.model, champion, s.top_features, s.exempt)
    # Only the compared columns, unordered: a sensor tick must stay cheap on a large world's day.
    cols = ", ".join(f'"{f}"' for f in features)
    frame = warehouse.query(f"SELECT {cols} FROM pool_features WHERE ts >= ? AND ts < ?",
                            [lo.to_pydatetime(), hi.to_pydatetime()])
    if len(frame) < s.min_rows:
        return f"{len(frame)} feature rows in [{lo:%Y-%m-%d}, {hi:%Y-%m-%d}): fewer than the {s.min_rows} needed"
    psi = psi_table(manifest["reference"]["features"], frame, features)
    quality = None
    resolved = _resolved(warehouse, manifest["target"], lo, hi) if "brier" in manifest["metrics"] else pd.DataFrame()
    if len(resolved) >= s.min_rows:
        p = predict(registry.load(s.model, champion).booster, resolved, manifest["features"])
        quality = quality_drift(resolved.y.to_numpy(np.float64), p, manifest["metrics"])
    return DriftFigures(f"{newest:%Y-%m-%d}", f"{s.model}@{champion}", len(frame), psi, quality)


def evaluate(figures: DriftFigures | str, cursor: dict, now: float, s: DriftSettings):
    """The sensor's decision: (RunRequest or SkipReason, the new cursor)."""
    if isinstance(figures, str):
        return dg.SkipReason(figures), cursor
    reasons = figures.reasons(s)
    if not reasons:
        return dg.SkipReason(f"no drift: {figures.summary()}"), cursor
    last = cursor.get("last_request_at")
    if last is not None and now - last < s.cooldown_hours * 3600:
        return dg.SkipReason(
            f"drift ({'; '.join(reasons)}) but in cooldown: last retrain requested {(now - last) / 3600:.2f} h ago "
            f"({cursor.get('last_run_key')}), cooldown {s.cooldown_hours:g} h. {figures.summary()}"), cursor
    live_only = all(r.startswith("live ") for r in reasons)
    run_key = f"drift-{figures.champion.replace('@', '-')}-{figures.partition}" + ("-live" if live_only else "")
    drifted = figures.drifted(s)
    tags = {f"{TAG}trigger": "drift", f"{TAG}drift_reason": "; ".join(reasons),
            f"{TAG}drift_psi": ",".join(f"{f}={v:.3f}" for f, v in drifted.items()) or "none",
            f"{TAG}champion": figures.champion, f"{TAG}drift_rows": str(figures.rows)}
    if figures.quality is not None:
        tags[f"{TAG}drift_brier_delta"] = f"{figures.quality['brier_delta']:.4f}"
    if figures.live is not None:
        tags[f"{TAG}drift_live_psi"] = ",".join(f"{f}={v:.3f}" for f, v in figures.live_drifted(s).items()) or "none"
        tags[f"{TAG}drift_live_rows"] = str(figures.live["rows"])
        if figures.live["quality"] is not None:
            tags[f"{TAG}drift_live_brier_delta"] = f"{figures.live['quality']['brier_delta']:.4f}"
    request = dg.RunRequest(run_key=run_key, partition_key=figures.partition, tags=tags)
    return request, {**cursor, "last_request_at": now, "last_run_key": run_key, "last_partition": figures.partition}


def observation(figures: DriftFigures) -> dg.AssetObservation:
    """The figures on the compared pool_features partition, so its drift shows on the asset's timeline."""
    psi = {f: round(v, 4) if np.isfinite(v) else None for f, v in figures.psi.items()}
    metadata = {"drift_champion": figures.champion, "drift_rows": figures.rows, "drift_psi": dg.MetadataValue.json(psi),
                "drift_max_psi": max((v for v in psi.values() if v is not None), default=float("nan"))}
    if figures.quality is not None:
        metadata.update({f"drift_{k}": float(figures.quality[k]) for k in ("brier", "brier_delta", "roc_auc", "auc_delta")})
    return dg.AssetObservation(asset_key="pool_features", partition=figures.partition, metadata=metadata)


def build_drift_sensor(job, settings: DriftSettings = DriftSettings(), name: str = "drift_sensor",
                       minimum_interval_seconds: int = 900) -> dg.SensorDefinition:
    @dg.sensor(name=name, target=job, minimum_interval_seconds=minimum_interval_seconds,
               description=f"Requests `{job.name}` when the newest features drift from {settings.model}'s reference "
                           f"(PSI > {settings.psi_threshold:g} on a top feature, or Brier worse by "
                           f"{settings.brier_margin:g}); cooldown {settings.cooldown_hours:g} h.")
    def _sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse, model_registry: ModelRegistry,
                live_journal: LiveJournal):
        cursor = json.loads(context.cursor) if context.cursor else {}
        figures = measure(warehouse, model_registry.registry(), settings, live_journal)
        result, new_cursor = evaluate(figures, cursor, time.time(), settings)
        events = []
        if isinstance(figures, DriftFigures) and figures.rows and cursor.get("observed") != figures.key():
            events = [observation(figures)]  # once per (day, rows, champion): the drift timeline in the UI
            new_cursor = {**new_cursor, "observed": figures.key()}
        if new_cursor != cursor:
            context.update_cursor(json.dumps(new_cursor, sort_keys=True))
        if isinstance(result, dg.RunRequest):
            return dg.SensorResult(run_requests=[result], asset_events=events)
        return dg.SensorResult(skip_reason=result, asset_events=events)

    return _sensor
