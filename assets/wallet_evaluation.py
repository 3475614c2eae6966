"""How well the scanner and the funding graph find what the simulated market planted. Reads the simulator's
truth through the chain source: an evaluation asset, never an input to the calls it judges."""

import dagster as dg

from assets.common import WALLETS_OWNER, WalletWindow
from quant.wallets.evaluation import evaluate_rings, evaluate_scanner
from resources import ChainSource, Warehouse

# What the default world must show. TARGET precision follows the 3% false-positive rate hand-tuned scanners
# claim (MARKET_FACTS.md); the others are floors that a working rule clears with margin on the default world.
THRESHOLDS = {
    "target_precision": 0.97,
    "smart_money_recall": 0.40,
    "martingale_precision": 0.70,
    "martingale_recall": 0.70,
    "market_maker_precision": 0.80,
    "market_maker_recall": 0.80,
    "ring_recall": 0.80,
    "ring_precision": 0.80,
}


@dg.asset(
    group_name="evaluation", kinds={"duckdb"}, owners=[WALLETS_OWNER],
    deps=["wallet_profiles", "wallet_scores", "funding_clusters"],
    check_specs=[dg.AssetCheckSpec(f"{name}_at_least_{floor}".replace(".", "_"), asset="wallet_evaluation",
                                   description=f"{name} >= {floor} against the simulator's truth")
                 for name, floor in THRESHOLDS.items()],
)
def wallet_evaluation(config: WalletWindow, warehouse: Warehouse, chain_source: ChainSource) -> dg.MaterializeResult:
    """TARGET precision, smart-money recall, martingale and market-maker detection, and ring recall and
    precision, measured against the simulator's archetypes and planted rings."""
    truth = chain_source.truth().wallets
    with warehouse.get_connection() as con:
        profiles = con.sql("SELECT * FROM main.wallet_profiles").pl()
        scores = con.sql("SELECT wallet, classification, decided_by, stage FROM main.wallet_scores").pl()
        clusters = con.sql("SELECT * FROM main.funding_clusters").df()
    scanner = evaluate_scanner(profiles, scores, truth, config.scanner())
    rings = evaluate_rings(clusters, truth)
    figures = {"target_precision": scanner["target_precision"], "smart_money_recall": scanner["smart_money_recall"],
               "martingale_precision": scanner["martingale"]["precision"],
               "martingale_recall": scanner["martingale"]["recall"],
               "market_maker_precision": scanner["market_maker"]["precision"],
               "market_maker_recall": scanner["market_maker"]["recall"],
               "ring_recall": rings["ring_recall"], "ring_precision": rings["ring_precision"]}
    checks = [dg.AssetCheckResult(check_name=f"{name}_at_least_{floor}".replace(".", "_"),
                                  passed=figures[name] is not None and figures[name] >= floor,
                                  metadata={"value": figures[name], "floor": floor})
              for name, floor in THRESHOLDS.items()]
    return dg.MaterializeResult(
        metadata={**{k: v for k, v in scanner.items() if not isinstance(v, dict)},
                  "target_archetypes": scanner["target_archetypes"], "martingale": scanner["martingale"],
                  "market_maker": scanner["market_maker"], **rings},
        check_results=checks,
    )
