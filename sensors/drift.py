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

The figures and the decision are quant.drift's (`measure`, `decide`; what they showed on simulated worlds is
in `DriftSettings`' docstring); this module reads them through the resources and turns the decision into a
run request or a skip.
"""

from __future__ import annotations

import json
import time

import dagster as dg
import numpy as np

from quant.drift import DriftFigures, DriftSettings, decide, measure
from resources import LiveJournal, ModelRegistry, Warehouse
from resources.queries import DriftReads

TAG = "quant/"


def evaluate(figures: DriftFigures | str, cursor: dict, now: float, s: DriftSettings):
    """The sensor's decision: (RunRequest or SkipReason, the new cursor)."""
    decision = decide(figures, cursor, now, s)
    if decision.run_key is None:
        return dg.SkipReason(decision.reason), decision.cursor
    drifted = figures.drifted(s)
    tags = {f"{TAG}trigger": "drift", f"{TAG}drift_reason": decision.reason,
            f"{TAG}drift_psi": ",".join(f"{f}={v:.3f}" for f, v in drifted.items()) or "none",
            f"{TAG}champion": figures.champion, f"{TAG}drift_rows": str(figures.rows)}
    if figures.quality is not None:
        tags[f"{TAG}drift_brier_delta"] = f"{figures.quality['brier_delta']:.4f}"
    if figures.live is not None:
        tags[f"{TAG}drift_live_psi"] = ",".join(f"{f}={v:.3f}" for f, v in figures.live_drifted(s).items()) or "none"
        tags[f"{TAG}drift_live_rows"] = str(figures.live["rows"])
        if figures.live["quality"] is not None:
            tags[f"{TAG}drift_live_brier_delta"] = f"{figures.live['quality']['brier_delta']:.4f}"
    return dg.RunRequest(run_key=decision.run_key, partition_key=decision.partition, tags=tags), decision.cursor


def observation(figures: DriftFigures) -> dg.AssetObservation:
    """The figures on the compared pool_features partition, so its drift shows on the asset's timeline."""
    psi = {f: round(v, 4) if np.isfinite(v) else None for f, v in figures.psi.items()}
    metadata = {"drift_champion": figures.champion, "drift_rows": figures.rows, "drift_psi": dg.MetadataValue.json(psi),
                "drift_max_psi": max((v for v in psi.values() if v is not None), default=float("nan"))}
    if figures.quality is not None:
        metadata.update({f"drift_{k}": float(figures.quality[k]) for k in ("brier", "brier_delta", "roc_auc", "auc_delta")})
    return dg.AssetObservation(asset_key="pool_features", partition=figures.partition, metadata=metadata)


# The models the live runtime scores every snapshot with, each watched against its own champion's reference.
# (The sequence model and the entry agent are not watched yet: their references are not the XGBoost kind.)
SERVED = (DriftSettings(model="moon_model"), DriftSettings(model="rug_model"))


def _merge(requests: list[tuple[str, dg.RunRequest]]) -> dg.RunRequest:
    """One retrain for every model that drifted at this tick (the job retrains them all): its key and tags
    name each model with its reason, so several drifting models are still one run."""
    tags = dict(requests[0][1].tags)  # the first model's figures, under the plain tag names
    for model, request in requests:
        tags[f"{TAG}drift_reason_{model}"] = request.tags[f"{TAG}drift_reason"]
    tags[f"{TAG}drift_models"] = ",".join(model for model, _ in requests)
    return dg.RunRequest(run_key="+".join(r.run_key for _, r in requests), tags=tags,
                         partition_key=max(r.partition_key for _, r in requests))


def build_drift_sensor(job, settings: DriftSettings | tuple[DriftSettings, ...] = SERVED, name: str = "drift_sensor",
                       minimum_interval_seconds: int = 900,
                       default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED) -> dg.SensorDefinition:
    """One sensor over every model in `settings`: each compared with its own champion's reference, with its
    own cooldown (the cursor holds one entry per model), and at most one run request a tick."""
    watched = (settings,) if isinstance(settings, DriftSettings) else tuple(settings)
    first = watched[0]

    @dg.sensor(name=name, target=job, minimum_interval_seconds=minimum_interval_seconds, default_status=default_status,
               description=f"Requests `{job.name}` when the newest features drift from the reference of "
                           f"{', '.join(s.model for s in watched)} (PSI > {first.psi_threshold:g} on a top feature, "
                           f"or Brier worse by {first.brier_margin:g}); cooldown {first.cooldown_hours:g} h each.")
    def _sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse, model_registry: ModelRegistry,
                live_journal: LiveJournal):
        state = json.loads(context.cursor) if context.cursor else {}
        registry, reads, now = model_registry.registry(), DriftReads(warehouse), time.time()
        new_state, requests, skips, events = {}, [], [], []
        for s in watched:
            cursor = state.get(s.model, {})
            figures = measure(reads, registry, s, live_journal)
            result, new_cursor = evaluate(figures, cursor, now, s)
            if isinstance(figures, DriftFigures) and figures.rows and cursor.get("observed") != figures.key():
                events.append(observation(figures))  # once per (day, rows, champion): the drift timeline in the UI
                new_cursor = {**new_cursor, "observed": figures.key()}
            new_state[s.model] = new_cursor
            if isinstance(result, dg.RunRequest):
                requests.append((s.model, result))
            else:
                skips.append(f"{s.model}: {result.skip_message}" if len(watched) > 1 else result.skip_message)
        if new_state != state:
            context.update_cursor(json.dumps(new_state, sort_keys=True))
        if requests:
            return dg.SensorResult(run_requests=[_merge(requests)], asset_events=events)
        return dg.SensorResult(skip_reason=dg.SkipReason(" | ".join(skips)), asset_events=events)

    return _sensor
