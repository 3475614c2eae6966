"""Reinforcement-learning agents (gymnasium environments, stable-baselines3 PPO) that trade replayed pool
paths through exact AMM fills, and their registry format. `load_agent` serves any of them;
`entry_observation` is the one observation of the entry/exit timing agent, for its environment and the
live runtime alike.

The actions and the observation are light (numpy); the rest is imported on first use (PEP 562), so that the
live runtime can import this package at the top of its modules without loading the training code, and
`load_agent` imports stable-baselines3 only when it loads a policy."""

from quant.agents.entry import ENTER, EXIT, HOLD, entry_observation

_LAZY = {"AGENTS": "quant.agents.team", "AgentPolicy": "quant.agents.training", "load_agent": "quant.agents.training"}

__all__ = ["AGENTS", "ENTER", "EXIT", "HOLD", "AgentPolicy", "entry_observation", "load_agent"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    return getattr(importlib.import_module(_LAZY[name]), name)
