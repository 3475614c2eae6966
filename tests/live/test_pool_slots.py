"""Pools that go quiet give their slots back: memory follows the pools alive. A released slot serves the next
pool as if it were new, and a pool back after the idle limit starts afresh."""

from __future__ import annotations

import numpy as np

from live_runtime.engine import Engine
from live_runtime.events import SNAPSHOT
from live_runtime.sources import TableStream
from quant.features import OnlineFeatures
from tests.live.conftest import live_config


def feed(features: OnlineFeatures, pool: str, n: int, start_us: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    slot = features.slot(pool)
    for i in range(n):
        features.add_swap(slot, bool(rng.random() < 0.5), float(rng.random()), f"w{rng.integers(5)}")
        price = float(1 + rng.random())
        features.add_snapshot(slot, start_us + i * 60_000_000, price, 1e6 / price, 1e3 + rng.random(), 5e3, 0.0025,
                              start_us)
    return features.features([slot])[0]


def test_a_released_slot_serves_the_next_pool_as_a_new_one():
    shared, fresh = OnlineFeatures(capacity=2), OnlineFeatures(capacity=2)
    feed(shared, "A", 120, 0, seed=1)
    slot_a = shared.slots["A"]
    feed(shared, "C", 30, 0, seed=3)  # another pool stays
    assert shared.release("A") == slot_a and "A" not in shared.slots
    got = feed(shared, "B", 40, 10**12, seed=2)
    want = feed(fresh, "B", 40, 10**12, seed=2)
    assert shared.slots["B"] == slot_a and len(shared.inputs) == 2  # reused, not grown
    np.testing.assert_array_equal(got, want)


def test_quiet_pools_are_released_and_a_returning_pool_starts_afresh(live_root, stream_events, tmp_path):
    events, history = stream_events
    events = events[:60_000]
    # the busiest pool falls silent for 30 minutes in the middle of the stream, then trades again
    snaps = [e for e in events if e.kind == SNAPSHOT]
    pool = max({e.pool_id for e in snaps}, key=[e.pool_id for e in snaps].count)
    t0 = snaps[len(snaps) // 2][0]
    events = [e for e in events if not (e.pool_id == pool and t0 <= e.ts_us < t0 + 30 * 60_000_000)]
    back = next(e for e in events if e.pool_id == pool and e.kind == SNAPSHOT and e.ts_us >= t0)

    def run(work, **cfg):
        engine = Engine(live_config(live_root, tmp_path / work, **cfg), TableStream(events, history))
        engine.warm_up()
        engine.run()
        return engine, engine.journal.read("predictions").set_index("seq")

    engine, pred = run("idle", idle_pool_h=0.25)
    pools = {e.pool_id for e in events if e.kind == SNAPSHOT}
    assert engine.stats["pools_released"] > 0 and len(engine.features.slots) < len(pools)
    assert set(engine.broker.positions) <= set(engine.features.slots)  # a held pool is never released
    assert sorted(pred.index) == [i for i, e in enumerate(events) if e.kind == SNAPSHOT]  # all scored, once
    seq = events.index(back)
    assert np.isnan(pred.ret_1[seq]) and np.isnan(pred.ret_10[seq])  # afresh: no snapshot before it
    _, kept = run("default")  # under the default limit (48 h) the pool keeps its history across the gap
    assert not np.isnan(kept.ret_1[seq])
