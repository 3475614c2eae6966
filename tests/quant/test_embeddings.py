"""Embedders, the vector store's incremental sync and refusals, metadata flattening, and the search API, on
hand-built documents; the same round trip against a Chroma server on loopback."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl
import pytest

from quant.retrieval.documents import sentence_docs
from quant.retrieval.embedders import FINGERPRINT_DIM, HashingEmbedder, TextEmbedder, fingerprint
from quant.retrieval.search import WalletSearch, main
from quant.retrieval.vector_store import (
    BEHAVIOUR,
    FUNDING,
    IDENTITY,
    SENTENCES,
    TRADE_TEXTS,
    TRADES,
    Docs,
    VectorStore,
    flatten,
)
from quant.simulator.addresses import solana_pubkeys
from tests.chroma_server import chroma_server  # noqa: F401  (a fixture)

A, B, C, D, E = solana_pubkeys(np.random.default_rng(11), 5)
EVM = "0x52908400098527886E0F7030069857D2E4169EE7"
TEXTS = {A: "doubles down after losses, raising its stake after every losing trade",
         B: "market making with many short round trips on both sides",
         C: "sniper bot buying new pools seconds after launch",
         EVM: "wash trading against wallets from its own funding cluster"}


def docs(texts: dict[str, str]) -> Docs:
    ids = list(texts)
    return Docs(ids, [texts[i] for i in ids], [{"wallet": i, "extra": {"n": len(texts[i]), "tags": ["a", "b"]}}
                                               for i in ids], [[i] for i in ids])


def sync_identities(store: VectorStore, d: Docs, embed) -> None:
    """As the identity_tracking asset does: whole descriptions, and their sentences for text queries."""
    store.sync(IDENTITY, d, embed)
    store.sync(SENTENCES, sentence_docs(d), embed)


@pytest.fixture
def store(tmp_path) -> VectorStore:
    return VectorStore.persistent(str(tmp_path / "chroma"), prefix="t_")


def test_flatten_makes_metadata_scalar():
    flat = flatten({"a": {"b": 1, "c": {"d": "x"}}, "tags": ["p", "q"], "none": None, "nan": float("nan"),
                    "np": np.float32(0.5), "npnan": np.float64("nan"), "ok": True, "when": datetime(2026, 1, 2, 3)})
    assert flat == {"a_b": 1, "a_c_d": "x", "tags": "p,q", "np": 0.5, "ok": True, "when": "2026-01-02T03:00:00"}
    assert all(isinstance(v, str | int | float | bool) for v in flat.values())


def test_round_trip_upsert_query_delete(store):
    embed = HashingEmbedder()
    stats = store.sync(IDENTITY, docs(TEXTS), embed)
    assert (stats.added, stats.changed, stats.deleted, stats.unchanged) == (4, 0, 0, 0)
    col = store.collection(IDENTITY)
    assert col.name == "t_identity_tracking" and col.count() == 4
    got = col.get(ids=[A], include=["metadatas", "documents"])
    assert got["documents"] == [TEXTS[A]] and got["metadatas"][0]["extra_tags"] == "a,b"
    store.sync(SENTENCES, sentence_docs(docs(TEXTS)), embed)
    hit = WalletSearch(store, embed).similar_identities("sniper bot buying new pools seconds after launch", n=2)
    assert hit.id[0] == C and hit.distance[0] < 1e-5
    fewer = {k: v for k, v in TEXTS.items() if k != B}
    stats = store.sync(IDENTITY, docs(fewer), embed)
    assert (stats.added, stats.deleted, stats.unchanged) == (0, 1, 3)
    assert col.count() == 3 and col.get(ids=[B])["ids"] == []


def test_unchanged_documents_are_not_re_embedded(store):
    embed = HashingEmbedder()
    store.sync(IDENTITY, docs(TEXTS), embed)
    assert (embed.calls, embed.texts_embedded) == (1, 4)
    again = store.sync(IDENTITY, docs(TEXTS), embed)
    assert (embed.calls, embed.texts_embedded) == (1, 4)  # nothing new: the embedder was not called
    assert (again.unchanged, again.embedded) == (4, 0)
    changed = {**TEXTS, A: TEXTS[A] + " twice", D: "a new wallet that buys and holds"}
    stats = store.sync(IDENTITY, docs(changed), embed)
    assert (embed.calls, embed.texts_embedded) == (2, 6)
    assert (stats.added, stats.changed, stats.unchanged, stats.deleted) == (1, 1, 3, 0)
    noise = docs(changed)
    noise.metadatas[0]["amount"] = 0.1 + 0.2  # vs 0.3 below: a float sum's last bits are no change
    store.sync(IDENTITY, noise, embed)
    noise.metadatas[0]["amount"] = 0.3
    assert store.sync(IDENTITY, noise, embed).unchanged == 5
    noise.metadatas[1]["extra"]["n"] = 99  # a metadata change alone is a change too
    assert store.sync(IDENTITY, noise, embed).changed == 1


def test_bad_input_is_refused_with_the_reason_and_the_rest_goes_through(store):
    bad = docs({**TEXTS, "not-an-address": "a wallet", D: "   "})
    stats = store.sync(IDENTITY, bad, HashingEmbedder())
    assert stats.refusals == {"invalid_address": 1, "empty_document": 1} and stats.refused == 2
    assert stats.added == 4
    vectors = np.ones((3, FINGERPRINT_DIM), np.float32)
    vectors[1, 3] = np.nan
    fp = Docs([A, B, C], ["x", "y", "z"], [{}, {}, {}], [[A], [B], [C]], vectors)
    stats = store.sync(BEHAVIOUR, fp)
    assert stats.refusals == {"nan_in_fingerprint": 1} and stats.added == 2
    stats = store.sync(BEHAVIOUR, Docs([A, A], ["x", "x"], [{}, {}], [[A], [A]], vectors[[0, 0]]))
    assert stats.refusals == {"duplicate_id": 1} and stats.deleted == 1  # C is no longer offered: deleted


def _profiles(**overrides) -> pl.DataFrame:
    row = dict(wallet=A, trades=40, age_days=2.0, staked=10.0, round_trips=20, avg_hold_s=600.0, win_rate=0.5,
               profit_per_trade=0.01, top_category_share=0.8, categories=2, pools=10, chase_after_loss=0.3,
               chase_excess=0.1, early_entry_share=0.2, snipe_share=0.0, rug_escape_share=None,
               copies_per_buy=0.5, drawdown_share=0.1)
    return pl.DataFrame([{**row, **overrides}])


def test_fingerprint_is_deterministic_and_per_wallet():
    one = fingerprint(_profiles())
    both = fingerprint(pl.concat([_profiles(), _profiles(wallet=B, trades=4000, win_rate=0.9)]))
    assert one.shape == (1, FINGERPRINT_DIM) and np.isfinite(one).all()
    np.testing.assert_array_equal(both[0], one[0])  # fixed transforms: other wallets do not move it
    assert both[1, 0] > both[0, 0] and both[1, 3] > both[0, 3]
    assert np.isnan(fingerprint(_profiles(win_rate=float("inf")))).any()


def test_funding_network_walks_breadth_first_with_the_path(store):
    edges = [(A, B, "direct"), (B, C, "direct"), (C, D, "indirect"), (E, A, "circular")]
    ids = [f"{k}:{s}:{t}" for s, t, k in edges]
    metas = [{"source": s, "target": t, "relationship": k, "amount": 1.0, "circular": k == "circular"}
             for s, t, k in edges]
    store.sync(FUNDING, Docs(ids, [f"{k} {s} {t}" for s, t, k in edges], metas, [[s, t] for s, t, _ in edges]),
               HashingEmbedder())
    net = WalletSearch(store, HashingEmbedder()).funding_network(A, depth=2)
    assert dict(zip(net.wallet, net.depth, strict=True)) == {B: 1, E: 1, C: 2}
    assert net.set_index("wallet").path[C] == f"{A} -> {B} -> {C}"
    assert net.set_index("wallet").direction[E] == "funded_by"


def test_minilm_ranks_by_meaning():
    embed = TextEmbedder(device="cpu")
    vectors = embed(list(TEXTS.values()) + ["chasing losses by betting more", "liquidity provider"])
    assert vectors.shape == (6, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    sims = vectors[4:] @ vectors[:4].T
    assert sims[0].argmax() == 0 and sims[1].argmax() == 1


def test_cli_prints_a_table_from_the_persistent_store(tmp_path, capsys):
    store = VectorStore.persistent(str(tmp_path / "chroma"))
    sync_identities(store, docs(TEXTS), TextEmbedder(device="cpu"))
    main(["loss chasing after losses", "--n", "2", "--path", str(tmp_path / "chroma")])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["id", "distance"] and len(lines) == 3
    assert lines[1].split()[0] == A  # the wallet that doubles down after losses comes first


def test_a_text_query_meets_the_one_sentence_that_says_it(store):
    figures = ("Trading wallet on solana. 168 trades (21 a day) in 58 pools; top category memecoin (50%). "
               "Win rate 42%, average hold 2.9 hours, profit per trade 3%, average stake 1.01.")
    texts = {A: f"{figures} Martingale sizing: doubles down after losses, raising its stake after a losing trade.",
             B: f"{figures} Market making: many short round trips on both sides at a thin margin.",
             C: "Wash trading: trades against wallets of its own funding cluster."}
    sentences = sentence_docs(docs(texts))
    # one document per distinct sentence (the three of figures are shared); "2.9 hours" and "1.01." end none
    assert len(sentences.ids) == 6 and len(set(sentences.ids)) == 6
    assert "Win rate 42%, average hold 2.9 hours, profit per trade 3%, average stake 1.01." in sentences.documents
    embed = TextEmbedder(device="cpu")
    sync_identities(store, docs(texts), embed)
    hits = WalletSearch(store, embed).similar_identities("doubles down after losses", n=3)
    assert list(hits.id[:1]) == [A] and hits.id.is_unique and len(hits) == 3  # one row per wallet
    assert hits.matched[0].startswith("Martingale sizing") and hits.document[0] == texts[A]  # the whole description
    # filters apply to the identities' metadata
    only = WalletSearch(store, embed).similar_identities("doubles down after losses", n=3, where={"wallet": B})
    assert list(only.id) == [B]


def test_a_text_many_share_does_not_hide_a_nearer_one(store):
    """Hundreds of identical vectors stop an HNSW search among them (a collection of 400 documents with 399
    alike misses the one that "market making" asks for): texts that repeat are searched stored once each."""
    wallets = solana_pubkeys(np.random.default_rng(5), 400)
    texts = {w: "Generalist: spreads trades across 8 token categories." for w in wallets[1:]}
    texts[wallets[0]] = "Market making: many short round trips on both sides at a thin margin per trade."
    embed = TextEmbedder(device="cpu")
    sync_identities(store, docs(texts), embed)
    search = WalletSearch(store, embed)
    hits = search.similar_identities("market making", n=10)
    assert hits.id[0] == wallets[0] and len(hits) == 10 and hits.id.is_unique
    positions = Docs([f"{w}:P" for w in texts], list(texts.values()), [{"wallet": w} for w in texts],
                     [[w] for w in texts])
    before = embed.texts_embedded
    stats = store.sync_sharing_texts(TRADES, TRADE_TEXTS, positions, embed)
    assert [s.added for s in stats] == [2, 400] and embed.texts_embedded - before == 2  # each text once only
    trades = search.trade_patterns("market making", n=10)
    assert trades.id[0] == f"{wallets[0]}:P" and len(trades) == 10
    assert trades.id[1:].tolist() == sorted(trades.id[1:])  # ties (one text) in id order


def test_server_mode_round_trip(chroma_server):  # noqa: F811
    store = VectorStore.http("127.0.0.1", chroma_server, prefix="srv_")
    embed = HashingEmbedder()
    assert store.sync(IDENTITY, docs(TEXTS), embed).added == 4
    assert store.sync(IDENTITY, docs(TEXTS), embed).unchanged == 4 and embed.calls == 1
    assert store.sync(SENTENCES, sentence_docs(docs(TEXTS)), embed).added == 4
    hit = WalletSearch(store, embed).similar_identities("market making with many short round trips on both sides")
    assert hit.id[0] == B
    assert store.sync(IDENTITY, docs({A: TEXTS[A]}), embed).deleted == 3
    assert store.stats() == {IDENTITY: 1, SENTENCES: 4}


def test_positions_on_hand_built_swaps():
    import duckdb
    import pandas as pd

    from quant.retrieval.documents import position_docs, position_table

    t0 = pd.Timestamp("2026-01-01")

    def swap(s, wallet, side, quote, base, pool="P"):
        amount_in, amount_out = (quote, base) if side == "buy" else (base, quote)
        return dict(ts=t0 + pd.Timedelta(seconds=s), chain="solana", pool_id=pool, wallet=wallet, side=side,
                    amount_in=amount_in, amount_out=amount_out)

    rows = [swap(0, A, "buy", 1.0, 100), swap(600, A, "sell", 1.5, 100),  # +50% round trip held 10 minutes
            *[swap(3600 + k, w, "buy", 2.0, 10) for k, w in enumerate((B, C, D, EVM))],  # four in one minute
            swap(7200, E, "buy", 0.5, 5, pool="Q")]
    rows += [swap(10_000 + 120 * k, E, "buy", 0.01, 1) for k in range(6)]  # P usually sees one buyer a minute
    con = duckdb.connect()
    con.register("swaps", pd.DataFrame(rows))
    con.register("pools", pd.DataFrame({"pool_id": ["P", "Q"], "category": ["memecoin", "ai"]}))
    pos = position_table(con).set_index(["wallet", "pool_id"])
    a = pos.loc[(A, "P")]
    assert a.trade_type == "round_trip" and a.pnl_pct == pytest.approx(50.0) and a.success and a.hold_s == 600
    assert pos.loc[(B, "P")].trade_type == "open" and pos.loc[(B, "P")].coordinated_buying
    assert not a.coordinated_buying and not pos.loc[(E, "P")].coordinated_buying
    assert pos.loc[(E, "Q")].category == "ai" and pos.loc[(E, "P")].buys == 6
    docs_ = position_docs(pos.reset_index())
    text = dict(zip(docs_.ids, docs_.documents, strict=True))
    assert text[f"{A}:P"] == ("Round trip in a memecoin pool: large stake, 1 buys and 1 sells, held for minutes; "
                              "profitable trade, PnL about +50%.")


def test_phrases_say_only_what_the_profile_shows():
    from quant.retrieval.documents import behaviour_phrases
    from quant.wallets.scanner.config import ScannerConfig

    cfg = ScannerConfig()
    seller = {"trades": 4, "buys": 0, "round_trips": 0}
    assert any(p.startswith("Sells tokens it never bought") for p in behaviour_phrases(seller, set(), cfg))
    assert not any(p.startswith("Sells tokens") for p in behaviour_phrases({**seller, "buys": 1}, set(), cfg))
    chaser = behaviour_phrases({"trades": 40, "buys": 20, "chase_after_loss": 0.69}, {"MARTINGALE"}, cfg)
    assert chaser[0].startswith("Martingale sizing") and "(69% of post-loss trades)" in chaser[0]
    assert behaviour_phrases({"trades": 40, "buys": 20, "chase_after_loss": 0.69}, set(), cfg) == []


def test_repeated_texts_refuse_bad_documents_and_keep_the_rest(store):
    texts = ["bought and sold within minutes", "", "bought and sold within minutes", "held for days"]
    positions = Docs([f"p{i}" for i in range(4)], texts, [{"k": i} for i in range(4)], [[A], [A], [B], ["bad"]])
    embed = HashingEmbedder()
    shared, stored = store.sync_sharing_texts(TRADES, TRADE_TEXTS, positions, embed)
    assert shared.refusals == {"empty_document": 1} and shared.added == 2  # each non-empty text once
    assert stored.refusals == {"empty_document": 1, "invalid_address": 1} and stored.added == 2
    got = store.collection(TRADES).get(ids=["p0", "p2"], include=["embeddings"])
    assert np.array_equal(got["embeddings"][0], got["embeddings"][1])  # the one vector of their text
