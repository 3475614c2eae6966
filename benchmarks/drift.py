"""The drift sensor's test on simulated worlds: how often it fires on a stationary world, and how soon after
an injected regime shift (`RegimeShift(day=4)`: rug-heavy fate mix for new pools, attention noise x1.6,
sniping x2).

Per seed, a world (small: 7 days, 24 new pools a day, seeds 7-9; default: 8 days, 50 a day, seed 7) is simulated twice, without and with the shift. A champion moon model is
trained as the model asset trains it (days 1-2, less the label-horizon purge; day 0 is the world's warm-up)
and its reference histograms are taken on its held-out day 3. Days 4-6 are then scored as the sensor scores
them: PSI of the champion's 10 top features by gain (pool_age_min and log_k exempt, as in the sensor) against the reference, firing when any exceeds 0.2.
Scored two ways: sliding windows of 6 hours of feature rows stepped by 1 hour (false-alarm share of windows
on the stationary world; delay from the shift to the end of the first firing window on the shifted one, in
hours and in snapshots per pool), and whole daily partitions, as the sensor's default `window_days=1` sees them.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from quant.drift import PSI_ALERT, psi_table
from quant.features import batch_features
from quant.features.labels import LabelConfig, build_labels
from quant.models.datasets import labelled
from quant.models.specs import MOON
from quant.models.train import predict, reference_histograms, train_booster
from quant.simulator import RegimeShift, default_world, simulate, small_world

EXEMPT = ("pool_age_min", "log_k")  # as sensors.drift.DriftSettings: they move with the calendar

SIZES = ("small", "default", "small-strong")
SEEDS = {"small": (7, 8, 9), "default": (7,), "small-strong": (7, 8, 9)}
WORLDS = {"small": lambda seed: small_world(seed=seed, days=7), "default": default_world,  # 7 and 8 days
          "small-strong": lambda seed: small_world(seed=seed, days=7)}
# The simulator's shift, and one with attention noise x5 and sniping x4 (what feature PSI needs to see it).
SHIFTS = {"small": RegimeShift(day=4), "default": RegimeShift(day=4),
          "small-strong": RegimeShift(day=4, volatility_mult=5.0, sniper_mult=4.0)}
SHIFT_DAY, REFERENCE_DAY = 4, 3
WINDOW_H, STEP_H, TOP = 6, 1, 10
HOUR, DAY = pd.Timedelta(hours=1), pd.Timedelta(days=1)


def world(seed: int, shift: bool, size: str = "small") -> tuple[pd.DataFrame, pd.DataFrame, int]:
    cfg = WORLDS[size](seed)
    if shift:
        cfg = cfg.with_(regime_shift=SHIFTS[size])
    w = simulate(cfg)
    feats = batch_features(w.pool_snapshots, w.swaps).to_pandas()
    return feats, build_labels(w.pool_snapshots).to_pandas(), cfg.cadence_s


def champion(feats: pd.DataFrame, labels: pd.DataFrame, cadence_s: int) -> tuple[dict, list[str]]:
    """Reference histograms (held-out day) and the top features by gain of a moon model trained before it."""
    data = labelled(feats, labels, "will_moon")
    t0 = data.ts.min().floor("D")
    purge = pd.Timedelta(seconds=LabelConfig().horizon * cadence_s)
    train = data[(data.ts >= t0 + DAY) & (data.ts < t0 + REFERENCE_DAY * DAY - purge)]
    holdout = data[(data.ts >= t0 + REFERENCE_DAY * DAY) & (data.ts < t0 + (REFERENCE_DAY + 1) * DAY)]
    booster = train_booster(MOON, train)
    gain = booster.get_score(importance_type="total_gain")
    top = sorted((f for f in gain if f not in EXEMPT), key=lambda f: -gain[f])[:TOP]
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


def run(size: str) -> dict:
    """Both worlds scored on the same timeline, so the shifted world's firing can be read against the
    stationary world's (a firing that the stationary world shows as often is noise, not detection)."""
    started = time.perf_counter()
    seen = {w: {"fired": 0, "windows": 0, "daily_fired": 0, "days": 0, "daily_max": [], "first_h": []}
            for w in ("stationary", "shifted")}
    for seed in SEEDS[size]:
        for shift in (False, True):
            feats, labels, cadence_s = world(seed, shift, size)
            reference, top = champion(feats, labels, cadence_s)
            t0 = feats.ts.min().floor("D")
            shift_ts, end = t0 + SHIFT_DAY * DAY, feats.ts.max().ceil("D")
            slide = windows(feats, reference, top, shift_ts, end, WINDOW_H * HOUR, STEP_H * HOUR)
            daily = windows(feats, reference, top, shift_ts, end, DAY, DAY)
            fired = slide.max_psi > PSI_ALERT
            s = seen["shifted" if shift else "stationary"]
            s["fired"] += int(fired.sum())
            s["windows"] += len(slide)
            s["daily_fired"] += int((daily.max_psi > PSI_ALERT).sum())
            s["days"] += len(daily)
            s["daily_max"] += daily.max_psi.round(3).tolist()
            s["first_h"].append(float((slide[fired].end.iloc[0] - shift_ts) / HOUR) if fired.any() else float("nan"))
            print(f"seed {seed} shift={shift}: top {top[:5]}; 6 h windows fired {int(fired.sum())}/{len(slide)}; "
                  f"daily max PSI {daily.max_psi.round(3).tolist()} ({daily.feature.tolist()})", flush=True)
    out = {"seeds": len(SEEDS[size]), "window_hours": WINDOW_H, "psi_threshold": PSI_ALERT, "top_features": TOP}
    for name, s in seen.items():
        out[f"{name}_6h_fire_rate"] = round(s["fired"] / max(s["windows"], 1), 3)
        out[f"{name}_daily_fires"] = f"{s['daily_fired']} of {s['days']}"
        out[f"{name}_daily_max_psi"] = ", ".join(f"{v:.3f}" for v in s["daily_max"])
        out[f"{name}_first_6h_fire_hours"] = ", ".join(f"{h:.0f}" for h in s["first_h"])
    out["snapshots_per_hour"] = 3600 // cadence_s
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(sys.argv[1] if len(sys.argv) > 1 else "small")))
