"""The drift sensor on a world with a known shift and on the same world without it: how often it fires when
nothing changed (false alarms) and whether it fires when something did.

A champion moon model is trained as the model asset trains it (days 1-2 of the world, less the label-horizon
purge; day 0 is the world's warm-up) and its reference histograms are taken on its held-out day 3. From the
shift's day on, the feature rows are scored as the sensor scores them: PSI of the champion's 10 top features
by gain (the sensor's exempt features left out) against the reference, firing when any exceeds 0.2. Scored
on whole daily partitions (the sensor's default window) and on 6-hour windows stepped by an hour.

`hype_wave` is the sensor's end-to-end test shift (`small_shift_world`: retail x5 market-wide, attention noise
x2, sniping x4), moved to day 4 so the champion has two training days.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from quant.drift import PSI_ALERT, DriftSettings, psi_table
from quant.features import batch_features
from quant.features.labels import LabelConfig, build_labels
from quant.models.datasets import labelled
from quant.models.specs import MOON
from quant.models.train import predict, reference_histograms, train_booster
from quant.simulator import RegimeShift, simulate, small_world
from quant.simulator.config import WorldConfig, small_shift_world

SHIFT_DAY, REFERENCE_DAY, DAYS = 4, 3, 7
WINDOW, STEP, TOP = pd.Timedelta(hours=6), pd.Timedelta(hours=1), 10
HOUR, DAY = pd.Timedelta(hours=1), pd.Timedelta(days=1)


def hype_wave(seed: int) -> RegimeShift:
    return dataclasses.replace(small_shift_world(seed).regime_shift, day=SHIFT_DAY)


def world(cfg: WorldConfig) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    w = simulate(cfg)
    return batch_features(w.pool_snapshots, w.swaps).to_pandas(), build_labels(w.pool_snapshots).to_pandas(), cfg.cadence_s


def champion(feats: pd.DataFrame, labels: pd.DataFrame, cadence_s: int) -> tuple[dict, list[str]]:
    """Reference histograms (held-out day) and the top features by gain of a moon model trained before it."""
    data = labelled(feats, labels, "will_moon")
    t0 = data.ts.min().floor("D")
    purge = pd.Timedelta(seconds=LabelConfig().horizon * cadence_s)
    train = data[(data.ts >= t0 + DAY) & (data.ts < t0 + REFERENCE_DAY * DAY - purge)]
    holdout = data[(data.ts >= t0 + REFERENCE_DAY * DAY) & (data.ts < t0 + (REFERENCE_DAY + 1) * DAY)]
    booster = train_booster(MOON, train)
    gain = booster.get_score(importance_type="total_gain")
    exempt = DriftSettings().exempt
    top = sorted((f for f in gain if f not in exempt), key=lambda f: -gain[f])[:TOP]
    return reference_histograms(holdout, MOON.features, predict(booster, holdout, MOON.features))["features"], top


def windows(feats: pd.DataFrame, reference: dict, top: list[str], start: pd.Timestamp, end: pd.Timestamp,
            width: pd.Timedelta, step: pd.Timedelta) -> pd.DataFrame:
    """Max PSI over the top features of each window [t - width, t), t from start + width to end."""
    rows, t = [], start + width
    ts = feats.ts.to_numpy()
    while t <= end:
        part = feats[(ts >= np.datetime64(t - width)) & (ts < np.datetime64(t))]
        psi = psi_table(reference, part, top)
        worst = max(psi, key=lambda f: np.nan_to_num(psi[f], nan=-1))
        rows.append({"end": t, "rows": len(part), "max_psi": psi[worst], "feature": worst})
        t += step
    return pd.DataFrame(rows)


def score(cfg: WorldConfig) -> dict:
    """The sensor's view of one world from SHIFT_DAY on: daily and 6-hour max PSI, and when it first fires."""
    feats, labels, cadence_s = world(cfg)
    reference, top = champion(feats, labels, cadence_s)
    shift_ts = feats.ts.min().floor("D") + SHIFT_DAY * DAY
    end = feats.ts.max().ceil("D")
    slide = windows(feats, reference, top, shift_ts, end, WINDOW, STEP)
    daily = windows(feats, reference, top, shift_ts, end, DAY, DAY)
    fired = slide.max_psi > PSI_ALERT
    return {"top": top, "daily": daily, "slide": slide,
            "first_fire_hours": float((slide[fired].end.iloc[0] - shift_ts) / HOUR) if fired.any() else float("nan")}


def drift_figures(seed: int) -> dict:
    """The sensor's false alarms on the stationary small world of `seed` and its firing on the same world under
    the hype wave: share of daily partitions (days 4-6) fired, the first shifted day fired or not, max PSI."""
    base = small_world(seed=seed, days=DAYS)
    out = {}
    for name, cfg in (("stationary", base), ("hype", base.with_(regime_shift=hype_wave(seed)))):
        s = score(cfg)
        daily_fired = s["daily"].max_psi > PSI_ALERT
        out[f"drift_{name}_daily_fire_rate"] = float(daily_fired.mean())
        out[f"drift_{name}_first_day_fired"] = float(daily_fired.iloc[0])
        out[f"drift_{name}_max_daily_psi"] = float(s["daily"].max_psi.max())
        out[f"drift_{name}_6h_fire_rate"] = float((s["slide"].max_psi > PSI_ALERT).mean())
    return out
