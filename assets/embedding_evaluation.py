"""How well the collections retrieve what the simulated market planted: behavioural precision@10 per archetype
and plain-language queries per archetype, against the simulator's truth (evaluation only, never an input)."""

import dagster as dg
import pandas as pd

from assets.common import EMBEDDINGS_PREFIX, WALLETS_OWNER
from quant.retrieval.evaluation import MIN_WALLETS, evaluate
from quant.retrieval.search import WalletSearch
from resources import ChainSource, ChromaStore, Embedder

BEHAVIOUR_GOAL = 0.8
TEXT_GOAL = 0.6
BEHAVIOUR_CHECK = "behavioural_precision_at_10_at_least_0_8"
TEXT_CHECK = "text_query_precision_at_10_at_least_0_6"


@dg.asset(
    group_name="evaluation", kinds={"chromadb"}, owners=[WALLETS_OWNER], pool="chroma",
    automation_condition=dg.AutomationCondition.eager(),  # after the identity embeddings it measures
    deps=[dg.AssetKey([*EMBEDDINGS_PREFIX, "identity_tracking"])],
    check_specs=[
        dg.AssetCheckSpec(BEHAVIOUR_CHECK, asset="embedding_evaluation",
                          description=f"Every archetype with {MIN_WALLETS}+ wallets: share of its 10 nearest "
                                      f"fingerprints with the same archetype >= {BEHAVIOUR_GOAL}."),
        dg.AssetCheckSpec(TEXT_CHECK, asset="embedding_evaluation",
                          description=f"Mean over the archetype queries of the share of the top 10 identities "
                                      f"with the queried archetype >= {TEXT_GOAL}."),
    ],
)
def embedding_evaluation(chain_source: ChainSource, vector_store: ChromaStore,
                         embedder: Embedder) -> dg.MaterializeResult:
    """Retrieval precision@10 of the identity collections against the simulator's archetypes."""
    truth = chain_source.truth().wallets
    figures = evaluate(WalletSearch(vector_store.store(), embedder.embedder()), truth)
    held, low = figures["behaviour_held"], figures["behaviour_min"]
    short = {a: v for a, v in held.items() if v < BEHAVIOUR_GOAL}
    return dg.MaterializeResult(
        metadata={"behaviour_precision_at_10": figures["behaviour"], "behaviour_min_held": low,
                  "text_precision_at_10": {a: v["precision_at_k"] for a, v in figures["text"].items()},
                  "text_queries": figures["text"], "text_mean": figures["text_mean"],
                  "paraphrase_mean": figures["paraphrase_mean"],
                  "paraphrase_queries": dg.MetadataValue.md(pd.DataFrame(figures["paraphrases"])[
                      ["archetype", "query", "precision_at_k"]].to_markdown(index=False, floatfmt=".2f")),
                  "embedder": type(embedder.embedder()).__name__},
        check_results=[
            dg.AssetCheckResult(check_name=BEHAVIOUR_CHECK, passed=low is not None and low >= BEHAVIOUR_GOAL,
                                metadata={"min": low, "goal": BEHAVIOUR_GOAL, "held": held,
                                          "below_goal": short or "none"}),
            dg.AssetCheckResult(check_name=TEXT_CHECK, passed=figures["text_mean"] >= TEXT_GOAL,
                                metadata={"mean": figures["text_mean"], "goal": TEXT_GOAL,
                                          "per_archetype": {a: v["precision_at_k"] for a, v in figures["text"].items()}}),
        ],
    )
