"""Chroma collections with incremental sync: each document carries a hash of its content, and a sync embeds and
upserts only new or changed documents, deletes the ones that vanished, and refuses bad input with a reason.

Works the same on a `PersistentClient` (a directory) and an `HttpClient` (a Chroma server)."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime

import numpy as np

from quant.market.addresses import is_evm_address, is_solana_address

IDENTITY, BEHAVIOUR, FUNDING, TRADES = "identity_tracking", "identity_behaviour", "funding_connections", "trade_history"
# Distinct texts, each stored once, that text queries search (quant.retrieval.search): the identity descriptions'
# sentences and the trade descriptions (117k positions share 14k texts on the default world).
SENTENCES, TRADE_TEXTS = "identity_sentences", "trade_texts"
COLLECTIONS = (IDENTITY, BEHAVIOUR, SENTENCES, FUNDING, TRADES, TRADE_TEXTS)
# HNSW's search breadth for those: templated texts lie close together, and at the default (100) the nearest
# of the 14k trade texts came first for 7 of 10 queries; at 2,000, for 10 of 10 (3 ms a query).
WIDE_SEARCH = 2000
HASH_KEY = "content_hash"
PAGE = 5000  # ids per get/delete/upsert call: under Chroma's max batch size (5461 on SQLite)


def text_id(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def distinct_docs(texts) -> Docs:
    """One document per distinct text (id: a hash of it). Thousands of identical vectors break an HNSW index:
    a search that reaches them stops among them and misses nearer ones (tests/quant/test_embeddings.py)."""
    distinct = sorted(set(texts))
    return Docs([text_id(t) for t in distinct], distinct, [{"distinct": True} for _ in distinct],
                [[] for _ in distinct])


@dataclass
class Docs:
    """Documents for one collection. `addresses[i]` lists the addresses document i speaks about (all must be
    valid); `vectors`, when given, are the embeddings (the behavioural fingerprints) instead of the text's."""

    ids: list[str]
    documents: list[str]
    metadatas: list[dict]
    addresses: list[Sequence[str]]
    vectors: np.ndarray | None = None


@dataclass
class SyncStats:
    collection: str
    added: int = 0
    changed: int = 0
    deleted: int = 0
    unchanged: int = 0
    refused: int = 0
    refusals: dict = field(default_factory=dict)
    embedded: int = 0  # documents written with a new vector
    texts_embedded: int = 0  # distinct texts sent to the embedder
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def flatten(meta: dict, prefix: str = "") -> dict:
    """Chroma metadata holds only str, int, float and bool: nested dicts become `outer_inner` keys, sequences
    a comma-joined string, datetimes ISO strings, numpy scalars Python ones; None and NaN are left out."""
    out: dict = {}
    for key, value in meta.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}_"))
        elif value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        elif isinstance(value, np.generic):
            v = value.item()
            if not (isinstance(v, float) and math.isnan(v)):
                out[name] = v
        elif isinstance(value, bool | int | float | str):
            out[name] = value
        elif isinstance(value, datetime | date):
            out[name] = value.isoformat()
        elif isinstance(value, list | tuple | set | np.ndarray):
            out[name] = ",".join(str(v) for v in value)
        else:
            out[name] = str(value)
    return out


def content_hash(document: str, meta: dict, vector: np.ndarray | None) -> str:
    """Floats count to 10 significant digits: DuckDB's parallel sums differ between runs in the last bits,
    which is no change to the document."""
    h = hashlib.sha256(document.encode())
    canonical = {k: float(f"{v:.10g}") if isinstance(v, float) else v for k, v in meta.items()}
    h.update(json.dumps(canonical, sort_keys=True, default=str).encode())
    if vector is not None:
        h.update(np.ascontiguousarray(vector, np.float32).tobytes())
    return h.hexdigest()[:32]


def _valid_address(value: str) -> bool:
    return is_solana_address(value) or is_evm_address(value)


def refusal(document: str, addresses: Sequence[str], vector: np.ndarray | None, seen: set, doc_id: str,
            valid: Callable[[str], bool]) -> str | None:
    """Why a document may not be stored, or None."""
    if doc_id in seen:
        return "duplicate_id"
    if not isinstance(document, str) or not document.strip():
        return "empty_document"
    bad = [a for a in addresses if not valid(a)]
    if bad:
        return "invalid_address"
    if vector is not None and not np.isfinite(vector).all():
        return "nan_in_fingerprint"
    return None


class VectorStore:
    """The project's collections on one Chroma client, their names carrying `prefix`."""

    def __init__(self, client, prefix: str = ""):
        self.client = client
        self.prefix = prefix

    @classmethod
    def persistent(cls, path: str, prefix: str = "") -> VectorStore:
        import chromadb
        from chromadb.config import Settings
        return cls(chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False)), prefix)

    @classmethod
    def http(cls, host: str, port: int, prefix: str = "") -> VectorStore:
        import chromadb
        from chromadb.config import Settings
        return cls(chromadb.HttpClient(host=host, port=port, settings=Settings(anonymized_telemetry=False)), prefix)

    def name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    def collection(self, base: str):
        # Fingerprints compare by distance (their scale matters); MiniLM vectors are unit-norm, cosine
        hnsw = {"space": "l2" if base == BEHAVIOUR else "cosine"}
        if base in (SENTENCES, TRADE_TEXTS):
            hnsw["ef_search"] = WIDE_SEARCH
        col = self.client.get_or_create_collection(self.name(base), embedding_function=None,
                                                   configuration={"hnsw": hnsw})
        if col.configuration["hnsw"]["ef_search"] < hnsw.get("ef_search", 0):  # made before: widen it
            col.modify(configuration={"hnsw": {"ef_search": WIDE_SEARCH}})
        return col

    def existing_hashes(self, base: str) -> dict[str, str]:
        col, out, offset = self.collection(base), {}, 0
        while True:
            got = col.get(include=["metadatas"], limit=PAGE, offset=offset)
            for i, m in zip(got["ids"], got["metadatas"], strict=True):
                out[i] = (m or {}).get(HASH_KEY, "")
            if len(got["ids"]) < PAGE:
                return out
            offset += PAGE

    def sync(self, base: str, docs: Docs, embed: Callable[[list[str]], np.ndarray] | None = None,
             valid_address: Callable[[str], bool] = _valid_address) -> SyncStats:
        """Make collection `base` hold exactly the acceptable documents of `docs`, embedding only what is new
        or changed (with `embed` on the text, or the given `vectors`)."""
        t = time.perf_counter()
        stats = SyncStats(self.name(base))
        if docs.vectors is None and embed is None:
            raise ValueError("sync needs an embedder or precomputed vectors")
        seen: set[str] = set()
        reasons: Counter = Counter()
        keep: list[int] = []
        hashes: list[str] = []
        metas: list[dict] = []
        valid_cache: dict[str, bool] = {}

        def valid(a: str) -> bool:
            if a not in valid_cache:
                valid_cache[a] = bool(valid_address(a))
            return valid_cache[a]

        for i, doc_id in enumerate(docs.ids):
            vector = None if docs.vectors is None else docs.vectors[i]
            why = refusal(docs.documents[i], docs.addresses[i], vector, seen, doc_id, valid)
            if why:
                reasons[why] += 1
                continue
            seen.add(doc_id)
            meta = flatten(docs.metadatas[i])
            h = content_hash(docs.documents[i], meta, vector)
            meta[HASH_KEY] = h
            keep.append(i)
            hashes.append(h)
            metas.append(meta)
        stats.refused, stats.refusals = sum(reasons.values()), dict(reasons)

        old = self.existing_hashes(base)
        todo = [k for k, i in enumerate(keep) if old.get(docs.ids[i]) != hashes[k]]
        stats.added = sum(docs.ids[keep[k]] not in old for k in todo)
        stats.changed = len(todo) - stats.added
        stats.unchanged = len(keep) - len(todo)
        vanished = sorted(set(old) - seen)
        col = self.collection(base)
        cache: dict[str, np.ndarray] = {}  # texts alike across pages are embedded once
        for start in range(0, len(todo), PAGE):
            part = todo[start:start + PAGE]
            rows = [keep[k] for k in part]
            texts = [docs.documents[i] for i in rows]
            if docs.vectors is not None:
                vectors = docs.vectors[rows]
            else:
                fresh = list(dict.fromkeys(t for t in texts if t not in cache))
                if fresh:
                    cache.update(zip(fresh, embed(fresh), strict=True))
                    stats.texts_embedded += len(fresh)
                vectors = np.stack([cache[t] for t in texts])
            col.upsert(ids=[docs.ids[i] for i in rows], embeddings=np.asarray(vectors, np.float32),
                       documents=texts, metadatas=[metas[k] for k in part])
            stats.embedded += len(rows)
        for start in range(0, len(vanished), PAGE):
            col.delete(ids=vanished[start:start + PAGE])
        stats.deleted = len(vanished)
        stats.seconds = round(time.perf_counter() - t, 3)
        return stats

    def sync_sharing_texts(self, base: str, texts_base: str, docs: Docs, embed) -> list[SyncStats]:
        """Sync documents whose texts repeat: each distinct text embedded once into `texts_base` (what text
        queries search), and each document stored with its text's vector."""
        texts = self.sync(texts_base, distinct_docs(docs.documents), embed)
        # an empty text is refused in both collections, as empty_document; it has no vector to look up
        kept = [i for i, t in enumerate(docs.documents) if isinstance(t, str) and t.strip()]
        found = self.vectors_of(texts_base, [docs.documents[i] for i in kept])
        vectors = np.zeros((len(docs.ids), found.shape[1] if kept else 1), np.float32)
        vectors[kept] = found
        return [texts, self.sync(base, replace(docs, vectors=vectors))]

    def vectors_of(self, base: str, texts: list[str]) -> np.ndarray:
        """The stored vectors of `texts` in a collection of distinct texts (distinct_docs), not recomputed."""
        ids = [text_id(t) for t in texts]
        unique, col, found = list(dict.fromkeys(ids)), self.collection(base), {}
        for start in range(0, len(unique), PAGE):
            got = col.get(ids=unique[start:start + PAGE], include=["embeddings"])
            found.update(zip(got["ids"], got["embeddings"], strict=True))
        missing = len(set(unique) - set(found))
        if missing:
            raise KeyError(f"{missing} of {len(unique)} texts are not in {self.name(base)}: sync it first")
        return np.asarray([found[i] for i in ids], np.float32)

    def stats(self) -> dict[str, int]:
        """Documents per collection (those that exist)."""
        names = {c.name if hasattr(c, "name") else str(c) for c in self.client.list_collections()}
        return {base: self.collection(base).count() for base in COLLECTIONS if self.name(base) in names}
