"""Benchmarks: `python -m benchmarks NAME [--size default|large] [--json]` prints one JSON object of figures.

Each benchmark is a module here with `SIZES` and `run(size) -> dict`; `make bench` runs `ALL_SIZES` where a
module names them (else every size). A long-running one may take `--minutes` (`run(size, minutes=...)`)."""

NAMES = ("simulator", "scanner", "features", "training", "inference", "embeddings", "drift", "live", "agents", "seeds",
         "soak_rpc")
