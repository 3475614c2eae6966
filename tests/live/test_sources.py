"""Sources and the orderer: duplicates ignored by id, late events within the tolerance applied in order, later
ones counted and dropped; the paced stream keeps market time at its speed; replay reads stored Parquet."""

from __future__ import annotations

import pandas as pd
import pytest

from live_runtime.events import SNAPSHOT, SWAP, Snapshot, Swap
from live_runtime.sources import Orderer, TableStream, replay_stream


def ev(ts_s: float, eid: str, kind: int = SWAP) -> Swap | Snapshot:
    ts = int(ts_s * 1e6)
    if kind == SWAP:
        return Swap(ts, SWAP, eid, "pool", True, 1.0, "wallet", 1.0, 1.0)
    return Snapshot(ts, SNAPSHOT, eid, "pool", 1.0, 1.0, 1.0, 0.0, 0.0025, 0, "SOL", "solana", 6, 9)


def test_orderer_dedupes_reorders_within_tolerance_and_drops_later_ones(caplog):
    o = Orderer(tolerance_s=2.0)
    o.push([ev(10, "a"), ev(12, "c"), ev(11, "b"), ev(10, "a")])  # b late by 1 s, a duplicated
    assert [e.id for e in o.release()] == ["a"]  # held until the newest is 2 s past
    o.push([ev(14.5, "d"), ev(11.5, "b2"), ev(12, "c")])
    assert [e.id for e in o.release()] == ["b", "b2", "c"]
    o.push([ev(11.9, "too-late")])  # behind what was released: its interval has been scored
    assert o.duplicates == 2 and o.late == 1
    assert "late event dropped: too-late" in caplog.text
    assert [e.id for e in o.release(flush=True)] == ["d"]


def test_swap_before_snapshot_at_equal_times():
    o = Orderer(0.0)
    o.push([ev(5, "snap", SNAPSHOT), ev(5, "swap", SWAP)])
    assert [e.id for e in o.release(flush=True)] == ["swap", "snap"]


def test_paced_stream_follows_market_time_at_its_speed():
    """On a wall clock the test owns: each poll hands out exactly the events market time has reached, and
    between them the stream sleeps only until the next one is due (or the poll's timeout)."""
    wall = [100.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        wall[0] += seconds

    events = [ev(i, str(i)) for i in range(0, 200, 10)]  # one event per 10 market seconds
    stream = TableStream(events, speed=80.0, clock=lambda: wall[0], sleep=sleep)  # x80: one per 0.125 s
    assert [e.id for e in stream.poll(1000, 1.0)] == ["0"]  # market time starts at the first event
    assert stream.poll(1000, 1.0) == [] and slept == [0.125]  # the next is due in 10 market s = 0.125 wall s
    assert [e.id for e in stream.poll(1000, 1.0)] == ["10"]
    wall[0] += 0.4375  # 35 market seconds pass without a poll: what became due comes out at once
    assert [e.id for e in stream.poll(1000, 1.0)] == ["20", "30", "40"]
    assert stream.poll(1000, 0.01) == [] and slept[-1] == 0.01  # a wait never exceeds the timeout
    while not stream.exhausted:
        stream.poll(1000, 1.0)
    assert wall[0] == pytest.approx(102.375)  # 190 market seconds at x80


def test_fast_stream_resumes_at_a_position_and_warms_up_on_what_it_skips():
    events = [ev(i, str(i)) for i in range(10)]
    stream = TableStream(events, history=[ev(-1, "h")], start_seq=4)
    assert [e.id for e in stream.history()] == ["h", "0", "1", "2", "3"]
    assert [e.id for e in stream.poll(100, 0)] == [str(i) for i in range(4, 10)]


def test_replay_reads_stored_history(tmp_path, small_world_sim):
    world = small_world_sim
    world.pool_snapshots.to_parquet(tmp_path / "pool_snapshots.parquet")
    world.swaps.to_parquet(tmp_path / "swaps.parquet")
    start = pd.Timestamp(world.pool_snapshots.ts.min()) + pd.Timedelta(hours=12)
    end = start + pd.Timedelta(hours=1)
    stream = replay_stream(tmp_path, start, end, warmup_min=60)
    events = stream.poll(10**9, 0)
    n_snaps = ((world.pool_snapshots.ts >= start) & (world.pool_snapshots.ts < end)).sum()
    n_swaps = ((world.swaps.ts >= start) & (world.swaps.ts < end)).sum()
    assert len(events) == n_snaps + n_swaps and stream.exhausted
    assert all(a[:2] <= b[:2] for a, b in zip(events, events[1:], strict=False))
    assert all(start - pd.Timedelta(minutes=60) <= pd.Timestamp(e.ts_us, unit="us") < start for e in stream.history())
