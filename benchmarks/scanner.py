"""Wallet profiles and scanner scores at chain scale: `large` is 1,000,000 wallets from about 10,000,000 swaps
(`default` a tenth of that). Simulating that many wallets would take far longer than scanning them, so the
swaps, pools and transfers are synthesised directly with numpy (benchmarks/wallet_data.py) into a DuckDB
file, in a separate process so this process's peak memory is the scanner's own. The timed part reads that
file the way the assets read the warehouse: DuckDB with 2 threads and a 512 MB memory limit, profiles
(`profile_s`, address validation included), then the three-stage scan (`score_s`), then the funding graph
(`funding_s`, not counted in `wallets_per_min`). The machine is shared: `load_avg` says how busy it was."""

from __future__ import annotations

import os

# Polars' jemalloc returns freed pages to the OS at once instead of after its 10 s decay: the scan's stages
# free hundreds of MB each, and without this the process keeps them (~150 MB more at the peak). Set before
# polars loads; `make bench` and a direct `python -m benchmarks scanner` both import this module first.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from benchmarks.common import peak_rss_mb
from quant.settings import data_dir
from quant.wallets.funding_graph import build_graph
from quant.wallets.profiles import build_profiles
from quant.wallets.scanner.stages import scan

SIZES = ("default", "large")
SCALE = {"default": (100_000, 1_000_000), "large": (1_000_000, 10_000_000)}


def _data(size: str) -> Path:
    wallets, swaps = SCALE[size]
    bench = data_dir() / "bench"
    path = bench / f"scanner-{size}.duckdb"
    if not path.exists():
        bench.mkdir(parents=True, exist_ok=True)
        code = (f"from pathlib import Path; from benchmarks.wallet_data import write_world; "
                f"write_world(Path({str(path.with_suffix('.tmp'))!r}), {wallets}, {swaps})")
        subprocess.run([sys.executable, "-c", code], check=True)
        path.with_suffix(".tmp").rename(path)
    return path


def run(size: str) -> dict:
    path = _data(size)
    load = os.getloadavg()[0]
    con = duckdb.connect(str(path), read_only=True)
    con.execute("SET threads = 2")
    con.execute("SET memory_limit = '512MB'")  # the buffer pool would otherwise keep the whole file cached
    swaps = con.execute("SELECT count(*) FROM swaps").fetchall()[0][0]
    steps: dict[str, float] = {}
    t = time.perf_counter()
    profiles = build_profiles(con, timings=steps)
    profile_s = time.perf_counter() - t
    t = time.perf_counter()
    result = scan(profiles)
    score_s = time.perf_counter() - t
    peak = peak_rss_mb()
    del profiles
    t = time.perf_counter()
    _connections, clusters = build_graph(con)
    funding_s = time.perf_counter() - t
    wallets = len(result.scores)
    return {
        "wallets": wallets, "swaps": int(swaps), "profile_s": round(profile_s, 2), "score_s": round(score_s, 2),
        "wallets_per_min": round(wallets / (profile_s + score_s) * 60),
        "peak_rss_mb": round(peak), "funding_s": round(funding_s, 2), "clusters": len(clusters),
        "peak_rss_mb_with_funding": round(peak_rss_mb()), "load_avg": round(load, 2),
        "profile_steps_s": {k: round(v, 2) for k, v in steps.items()},
        "funnel": result.funnel(),
    }
