"""The XGBoost champions walked by a compiled kernel (`forest.c`, gcc) in the cheap stage of the cascade.

XGBoost costs ~0.2 ms a call before any tree is walked, and the decision path scores every micro-batch's
~55 snapshots twice (P(moon), P(rug)). Code generated per model (treelite + tl2cgen, which this replaced)
removes the call cost but is half a megabyte of branches per model: walked row by row, it ran ~6.5 us a row
and twice that on the caches the rest of a batch leaves. Here a booster is flattened once into an array of
16-byte nodes (~230 KB for 300 trees of depth 6) and one small kernel walks it tree by tree for a block of
rows: 1.8 us a row warm, 3 us cold (measured in docs/live_runtime.md). The kernel does not depend on the
model, so it is built once per source (named by its hash under the registry's `_compiled/`, written to a
temporary name and renamed: runtimes sharing a registry build it once). Before a booster is served this way
its output is compared with XGBoost's on probe rows spanning the training ranges (float32 leaf sums in
another order: agreement to 1e-5 is required, ~3e-7 is seen); a booster the kernel cannot take, or a kernel
that fails to build, load or agree, is not used and XGBoost serves.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import xgboost as xgb

from quant.settings import LiveSettings

log = logging.getLogger("live_runtime.compiled")
TOLERANCE = 1e-5
SOURCE = Path(__file__).with_name("forest.c")
NODE = np.dtype([("value", "<f4"), ("left", "<i4"), ("right", "<i4"), ("feature", "<i2"), ("default_left", "u1"),
                 ("pad", "u1")])  # node_t in forest.c


def kernel_library(cache_dir: Path) -> Path:
    """forest.c as a shared library, built unless `cache_dir` already holds this source's build."""
    source = SOURCE.read_bytes()
    library = cache_dir / f"forest-{hashlib.sha256(source).hexdigest()[:16]}.so"
    if library.exists():
        return library
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        built = Path(tmp) / library.name
        command = [LiveSettings.from_env().cc, "-O2", "-shared", "-fPIC", "-o", str(built), str(SOURCE), "-lm"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
        os.replace(built, library)
    return library


def flatten(booster: xgb.Booster) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, int]:
    """(nodes, each tree's root index, each tree's depth, the base margin, the feature count) of a
    binary:logistic gbtree booster with numerical splits; ValueError for any other."""
    learner = json.loads(booster.save_raw("json"))["learner"]
    params, gbm = learner["learner_model_param"], learner["gradient_booster"]
    objective = learner["objective"]["name"]
    if objective != "binary:logistic" or gbm["name"] != "gbtree" or int(params.get("num_target", 1)) > 1:
        raise ValueError(f"the tree kernel takes binary:logistic gbtree boosters, not objective={objective} "
                         f"booster={gbm['name']} num_target={params.get('num_target')}")
    n_features = int(params["num_feature"])
    base_score = float(params["base_score"].strip("[]"))
    if not 0 < base_score < 1:
        raise ValueError(f"base_score={base_score} is not a probability")
    nodes, roots, depths, offset = [], [], [], 0
    for tree in gbm["model"]["trees"]:
        if any(tree["split_type"]):
            raise ValueError(f"tree {tree['id']}: categorical splits are not supported by the tree kernel")
        left = np.asarray(tree["left_children"], np.int32)
        right = np.asarray(tree["right_children"], np.int32)
        leaf = left == -1
        feature = np.where(leaf, 0, np.asarray(tree["split_indices"], np.int64))
        if feature.max(initial=0) >= n_features:
            raise ValueError(f"tree {tree['id']}: split on feature {feature.max()}, the booster has {n_features}")
        own = np.arange(len(left), dtype=np.int32)
        node = np.zeros(len(left), NODE)
        node["value"] = np.asarray(tree["split_conditions"], np.float32)  # a leaf's value on a leaf
        node["left"] = np.where(leaf, own, left) + offset
        node["right"] = np.where(leaf, own, right) + offset
        node["feature"] = feature
        node["default_left"] = np.asarray(tree["default_left"], np.uint8)
        depth, frontier = 0, np.zeros(1, np.int64)
        for _ in range(len(left)):
            frontier = frontier[~leaf[frontier]]
            if not frontier.size:
                break
            depth += 1
            frontier = np.concatenate([left[frontier], right[frontier]])
        nodes.append(node)
        roots.append(offset)
        depths.append(depth)
        offset += len(left)
    return (np.concatenate(nodes), np.asarray(roots, np.int32), np.asarray(depths, np.int32),
            float(np.log(base_score / (1 - base_score))), n_features)


class CompiledTrees:
    """A booster walked by the compiled kernel: `predict(x)` gives the probabilities of XGBoost's
    `inplace_predict`."""

    def __init__(self, booster: xgb.Booster, library: Path):
        self.library = library
        walk = ctypes.CDLL(str(library)).forest_predict
        walk.restype = None
        walk.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p,
                         ctypes.c_void_p, ctypes.c_int64, ctypes.c_double, ctypes.c_void_p]
        self._walk = walk
        self.nodes, self.roots, self.depths, self.base_margin, self.n_features = flatten(booster)

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:  # the kernel would read past the rows
            raise ValueError(f"rows of shape {x.shape}, the booster takes {self.n_features} features")
        out = np.empty(len(x))
        self._walk(x.ctypes.data, len(x), self.n_features, self.nodes.ctypes.data, self.roots.ctypes.data,
                   self.depths.ctypes.data, len(self.roots), self.base_margin, out.ctypes.data)
        return out


def probe_rows(lo: np.ndarray, hi: np.ndarray, n: int = 2_000, seed: int = 0) -> np.ndarray:
    """Rows spanning each feature's training range and a little beyond, with some values missing."""
    rng = np.random.default_rng(seed)
    lo, hi = np.nan_to_num(lo, nan=-1.0), np.nan_to_num(hi, nan=1.0)
    width = np.where(hi > lo, hi - lo, 1.0)
    x = lo - 0.1 * width + rng.random((n, len(lo))) * 1.2 * width
    x[rng.random(x.shape) < 0.05] = np.nan
    return x


def compiled_or_none(booster: xgb.Booster, name: str, cache_dir: Path, probe: np.ndarray) -> CompiledTrees | None:
    """The booster on the compiled kernel if it takes it, builds, loads and agrees with XGBoost on `probe`;
    else None (logged)."""
    try:
        compiled = CompiledTrees(booster, kernel_library(cache_dir))
        gap = float(np.max(np.abs(compiled.predict(probe) - booster.inplace_predict(probe, validate_features=False))))
    except Exception as err:  # noqa: BLE001 - any failure here (no gcc, a model it cannot take) leaves XGBoost serving
        log.warning("compiled trees unavailable for %s, XGBoost serves: %s", name, err)
        return None
    if not gap <= TOLERANCE:
        log.warning("compiled trees for %s disagree with XGBoost by %.2g, XGBoost serves", name, gap)
        return None
    log.info("compiled trees for %s serve (max gap to XGBoost %.1g)", name, gap)
    return compiled
