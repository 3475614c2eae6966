"""The embeddings assets on the small world: the three collections built, a second materialization embeds
nothing, the evaluation reports retrieval figures against truth with its checks, and the search API answers."""

import dagster as dg
import numpy as np
import pytest

from assets.embedding_evaluation import BEHAVIOUR_CHECK, TEXT_CHECK, embedding_evaluation
from assets.embeddings import funding_connections, identity_tracking, trade_history
from assets.market_data import market_assets as build_market_assets
from assets.partitions import daily_partitions_for
from assets.wallets import funding_graph, wallet_profiles, wallet_scores
from quant.retrieval.documents import sentences as split
from quant.retrieval.search import WalletSearch
from quant.retrieval.vector_store import BEHAVIOUR, FUNDING, IDENTITY, SENTENCES, TRADE_TEXTS, TRADES
from quant.settings import Settings
from resources import ChromaStore, Embedder
from tests.chroma_server import chroma_server  # noqa: F401  (a fixture)
from tests.conftest import SMALL_DAYS

PARTITIONS = daily_partitions_for(Settings.from_env())  # as orchestration.definitions builds them
market_assets = build_market_assets(PARTITIONS)

EMBEDDING_ASSETS = [identity_tracking, funding_connections, trade_history]


def _metadata(result, key: str) -> dict:
    [event] = [m for m in result.get_asset_materialization_events() if m.asset_key.path[-1] == key]
    return {k: v.value for k, v in event.materialization.metadata.items()}


@pytest.fixture(scope="module")
def built(tmp_path_factory, world_cache):
    """Built once for the module (the small world's market and wallet assets, then the collections)."""
    from resources import ChainSource, RawStore, Warehouse

    tmp = tmp_path_factory.mktemp("embeddings")
    # The hashing embedder keeps this test in seconds; MiniLM itself is tested in tests/quant.
    resources = {"chain_source": ChainSource(world="small", days=SMALL_DAYS, cache_dir=str(world_cache)),
                 "warehouse": Warehouse(database=str(tmp / "warehouse.duckdb")),
                 "raw_store": RawStore(directory=str(tmp / "raw")),
                 "vector_store": ChromaStore(path=str(tmp / "chroma"), prefix="test_"),
                 "embedder": Embedder(kind="hashing")}
    for day in range(1, SMALL_DAYS + 1):
        assert dg.materialize(market_assets, partition_key=f"2026-01-{day:02d}", resources=resources).success
    assert dg.materialize([wallet_profiles, funding_graph, wallet_scores], resources=resources).success
    result = dg.materialize([*EMBEDDING_ASSETS, embedding_evaluation], resources=resources)
    assert result.success
    return result, resources


def test_collections_built_then_incremental_and_evaluated(built):
    result, resources = built
    warehouse = resources["warehouse"]
    wallets = warehouse.query("SELECT count(*) AS n FROM wallet_profiles").n[0]
    connections = warehouse.query("SELECT count(*) AS n FROM funding_connections").n[0]
    identity = _metadata(result, IDENTITY)
    store = resources["vector_store"].store()
    sentences = store.stats()[SENTENCES]
    # each distinct sentence of the descriptions once: what text queries search
    described = {x for doc in store.collection(IDENTITY).get(include=["documents"])["documents"] for x in split(doc)}
    assert set(store.collection(SENTENCES).get(include=["documents"])["documents"]) == described
    assert sentences == len(described) < sum(len(split(d)) for d in store.collection(IDENTITY).get()["documents"])
    assert identity["documents"] == wallets and identity["added"] == 2 * wallets + sentences
    assert identity["refused"] == 0
    assert _metadata(result, FUNDING)["added"] == connections
    trades = _metadata(result, TRADES)
    positions, texts = trades["test_trade_history"], trades["test_trade_texts"]
    assert positions["added"] == trades["documents"] > wallets and positions["texts_embedded"] == 0
    assert texts["added"] == texts["texts_embedded"] == trades["embedded"] - trades["documents"] < trades["documents"]
    assert store.stats() == {IDENTITY: wallets, BEHAVIOUR: wallets, SENTENCES: sentences, FUNDING: connections,
                             TRADES: trades["documents"], TRADE_TEXTS: texts["added"]}

    again = dg.materialize(EMBEDDING_ASSETS, resources=resources)
    for key in (IDENTITY, FUNDING, TRADES):
        meta = _metadata(again, key)
        assert meta["embedded"] == 0 and meta["added"] == meta["changed"] == meta["deleted"] == 0
        assert meta["unchanged"] > 0

    meta = _metadata(result, "embedding_evaluation")
    held = {a: v for a, v in meta["behaviour_precision_at_10"].items() if v["wallets"] >= 50}
    assert held
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()
              if e.asset_key.path[-1] == "embedding_evaluation"}
    assert set(checks) == {BEHAVIOUR_CHECK, TEXT_CHECK}
    low = min(v["precision_at_k"] for v in held.values())
    assert checks[BEHAVIOUR_CHECK].passed == (low >= 0.8)
    assert checks[TEXT_CHECK].passed == (meta["text_mean"] >= 0.6)
    # Floors with margin under the small world's figures (2026-12-07: the held archetypes' precision 0.40-0.99,
    # retail 0.99; template-like text queries 0.31). The paraphrases (0.08) are reported, not held to a floor:
    # quant.retrieval.paraphrases was written not to be tuned against.
    assert low >= 0.25 and held["retail"]["precision_at_k"] >= 0.9
    assert meta["text_mean"] >= 0.15 and 0 <= meta["paraphrase_mean"] <= 1
    assert "bots that buy in the first seconds" in meta["paraphrase_queries"]


def test_search_api_on_the_built_store(built):
    _, resources = built
    search = WalletSearch(resources["vector_store"].store(), resources["embedder"].embedder())
    ring_wallet = resources["warehouse"].query(
        "SELECT members[1] AS w FROM funding_clusters WHERE is_ring LIMIT 1").w[0]
    report = search.analyze_wallet(ring_wallet)
    assert report["ring"] and report["metadata"]["risk_level"] == "critical"
    verdict = resources["warehouse"].query(f"SELECT classification, reasons FROM wallet_scores WHERE wallet = '{ring_wallet}'")
    assert (report["verdict"], report["reasons"]) == (verdict.classification[0], verdict.reasons[0])
    assert len(report["neighbours"]) == 5 and ring_wallet not in set(report["neighbours"].id)
    assert len(report["funding"]) > 0 and (report["funding"].depth == 1).all()
    found = search.trade_patterns("round trip profitable trade", n=5, where={"success": True})
    assert len(found) == 5 and found.success.all()
    risky = search.similar_identities("wash trading", n=3, where={"risk_level": "critical"})
    assert len(risky) == 3 and (risky.risk_level == "critical").all()


def test_assets_and_queries_against_a_chroma_server(built, chroma_server):  # noqa: F811
    _, resources = built
    server = {**resources, "vector_store": ChromaStore(host="127.0.0.1", port=chroma_server, prefix="srv_")}
    result = dg.materialize([identity_tracking, funding_connections], resources=server)
    assert result.success
    wallets = resources["warehouse"].query("SELECT count(*) AS n FROM wallet_profiles").n[0]
    store = server["vector_store"].store()
    assert _metadata(result, IDENTITY)["added"] == 2 * wallets + store.stats()[SENTENCES]
    assert store.stats()[IDENTITY] == wallets
    local = WalletSearch(resources["vector_store"].store(), resources["embedder"].embedder())
    remote = WalletSearch(store, server["embedder"].embedder())
    wallet = local.similar_identities("wash trading", n=1).id[0]
    near, far = local.similar_identities(wallet=wallet, n=5), remote.similar_identities(wallet=wallet, n=5)
    assert len(far) == 5 and np.allclose(far.distance, near.distance, atol=1e-4)  # ties may swap order
    assert remote.funding_network(wallet, 2).equals(local.funding_network(wallet, 2))


def test_rebuilt_wallet_tables_re_embed_nothing(built):
    """Profiles, funding graph and scores rebuilt from the same swaps give the same documents."""
    _, resources = built
    assert dg.materialize([wallet_profiles, funding_graph, wallet_scores], resources=resources).success
    again = dg.materialize(EMBEDDING_ASSETS, resources=resources)
    for key in (IDENTITY, FUNDING, TRADES):
        meta = _metadata(again, key)
        assert (meta["added"], meta["changed"], meta["deleted"], meta["embedded"]) == (0, 0, 0, 0), (key, meta)
