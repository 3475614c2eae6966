"""PPO training speed and decision latency of the agents, and the opportunity model's scoring latency, on
the default world's day 7 (its pool paths and features; the model scores the entry agent sees are left at 0
here, so no registry is needed). Training: seconds per 100k environment steps, measured over `STEPS` steps
of the agents' PPO settings (one torch thread) and scaled, for the entry-timing environment (per-pool
replays with exact AMM fills) and the CEX-DEX one. Latency: the median wall time over repeated calls of
`AgentPolicy.act` and `SequenceScorer.predict` after a registry round trip, for one decision and for a
batch of 50 (the live runtime scores every pool that moved in a tick at once), and the CPU time per call
(`*_cpu_ms`), which a loaded machine does not inflate."""

from __future__ import annotations

import os
import statistics
import tempfile
import time

import numpy as np
import pandas as pd
import torch

from benchmarks.common import peak_rss_mb
from benchmarks.features import default_world_tables
from quant.agents.arb_envs import CexDexArbEnv
from quant.agents.data import listed_paths, new_pool_paths
from quant.agents.pool_envs import EntryTimingEnv
from quant.agents.training import PPOConfig, load_agent, register_agent, run_policy, train_ppo
from quant.features import FEATURES, batch_features
from quant.models.registry import Registry
from quant.models.sequence import OpportunityNet, SequenceConfig, load_sequence_model, register_sequence_model
from quant.settings import Settings
from quant.simulator import default_world
from quant.simulator.market import SimulatedMarket

SIZES = ("default",)
STEPS = 20_000
BATCH = 50


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def _cpu_ms(fn, repeats: int) -> float:
    """Mean CPU time of this process per call: on a loaded machine wall time counts other processes' turns."""
    t = time.process_time()
    for _ in range(repeats):
        fn()
    return (time.process_time() - t) / repeats * 1e3


def _day7() -> tuple[list, list]:
    tables = default_world_tables()
    snaps, swaps = tables["pool_snapshots"], tables["swaps"]
    start, end = pd.Timestamp("2026-01-07"), pd.Timestamp("2026-01-08")
    window = snaps[(snaps.ts >= start - pd.Timedelta(hours=2)) & (snaps.ts < end)]
    feats = batch_features(window, swaps[(swaps.ts >= start - pd.Timedelta(hours=2)) & (swaps.ts < end)]).to_pandas()
    pools = new_pool_paths(window, feats, None, None, start, end)
    cex = SimulatedMarket(default_world(), Settings.from_env().data_dir / "worlds").table("cex_prices")
    listed = listed_paths(snaps[(snaps.ts >= start) & (snaps.ts < end)], cex, start, end)
    return pools, listed


def run(size: str) -> dict:
    pools, listed = _day7()
    cfg = PPOConfig(timesteps=STEPS, seeds=(0,))
    out: dict = {"ppo_steps_measured": STEPS, "entry_pools": len(pools), "listed_pools": len(listed)}
    models = {}
    for name, env in (("entry_timing", EntryTimingEnv(pools)), ("cex_dex_arb", CexDexArbEnv(listed))):
        t = time.perf_counter()
        models[name] = train_ppo(env, cfg, seed=0)
        out[f"{name}_train_seconds_per_100k_steps"] = round((time.perf_counter() - t) * 100_000 / STEPS, 1)
        replay = type(env)(env.paths, env.cfg, sequential=True)
        t = time.perf_counter()
        steps = len(run_policy(replay, lambda e, obs: 0)["equity"]) - 1
        out[f"{name}_env_step_us"] = round((time.perf_counter() - t) / steps * 1e6, 1)
    with tempfile.TemporaryDirectory() as tmp:
        reg = Registry(tmp)
        env = EntryTimingEnv(pools)
        register_agent(reg, "agent_entry_timing", models["entry_timing"], env, cfg, {"beats_no_trade": False})
        policy = load_agent(reg, "agent_entry_timing")
        obs = np.random.default_rng(0).normal(size=(BATCH, policy.observation_size)).astype(np.float32)
        out["agent_act_single_ms"] = round(_median_ms(lambda: policy.act(obs[:1]), 500), 3)
        batch_ms = _median_ms(lambda: policy.act(obs), 500)
        out[f"agent_act_batch{BATCH}_ms"] = round(batch_ms, 3)
        out[f"agent_act_batch{BATCH}_per_decision_us"] = round(batch_ms / BATCH * 1e3, 1)

        seq_cfg = SequenceConfig()
        torch.manual_seed(0)
        net = OpportunityNet(len(FEATURES), seq_cfg).eval()
        scaler = {"center": [0.0] * len(FEATURES), "scale": [1.0] * len(FEATURES)}
        reg.promote("opportunity_model", register_sequence_model(reg, net, scaler, seq_cfg), "benchmark")
        scorer = load_sequence_model(reg)  # one torch thread, as the live runtime gets it
        w = np.random.default_rng(1).normal(size=(BATCH, scorer.seq_len, len(FEATURES))).astype(np.float32)
        w[:, :4] = np.nan  # young pools: padded windows
        out["sequence_single_ms"] = round(_median_ms(lambda: scorer.predict(w[:1]), 300), 3)
        seq_batch = _median_ms(lambda: scorer.predict(w), 300)
        out[f"sequence_batch{BATCH}_ms"] = round(seq_batch, 3)
        out[f"sequence_batch{BATCH}_per_window_us"] = round(seq_batch / BATCH * 1e3, 1)
        out[f"sequence_batch{BATCH}_cpu_ms"] = round(_cpu_ms(lambda: scorer.predict(w), 300), 3)
        out["sequence_single_cpu_ms"] = round(_cpu_ms(lambda: scorer.predict(w[:1]), 300), 3)
        out[f"agent_act_batch{BATCH}_cpu_ms"] = round(_cpu_ms(lambda: policy.act(obs), 500), 3)
        out["sequence_parameters"] = sum(p.numel() for p in net.parameters())
    out.update({"torch_threads_inference": torch.get_num_threads(), "peak_rss_mb": round(peak_rss_mb()),
                "load_avg": round(os.getloadavg()[0], 1)})
    return out
