"""The live runtime, started as a user starts it (`python -m live_runtime run --source evm`), follows a Uniswap
V2 market trading on anvil through a node that serves garbage, 500s, timeouts, rate limits and an outage, while
the chain reorganises below the confirmation depth: it degrades and resumes instead of dying, and ends with
exactly the fills and decisions of a run against the clean node over the same window."""

from __future__ import annotations

import subprocess
import time

import pandas as pd

from tests.chains.conftest import start_anvil
from tests.chains.flaky_rig import FAULTS, FlakyNode, chain_time, journal_of, runtime, trade
from tests.chains.uniswap import two_pair_market

CONFIRMATIONS = 3


def test_the_runtime_survives_a_flaky_node_and_a_reorg_with_the_clean_nodes_fills(live_root, tmp_path):
    steps, step_s = 110, 60
    proc, anvil_url, w3 = start_anvil(int(time.time()) - 4 * 3600)
    try:
        u = two_pair_market(w3)
        since = chain_time(u) + 1
        until = since + (steps - 6) * step_s  # reached for sure: every step moves the clock by step_s at least
        with FlakyNode(anvil_url, fault_rate=0.1, timeout_s=1.0, seed=3, outages=((12.0, 6.0),)) as node:
            flaky = runtime(live_root, tmp_path / "flaky", node.url, u, since, until, CONFIRMATIONS)
            market = trade(u, steps, step_s, wall_step_s=0.12, reorg_every=60, confirmations=CONFIRMATIONS)
            try:
                out, _ = flaky.communicate(timeout=240)
            except subprocess.TimeoutExpired:
                flaky.kill()
                out, _ = flaky.communicate()
            (tmp_path / "flaky.log").write_text(out)
            assert flaky.returncode == 0, out[-3000:]
            requests, faults = node.requests, dict(node.faults)
        clean = runtime(live_root, tmp_path / "clean", anvil_url, u, since, until, CONFIRMATIONS, timeout_s=10.0)
        clean_out, _ = clean.communicate(timeout=240)
        assert clean.returncode == 0, clean_out[-3000:]
    finally:
        proc.kill()
        proc.wait(timeout=10)

    assert market.end_ts > until and market.reorgs == 1 and len(market.abandoned) == CONFIRMATIONS - 1
    assert set(FAULTS) <= set(faults) and faults["outage"] > 0, faults
    assert sum(faults.values()) > 0.08 * requests
    assert "chain fetch" in out and "failed" in out and "recovered" in out  # degraded, then resumed
    got, expected = journal_of(tmp_path / "flaky"), journal_of(tmp_path / "clean")
    assert len(expected["fill"]) >= 4 and len(expected["decision"]) >= 20, "the window must trade to mean anything"
    pd.testing.assert_frame_equal(got["fill"], expected["fill"])
    pd.testing.assert_frame_equal(got["decision"], expected["decision"])
