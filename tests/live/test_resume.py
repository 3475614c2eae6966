"""A crash (SIGKILL) and a restart resume from the journal: the fills are those of an uninterrupted run, none
repeated and none lost. The runtime runs as a user starts it, `python -m live_runtime run`."""

from __future__ import annotations

import json
import os
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


def start(env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "live_runtime", *ARGS], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def fills(work: Path) -> pd.DataFrame:
    activity = Journal(work / "journal").read("activity")
    if activity.empty:
        return pd.DataFrame()
    rows = [json.loads(d) for d in activity.loc[activity.kind == "fill", "data"]]
    return pd.DataFrame(rows)


def test_crash_and_restart_resume_without_repeating_or_losing_a_fill(live_root, tmp_path):
    whole = tmp_path / "whole"
    proc = start(prepare(live_root, whole))
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    expected = fills(whole)
    assert len(expected) >= 6, "the stream must trade for the test to mean anything"

    crashed = tmp_path / "crashed"
    env = prepare(live_root, crashed)
    proc = start(env)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and (not (crashed / "journal").exists() or len(fills(crashed)) < 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = fills(crashed)
    assert 3 <= len(before) < len(expected), "the crash must land mid-stream"
    proc = start(env)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert "resuming at event" in out and "resuming at event 0 " not in out
    after = fills(crashed)
    assert after.order_id.is_unique
    pd.testing.assert_frame_equal(after.reset_index(drop=True), expected.reset_index(drop=True))


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
