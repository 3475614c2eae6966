"""Settings read from the environment, shared by Dagster and the live runtime."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from quant.simulator.config import PRESETS, WorldConfig, world_config


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    world: str
    seed: int
    start: str | None
    days: int | None
    source: str = "simulated"

    @staticmethod
    def from_env() -> Settings:
        """QUANT_DATA_DIR (default ./.data), QUANT_WORLD (small|default|large), QUANT_SEED, QUANT_START,
        QUANT_DAYS, QUANT_SOURCE (simulated|evm|solana)."""
        world = os.environ.get("QUANT_WORLD", "default")
        if world not in PRESETS:
            raise ValueError(f"QUANT_WORLD must be one of {sorted(PRESETS)}, got {world!r}")
        days = os.environ.get("QUANT_DAYS")
        source = os.environ.get("QUANT_SOURCE", "simulated")
        if source not in ("simulated", "evm", "solana"):
            raise ValueError(f"QUANT_SOURCE must be simulated, evm or solana, got {source!r}")
        return Settings(
            data_dir=Path(os.environ.get("QUANT_DATA_DIR", ".data")).resolve(),
            world=world, seed=int(os.environ.get("QUANT_SEED", "7")),
            start=os.environ.get("QUANT_START") or None, days=int(days) if days else None, source=source,
        )

    def world_config(self) -> WorldConfig:
        return world_config(self.world, self.seed, self.start, self.days)
