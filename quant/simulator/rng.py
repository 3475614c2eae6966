"""Random streams keyed by what they generate, so a day, pool or wallet draws the same numbers whatever
else is simulated: partitions come out identical in any order, and a longer window keeps earlier days."""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, name: str, *keys: int) -> np.random.Generator:
    """A generator for (seed, name, keys...)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), *(int(k) for k in keys)])
