"""The live runtime on `--source evm` for a long stretch against a flaky node: a Uniswap V2 market trading on
anvil (one swap a second of wall time, 20 s of chain time each), reached through a loopback proxy that faults
15% of requests (HTML with 200, 500, timeouts, JSON 50,000 deep, wrong ids, null results, 429 with
Retry-After, 20,000-digit quantities) with a 30 s outage every 10 minutes, while anvil reorganises every ~4
minutes below the confirmation depth (3 blocks). Afterwards a second runtime reads the same window from the
clean node. Figures: what the node did, how the runtime degraded (failed fetches, the longest stretch failing),
its memory over the run, and whether its fills and decisions equal the clean run's. Needs the chain fixtures
(`make chain-fixtures`: anvil and the Uniswap V2 build) and runs as long as `--minutes` (default 3).

`python -m benchmarks soak_rpc --minutes 60 --json` (or `--size hour`) is the hour-long soak. Its table below
was measured before the rig kept every reorg below the confirmation depth: an abandoned sell also mines an
approval's block, so a reorg could reach the depth; its fills differed from the clean node's, most likely
because the runtime read a block the chain then replaced (its block-time cache and cursor are not
reorg-aware beyond the depth; not verified). The `default` table is the fixed rig (`--minutes 12`)."""

from __future__ import annotations

import re
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import psutil

SIZES = ("default", "hour")
ALL_SIZES = ("default",)  # what `make bench` runs: the hour is its own command
MINUTES = {"default": 3.0, "hour": 60.0}
STEP_S = 20  # chain seconds per swap
WALL_STEP_S = 1.0
CONFIRMATIONS = 3
OUTAGE_EVERY_S, OUTAGE_S = 600.0, 30.0


def _rss_sampler(pid: int, samples: list[float], stop: threading.Event) -> None:
    proc = psutil.Process(pid)
    while not stop.wait(5.0):
        try:
            rss = proc.memory_info().rss / 2**20
        except psutil.Error:
            return
        if rss:  # an exited process reads 0
            samples.append(rss)


def _longest_failing_s(log: str) -> float:
    """The longest stretch from a failed chain fetch to the recovery that followed, from the runtime's log."""
    stamp = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) live_runtime\.sources "
    longest, since = 0.0, None
    for line in log.splitlines():
        m = re.match(stamp, line)
        if not m:
            continue
        t = pd.Timestamp(m.group(1).replace(",", "."))
        if "failed (1 in a row)" in line:
            since = t
        elif "recovered after" in line and since is not None:
            longest, since = max(longest, (t - since).total_seconds()), None
    return longest


def run(size: str, minutes: float | None = None) -> dict:
    from tests.chains.conftest import start_anvil
    from tests.chains.flaky_rig import FlakyNode, chain_time, journal_of, runtime, trade
    from tests.chains.uniswap import two_pair_market
    from tests.live.conftest import build_live_root

    minutes = minutes or MINUTES[size]
    steps = int(minutes * 60 / (WALL_STEP_S + 0.08))  # ~80 ms of transactions a step on this machine
    reorg_every = max(int(240 / (WALL_STEP_S + 0.08)), 10)
    outages = tuple((t, OUTAGE_S) for t in [45.0] + [45.0 + k * OUTAGE_EVERY_S for k in range(1, int(minutes / 10) + 1)]
                    if t < minutes * 60)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        live_root = build_live_root(tmp / "live")
        proc, anvil_url, w3 = start_anvil(int(time.time()) - steps * STEP_S - 3 * 3600)
        try:
            u = two_pair_market(w3)
            since = chain_time(u) + 1
            until = since + (steps - 6) * STEP_S
            t0 = time.monotonic()
            with FlakyNode(anvil_url, fault_rate=0.15, timeout_s=1.0, seed=11, outages=outages) as node:
                flaky = runtime(live_root, tmp / "flaky", node.url, u, since, until, CONFIRMATIONS)
                rss, stop = [], threading.Event()
                sampler = threading.Thread(target=_rss_sampler, args=(flaky.pid, rss, stop), daemon=True)
                sampler.start()
                market = trade(u, steps, STEP_S, WALL_STEP_S, reorg_every, CONFIRMATIONS, seed=11)
                try:
                    out, _ = flaky.communicate(timeout=900)
                except Exception:  # noqa: BLE001 - a runtime that never reaches the window's end is the finding
                    flaky.kill()
                    out, _ = flaky.communicate()
                stop.set()
                wall_s = time.monotonic() - t0
                requests, faults = node.requests, dict(node.faults)
            clean = runtime(live_root, tmp / "clean", anvil_url, u, since, until, CONFIRMATIONS, timeout_s=10.0)
            clean_out, _ = clean.communicate(timeout=1800)
            got, expected = journal_of(tmp / "flaky"), journal_of(tmp / "clean")
        finally:
            proc.kill()
            proc.wait(timeout=10)
    fills_equal = len(got["fill"]) == len(expected["fill"]) and got["fill"].equals(expected["fill"])
    decisions_equal = len(got["decision"]) == len(expected["decision"]) and got["decision"].equals(expected["decision"])
    return {
        "minutes": round(wall_s / 60, 1), "swaps_kept": len(market.kept.swaps), "reorgs": market.reorgs,
        "swaps_abandoned": len(market.abandoned), "requests": requests, "faulted_requests": sum(faults.values()),
        "faults": dict(sorted(faults.items())), "outages": len(outages), "runtime_exit_code": flaky.returncode,
        "clean_exit_code": clean.returncode, "failed_fetches": out.count("failed ("),
        "failing_stretches_recovered": out.count("recovered after"), "longest_failing_s": _longest_failing_s(out),
        "fills": len(got["fill"]), "decisions": len(got["decision"]), "clean_fills": len(expected["fill"]),
        "clean_decisions": len(expected["decision"]), "fills_equal_clean": fills_equal,
        "decisions_equal_clean": decisions_equal,
        "runtime_rss_mb_first": round(rss[0], 1) if rss else None,
        "runtime_rss_mb_last": round(rss[-1], 1) if rss else None,
        "runtime_rss_mb_peak": round(max(rss), 1) if rss else None,
    }
