"""The model registry as a Dagster resource: a root directory, and the registry format of `quant.models.registry`
(the live runtime reads the same files without Dagster)."""

from __future__ import annotations

import dagster as dg

from quant.models.registry import Registry


class ModelRegistry(dg.ConfigurableResource):
    """Versioned models and champion pointers under `root`."""

    root: str = ".data/registry"

    def registry(self) -> Registry:
        return Registry(self.root)
