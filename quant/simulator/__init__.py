"""The embedded simulated market: an agent-based DEX world that is deterministic for a seed."""

from quant.simulator.config import PRESETS, RegimeShift, WorldConfig, default_world, large_world, small_world
from quant.simulator.world import Truth, World, simulate

__all__ = ["PRESETS", "RegimeShift", "Truth", "World", "WorldConfig", "default_world", "large_world",
           "simulate", "small_world"]
