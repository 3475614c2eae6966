"""Reinforcement-learning agents (gymnasium environments, stable-baselines3 PPO) that trade replayed pool
paths through exact AMM fills, and their registry format. `load_agent` serves any of them;
`entry_observation` is the one observation of the entry/exit timing agent, for its environment and the
live runtime alike."""

from quant.agents.entry import ENTER, EXIT, HOLD, entry_observation
from quant.agents.team import AGENTS
from quant.agents.training import AgentPolicy, load_agent

__all__ = ["AGENTS", "ENTER", "EXIT", "HOLD", "AgentPolicy", "entry_observation", "load_agent"]
