"""One environment switch and the resources of each environment."""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path

import dagster as dg
import yaml

from quant.settings import Settings
from resources import (
    ChainSource,
    ChromaStore,
    Embedder,
    LiveJournal,
    ModelRegistry,
    ParquetWarehouse,
    RawStore,
    Warehouse,
)

CELERY_YAML = Path(__file__).parent / "instance" / "prod" / "celery.yaml"


class Environment(StrEnum):
    LOCAL = "LOCAL"
    PROD = "PROD"  # Postgres instance, Celery workers, a Chroma server, Parquet warehouse (docs/deployment.md)


def get_environment() -> Environment:
    """QUANT_ENV selects the profile; LOCAL (the default) needs no set-up at all."""
    value = os.environ.get("QUANT_ENV", "LOCAL").upper()
    try:
        return Environment(value)
    except ValueError:
        raise ValueError(f"QUANT_ENV must be one of {[e.value for e in Environment]}, got {value!r}") from None


def chain_source_for(settings: Settings) -> ChainSource:
    """The simulated market by default; QUANT_SOURCE=evm|solana reads a real chain, its RPC URL and pools
    from the environment (docs/chain_sources.md)."""
    common = dict(world=settings.world, seed=settings.seed, start=settings.start, days=settings.days,
                  cache_dir=str(settings.data_dir / "worlds"))
    if settings.source == "evm":
        return ChainSource(kind="evm", rpc_url=dg.EnvVar("EVM_RPC_URL"), factory=os.environ.get("EVM_FACTORY"),
                           quote_tokens=json.loads(os.environ.get("EVM_QUOTE_TOKENS", "{}")),
                           usd_pairs=json.loads(os.environ.get("EVM_USD_PAIRS", "{}")),
                           first_block=int(os.environ.get("EVM_FIRST_BLOCK", "0")), **common)
    if settings.source == "solana":
        pools = [p for p in os.environ.get("SOLANA_POOLS", "").split(",") if p]
        return ChainSource(kind="solana", rpc_url=dg.EnvVar("SOLANA_RPC_URL"), pools=pools, **common)
    return ChainSource(kind="simulated", **common)


def resources_for(env: Environment, settings: Settings | None = None) -> dict:
    """The same resource keys in every profile; only the storage behind them changes."""
    settings = settings or Settings.from_env()
    data = settings.data_dir
    common = {
        "chain_source": chain_source_for(settings),
        "raw_store": RawStore(directory=str(data / "raw")),
        "model_registry": ModelRegistry(root=str(data / "registry")),
        "live_journal": LiveJournal(directory=str(data / "journal")),
        "embedder": Embedder(kind=os.environ.get("QUANT_EMBEDDER", "minilm")),
    }
    prefix = os.environ.get("QUANT_CHROMA_PREFIX", "")
    if env is Environment.PROD:
        # Celery workers on other machines must see QUANT_DATA_DIR and QUANT_WAREHOUSE_DIR at the same paths.
        return {**common,
                "warehouse": ParquetWarehouse(directory=os.environ.get("QUANT_WAREHOUSE_DIR") or str(data / "warehouse")),
                "vector_store": ChromaStore(host=dg.EnvVar("CHROMA_HOST"), port=dg.EnvVar.int("CHROMA_PORT"),
                                            prefix=prefix)}
    return {**common,
            "warehouse": Warehouse(database=str(data / "warehouse.duckdb")),
            # CHROMA_HOST points at a Chroma server instead of the directory; QUANT_EMBEDDER=hashing skips MiniLM
            "vector_store": ChromaStore(path=str(data / "chroma"), host=os.environ.get("CHROMA_HOST") or None,
                                        port=int(os.environ.get("CHROMA_PORT", "8000")), prefix=prefix)}


def executor_for(env: Environment) -> dg.ExecutorDefinition | None:
    """PROD: every step a Celery task on a Redis-brokered worker pool, configured by the same file the
    workers start from. LOCAL: None, Dagster's multiprocess executor."""
    if env is not Environment.PROD:
        return None
    from dagster_celery import celery_executor  # imported only where PROD is selected

    return celery_executor.configured(yaml.safe_load(CELERY_YAML.read_text())["execution"]["config"])
