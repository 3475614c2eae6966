"""Training time of the three models on the default world, as the model assets train them: the newest 2
days held out, the 5 before them (less the purge gap) as training rows, XGBoost on one thread with the
fixed specs of quant.models.specs (the slippage model on at most 100,000 swaps). Also the time to build
the training tables. One run each (training is deterministic; the machine is shared: see load_avg)."""

from __future__ import annotations

import os
import time

import pandas as pd

from benchmarks.common import peak_rss_mb
from benchmarks.features import default_world_tables
from quant.features import batch_features
from quant.features.labels import build_labels
from quant.models.datasets import cadence, holdout_window, labelled, slippage_table
from quant.models.specs import MOON, RUG, SLIPPAGE
from quant.models.train import train_booster

SIZES = ("default",)
SLIPPAGE_ROWS = 100_000


def training_tables() -> tuple[pd.DataFrame, pd.DataFrame, object]:
    tables = default_world_tables()
    snaps, swaps = tables["pool_snapshots"], tables["swaps"]
    feats = batch_features(snaps, swaps).to_pandas()
    labels = build_labels(snaps).to_pandas()
    data = labelled(feats, labels, "will_moon").merge(labels[["pool_id", "ts", "will_rug"]], on=["pool_id", "ts"])
    first = snaps.ts.min().floor("D")
    window = holdout_window(first, snaps.ts.max().floor("D") + pd.Timedelta(days=1), 5, 2, 10 * cadence(snaps))
    return data, slippage_table(swaps, snaps, feats), window


def run(size: str) -> dict:
    t = time.perf_counter()
    data, slip, window = training_tables()
    out = {"tables_seconds": round(time.perf_counter() - t, 2)}
    for spec, frame in ((MOON, data), (RUG, data), (SLIPPAGE, slip)):
        train = window.train(frame)
        if spec is SLIPPAGE:
            train = train.iloc[:: max(1, -(-len(train) // SLIPPAGE_ROWS))]
        t = time.perf_counter()
        train_booster(spec, train)
        out[f"{spec.name}_rows"] = len(train)
        out[f"{spec.name}_seconds"] = round(time.perf_counter() - t, 2)
    out.update({"rounds": MOON.rounds, "threads": 1, "peak_rss_mb": round(peak_rss_mb()),
                "load_avg": round(os.getloadavg()[0], 1)})
    return out
