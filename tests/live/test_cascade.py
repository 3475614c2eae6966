"""The expensive stage of the cascade: a registered sequence model and entry-timing agent score only the
snapshots the cheap models pass (and held pools), and vote on entries by weight."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pandas as pd

from live_runtime.engine import Engine
from live_runtime.journal import Journal
from live_runtime.sources import TableStream
from quant.agents import ENTER, EXIT, HOLD
from quant.agents.pool_envs import EntryTimingEnv
from quant.agents.training import register_agent, train_ppo
from quant.models.registry import Registry
from quant.models.sequence import register_sequence_model, train_sequence_model
from tests.live.conftest import live_config
from tests.quant.test_agents import TINY, solana_path
from tests.quant.test_sequence_model import SMALL, synthetic


def test_sequence_model_and_agent_score_what_the_cheap_stage_passes(live_root, stream_events, tmp_path):
    shutil.copytree(live_root / "registry", tmp_path / "registry")
    registry = Registry(tmp_path / "registry")
    net, scaler, _ = train_sequence_model(synthetic(n_pools=12), pd.Timedelta(minutes=2), replace(SMALL, max_epochs=1))
    registry.promote("opportunity_model", register_sequence_model(registry, net, scaler, SMALL, metrics={}), "test")
    env = EntryTimingEnv([solana_path(), solana_path(seed=1)])
    register_agent(registry, "agent_entry_timing", train_ppo(env, TINY, seed=3), env, TINY, {"beats_no_trade": True})

    events, history = stream_events
    engine = Engine(live_config(live_root, tmp_path, registry_dir=tmp_path / "registry"),
                    TableStream(events[:30_000], history))
    engine.warm_up()
    assert set(engine.watcher.current.versions) == {"moon_model", "rug_model", "opportunity_model",
                                                    "agent_entry_timing"}
    engine.run()
    pred = Journal(tmp_path / "journal").read("predictions")
    scored = pred.agent_action >= 0
    assert pred.passed_cascade.sum() > 0 and (scored >= pred.passed_cascade).all()  # passed => scored
    assert scored.mean() < 0.2  # the expensive stage sees a few snapshots, not all
    assert np.isfinite(pred.p_opportunity[scored]).all() and pred.p_opportunity[~scored].isna().all()
    assert set(pred.agent_action[scored]) <= {HOLD, ENTER, EXIT}
    assert (pred.opportunity_version == registry.champion("opportunity_model")).all()
    decisions = Journal(tmp_path / "journal").read("activity").query("kind == 'decision'")
    entries = [d for d in decisions.data if '"action": "skip"' in d or '"action": "enter"' in d]
    assert entries and all('"opportunity_model"' in d and '"agent_entry_timing"' in d for d in entries)
    # a snapshot the cheap stage turns away is decided there; the ones scored further wait for the batch's end
    decided, batch_end = engine.status.latencies("all"), engine.status.latencies("batch_end")
    expensive = scored.to_numpy()
    assert len(decided) == len(batch_end) == len(pred) and (decided[expensive] == batch_end[expensive]).all()
    assert (decided[~expensive] < batch_end[~expensive]).all()
    assert np.array_equal(engine.status.latencies("expensive"), decided[expensive])
