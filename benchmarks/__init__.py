"""Benchmarks: `python -m benchmarks NAME [--size default|large] [--json]` prints one JSON object of figures.

Each benchmark is a module here with `SIZES` (the sizes `make bench` runs) and `run(size) -> dict`."""

NAMES = ("simulator", "scanner", "features", "training", "inference", "embeddings", "drift", "live", "agents", "seeds")
