"""Search over the wallet collections: similar identities (by words or by behaviour), funding networks, trade
patterns, a wallet's full picture. `python -m quant.retrieval.search "loss chasing after losses" --n 10` prints a table
from the persistent store under the data directory."""

from __future__ import annotations

import argparse
from collections import deque
from collections.abc import Callable

import numpy as np
import pandas as pd

from quant.retrieval.documents import sentences
from quant.retrieval.vector_store import (
    BEHAVIOUR,
    FUNDING,
    IDENTITY,
    SENTENCES,
    TRADE_TEXTS,
    TRADES,
    VectorStore,
)

TIE = 1e-4  # sentence distances this close are the same sentence (a template filled alike), not a ranking


def _frame(result: dict) -> pd.DataFrame:
    rows = [{"id": i, "distance": round(float(d), 4), **(m or {}), "document": doc}
            for i, d, m, doc in zip(result["ids"][0], result["distances"][0], result["metadatas"][0],
                                    result["documents"][0], strict=True)]
    return pd.DataFrame(rows)


class WalletSearch:
    """The search API over one VectorStore; `embed` turns query text into vectors (the same text embedder
    that built the collections)."""

    def __init__(self, store: VectorStore, embed):
        self.store = store
        self.embed = embed

    def _query(self, base: str, vector, n: int, where: dict | None) -> pd.DataFrame:
        col = self.store.collection(base)
        n = min(n, col.count())
        if n == 0:
            return pd.DataFrame()
        return _frame(col.query(query_embeddings=np.asarray([vector], np.float32), n_results=n, where=where or None,
                                include=["metadatas", "documents", "distances"]))

    def fingerprint_of(self, wallet: str) -> np.ndarray | None:
        got = self.store.collection(BEHAVIOUR).get(ids=[wallet], include=["embeddings"])
        return np.asarray(got["embeddings"][0]) if got["ids"] else None

    def _nearest_holders(self, units: str, holders: str, vector, n: int, where: dict | None,
                         split: Callable[[str], list[str]]) -> list[tuple]:
        """The n documents of `holders` (passing `where`) holding the texts of `units` (a collection of
        distinct texts: sentences, or whole descriptions) nearest `vector`, best unit first; documents whose
        best units are equally near (one text, many holders) by their own vector's distance, then id. Units
        are taken nearest first, each with every holder of it, until n holders are found and the units as
        near as the one that completed them are taken too. Rows: (id, distance, metadata, document, unit)."""
        col = self.store.collection(holders)
        found: dict[str, tuple] = {}
        enough_at, fetch, start = None, 4 * n, 0
        while True:
            hits = self._query(units, vector, fetch, None)
            if hits.empty:
                break
            past_ties = False
            for unit, d in zip(hits.document[start:], hits.distance[start:], strict=True):
                if enough_at is not None and d > enough_at + TIE:
                    past_ties = True
                    break
                got = col.get(where=where or None, where_document={"$contains": unit},
                              include=["metadatas", "documents", "embeddings"])
                for i, m, doc, v in zip(got["ids"], got["metadatas"], got["documents"], got["embeddings"], strict=True):
                    if i not in found and unit in split(doc):  # held, not a substring of a longer text
                        found[i] = (round(d / TIE), 1.0 - float(np.dot(v, vector)), i, d, m or {}, doc, unit)
                if enough_at is None and len(found) >= n:
                    enough_at = d
            if past_ties or len(hits) < fetch:
                break
            start, fetch = len(hits), fetch * 4
        return [row[2:] for row in sorted(found.values())[:n]]

    def similar_identities(self, query: str | None = None, wallet: str | None = None, n: int = 10,
                           where: dict | None = None) -> pd.DataFrame:
        """Wallets with a sentence of their description nearest `query` (`matched` is that sentence), or whose
        behavioural fingerprint is nearest `wallet`'s (the wallet itself left out)."""
        if (query is None) == (wallet is None):
            raise ValueError("give exactly one of query (text) or wallet (address)")
        if query is not None:
            rows = self._nearest_holders(SENTENCES, IDENTITY, self.embed([query])[0], n, where, sentences)
            return pd.DataFrame([{"id": i, "distance": d, **m, "document": doc, "matched": unit}
                                 for i, d, m, doc, unit in rows])
        vector = self.fingerprint_of(wallet)
        if vector is None:
            raise KeyError(f"wallet {wallet} is not in {self.store.name(BEHAVIOUR)}")
        out = self._query(BEHAVIOUR, vector, n + 1, where)
        return out[out.id != wallet].head(n).reset_index(drop=True)

    def trade_patterns(self, query: str, n: int = 10, where: dict | None = None) -> pd.DataFrame:
        """Wallet-pool positions whose description matches `query` (filters on trade_type, success, ...)."""
        rows = self._nearest_holders(TRADE_TEXTS, TRADES, self.embed([query])[0], n, where, lambda doc: [doc])
        return pd.DataFrame([{"id": i, "distance": d, **m, "document": doc} for i, d, m, doc, _ in rows])

    def funding_network(self, wallet: str, depth: int = 2) -> pd.DataFrame:
        """Breadth-first over funding connections in either direction, up to `depth` hops: each wallet reached,
        its hop count, the connection that reached it and the path of wallets from `wallet`."""
        col = self.store.collection(FUNDING)
        path = {wallet: [wallet]}
        rows, frontier = [], deque([wallet])
        for hop in range(1, depth + 1):
            if not frontier:
                break
            batch = list(frontier)
            frontier.clear()
            got = col.get(where={"$or": [{"source": {"$in": batch}}, {"target": {"$in": batch}}]},
                          include=["metadatas"])
            for m in sorted(got["metadatas"], key=lambda m: (m["source"], m["target"])):
                for here, there in ((m["source"], m["target"]), (m["target"], m["source"])):
                    if here in batch and there not in path:
                        path[there] = path[here] + [there]
                        frontier.append(there)
                        rows.append({"wallet": there, "depth": hop, "relationship": m["relationship"],
                                     "direction": "funded" if here == m["source"] else "funded_by",
                                     "amount": m["amount"], "circular": m["circular"],
                                     "path": " -> ".join(path[there])})
        return pd.DataFrame(rows, columns=["wallet", "depth", "relationship", "direction", "amount", "circular", "path"])

    def analyze_wallet(self, wallet: str, n: int = 5) -> dict:
        """Profile and verdict (the identity document and metadata), nearest behavioural neighbours, ring
        membership and direct funding links."""
        got = self.store.collection(IDENTITY).get(ids=[wallet], include=["metadatas", "documents"])
        if not got["ids"]:
            raise KeyError(f"wallet {wallet} is not in {self.store.name(IDENTITY)}")
        meta = got["metadatas"][0]
        return {"wallet": wallet, "description": got["documents"][0], "metadata": meta,
                "verdict": meta.get("classification"), "decided_by": meta.get("decided_by"),
                "reasons": meta.get("scanner_reasons", ""), "patterns": meta.get("pattern_matches", ""),
                "ring": meta.get("ring_id") or None,
                "neighbours": self.similar_identities(wallet=wallet, n=n),
                "funding": self.funding_network(wallet, depth=1)}

    def collection_stats(self) -> dict[str, int]:
        return self.store.stats()


def main(argv: list[str] | None = None) -> None:
    from quant.retrieval.embedders import TextEmbedder
    from quant.settings import Settings

    ap = argparse.ArgumentParser(prog="python -m quant.retrieval.search", description=__doc__.splitlines()[0])
    ap.add_argument("query", nargs="?", help="text to search for")
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--in", dest="where", choices=["identities", "trades"], default="identities")
    ap.add_argument("--wallet", help="behavioural neighbours of this wallet (instead of a text query)")
    ap.add_argument("--funding", help="funding network of this wallet")
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--prefix", default="")
    ap.add_argument("--path", help="Chroma directory (default: $QUANT_DATA_DIR/chroma)")
    args = ap.parse_args(argv)
    path = args.path or str(Settings.from_env().data_dir / "chroma")
    search = WalletSearch(VectorStore.persistent(path, args.prefix), TextEmbedder())
    if args.funding:
        table = search.funding_network(args.funding, args.depth)
    elif args.wallet:
        table = search.similar_identities(wallet=args.wallet, n=args.n)
    elif args.query:
        find = search.similar_identities if args.where == "identities" else search.trade_patterns
        table = find(args.query, n=args.n)
    else:
        print(search.collection_stats())
        return
    if table.empty:
        print("no results (are the embeddings assets materialized?)")
        return
    if "wallet" in table.columns and "id" in table.columns and (table.wallet == table.id).all():
        table = table.drop(columns="wallet")
    if "matched" in table.columns:  # the sentence that matched says more than the description's opening
        table["document"] = table.pop("matched")
    if "document" in table.columns:
        table["document"] = table.document.str.slice(0, 100)
    cols = [c for c in ("id", "distance", "classification", "risk_level", "trade_type", "pnl_pct", "wallet", "depth",
                        "relationship", "path", "document") if c in table.columns]
    print(table[cols].to_string(index=False))


if __name__ == "__main__":
    main()
