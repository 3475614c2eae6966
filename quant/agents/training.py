"""PPO training (stable-baselines3), out-of-sample evaluation against baselines over several seeds, and the
agents' registry format: the SB3 zip as bytes (kind "sb3"), loaded on CPU for deterministic actions."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import gymnasium as gym
import numpy as np
import pandas as pd
import torch

from quant.agents.arb_envs import ArbEnv, buy_and_hold_usd
from quant.evaluation.backtest import RANDOM_DRAWS
from quant.models.registry import Registry

if TYPE_CHECKING:  # stable-baselines3 is imported where a policy is trained or loaded, not with this module
    from stable_baselines3 import PPO

POLICY_FILE = "policy.zip"


@dataclass(frozen=True)
class PPOConfig:
    """Small on purpose: the default world trains all six agents, three seeds each, in minutes on 2 cores."""

    timesteps: int = 20_000
    seeds: tuple[int, ...] = (0, 1, 2)
    n_steps: int = 1024
    batch_size: int = 128
    n_epochs: int = 4
    learning_rate: float = 3e-4
    gamma: float = 0.99
    ent_coef: float = 0.01
    net_arch: tuple[int, ...] = (64, 64)


def train_ppo(env: gym.Env, cfg: PPOConfig, seed: int) -> PPO:
    # One thread: a 64x64 MLP gains nothing from more, and one thread keeps a seed's run reproducible.
    from stable_baselines3 import PPO
    torch.set_num_threads(1)
    model = PPO("MlpPolicy", env, seed=seed, device="cpu", n_steps=cfg.n_steps, batch_size=cfg.batch_size,
                n_epochs=cfg.n_epochs, learning_rate=cfg.learning_rate, gamma=cfg.gamma, ent_coef=cfg.ent_coef,
                policy_kwargs={"net_arch": list(cfg.net_arch)}, verbose=0)
    return model.learn(total_timesteps=cfg.timesteps)


def start_equity(env: gym.Env) -> float:
    return 0.0 if isinstance(env, ArbEnv) else env.cfg.start_balance


def run_policy(env: gym.Env, choose: Callable) -> dict:
    """Play one (sequential) episode: `choose(env, obs)` gives each action. Equity after every step."""
    obs, _ = env.reset(seed=0)
    curve, done, info = [start_equity(env)], False, {"trades": 0}
    while not done:
        obs, _, terminated, truncated, info = env.step(choose(env, obs))
        curve.append(info["equity"])
        done = terminated or truncated
    return {"net_pnl": curve[-1] - curve[0], "trades": info["trades"], "equity": np.asarray(curve)}


def policy_chooser(model) -> Callable:
    return lambda env, obs: int(np.asarray(model.predict(obs, deterministic=True)[0]).reshape(-1)[0])


def evaluate(make_env: Callable[[str, bool], gym.Env], cfg: PPOConfig) -> tuple[list[PPO], dict]:
    """Train one agent per seed on the train period; play each, and every baseline, over the unseen test
    period. PnL is net of every fee and the price impact of each fill."""
    models, agent = [], {}
    for seed in cfg.seeds:
        model = train_ppo(make_env("train", False), cfg, seed)
        models.append(model)
        agent[seed] = run_policy(make_env("test", True), policy_chooser(model))
    test_env = make_env("test", True)
    # A baseline decides from the environment's state (rules read raw features and reserves), not the obs.
    baselines = {name: run_policy(make_env("test", True), lambda env, obs, rule=rule: rule(env))
                 for name, rule in test_env.baselines().items()}
    if isinstance(test_env, ArbEnv):
        baselines["buy_and_hold"] = buy_and_hold_usd(test_env)
    random_draws = []
    if getattr(test_env, "random_entry_policy", None) is not None:
        # The agents' mean number of entries (each round trip is two trades) at random snapshots: the median
        # of RANDOM_DRAWS draws, every draw's PnL in the report.
        steps = len(agent[cfg.seeds[0]]["equity"]) - 1
        rate = np.mean([agent[s]["trades"] for s in cfg.seeds]) / 2 / max(steps, 1)
        draws = sorted((run_policy(make_env("test", True), test_env.random_entry_policy(rate, k))
                        for k in range(RANDOM_DRAWS)), key=lambda r: r["net_pnl"])
        baselines["random_entry"] = draws[len(draws) // 2]
        random_draws = [float(d["net_pnl"]) for d in draws]
    pnl = np.array([agent[s]["net_pnl"] for s in cfg.seeds])
    no_trade = baselines["no_trade"]["net_pnl"]
    median = int(np.argsort(pnl, kind="stable")[(len(pnl) - 1) // 2])
    report = {
        "agent_pnl_by_seed": {str(s): float(agent[s]["net_pnl"]) for s in cfg.seeds},
        "agent_trades_by_seed": {str(s): int(agent[s]["trades"]) for s in cfg.seeds},
        "agent_pnl_mean": float(pnl.mean()), "agent_pnl_std": float(pnl.std(ddof=1)) if len(pnl) > 1 else 0.0,
        "baseline_pnl": {k: float(v["net_pnl"]) for k, v in baselines.items()},
        "baseline_trades": {k: int(v["trades"]) for k, v in baselines.items()},
        "seeds_beating_no_trade": int((pnl > no_trade).sum()),
        "beats_no_trade": bool(pnl.mean() > no_trade),
        # The policy registered is the median seed's, so the figures a manifest shows are those of the
        # policy it holds, and neither the luckiest nor the unluckiest seed's.
        "registered_seed": int(cfg.seeds[median]), "registered_pnl": float(pnl[median]),
        "registered_beats_no_trade": bool(pnl[median] > no_trade),
        "test_steps": len(agent[cfg.seeds[0]]["equity"]) - 1,
        "random_entry_draws": random_draws,
    }
    curves = {f"agent (seed {cfg.seeds[median]}, registered)": agent[cfg.seeds[median]]["equity"],
              **{k: np.asarray(v["equity"]) for k, v in baselines.items()}}
    return models, {"report": report, "curves": curves}


def report_table(report: dict, unit: str) -> pd.DataFrame:
    """One row per strategy: net PnL on the test period (mean and spread over seeds for the agent)."""
    rows = [{"strategy": "agent (PPO)", f"net_pnl_{unit}": report["agent_pnl_mean"],
             "spread_std": report["agent_pnl_std"],
             "per_seed": ", ".join(f"{v:+.4f}" for v in report["agent_pnl_by_seed"].values()),
             "trades": np.mean(list(report["agent_trades_by_seed"].values()))}]
    rows += [{"strategy": k, f"net_pnl_{unit}": v, "spread_std": 0.0, "per_seed": "", "trades": report["baseline_trades"][k]}
             for k, v in report["baseline_pnl"].items()]
    return pd.DataFrame(rows)


def model_bytes(model: PPO) -> bytes:
    buf = io.BytesIO()
    model.save(buf)
    return buf.getvalue()


def register_agent(registry: Registry, name: str, model: PPO, env: gym.Env, cfg: PPOConfig, evaluation: dict,
                   **manifest_fields) -> tuple[str, str]:
    """Store `model` (the policy whose figures `evaluation` reports: `registered_*`); it becomes the champion
    only when it beat "no trade" on the unseen period, on the mean over seeds and on its own. An agent that did
    not is kept as a version and never served: with no champion the runtime runs without that agent.
    Returns (version, the reason for the champion decision)."""
    version = registry.register_files(
        name, {POLICY_FILE: model_bytes(model)}, list(env.observation_names), kind="sb3",
        observation_size=int(env.observation_space.shape[0]), n_actions=int(env.action_space.n),
        ppo=asdict(cfg), evaluation=evaluation, **manifest_fields)
    registry.mark_candidate(name, version)
    champion = registry.champion(name)
    beats = evaluation["beats_no_trade"] and evaluation.get("registered_beats_no_trade", True)
    if not beats:
        held = "no champion: the runtime runs without this agent" if champion is None else f"kept {champion}"
        stale = (champion is not None and registry.manifest(name, champion)["features"] != list(env.observation_names))
        note = f" ({champion} observes another layout, which this code no longer builds: it is refused when loaded)" \
            if stale else ""
        return version, f"{held}: {version} did not beat no-trade on its unseen test period{note}"
    reason = "beat no-trade on its unseen test period (mean over seeds and the registered seed)"
    if champion is not None and registry.manifest(name, champion)["features"] != list(env.observation_names):
        reason += f"; champion {champion} observes another layout, which this code no longer builds"
    registry.promote(name, version, reason)
    return version, reason


class AgentPolicy:
    """A registered agent: `act(obs [B, observation_size])` gives its deterministic actions [B]."""

    def __init__(self, model: PPO, manifest: dict):
        self.model, self.manifest = model, manifest
        self.version: str = manifest["version"]
        self.observation_size: int = int(manifest["observation_size"])

    def act(self, obs: np.ndarray) -> np.ndarray:
        """The policy's most likely action, as `PPO.predict(deterministic=True)` gives it, without that
        method's per-call checks and copies (half of its ~0.3 ms on the runtime's small batches)."""
        x = torch.from_numpy(np.ascontiguousarray(obs, np.float32).reshape(-1, self.observation_size))
        with torch.inference_mode():
            return self.model.policy.get_distribution(x).mode().numpy().reshape(-1)


def load_agent(registry: Registry, name: str, version: str | None = None) -> AgentPolicy:
    """The champion (or `version`) of an agent, verified by the registry, on CPU, one torch thread."""
    from stable_baselines3 import PPO
    torch.set_num_threads(1)
    files, manifest = registry.load_files(name, version)
    return AgentPolicy(PPO.load(io.BytesIO(files[POLICY_FILE]), device="cpu"), manifest)
