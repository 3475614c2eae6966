"""One environment switch and the resources of each environment."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import dagster as dg
import yaml

from quant.settings import ChainSettings, ServiceSettings, Settings
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


def get_environment(services: ServiceSettings | None = None) -> Environment:
    """QUANT_ENV selects the profile; LOCAL (the default) needs no set-up at all."""
    value = (services or ServiceSettings.from_env()).profile
    try:
        return Environment(value)
    except ValueError:
        raise ValueError(f"QUANT_ENV must be one of {[e.value for e in Environment]}, got {value!r}") from None


def automation_running(environment: Environment, services: ServiceSettings) -> bool:
    """Whether schedules and sensors start running: yes in LOCAL (the loop turns by itself out of the box), no in
    PROD (the operator turns each on in the UI, and the instance keeps that choice); QUANT_AUTOMATION=on|off
    decides instead when set."""
    if services.automation is not None:
        return services.automation == "on"
    return environment is Environment.LOCAL


def chain_source_for(settings: Settings, chain: ChainSettings | None = None) -> ChainSource:
    """The simulated market by default; QUANT_SOURCE=evm|solana reads a real chain, its pools from
    `chain` and its RPC URL (a secret) as a Dagster environment reference (docs/chain_sources.md)."""
    common = dict(world=settings.world, seed=settings.seed, start=settings.start, days=settings.days,
                  cache_dir=str(settings.data_dir / "worlds"))
    if settings.source == "simulated":
        return ChainSource(kind="simulated", **common)
    chain = chain or ChainSettings.from_env()
    if settings.source == "evm":
        return ChainSource(kind="evm", rpc_url=dg.EnvVar("EVM_RPC_URL"), factory=chain.evm_factory,
                           quote_tokens=chain.evm_quote_tokens, usd_pairs=chain.evm_usd_pairs,
                           first_block=chain.evm_first_block, **common)
    return ChainSource(kind="solana", rpc_url=dg.EnvVar("SOLANA_RPC_URL"), pools=list(chain.solana_pools), **common)


def _chroma(services: ServiceSettings, **where) -> ChromaStore:
    """The Chroma server's host and port as environment references wherever they are set (PROD needs the
    host); unset in LOCAL, the directory store."""
    host = dg.EnvVar("CHROMA_HOST") if services.chroma_host or "path" not in where else None
    port = dg.EnvVar.int("CHROMA_PORT") if services.chroma_port is not None or "path" not in where else 8000
    return ChromaStore(host=host, port=port, prefix=services.chroma_prefix, **where)


def resources_for(env: Environment, settings: Settings | None = None,
                  services: ServiceSettings | None = None, chain: ChainSettings | None = None) -> dict:
    """The same resource keys in every profile; only the storage behind them changes."""
    settings = settings or Settings.from_env()
    services = services or ServiceSettings.from_env()
    data = settings.data_dir
    common = {
        "chain_source": chain_source_for(settings, chain),
        "raw_store": RawStore(directory=str(data / "raw")),
        "model_registry": ModelRegistry(root=str(data / "registry")),
        "live_journal": LiveJournal(directory=str(data / "journal")),
        "embedder": Embedder(kind=services.embedder, device=services.embed_device),
    }
    if env is Environment.PROD:
        # Celery workers on other machines must see QUANT_DATA_DIR and QUANT_WAREHOUSE_DIR at the same paths.
        return {**common,
                "warehouse": ParquetWarehouse(directory=services.warehouse_dir or str(data / "warehouse")),
                "vector_store": _chroma(services)}
    return {**common,
            "warehouse": Warehouse(database=str(data / "warehouse.duckdb")),
            # CHROMA_HOST points at a Chroma server instead of the directory; QUANT_EMBEDDER=hashing skips MiniLM
            "vector_store": _chroma(services, path=str(data / "chroma"))}


def executor_for(env: Environment) -> dg.ExecutorDefinition | None:
    """PROD: every step a Celery task on a Redis-brokered worker pool, configured by the same file the
    workers start from. LOCAL: None, Dagster's multiprocess executor."""
    if env is not Environment.PROD:
        return None
    from dagster_celery import celery_executor  # imported only where PROD is selected

    return celery_executor.configured(yaml.safe_load(CELERY_YAML.read_text())["execution"]["config"])
