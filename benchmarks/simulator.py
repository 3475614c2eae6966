"""Simulator throughput: a world built from scratch (entities, flows, two AMM execution passes, snapshots,
transfers), rows of market tables produced per second, and peak memory."""

from __future__ import annotations

import time

from benchmarks.common import peak_rss_mb
from quant.simulator import PRESETS, simulate

SIZES = ("default", "large")


def run(size: str) -> dict:
    cfg = PRESETS[size]()
    t = time.perf_counter()
    world = simulate(cfg, progress=False)
    seconds = time.perf_counter() - t
    rows = len(world.swaps) + len(world.pool_snapshots) + len(world.transfers)
    return {
        "pools": int(len(world.truth.pools)), "wallets": int(len(world.truth.wallets)), "days": cfg.days,
        "swaps": len(world.swaps), "snapshots": len(world.pool_snapshots), "transfers": len(world.transfers),
        "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds), "swaps_per_s": round(len(world.swaps) / seconds),
        "peak_rss_mb": round(peak_rss_mb()),
    }
