"""The six agents: what each replays and sees, and the periods they train and are tested on.

The test period is the newest `test_days` days; training uses the `train_days` before it, ending a purge gap
(the label horizon) earlier, so the two never overlap. On the default world the models hold out their
newest two days, so the entry agent trains on day 7, where the moon, rug and opportunity scores it sees are
out of sample, and is tested on day 8, which no model or agent has trained on.

Agents share signals: the whale agent sees the entry agent's proposals, the risk manager both of theirs,
and the flash-loan and cross-chain agents the CEX-DEX agent's (quant.agents.proposals); each is trained
after the agents it watches.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from quant.agents.arb_envs import ArbConfig, CexDexArbEnv, CrossChainArbEnv, FlashLoanArbEnv
from quant.agents.data import listed_paths, new_pool_paths, pair_paths
from quant.agents.pool_envs import EntryTimingEnv, RiskManagerEnv, TradingConfig, WhaleCopyEnv
from quant.agents.proposals import attach_cex_dex, attach_entry, attach_whale
from quant.agents.training import PPOConfig, evaluate, load_agent, register_agent

AGENTS = {
    "agent_entry_timing": "PPO entry/exit timing on new Solana pools from features and model scores.",
    "agent_whale_copy": "PPO that copies (or skips) buys by the scanner's TARGET wallets.",
    "agent_cex_dex_arb": "PPO arbitrage of CEX-listed pools against the CEX reference price.",
    "agent_cross_chain_arb": "PPO arbitrage of tokens pooled on both Solana and EVM.",
    "agent_flash_loan_arb": "PPO sizing of flash-loan-funded pool/CEX round trips.",
    "agent_risk_manager": "PPO risk manager scaling or vetoing the entry agent's proposals.",
}
POOL_AGENTS = ("agent_entry_timing", "agent_whale_copy", "agent_risk_manager")
SCORED_AGENTS = POOL_AGENTS  # the whale and risk agents see the entry agent's proposals, made from the scores
UNITS = {name: ("sol" if name in POOL_AGENTS else "usd") for name in AGENTS}


@dataclass(frozen=True)
class AgentWindow:
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp

    def span(self, split: str) -> tuple[pd.Timestamp, pd.Timestamp]:
        return (self.train_start, self.train_end) if split == "train" else (self.test_start, self.test_end)

    def describe(self) -> dict:
        return {k: str(v) for k, v in self.__dict__.items()}


def agent_window(last_day_end: pd.Timestamp, train_days: int, test_days: int, purge: pd.Timedelta) -> AgentWindow:
    test_start = last_day_end - pd.Timedelta(days=test_days)
    return AgentWindow(test_start - pd.Timedelta(days=train_days), test_start - purge, test_start, last_day_end)


@dataclass
class AgentInputs:
    """Warehouse rows from the train start (less some history) to the test end."""

    window: AgentWindow
    snapshots: pd.DataFrame
    features: pd.DataFrame | None = None
    scores: pd.DataFrame | None = None  # quant.agents.data.model_scores
    signals: pd.DataFrame | None = None  # quant.agents.data.target_buys
    cex: pd.DataFrame | None = None


def _proposer(registry, name: str):
    """The earlier agent whose proposals a later one observes: its champion, or, where none beat no-trade
    (so none is served), its newest registered policy: what the later agent learns to read is the same."""
    return load_agent(registry, name, registry.champion(name) or registry.candidate(name))


def env_factory(name: str, inputs: AgentInputs, registry=None, trading: TradingConfig = TradingConfig(),
                arb: ArbConfig = ArbConfig()) -> Callable[[str, bool], object]:
    """`make_env(split, sequential)` for an agent; the paths of each split are built once."""
    w = inputs.window
    if name in POOL_AGENTS:
        paths = {s: new_pool_paths(inputs.snapshots, inputs.features, inputs.scores, inputs.signals, *w.span(s))
                 for s in ("train", "test")}
        every = paths["train"] + paths["test"]
        if name != "agent_entry_timing":
            attach_entry(every, _proposer(registry, "agent_entry_timing").act)
        if name == "agent_risk_manager":
            attach_whale(every, _proposer(registry, "agent_whale_copy").act)
        if name == "agent_entry_timing":
            return lambda split, seq: EntryTimingEnv(paths[split], trading, seq)
        if name == "agent_whale_copy":
            # Every new pool, as a copier watching the chain sees them: a TARGET wallet's buy shows only from
            # the snapshot after it happened. (Keeping only the pools a TARGET buys at some point in the
            # period would choose the universe by a later event.)
            for split, ps in paths.items():
                if not any(p.extra["target_buys"].sum() > 0 for p in ps):
                    raise ValueError(f"agent_whale_copy: no TARGET wallet bought into a new Solana pool in the "
                                     f"{split} period {w.span(split)}; nothing to copy")
            return lambda split, seq: WhaleCopyEnv(paths[split], trading, seq)
        managed = TradingConfig(trading.start_balance, trading.stake, trading.max_steps, pools_per_episode=8)
        return lambda split, seq: RiskManagerEnv(paths[split], managed, seq)
    listed = {s: listed_paths(inputs.snapshots, inputs.cex, *w.span(s)) for s in ("train", "test")}
    if name != "agent_cex_dex_arb":
        attach_cex_dex(listed["train"] + listed["test"], load_agent(registry, "agent_cex_dex_arb").act, arb)
    if name == "agent_cex_dex_arb":
        return lambda split, seq: CexDexArbEnv(listed[split], arb, seq)
    if name == "agent_flash_loan_arb":
        return lambda split, seq: FlashLoanArbEnv(listed[split], arb, seq)
    if name == "agent_cross_chain_arb":
        pairs = {s: pair_paths(ps) for s, ps in listed.items()}
        return lambda split, seq: CrossChainArbEnv(pairs[split], arb, seq)
    raise KeyError(f"unknown agent {name!r}; expected one of {sorted(AGENTS)}")


def train_agent(name: str, inputs: AgentInputs, registry, ppo: PPOConfig = PPOConfig(),
                trading: TradingConfig = TradingConfig(), arb: ArbConfig = ArbConfig()) -> dict:
    """Train `name` over every seed, evaluate each on the test period beside the baselines, register the
    median seed's policy with the evaluation in its manifest, and promote it by the agents' rule."""
    started = time.perf_counter()
    make_env = env_factory(name, inputs, registry, trading, arb)
    models, result = evaluate(make_env, ppo)
    report = result["report"]
    chosen = models[list(ppo.seeds).index(report["registered_seed"])]
    version, reason = register_agent(registry, name, chosen, make_env("train", False), ppo, report,
                                     window=inputs.window.describe(), unit=UNITS[name],
                                     trading=trading.__dict__, arb=arb.__dict__)
    return {"version": version, "decision": reason, "report": report, "curves": result["curves"],
            "seconds": time.perf_counter() - started}
