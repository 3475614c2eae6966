"""Inference latency, as the live runtime would pay it: one snapshot arriving for one pool (the online
feature update over its 100-snapshot window, then P(moon) and P(rug) for that one row), and batched
scoring of 10,000 rows by each classifier. Models are trained on the default world's training window
(benchmarks/training.py). Single-row: 2,000 consecutive snapshots of the busiest pool, after a 100-row
warm-up, without its swaps (flow features stay 0); median and p99. Batched: median of 3."""

from __future__ import annotations

import os
import time

import numpy as np
import xgboost as xgb

from benchmarks.common import median_seconds, peak_rss_mb
from benchmarks.features import default_world_tables
from benchmarks.training import training_tables
from quant.features import FEATURES, OnlineFeatures
from quant.models.specs import MOON, RUG
from quant.models.train import predict, train_booster

SIZES = ("default",)
CALLS = 2_000
BATCH = 10_000


def run(size: str) -> dict:
    data, _, window = training_tables()
    train = window.train(data)
    moon, rug = train_booster(MOON, train), train_booster(RUG, train)
    test = window.test(data)
    snaps = default_world_tables()["pool_snapshots"]
    longest = snaps.pool_id.value_counts().index[0]  # a pool with thousands of snapshots, in time order
    pool = snaps[snaps.pool_id == longest].sort_values("ts").head(CALLS + 100)
    state = OnlineFeatures()
    slot = state.slot(longest)
    ts_us = pool.ts.to_numpy().astype("datetime64[us]").astype(np.int64)
    open_us = pool.pool_open_time.to_numpy().astype("datetime64[us]").astype(np.int64)
    feature_us, predict_us = [], []
    for i, r in enumerate(pool.itertuples()):
        t = time.perf_counter()
        state.add_snapshot(slot, int(ts_us[i]), r.price, r.base_reserve, r.quote_reserve, r.volume_24h, r.trade_fee,
                           int(open_us[i]))
        f = state.features([slot])
        t1 = time.perf_counter()
        x = xgb.DMatrix(f, feature_names=list(FEATURES))
        moon.predict(x), rug.predict(x)
        t2 = time.perf_counter()
        if i >= 100:  # after the window is full, as for a pool the runtime has followed a while
            feature_us.append((t1 - t) * 1e6)
            predict_us.append((t2 - t1) * 1e6)
    batch = test.head(BATCH)
    batch_s, _ = median_seconds(lambda: (predict(moon, batch, MOON.features), predict(rug, batch, RUG.features)))
    total = np.add(feature_us, predict_us)
    return {
        "single_row_feature_update_us_p50": round(float(np.median(feature_us)), 1),
        "single_row_two_models_us_p50": round(float(np.median(predict_us)), 1),
        "single_row_total_us_p50": round(float(np.median(total)), 1),
        "single_row_total_us_p99": round(float(np.percentile(total, 99)), 1),
        "batch_rows": len(batch), "batch_two_models_ms": round(batch_s * 1e3, 1),
        "batch_rows_per_s": round(len(batch) / batch_s), "peak_rss_mb": round(peak_rss_mb()),
        "load_avg": round(os.getloadavg()[0], 1),
    }
