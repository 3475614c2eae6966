"""A crash (SIGKILL) and a restart resume from the journal: the fills are those of an uninterrupted run, none
repeated and none lost. The runtime runs as a user starts it, `python -m live_runtime run`."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from live_runtime.journal import Journal
from tests.live.conftest import HISTORY_DAYS

ARGS = ["run", "--no-api", "--speed", "0", "--moon-threshold", "0.5", "--rug-threshold", "0.4",
        "--online-weight", "0"]


def prepare(live_root: Path, work: Path) -> dict:
    work.mkdir()
    shutil.copytree(live_root / "registry", work / "registry")
    (work / "worlds").symlink_to(live_root / "worlds")
    return {**os.environ, "QUANT_DATA_DIR": str(work), "QUANT_WORLD": "small", "QUANT_DAYS": str(HISTORY_DAYS),
            "QUANT_SEED": "7"}


def start(env: dict, args: list[str] = ARGS) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "live_runtime", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def fills(work: Path) -> pd.DataFrame:
    activity = Journal(work / "journal").read("activity")
    if activity.empty:
        return pd.DataFrame()
    rows = [json.loads(d) for d in activity.loc[activity.kind == "fill", "data"]]
    return pd.DataFrame(rows)


LEARNING = ARGS[:ARGS.index("--online-weight")]  # the learners' blend at its default: they decide too


def record(work: Path) -> dict[str, pd.DataFrame]:
    """Everything the runtime decided and learned, as the journal holds it (checkpoints excepted: where a
    run commits depends on the machine's speed, not on the market)."""
    journal = Journal(work / "journal")
    activity = journal.read("activity")
    activity = activity[activity.kind != "checkpoint"].reset_index(drop=True)
    return {"activity": activity, "fills": fills(work),
            "predictions": journal.read("predictions").sort_values("seq", kind="stable").reset_index(drop=True),
            "outcomes": journal.read("outcomes").sort_values(["seq", "pool_id"]).reset_index(drop=True)}


def committed_segments(work: Path) -> int:
    return len(list((work / "journal").glob("*/*-activity.parquet")))


def test_several_random_sigkills_give_every_decision_fill_and_outcome_of_an_uninterrupted_run(live_root, tmp_path):
    whole = tmp_path / "whole"
    proc = start(prepare(live_root, whole), LEARNING)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    expected = record(whole)
    segments = committed_segments(whole)
    assert len(expected["fills"]) >= 6 and len(expected["outcomes"]) > 1000 and segments >= 8

    crashed = tmp_path / "crashed"
    env = prepare(live_root, crashed)
    rng = np.random.default_rng(int.from_bytes(os.urandom(4), "little"))  # a different set of moments each run
    targets = sorted(rng.choice(np.arange(1, segments - 1), size=3, replace=False))
    resumed_at = []
    for target in targets:
        proc = start(env, LEARNING)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None and committed_segments(crashed) < target:
            time.sleep(0.005)
        time.sleep(float(rng.uniform(0, 0.05)))  # mid-batch, mid-write: anywhere
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        resumed_at.append(out)
    proc = start(env, LEARNING)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    # A kill may land before a start has even said where it resumes (killed while loading): that is a kill too.
    positions = [int(m.group(1)) for o in [*resumed_at, out] if (m := re.search(r"resuming at event (\d+)", o))]
    assert positions == sorted(positions) and positions[-1] > 0, (targets, positions)
    got = record(crashed)
    assert got["fills"].order_id.is_unique
    for name in ("fills", "activity", "outcomes", "predictions"):
        pd.testing.assert_frame_equal(got[name], expected[name], obj=f"{name} (killed at segments {targets})")


def test_a_restart_picks_up_what_was_learned_online(live_root, stream_events, tmp_path):
    """The online learners, the voters' weights and the error detectors come back as of the checkpoint the
    runtime resumes from: warm, not young."""
    from live_runtime.engine import Engine
    from live_runtime.sources import TableStream
    from tests.live.conftest import live_config

    events, history = stream_events
    cfg = live_config(live_root, tmp_path)
    first = Engine(cfg, TableStream(events[:30_000], history))
    first.warm_up()
    first.run()
    assert all(learner.fits > 0 for learner in first.outcomes.learners.values())
    again = Engine(cfg, TableStream(events, history, start_seq=first.position), journal=Journal(cfg.journal_dir))
    assert again.position == first.position
    for name, learner in first.outcomes.learners.items():
        ours, theirs = learner.state(), again.outcomes.learners[name].state()
        assert set(ours) == set(theirs) and all(np.array_equal(ours[k], theirs[k], equal_nan=True) for k in ours), name
        assert again.outcomes.learners[name].trusted == learner.trusted
    assert again.outcomes.voter_accuracy == first.outcomes.voter_accuracy
    assert all(vars(again.outcomes.error_detectors[m]) == vars(d) for m, d in first.outcomes.error_detectors.items())


def test_a_restart_puts_pending_predictions_and_sequences_back_in_their_pools(live_root, stream_events, tmp_path):
    """The warm-up gives each pool its slot again; what waited in the old slots comes back under the new ones."""
    from live_runtime.engine import Engine
    from live_runtime.sources import TableStream
    from tests.live.conftest import live_config

    events, history = stream_events
    cfg = live_config(live_root, tmp_path)
    first = Engine(cfg, TableStream(events[:20_000], history))
    first.warm_up()
    first.run()
    rng = np.random.default_rng(5)  # the fixture has no sequence model: give the sequences values to carry
    first.cascade.seq_hist = rng.normal(size=(first.features.capacity, 4, len(first.cascade.seq_hist[0, 0])))
    first.commit()
    again = Engine(cfg, TableStream(events, history, start_seq=first.position), journal=Journal(cfg.journal_dir))
    again.warm_up()

    def by_pool(engine):
        slots = engine.features.slots
        pending = {engine.features.pool_ids[s]: list(dq) for s, dq in engine.outcomes.pending.items() if dq}
        return pending, {p: engine.cascade.seq_hist[s] for p, s in slots.items()}

    (ours, our_seq), (theirs, their_seq) = by_pool(first), by_pool(again)
    assert len(ours) >= 10 and sum(map(len, ours.values())) >= 50 and set(ours) == set(theirs)
    for pool, records in ours.items():
        assert len(records) == len(theirs[pool])
        for rec, other in zip(records, theirs[pool], strict=True):
            assert (rec.number, rec.seq, rec.ts_us) == (other.number, other.seq, other.ts_us)
            assert (rec.votes is None) == (other.votes is None)
            assert rec.votes is None or np.array_equal(np.array(rec.votes), np.array(other.votes), equal_nan=True)
            assert np.array_equal(rec.x, other.x, equal_nan=True)
            assert (rec.p_moon, rec.p_rug) == (other.p_moon, other.p_rug) and type(rec.p_moon) is type(other.p_moon)
    assert set(our_seq) == set(their_seq) and all(np.array_equal(our_seq[p], their_seq[p]) for p in our_seq)


def test_restarts_are_exact_where_pools_are_released_and_return(live_root, stream_events, tmp_path):
    """In-process, with pools idle for half an hour released (so released pools come back and take other
    slots) and the learners blended in: stopping and restarting at three points gives the uninterrupted
    run's journal, row for row."""
    from dataclasses import replace

    from live_runtime.engine import Engine
    from live_runtime.journal import RELEASED
    from live_runtime.sources import TableStream
    from tests.live.conftest import live_config

    events, history = stream_events

    def config(work: Path):
        cfg = live_config(live_root, work, idle_pool_h=0.5)
        return replace(cfg, decision=replace(cfg.decision, online_weight=0.3))

    whole = Engine(config(tmp_path / "whole"), TableStream(events, history))
    whole.warm_up()
    whole.run()
    expected = record(tmp_path / "whole")
    released = expected["activity"][expected["activity"].kind == RELEASED]
    assert whole.stats["pools_released"] >= 10 and len(expected["fills"]) >= 6
    back = {p for d in released.data for p in json.loads(d)["pools"]} & set(
        expected["predictions"].pool_id[expected["predictions"].seq > released.seq.min()])
    assert back, "some released pool must come back for the test to mean anything"

    work = tmp_path / "restarted"
    for stop in (len(events) // 5, len(events) // 2, 3 * len(events) // 4, None):
        journal = Journal(config(work).journal_dir)
        resume = journal.resume()
        engine = Engine(config(work), TableStream(events, history, start_seq=resume.position), journal=journal,
                        resume=resume)
        engine.warm_up()
        engine.run(max_events=None if stop is None else stop - resume.position)
    got = record(work)
    for name in ("fills", "activity", "outcomes", "predictions"):
        pd.testing.assert_frame_equal(got[name], expected[name], obj=name)
