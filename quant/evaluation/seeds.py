"""The headline figures on worlds nobody designed on: each seed's world is simulated, featured, labelled,
evaluated walk-forward exactly as the Dagster assets do (quant.evaluation.walk_forward.evaluate on the newest
two days, five training days, the label horizon's purge) and its wallets scanned and graphed
(quant.wallets), optionally its identity collections built and searched (quant.retrieval, `--embeddings`)
and the drift sensor tried on the seed's small world with and without a hype wave (quant.evaluation.drift_trial,
`--drift`: the sensor's trial is on small worlds whatever `--world` says), then every figure is summarised over the seeds as mean, standard deviation, min and max.

Seed 7 is the development world: the rug model's operating point, the scanner's thresholds and the
simulator's behaviour were all designed while looking at it. The figures that count are these, on seeds
that took no part in any choice (101, 102, 103 were first run after the code they judge was written).

    python -m quant.evaluation.seeds --seeds 101 102 103 --json
    python -m quant.evaluation.seeds --seeds 201 202 --world small
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

from quant.evaluation.drift_trial import drift_figures
from quant.evaluation.walk_forward import MODEL_STRATEGIES, EvalConfig, evaluate
from quant.features import batch_features
from quant.features.labels import build_labels
from quant.models.datasets import cadence, holdout_window, slippage_table
from quant.models.specs import ENTER_RUG
from quant.retrieval.documents import identity_collections
from quant.retrieval.embedders import make_embedder
from quant.retrieval.evaluation import evaluate as evaluate_retrieval
from quant.retrieval.search import WalletSearch
from quant.retrieval.vector_store import VectorStore
from quant.settings import Settings
from quant.simulator.config import world_config
from quant.simulator.market import SimulatedMarket
from quant.wallets.evaluation import evaluate_rings, evaluate_scanner
from quant.wallets.funding_graph import build_graph, with_wash_scores
from quant.wallets.profiles import build_profiles
from quant.wallets.scanner.config import ScannerConfig
from quant.wallets.scanner.stages import scan

TRAIN_DAYS, HOLDOUT_DAYS, SLIPPAGE_ROWS = 5, 2, 200_000  # the model assets' defaults (assets.common.TrainingConfig)


def model_figures(market: SimulatedMarket) -> dict:
    """Out-of-sample model and strategy figures of one world, as model_evaluation computes them."""
    snaps, swaps = market.table("pool_snapshots"), market.table("swaps")
    features = batch_features(snaps, swaps).to_pandas()
    labels = build_labels(snaps).to_pandas()
    data = features.merge(labels, on=["pool_id", "ts"])
    data = data[data.will_moon.notna()].sort_values(["ts", "pool_id"], kind="stable").reset_index(drop=True)
    first_day, end = snaps.ts.min().floor("D"), snaps.ts.max().floor("D") + pd.Timedelta(days=1)
    train_days = min(TRAIN_DAYS, (end - first_day).days - HOLDOUT_DAYS)
    window = holdout_window(first_day, end, train_days, HOLDOUT_DAYS, 10 * cadence(snaps))
    in_window = swaps[(swaps.ts >= window.train_start) & (swaps.ts < window.test_end)]
    slip = slippage_table(in_window, snaps, features)
    slip = slip.iloc[:: max(1, -(-len(slip) // SLIPPAGE_ROWS))]  # the asset's even stride
    report = evaluate(data, slip, snaps, window, EvalConfig(train_days=train_days))
    moon, rug, entry = (report["reports"][k]["model"] for k in ("moon_model", "rug_model", "entry_model"))
    trading = report["trading"]
    best = report["best_baseline"]
    out = {f"rug_recall_at_{ENTER_RUG:g}": rug[f"recall_at_{ENTER_RUG:g}"], "rug_roc_auc": rug["roc_auc"],
           "moon_roc_auc": moon["roc_auc"], "moon_precision_at_100": moon["precision_at_100"],
           "moon_pr_auc": moon["pr_auc"], "entry_spearman": entry["spearman"]}
    for name, result in trading.items():
        out[f"pnl_{name}"] = result["net_pnl"]
        out[f"trades_{name}"] = result["n_trades"]
    out["pnl_best_baseline"] = trading[best]["net_pnl"]
    out["best_baseline"] = best
    for name in MODEL_STRATEGIES:
        out[f"{name}_minus_best_baseline"] = trading[name]["net_pnl"] - trading[best]["net_pnl"]
        out[f"{name}_beats_no_trade"] = float(trading[name]["net_pnl"] > 0)
    return out


def wallet_figures(market: SimulatedMarket, embeddings: Path | None = None) -> dict:
    """The scanner's and the funding graph's figures of one world, as wallet_evaluation computes them; with
    `embeddings` (a folder for a Chroma store), the identity collections are built there as identity_tracking
    builds them (MiniLM) and judged as embedding_evaluation judges them."""
    con = duckdb.connect()
    con.execute("SET threads = 2")
    for table in ("swaps", "transfers", "pool_snapshots"):
        con.register(f"_{table}", market.table(table))
    con.execute("CREATE TEMP VIEW swaps AS SELECT * FROM _swaps")
    con.execute("CREATE TEMP VIEW transfers AS SELECT * FROM _transfers")
    con.execute("CREATE TEMP VIEW pools AS SELECT pool_id, any_value(category) AS category, "
                "min(pool_open_time) AS open_ts FROM _pool_snapshots GROUP BY pool_id")
    profiles = build_profiles(con)
    connections, clusters = build_graph(con)
    scores = scan(with_wash_scores(profiles, clusters)).scores
    truth = market.truth().wallets
    scanner, rings = evaluate_scanner(profiles, scores, truth, ScannerConfig()), evaluate_rings(clusters, truth)
    out = {}
    if embeddings is not None:
        store, embed = VectorStore.persistent(str(embeddings)), make_embedder("minilm")
        for base, docs, from_text in identity_collections(profiles, scores, clusters, connections):
            store.sync(base, docs, embed if from_text else None)
        retrieval = evaluate_retrieval(WalletSearch(store, embed), truth)
        out = {"embedding_behaviour_min": retrieval["behaviour_min"], "embedding_text_mean": retrieval["text_mean"],
               "embedding_paraphrase_mean": retrieval["paraphrase_mean"],
               **{f"embedding_{a}": v for a, v in retrieval["behaviour_held"].items()}}
    return out | {"target_precision": scanner["target_precision"], "smart_money_recall": scanner["smart_money_recall"],
            "martingale_precision": scanner["martingale"]["precision"],
            "martingale_recall": scanner["martingale"]["recall"],
            "market_maker_precision": scanner["market_maker"]["precision"],
            "market_maker_recall": scanner["market_maker"]["recall"],
            "ring_recall": rings["ring_recall"], "ring_precision": rings["ring_precision"],
            "targets": scanner["targets"]}


def seed_figures(seed: int, world: str, worlds: Path, embeddings: bool = False, drift: bool = False) -> dict:
    started = time.perf_counter()
    market = SimulatedMarket(world_config(world, seed), worlds, progress=True)
    with tempfile.TemporaryDirectory() as chroma:
        wallets = wallet_figures(market, Path(chroma) if embeddings else None)
    figures = {"seed": seed, **model_figures(market), **wallets, **(drift_figures(seed) if drift else {})}
    figures["seconds"] = round(time.perf_counter() - started, 1)
    return figures


def summarise(rows: list[dict]) -> dict:
    """Mean, sample standard deviation, min and max of each numeric figure over the seeds (None where a
    figure was undefined on some seed, e.g. a precision with nothing flagged: counted in `undefined`)."""
    out = {}
    for col, values in pd.DataFrame(rows).drop(columns=["seed", "seconds"]).items():
        values = pd.to_numeric(values, errors="coerce")
        known = values.dropna()
        if len(known):  # names (best_baseline) have none
            out[col] = {"mean": float(known.mean()), "std": float(known.std(ddof=1)) if len(known) > 1 else 0.0,
                        "min": float(known.min()), "max": float(known.max()), "undefined": int(values.isna().sum())}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, required=True)
    parser.add_argument("--world", default="default", choices=["small", "default"])
    parser.add_argument("--json", action="store_true", help="print one JSON object (per seed and summary)")
    parser.add_argument("--embeddings", action="store_true",
                        help="also build the identity collections (MiniLM, about a minute a default world) and "
                             "report their precision@10")
    parser.add_argument("--drift", action="store_true",
                        help="also try the drift sensor on the seed's small world with and without a hype wave "
                             "(about two minutes a seed)")
    args = parser.parse_args(argv)
    worlds = Settings.from_env().data_dir / "worlds"
    rows = []
    for seed in args.seeds:
        rows.append(seed_figures(seed, args.world, worlds, args.embeddings, args.drift))
        print(f"seed {seed}: {rows[-1]['seconds']} s", file=sys.stderr, flush=True)
    summary = summarise(rows)
    if args.json:
        print(json.dumps({"world": args.world, "seeds": args.seeds, "per_seed": rows, "summary": summary},
                         default=float))
        return
    table = pd.DataFrame(summary).T[["mean", "std", "min", "max", "undefined"]]
    print(f"{args.world} worlds, seeds {args.seeds}\n")
    print(table.to_markdown(floatfmt=".3f"))
    print()
    per_seed = pd.DataFrame(rows).set_index("seed").T
    print(per_seed.map(lambda v: f"{v:.3f}" if isinstance(v, float) else v).to_markdown())


if __name__ == "__main__":
    main()
