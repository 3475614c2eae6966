"""The drift sensor's test on simulated worlds: how often it fires on a stationary world, and how soon after
an injected regime shift (`RegimeShift(day=4)`: rug-heavy fate mix for new pools, attention noise x1.6,
sniping x2; `small-strong`: attention x5, sniping x4; `small-hype`: the sensor's end-to-end test's hype wave,
retail x5 market-wide, attention x2, sniping x4). The scoring is quant.evaluation.drift_trial's, which the
multi-seed command (`python -m quant.evaluation.seeds --drift`) runs on unseen seeds.

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

from quant.drift import PSI_ALERT
from quant.evaluation.drift_trial import TOP, WINDOW, hype_wave, score
from quant.simulator import RegimeShift, default_world, small_world

SIZES = ("small", "default", "small-strong", "small-hype")
SEEDS = {"small": (7, 8, 9), "default": (7,), "small-strong": (7, 8, 9), "small-hype": (7, 8, 9)}
WORLDS = {"small": lambda seed: small_world(seed=seed, days=7), "default": default_world,  # 7 and 8 days
          "small-strong": lambda seed: small_world(seed=seed, days=7),
          "small-hype": lambda seed: small_world(seed=seed, days=7)}
# The simulator's shift, one with attention noise x5 and sniping x4, and the sensor's end-to-end test's hype wave.
SHIFTS = {"small": lambda seed: RegimeShift(day=4), "default": lambda seed: RegimeShift(day=4),
          "small-strong": lambda seed: RegimeShift(day=4, volatility_mult=5.0, sniper_mult=4.0),
          "small-hype": hype_wave}


def run(size: str) -> dict:
    """Both worlds scored on the same timeline, so the shifted world's firing can be read against the
    stationary world's (a firing that the stationary world shows as often is noise, not detection)."""
    started = time.perf_counter()
    seen = {w: {"fired": 0, "windows": 0, "daily_fired": 0, "days": 0, "daily_max": [], "first_h": []}
            for w in ("stationary", "shifted")}
    for seed in SEEDS[size]:
        for shift in (False, True):
            cfg = WORLDS[size](seed)
            if shift:
                cfg = cfg.with_(regime_shift=SHIFTS[size](seed))
            s, result = seen["shifted" if shift else "stationary"], score(cfg)
            slide, daily = result["slide"], result["daily"]
            fired = slide.max_psi > PSI_ALERT
            s["fired"] += int(fired.sum())
            s["windows"] += len(slide)
            s["daily_fired"] += int((daily.max_psi > PSI_ALERT).sum())
            s["days"] += len(daily)
            s["daily_max"] += daily.max_psi.round(3).tolist()
            s["first_h"].append(result["first_fire_hours"])
            print(f"seed {seed} shift={shift}: top {result['top'][:5]}; 6 h windows fired {int(fired.sum())}/"
                  f"{len(slide)}; daily max PSI {daily.max_psi.round(3).tolist()} ({daily.feature.tolist()})",
                  flush=True)
    out = {"seeds": len(SEEDS[size]), "window_hours": WINDOW.total_seconds() / 3600, "psi_threshold": PSI_ALERT,
           "top_features": TOP}
    for name, s in seen.items():
        out[f"{name}_6h_fire_rate"] = round(s["fired"] / max(s["windows"], 1), 3)
        out[f"{name}_daily_fires"] = f"{s['daily_fired']} of {s['days']}"
        out[f"{name}_daily_max_psi"] = ", ".join(f"{v:.3f}" for v in s["daily_max"])
        out[f"{name}_first_6h_fire_hours"] = ", ".join(f"{h:.0f}" for h in s["first_h"])
    out["snapshots_per_hour"] = 3600 // WORLDS[size](7).cadence_s
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out
