"""Embedding the wallet collections: a full build into an empty Chroma directory (embeddings per second, per
collection), then an incremental re-run with 1% of wallets changed, against the full build's time.

The wallets come from the scanner benchmark's synthetic tables (benchmarks/wallet_data.py) through the real
profiles, scanner and funding graph. A changed wallet is one whose profile moved (one more trade), which
changes its identity document and fingerprint; everything else must be skipped. `embedder` says which text
embedder ran (MiniLM on CUDA when present, else CPU; QUANT_EMBEDDER=hashing for the model-free one)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from quant.retrieval.documents import connection_docs, identity_collections, position_docs, position_table
from quant.retrieval.embedders import make_embedder
from quant.retrieval.vector_store import FUNDING, TRADE_TEXTS, TRADES, VectorStore
from quant.settings import ServiceSettings
from quant.wallets.funding_graph import build_graph
from quant.wallets.profiles import build_profiles
from quant.wallets.scanner.stages import scan

SIZES = ("default",)
SCALE = {"small": (500, 20_000), "default": (2_000, 100_000)}
CHANGED = 0.01


def _tables(size: str) -> tuple:
    from benchmarks.wallet_data import write_world

    wallets, swaps = SCALE[size]
    path = Path(tempfile.mkdtemp(prefix="emb-bench-")) / "world.duckdb"
    write_world(path, wallets, swaps)
    con = duckdb.connect(str(path))
    profiles = build_profiles(con)
    scores = scan(profiles).scores
    connections, clusters = build_graph(con)
    positions = position_table(con)
    return profiles, scores, connections, clusters, positions


def _sync_all(store, embed, profiles, scores, connections, clusters, positions) -> dict:
    out = {}
    for base, docs, from_text in (*identity_collections(profiles, scores, clusters, connections),
                                  (FUNDING, connection_docs(connections, clusters), True)):
        out[base] = store.sync(base, docs, embed if from_text else None).as_dict()
    for stats in store.sync_sharing_texts(TRADES, TRADE_TEXTS, position_docs(positions), embed):
        out[stats.collection.removeprefix(store.prefix)] = stats.as_dict()
    return out


def run(size: str) -> dict:
    tables = _tables(size)
    profiles = tables[0]
    embed = make_embedder(ServiceSettings.from_env().embedder)
    root = Path(tempfile.mkdtemp(prefix="emb-chroma-"))
    try:
        store = VectorStore.persistent(str(root), prefix="bench_")
        load = os.getloadavg()[0]
        t = time.perf_counter()
        full = _sync_all(store, embed, *tables)
        full_s = time.perf_counter() - t
        rng = np.random.default_rng(3)
        pick = rng.choice(len(profiles), max(1, int(len(profiles) * CHANGED)), replace=False)
        bumped = profiles.with_columns(trades=pl.when(pl.int_range(pl.len()).is_in(pick.tolist()))
                                       .then(pl.col("trades") + 1).otherwise(pl.col("trades")))
        t = time.perf_counter()
        incremental = _sync_all(store, embed, bumped, *tables[1:])
        incr_s = time.perf_counter() - t
    finally:
        shutil.rmtree(root, ignore_errors=True)
    docs = sum(v["added"] for v in full.values())
    texts = sum(v["texts_embedded"] for v in full.values())
    return {
        "wallets": len(profiles), "documents": docs, "distinct_texts_embedded": texts,
        "embedder": f"{type(embed).__name__}({getattr(embed, 'device', '-')})",
        "full_s": round(full_s, 2), "documents_per_s": round(docs / full_s, 1),
        "text_embeddings_per_s": round(texts / full_s, 1),
        "per_collection_s": {k: v["seconds"] for k, v in full.items()},
        "changed_wallets": len(pick), "incremental_s": round(incr_s, 2),
        "incremental_share_of_full": round(incr_s / full_s, 4),
        "incremental_changed": {k: v["changed"] for k, v in incremental.items()},
        "incremental_unchanged": {k: v["unchanged"] for k, v in incremental.items()},
        "load_avg": round(load, 2),
    }
