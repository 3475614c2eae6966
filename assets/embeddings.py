"""The wallet collections in Chroma: identities (with behavioural fingerprints), funding connections and
trade history. Each asset syncs its collection incrementally: only new or changed documents are embedded."""

import dagster as dg
import polars as pl
from pydantic import Field

from assets.common import EMBEDDINGS_PREFIX as PREFIX
from assets.common import WALLETS_OWNER
from quant.retrieval.documents import connection_docs, identity_collections, position_docs, position_table
from quant.retrieval.vector_store import FUNDING, IDENTITY, TRADE_TEXTS, TRADES, SyncStats
from resources import ChromaStore, Embedder, Warehouse
from resources.queries import window_views

POOL = "chroma"  # a persistent Chroma directory takes one writing process at a time
NO_REFUSALS = "no_documents_refused"


class TradeWindow(dg.Config):
    window_days: int = Field(default=0, ge=0, description="Days of swaps to read, back from the newest; 0 = all.")


def _result(stats: list[SyncStats], embedder, docs: int, check_asset: dg.AssetKey) -> dg.MaterializeResult:
    total = sum(s.seconds for s in stats)
    embedded = sum(s.embedded for s in stats)
    refused = sum(s.refused for s in stats)
    return dg.MaterializeResult(
        metadata={"documents": docs, **{s.collection: s.as_dict() for s in stats},
                  "added": sum(s.added for s in stats), "changed": sum(s.changed for s in stats),
                  "deleted": sum(s.deleted for s in stats), "unchanged": sum(s.unchanged for s in stats),
                  "refused": refused, "embedded": embedded, "seconds": round(total, 3),
                  "embedder": type(embedder).__name__,
                  "embeddings_per_s": round(embedded / total, 1) if total and embedded else None},
        check_results=[dg.AssetCheckResult(asset_key=check_asset, check_name=NO_REFUSALS, passed=refused == 0,
                                           severity=dg.AssetCheckSeverity.WARN,
                                           metadata={"refusals": {k: v for s in stats for k, v in s.refusals.items()}})],
    )


def _check(name: str) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(NO_REFUSALS, asset=dg.AssetKey([*PREFIX, name]),
                              description="Every document was accepted (refusals are counted with reasons).")]


# Re-embedded once whatever they read has changed (the daily wallet refresh, a day's ingest), when nothing
# upstream is still running: Dagster's eager condition (AutomationCondition.eager()).
AFTER_UPSTREAM = dg.AutomationCondition.eager()


@dg.asset(key_prefix=PREFIX, group_name="embeddings", kinds={"chromadb"}, owners=[WALLETS_OWNER], pool=POOL,
          automation_condition=AFTER_UPSTREAM,
          deps=["wallet_profiles", "wallet_scores", "funding_clusters", "funding_connections"],
          check_specs=_check(IDENTITY))
def identity_tracking(warehouse: Warehouse, vector_store: ChromaStore, embedder: Embedder) -> dg.MaterializeResult:
    """One document per profiled wallet (behaviour, verdict, ring), its sentences one by one (what text
    queries search), and its behavioural fingerprint."""
    with warehouse.get_connection() as con:
        profiles = con.sql("SELECT * FROM main.wallet_profiles").pl()
        scores = con.sql("SELECT * FROM main.wallet_scores").pl()
        clusters = con.sql("SELECT * FROM main.funding_clusters").df()
        connections = con.sql("SELECT source, target, kind FROM main.funding_connections").df()
    collections = identity_collections(profiles, scores, clusters, connections)
    store, embed = vector_store.store(), embedder.embedder()
    stats = [store.sync(base, docs, embed if from_text else None) for base, docs, from_text in collections]
    return _result(stats, embed, len(collections[0][1].ids), dg.AssetKey([*PREFIX, IDENTITY]))


@dg.asset(key_prefix=PREFIX, group_name="embeddings", kinds={"chromadb"}, owners=[WALLETS_OWNER], pool=POOL,
          automation_condition=AFTER_UPSTREAM,
          deps=["funding_connections", "funding_clusters"], check_specs=_check(FUNDING))
def funding_connections(warehouse: Warehouse, vector_store: ChromaStore, embedder: Embedder) -> dg.MaterializeResult:
    """One document per funding connection: source, target, relationship, amount, time, wash score."""
    with warehouse.get_connection() as con:
        connections = con.sql("SELECT * FROM main.funding_connections").df()
        clusters = con.sql("SELECT * FROM main.funding_clusters").df()
    docs = connection_docs(connections, clusters)
    embed = embedder.embedder()
    return _result([vector_store.store().sync(FUNDING, docs, embed)], embed, len(docs.ids),
                   dg.AssetKey([*PREFIX, FUNDING]))


@dg.asset(key_prefix=PREFIX, group_name="embeddings", kinds={"chromadb"}, owners=[WALLETS_OWNER], pool=POOL,
          automation_condition=AFTER_UPSTREAM,
          deps=["swaps", "pool_snapshots"], check_specs=_check(TRADES))
def trade_history(config: TradeWindow, warehouse: Warehouse, vector_store: ChromaStore,
                  embedder: Embedder) -> dg.MaterializeResult:
    """One document per wallet-pool position: type, amounts, price, PnL %, success, coordination flags; and
    each distinct description once (what text queries search; the positions take its vector)."""
    with warehouse.get_connection() as con:
        window = window_views(con, config.window_days)
        positions = position_table(con)
    docs = position_docs(positions)
    embed = embedder.embedder()
    result = _result(vector_store.store().sync_sharing_texts(TRADES, TRADE_TEXTS, docs, embed), embed, len(docs.ids),
                     dg.AssetKey([*PREFIX, TRADES]))
    flags = pl.from_pandas(positions[["coordinated_buying", "volume_spike", "success"]]).mean().to_dicts()[0]
    return dg.MaterializeResult(metadata={**result.metadata, **window, "shares": flags},
                                check_results=result.check_results)
