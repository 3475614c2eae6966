"""Retrieval against the simulator's truth. For evaluation only: nothing that builds or searches the
collections may import this module.

Behavioural precision@k: for each wallet of an archetype, the share of its k nearest fingerprints (itself left
out) that share its archetype, averaged per archetype. Text: one plain-language query per archetype, the share
of the top k identity documents whose wallet has that archetype; and the same for the paraphrases a user would
type (quant.retrieval.paraphrases, written without looking at the document templates), reported beside."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant.retrieval.paraphrases import PARAPHRASES
from quant.retrieval.vector_store import BEHAVIOUR

# Written from the archetypes' definitions, before any result was seen; not tuned on the evaluation.
TEXT_QUERIES = {
    "martingale": "doubles down after losses",
    "market_maker": "market making",
    "insider": "buys early and exits before the rug",
    "sniper": "sniper bot buying new pools seconds after launch",
    "wash_trader": "wash trading with wallets from its own funding cluster",
    "generalist": "trades across many different token categories",
    "smart_money": "consistently profitable wallet with a high win rate",
}
MIN_WALLETS = 50  # archetypes with fewer wallets are reported, not held to the goal


def behavioural_precision(store, truth: pd.DataFrame, k: int = 10, batch: int = 500) -> dict[str, dict]:
    col = store.collection(BEHAVIOUR)
    got = col.get(include=["embeddings"])
    ids, vectors = got["ids"], np.asarray(got["embeddings"], np.float32)
    arche = dict(zip(truth.address, truth.archetype, strict=True))
    hits: dict[str, list[float]] = {}
    for start in range(0, len(ids), batch):
        res = col.query(query_embeddings=vectors[start:start + batch], n_results=min(k + 1, len(ids)), include=[])
        for wallet, found in zip(ids[start:start + batch], res["ids"], strict=True):
            mine = arche.get(wallet)
            if mine is None:
                continue
            others = [f for f in found if f != wallet][:k]
            hits.setdefault(mine, []).append(np.mean([arche.get(f) == mine for f in others]) if others else 0.0)
    return {a: {"wallets": len(v), "precision_at_k": round(float(np.mean(v)), 4)} for a, v in sorted(hits.items())}


def query_precision(search, arche: dict, archetype: str, query: str, k: int) -> dict:
    found = search.similar_identities(query, n=k)
    got = [arche.get(w) for w in (list(found.id) if len(found) else [])]
    return {"query": query, "precision_at_k": round(float(np.mean([a == archetype for a in got])), 4) if got else 0.0,
            "found": pd.Series(got).value_counts().to_dict() if got else {}}


def text_precision(search, truth: pd.DataFrame, k: int = 10) -> dict[str, dict]:
    arche = dict(zip(truth.address, truth.archetype, strict=True))
    return {a: query_precision(search, arche, a, q, k) for a, q in TEXT_QUERIES.items()}


def paraphrase_precision(search, truth: pd.DataFrame, k: int = 10) -> list[dict]:
    """Each of quant.retrieval.paraphrases' queries, with the archetype it asks for."""
    arche = dict(zip(truth.address, truth.archetype, strict=True))
    return [{"archetype": a, **query_precision(search, arche, a, q, k)} for a, qs in PARAPHRASES.items() for q in qs]


def evaluate(search, truth: pd.DataFrame, k: int = 10) -> dict:
    """Both figures, with the archetypes held to the behavioural goal (those with MIN_WALLETS or more)."""
    behaviour = behavioural_precision(search.store, truth, k)
    held = {a: v["precision_at_k"] for a, v in behaviour.items() if v["wallets"] >= MIN_WALLETS}
    text, paraphrases = text_precision(search, truth, k), paraphrase_precision(search, truth, k)
    return {"behaviour": behaviour, "behaviour_held": held,
            "behaviour_min": min(held.values()) if held else None,
            "text": text, "text_mean": round(float(np.mean([v["precision_at_k"] for v in text.values()])), 4),
            "paraphrases": paraphrases,
            "paraphrase_mean": round(float(np.mean([v["precision_at_k"] for v in paraphrases])), 4)}
