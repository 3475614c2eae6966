"""The live runtime's whole path (stream, online features, every registered model, decision, risk, paper
fills, journal), as fast as it goes on one core: `python -m live_runtime bench --events N --json` on the
default world run forward a day from where its 8 days of history end, after a 2-hour warm-up. Models: the
champions of the project's registry when `make materialize` has made them (with the sequence model and the
agents when registered), otherwise moon and rug models trained here as the model assets train them.
Median of 3 runs (by events/s); latency is from a micro-batch's arrival to the decision on each snapshot:
where the cheap stage turns it away for one the cascade refuses (`p99_ms`), at the batch's end for one the
expensive stage scores (`p99_expensive_ms`, the snapshots that can lead to an order); `p99_batch_ms` times
every snapshot at its batch's end. Outcomes and journal commits follow the decisions: they count in
throughput, not latency. The XGBoost
champions are served compiled (`compiled_trees`), as the runtime serves them. Beside the runtime's PnL on
the stretch of market it traded (`runtime_pnl`, equity less the starting 10 SOL), `baseline_pnl` gives no
trade, the launch flip, random entries (the runtime's number, median of 20 draws) and buy-and-hold of new
pools over the same Solana snapshots, with its balance, position limit and per-order notional."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from quant.models.registry import Registry
from quant.settings import Settings

SIZES = ("default",)
EVENTS = {"default": 300_000}


def _data_dir() -> Path:
    """The project's data dir if it has champions, else a benchmark one with freshly trained champions."""
    data = Settings.from_env().data_dir
    if all(Registry(data / "registry").champion(m) for m in ("moon_model", "rug_model")):
        return data
    bench = data / "bench" / "live"
    registry = Registry(bench / "registry")
    if not all(registry.champion(m) for m in ("moon_model", "rug_model")):
        from benchmarks.training import training_tables
        from quant.features import FEATURES
        from quant.models.specs import MOON, RUG
        from quant.models.train import predict, reference_histograms, train_booster
        data_, _, window = training_tables()
        train, holdout = window.train(data_), window.test(data_)
        for spec in (MOON, RUG):
            booster = train_booster(spec, train)
            version = registry.register(spec.name, booster, list(FEATURES), metrics={}, reference=reference_histograms(
                holdout, FEATURES, predict(booster, holdout, FEATURES)))
            registry.promote(spec.name, version, "benchmark")
    worlds = bench / "worlds"
    if not worlds.exists():
        (data / "worlds").mkdir(parents=True, exist_ok=True)
        worlds.symlink_to(data / "worlds")
    return bench


def run(size: str) -> dict:
    env = {**os.environ, "QUANT_DATA_DIR": str(_data_dir()), "QUANT_WORLD": "default"}
    env.pop("QUANT_DAYS", None)
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-m", "live_runtime", "bench", "--events", str(EVENTS[size]), "--json"],
                             env=env, capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    runs.sort(key=lambda r: r["events_per_s"])
    median = runs[1]
    return {**median, "events_per_s_runs": [r["events_per_s"] for r in runs],
            "p99_ms_runs": [r["p99_ms"] for r in runs], "load_avg": round(os.getloadavg()[0], 1)}
