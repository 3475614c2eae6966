"""Shared fixtures: one small simulated world per test session, and Dagster resources in a temp dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from quant.simulator import WorldConfig, simulate, small_world  # noqa: E402

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
SMALL_DAYS = 3


@pytest.fixture(scope="session")
def small_config() -> WorldConfig:
    """3 days from 2026-01-01, 24 new pools a day, 1,200 wallets: seconds to build."""
    return small_world(days=SMALL_DAYS)


@pytest.fixture(scope="session")
def small_world_sim(small_config):
    """The small world, simulated once per session, with the engine's raw integer output kept."""
    return simulate(small_config, keep_raw=True)


@pytest.fixture(scope="session")
def world_cache(tmp_path_factory, worker_id) -> Path:
    """A world cache shared by every Dagster test of the session (the world is built once). Under pytest-xdist
    the workers share one: `SimulatedMarket` locks a build, so the second worker waits for the first's."""
    root = tmp_path_factory.getbasetemp()
    cache = (root if worker_id == "master" else root.parent) / "worlds"
    cache.mkdir(exist_ok=True)
    return cache


@pytest.fixture
def dagster_resources(tmp_path, world_cache):
    """The LOCAL resources pointed at a temp warehouse and the small world."""
    from resources import ChainSource, RawStore, Warehouse

    return {
        "chain_source": ChainSource(world="small", days=SMALL_DAYS, cache_dir=str(world_cache)),
        "warehouse": Warehouse(database=str(tmp_path / "warehouse.duckdb")),
        "raw_store": RawStore(directory=str(tmp_path / "raw")),
    }


@pytest.fixture(scope="session")
def realdata() -> Path:
    if not REALDATA.exists():
        pytest.fail(f"real chain data expected at {REALDATA} (the shared/ folder beside the project)")
    return REALDATA
