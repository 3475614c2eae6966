"""One environment switch and the resources of each environment."""

from __future__ import annotations

import os
from enum import StrEnum

from quant.settings import Settings
from resources import ChainSource, RawStore, Warehouse


class Environment(StrEnum):
    LOCAL = "LOCAL"


def get_environment() -> Environment:
    """QUANT_ENV selects the profile; LOCAL (the default) needs no set-up at all."""
    value = os.environ.get("QUANT_ENV", "LOCAL").upper()
    try:
        return Environment(value)
    except ValueError:
        raise ValueError(f"QUANT_ENV must be one of {[e.value for e in Environment]}, got {value!r}") from None


def resources_for(env: Environment, settings: Settings | None = None) -> dict:
    settings = settings or Settings.from_env()
    data = settings.data_dir
    local = {
        "chain_source": ChainSource(kind="simulated", world=settings.world, seed=settings.seed,
                                    start=settings.start, days=settings.days, cache_dir=str(data / "worlds")),
        "warehouse": Warehouse(database=str(data / "warehouse.duckdb")),
        "raw_store": RawStore(directory=str(data / "raw")),
    }
    return {Environment.LOCAL: local}[env]
