"""One environment switch and the resources of each environment."""

from __future__ import annotations

import json
import os
from enum import StrEnum

import dagster as dg

from quant.settings import Settings
from resources import ChainSource, ChromaStore, Embedder, ModelRegistry, RawStore, Warehouse


class Environment(StrEnum):
    LOCAL = "LOCAL"


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
    settings = settings or Settings.from_env()
    data = settings.data_dir
    local = {
        "chain_source": chain_source_for(settings),
        "warehouse": Warehouse(database=str(data / "warehouse.duckdb")),
        "raw_store": RawStore(directory=str(data / "raw")),
        "model_registry": ModelRegistry(root=str(data / "registry")),
        # CHROMA_HOST points at a Chroma server instead of the directory; QUANT_EMBEDDER=hashing skips MiniLM
        "vector_store": ChromaStore(path=str(data / "chroma"), host=os.environ.get("CHROMA_HOST") or None,
                                    port=int(os.environ.get("CHROMA_PORT", "8000")),
                                    prefix=os.environ.get("QUANT_CHROMA_PREFIX", "")),
        "embedder": Embedder(kind=os.environ.get("QUANT_EMBEDDER", "minilm")),
    }
    return {Environment.LOCAL: local}[env]
