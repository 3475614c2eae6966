"""Out-of-sample evaluation of the models against their baselines, and the champion/challenger promotion
that decides what the live runtime serves."""

from dataclasses import replace
from pathlib import Path

import dagster as dg
import pandas as pd

from assets.common import ML_OWNER, TrainingConfig, thin
from quant.evaluation.backtest import RANDOM_DRAWS
from quant.evaluation.plot import equity_png, png_markdown
from quant.evaluation.walk_forward import MODEL_STRATEGIES, EvalConfig, evaluate
from quant.models import promotion
from quant.models.specs import SPECS
from resources import ModelRegistry, Warehouse
from resources.queries import NothingUpstream, labelled_data, slippage_data, training_window

RUG_RECALL_CHECK, PNL_CHECK = "rug_recall_goal", "model_pnl_beats_best_baseline"
STRATEGY_MODELS = ("moon_model", "rug_model")  # the pair the strategy's verdict is about
OPERATING_POINT_NOTE = ("The rug model's operating point (P(rug) >= 0.3 catching 80% of rugs) was designed while "
                        "watching seed 7's held-out days; on this world's days it is a development figure. The one "
                        "that counts is measured on seeds nobody tuned on: `python -m quant.evaluation.seeds "
                        "--seeds 101 102 103` (README, BENCHMARKS.md).")


def _md(df: pd.DataFrame) -> str:
    return df.to_markdown(floatfmt=".4f")


@dg.asset(
    group_name="evaluation", kinds={"xgboost", "matplotlib"}, owners=[ML_OWNER],
    deps=["moon_model", "rug_model", "slippage_model", "pool_snapshots"],
    check_specs=[
        dg.AssetCheckSpec(RUG_RECALL_CHECK, asset="model_evaluation",
                          description="Out of sample, the rug model flags at least 80% of rugs at P(rug) >= 0.3 "
                                      "(an operating point designed while watching seed 7's held-out days: the "
                                      "figure that counts is the multi-seed one, python -m quant.evaluation.seeds)."),
        dg.AssetCheckSpec(PNL_CHECK, asset="model_evaluation",
                          description="Out of sample, the model strategy's net PnL beats the best of no trade, the "
                                      "launch flip, random entries, the rule-based filter and buy-and-hold. When it "
                                      "does not, model_promotion keeps the champion moon/rug pair, and the live "
                                      "runtime opens no positions on a pair that does not beat no trade."),
    ],
)
def model_evaluation(context: dg.AssetExecutionContext, config: TrainingConfig, warehouse: Warehouse,
                     model_registry: ModelRegistry) -> dg.MaterializeResult:
    """Walk-forward metrics of every model beside its baselines, and a backtest of the model strategy."""
    window = training_window(warehouse, config.train_days, config.holdout_days)
    data = labelled_data(warehouse, window)
    slip = thin(slippage_data(warehouse, window), 2 * config.slippage_rows)
    snaps = warehouse.read_window("pool_snapshots", window.test_start, window.test_end)
    report = evaluate(data, slip, snaps, window, EvalConfig(train_days=config.train_days))
    trading = report["trading"]
    start = EvalConfig().backtest.start_balance
    png = equity_png({k: v["equity"] for k, v in trading.items()}, start,
                     f"Held-out {window.test_start:%Y-%m-%d} to {window.test_end:%Y-%m-%d}, Solana pools, {start:g} SOL")
    plot_path = Path(model_registry.root) / "_evaluation" / f"equity-{context.run.run_id}.png"
    plot_path.parent.mkdir(parents=True, exist_ok=True)
    plot_path.write_bytes(png)
    pnl = pd.DataFrame({k: {"net_pnl_sol": v["net_pnl"], "trades": v["n_trades"], "win_rate": v["win_rate"],
                            "worst_trade_sol": v["worst_trade"],
                            "signals_touching_moon": v.get("signals_touching_moon", float("nan")),
                            "signals_banking_profit": v.get("signals_banking_profit", float("nan"))}
                        for k, v in trading.items()})
    goals = report["goals"]
    registry = model_registry.registry()
    best = report["best_baseline"]
    verdict = {"moon_model": registry.candidate("moon_model"), "rug_model": registry.candidate("rug_model"),
               "held_out": f"{window.test_start} to {window.test_end}",
               "model_pnl": trading["model"]["net_pnl"], "model_trades": trading["model"]["n_trades"],
               "baselines": {k: trading[k]["net_pnl"] for k in trading if k not in MODEL_STRATEGIES},
               "best_baseline": best, "beats_no_trade": bool(trading["model"]["net_pnl"] > trading["no_trade"]["net_pnl"]),
               "beats_best_baseline": bool(goals["model_beats_best_baseline"]["met"])}
    if verdict["moon_model"] and verdict["rug_model"]:
        promotion.write_strategy(registry.root, verdict)
    statements = [f"{name}: {'MET' if g['met'] else 'MISSED'} ({g['goal']}; value {g['value']:.4f})"
                  for name, g in goals.items()]
    return dg.MaterializeResult(
        metadata={
            "moon_model_vs_baselines": dg.MetadataValue.md(_md(report["reports"]["moon_model"])),
            "rug_model_vs_baselines": dg.MetadataValue.md(_md(report["reports"]["rug_model"])),
            "entry_model_vs_baselines": dg.MetadataValue.md(_md(report["reports"]["entry_model"])),
            "moon_calibration": dg.MetadataValue.md(report["calibration"]["moon_model"].to_markdown(index=False, floatfmt=".4f")),
            "rug_calibration": dg.MetadataValue.md(report["calibration"]["rug_model"].to_markdown(index=False, floatfmt=".4f")),
            "slippage_mae_vs_constant_product": dg.MetadataValue.json(report["slippage_mae"]),
            "backtest": dg.MetadataValue.md(_md(pnl)),
            "backtest_rules": dg.MetadataValue.md(
                f"Solana pools of the held-out days, {start:g} SOL, stake {start / 3:.2f} SOL, at most 3 positions. "
                "Model: enter when P(moon) > 0.7 and P(rug) < 0.3; entry model: enter when the expected "
                "bankable return (the round trip net of both fees, quant.features.labels) is above 0; launch flip: every new pool at its first "
                "snapshot; random entry: as many signals as the model's at random rows of the same pools (the "
                f"median of {RANDOM_DRAWS} draws; every draw in random_entry_draws); rule-based: the "
                "hand-written moon filter (quant.evaluation.baselines; in a pool's first three snapshots, which have no "
                "3-step return, one step's return or the buyers' flow stand in for it); buy-and-hold: every pool opened in the "
                "window, balance split evenly. Filled on Raydium v4 math (quant.market.amm) at the snapshot after the signal, sold 10 "
                "snapshots later; equity is realised PnL."),
            "random_entry_draws": dg.MetadataValue.json([round(x, 4) for x in trading["random_entry"]["net_pnl_draws"]]),
            "equity_curves": dg.MetadataValue.md(png_markdown(png, "equity curves")),
            "equity_curves_png": dg.MetadataValue.path(str(plot_path)),
            "strategy_verdict": dg.MetadataValue.json(verdict),
            "goals": dg.MetadataValue.md("\n".join(f"- {s}" for s in statements) + "\n\n" + OPERATING_POINT_NOTE),
            "folds": dg.MetadataValue.json(report["folds"]), "out_of_sample_rows": report["oos_rows"],
        },
        check_results=[
            dg.AssetCheckResult(check_name=RUG_RECALL_CHECK, passed=goals["rug_recall"]["met"],
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={"rug_recall": goals["rug_recall"]["value"], "goal": 0.8}),
            dg.AssetCheckResult(check_name=PNL_CHECK, passed=goals["model_beats_best_baseline"]["met"],
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={f"{k}_pnl": v["net_pnl"] for k, v in trading.items()}),
        ],
    )


def promotion_check(model: str) -> str:
    return f"{model}_promotion"


@dg.asset(
    group_name="evaluation", kinds={"xgboost"}, owners=[ML_OWNER], deps=["model_evaluation", *SPECS],
    check_specs=[dg.AssetCheckSpec(promotion_check(m), asset="model_promotion", blocking=True,
                                   description=f"The {m} candidate became (or already is) the champion: it beat the "
                                               "champion on the hold-out's first half by the margin.")
                 for m in SPECS],
)
def model_promotion(config: TrainingConfig, warehouse: Warehouse, model_registry: ModelRegistry) -> dg.MaterializeResult:
    """Champion/challenger: each model's candidate against its champion on the same held-out window."""
    registry = model_registry.registry()
    window = training_window(warehouse, config.train_days, config.holdout_days)
    choose, report = window.choose_and_report()  # chosen on the first half; figures shown from the second
    holdouts = {"labelled": choose.test(labelled_data(warehouse, window)),
                "slippage": thin(choose.test(slippage_data(warehouse, window)), config.slippage_rows)}
    decisions, results = {}, []
    verdict = promotion.read_strategy(registry.root, registry.candidate("moon_model"), registry.candidate("rug_model"))
    strategy_ok = bool(verdict and verdict["beats_best_baseline"])
    strategy_why = ("the candidates' strategy was not evaluated (materialize model_evaluation first)" if verdict is None
                    else f"the candidates' strategy made {verdict['model_pnl']:+.4f} SOL out of sample, not more than "
                         f"the best baseline ({verdict['best_baseline']}, {verdict['baselines'][verdict['best_baseline']]:+.4f})")
    for name, spec in SPECS.items():
        candidate = registry.candidate(name)
        if candidate is None:
            raise NothingUpstream(f"{name} has no candidate in {registry.root}", name)
        holdout = holdouts["labelled" if spec.is_classifier else "slippage"]
        decision = promotion.decide(registry, spec, candidate, holdout, config.promotion_margin)
        if name in STRATEGY_MODELS and decision.promote and decision.champion is not None and not strategy_ok:
            decision = replace(decision, promote=False, reason=f"{decision.reason}; refused: {strategy_why}")
        promotion.apply(registry, decision)
        decisions[name] = decision
        serving = decision.promote or decision.champion == decision.challenger
        results.append(dg.AssetCheckResult(check_name=promotion_check(name), passed=serving,
                                           metadata={**decision.as_metadata(), "champion_now": registry.champion(name)}))
    return dg.MaterializeResult(
        metadata={f"{n}_champion": str(registry.champion(n)) for n in SPECS}
        | {f"{n}_decision": d.reason for n, d in decisions.items()}
        | {"chosen_on": f"{choose.test_start} to {choose.test_end}",
           "figures_reported_on": f"{report.test_start} to {report.test_end} (the champions' manifest metrics; no "
                                  "row of it took part in choosing)"},
        check_results=results,
    )
