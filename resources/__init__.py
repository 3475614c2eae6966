"""Dagster resources: thin, frozen wrappers that configure what `quant` implements."""

from resources.chain_source import ChainSource
from resources.live_journal import LiveJournal
from resources.raw_store import RawStore
from resources.registry import ModelRegistry
from resources.vector_store import ChromaStore, Embedder
from resources.warehouse import ParquetWarehouse, Warehouse

__all__ = ["ChainSource", "ChromaStore", "Embedder", "LiveJournal", "ModelRegistry", "ParquetWarehouse", "RawStore", "Warehouse"]
