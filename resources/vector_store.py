"""The vector store (Chroma, persistent directory or server) and the text embedder as Dagster resources: thin
wrappers over `quant.retrieval.vector_store` and `quant.retrieval.embedders`."""

from __future__ import annotations

import dagster as dg
from pydantic import Field, PrivateAttr

from quant.retrieval.embedders import make_embedder
from quant.retrieval.vector_store import VectorStore


class ChromaStore(dg.ConfigurableResource):
    """A Chroma `PersistentClient` under `path`, or a Chroma server when `host` is set (production)."""

    path: str = ".data/chroma"
    host: str | None = Field(default=None, description="Chroma server host; when set, HttpClient is used")
    port: int = 8000
    prefix: str = Field(default="", description="Prefix of every collection name (e.g. one per environment)")

    def store(self) -> VectorStore:
        if self.host:
            return VectorStore.http(self.host, self.port, self.prefix)
        return VectorStore.persistent(self.path, self.prefix)


class Embedder(dg.ConfigurableResource):
    """The text embedder: 'minilm' (all-MiniLM-L6-v2, offline; CUDA when present) or 'hashing' (no model)."""

    kind: str = "minilm"
    device: str | None = Field(default=None, description="cpu or cuda; default: cuda when present")
    batch_size: int = 128
    _embedder: object = PrivateAttr(default=None)

    def embedder(self):
        """One embedder per resource instance: the model loads once per step, and its counters add up."""
        if self._embedder is None:
            self._embedder = make_embedder(self.kind, self.device, self.batch_size)
        return self._embedder
