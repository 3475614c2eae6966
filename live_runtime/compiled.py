"""XGBoost champions compiled to native code (treelite + tl2cgen, gcc) for the cheap stage of the cascade.

On this machine a 300-tree booster costs XGBoost ~0.2 ms a call before any tree is walked, and the decision
path calls it twice per micro-batch; the compiled form costs ~25 us a call and walks trees ~30% faster
(measured in docs/live_runtime.md). The compiled library is a cache derived from the registry's file: kept
under the registry's `_compiled/`, named by the model file's sha256, written to a temporary name and renamed,
so runtimes sharing a registry compile a model once. Before it serves, its output is compared with XGBoost's
on probe rows spanning the training ranges (float32 leaf sums in another order: agreement to 1e-5 is
required, ~5e-7 is seen); a library that fails to build, load or agree is not used and XGBoost serves.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import xgboost as xgb

log = logging.getLogger("live_runtime.compiled")
TOLERANCE = 1e-5


class CompiledTrees:
    """A compiled booster: `predict(x)` gives the probabilities XGBoost's `inplace_predict` gives."""

    def __init__(self, library: Path):
        import tl2cgen
        self._dmatrix = tl2cgen.DMatrix
        self.predictor = tl2cgen.Predictor(str(library), nthread=1)  # one core: threads only add jitter
        self.library = library

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predictor.predict(self._dmatrix(x, dtype="float64")).reshape(len(x))


def compile_booster(booster: xgb.Booster, sha256: str, cache_dir: Path, threads: int = 1) -> Path:
    """The shared library for this booster, built unless `cache_dir` already holds it."""
    library = cache_dir / f"{sha256}.so"
    if library.exists():
        return library
    import tl2cgen
    import treelite
    cache_dir.mkdir(parents=True, exist_ok=True)
    model = treelite.frontend.from_xgboost(booster)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        built = Path(tmp) / library.name
        tl2cgen.export_lib(model, toolchain="gcc", libpath=str(built), params={"parallel_comp": 4},
                           nthread=threads, verbose=False)
        os.replace(built, library)
    return library


def probe_rows(lo: np.ndarray, hi: np.ndarray, n: int = 2_000, seed: int = 0) -> np.ndarray:
    """Rows spanning each feature's training range and a little beyond, with some values missing."""
    rng = np.random.default_rng(seed)
    lo, hi = np.nan_to_num(lo, nan=-1.0), np.nan_to_num(hi, nan=1.0)
    width = np.where(hi > lo, hi - lo, 1.0)
    x = lo - 0.1 * width + rng.random((n, len(lo))) * 1.2 * width
    x[rng.random(x.shape) < 0.05] = np.nan
    return x


def compiled_or_none(booster: xgb.Booster, sha256: str, cache_dir: Path, probe: np.ndarray,
                     threads: int = 1) -> CompiledTrees | None:
    """The compiled booster if it builds, loads and agrees with XGBoost on `probe`; else None (logged)."""
    try:
        compiled = CompiledTrees(compile_booster(booster, sha256, cache_dir, threads))
        gap = float(np.max(np.abs(compiled.predict(probe) - booster.inplace_predict(probe, validate_features=False))))
    except Exception as err:  # noqa: BLE001 - any failure here (no gcc, a tl2cgen error) leaves XGBoost serving
        log.warning("compiled trees unavailable for %s..., XGBoost serves: %s", sha256[:12], err)
        return None
    if not gap <= TOLERANCE:
        log.warning("compiled trees for %s... disagree with XGBoost by %.2g, XGBoost serves", sha256[:12], gap)
        return None
    log.info("compiled trees for %s... serve (max gap to XGBoost %.1g)", sha256[:12], gap)
    return compiled
