"""Walk-forward evaluation: for each held-out day, train on the days before it (less a purge gap as long
as the label horizon), predict the day, and judge the out-of-sample predictions against the baselines,
then trade them in a backtest against the rule-based strategy and buy-and-hold of every new pool."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from quant.evaluation import baselines
from quant.evaluation.backtest import (
    BacktestConfig,
    backtest,
    buy_and_hold_new_pools,
    launch_flip,
    no_trade,
    random_entries,
)
from quant.models import metrics
from quant.models.datasets import Window, walk_forward
from quant.models.specs import (
    ENTER_EXPECTED_RETURN,
    ENTER_MOON,
    ENTER_RUG,
    ENTRY,
    MOON,
    RUG,
    RUG_RECALL_GOAL,
    SLIPPAGE,
    ModelSpec,
)
from quant.models.train import predict, train_booster


@dataclass(frozen=True)
class EvalConfig:
    train_days: int = 5
    top_k: int = 100
    backtest: BacktestConfig = BacktestConfig()


def out_of_sample(spec: ModelSpec, frame: pd.DataFrame, folds: list[Window]) -> pd.DataFrame:
    """Rows of every fold's test day with the score of a model trained on that fold's past, and the
    training base rate of that fold (the constant baseline)."""
    parts = []
    for fold in folds:
        train, test = fold.train(frame), fold.test(frame)
        if len(test) == 0:
            continue
        booster = train_booster(spec, train)
        out = test.copy()
        out["score"] = predict(booster, test, spec.features)
        out["train_rate"] = float(train[spec.target].mean())
        parts.append(out)
    if not parts:
        raise ValueError(f"{spec.name}: no held-out rows in {[f.describe() for f in folds]}")
    return pd.concat(parts, ignore_index=True)


MODEL_STRATEGIES = ("model", "entry_model")


def regressor_report(oos: pd.DataFrame, target: str) -> pd.DataFrame:
    """The entry model beside the constant that knows only the training mean: errors, and whether its ranking
    finds the rows that bank (Spearman correlation, and the mean return of its top decile against all rows)."""
    y = oos[target].to_numpy()
    scorers = {"model": oos.score.to_numpy(), "base_rate": oos.train_rate.to_numpy()}
    rows = {}
    for name, s in scorers.items():
        top = s >= np.quantile(s, 0.9)
        rows[name] = {"mae": float(np.mean(np.abs(s - y))), "rmse": float(np.sqrt(np.mean((s - y) ** 2))),
                      "spearman": float(pd.Series(s).corr(pd.Series(y), method="spearman")) if np.std(s) > 0 else 0.0,
                      "top_decile_mean_return": float(y[top].mean()), "all_rows_mean_return": float(y.mean()),
                      "share_expected_positive": float((s > ENTER_EXPECTED_RETURN).mean())}
    return pd.DataFrame(rows)


def classifier_report(oos: pd.DataFrame, target: str, cfg: EvalConfig, threshold: float) -> pd.DataFrame:
    """One column per scorer (model, base rate, rule), one row per metric: every number beside its baselines."""
    y = oos[target].to_numpy()
    scorers = {"model": oos.score.to_numpy(), "base_rate": oos.train_rate.to_numpy(),
               "rule_based": baselines.RULES[target](oos).astype(np.float64)}
    return pd.DataFrame({name: metrics.classifier_metrics(y, s, cfg.top_k, threshold) for name, s in scorers.items()})


def evaluate(data: pd.DataFrame, slippage: pd.DataFrame, snapshots: pd.DataFrame, window: Window,
             cfg: EvalConfig = EvalConfig()) -> dict:
    """`data`: features joined to both labels (rows with known labels); `slippage`: the slippage table;
    `snapshots`: pool snapshots (for fills and new pools). Everything reported is out of sample."""
    folds = walk_forward(window, cfg.train_days)
    moon = out_of_sample(MOON, data, folds)
    rug = out_of_sample(RUG, data, folds)
    reports = {"moon_model": classifier_report(moon, MOON.target, cfg, ENTER_MOON),
               "rug_model": classifier_report(rug, RUG.target, cfg, ENTER_RUG)}
    calibration = {"moon_model": metrics.calibration_table(moon[MOON.target], moon.score),
                   "rug_model": metrics.calibration_table(rug[RUG.target], rug.score)}
    slip = out_of_sample(SLIPPAGE, slippage, folds)
    slip_pred = slip.cp_estimate + slip.score
    slippage_mae = {"model": float(np.mean(np.abs(slip_pred - slip.realised_slippage))),
                    "constant_product": float(np.mean(np.abs(slip.cp_estimate - slip.realised_slippage))),
                    "rows": len(slip)}

    # The bankable label reaches one snapshot past the horizon: twice the purge keeps it out of training.
    entry = out_of_sample(ENTRY, data[data[ENTRY.target].notna()], [replace(f, purge=2 * f.purge) for f in folds])
    reports["entry_model"] = regressor_report(entry, ENTRY.target)

    scored = moon[["pool_id", "ts", "score"]].rename(columns={"score": "p_moon"}).merge(
        rug[["pool_id", "ts", "score"]].rename(columns={"score": "p_rug"}), on=["pool_id", "ts"]).merge(
        entry[["pool_id", "ts", "score"]].rename(columns={"score": "expected_return"}), on=["pool_id", "ts"], how="left")
    scored = scored.merge(data, on=["pool_id", "ts"])
    test_snaps = window.test(snapshots)
    sol = test_snaps[test_snaps.chain == "solana"]
    scored = scored[scored.pool_id.isin(set(sol.pool_id))]
    model_pick = scored[(scored.p_moon > ENTER_MOON) & (scored.p_rug < ENTER_RUG)]
    rule_pick = scored[baselines.moon_rule(scored)]
    entry_pick = scored[scored.expected_return > ENTER_EXPECTED_RETURN]
    new_pools = set(sol.pool_id[sol.pool_open_time >= window.test_start])
    trading = {
        "model": backtest(model_pick.assign(priority=model_pick.p_moon)[["pool_id", "ts", "priority"]], sol, cfg.backtest),
        "entry_model": backtest(entry_pick.assign(priority=entry_pick.expected_return)[["pool_id", "ts", "priority"]],
                                sol, cfg.backtest),
        "no_trade": no_trade(cfg.backtest.start_balance),
        "launch_flip": launch_flip(sol, new_pools, cfg.backtest),
        "random_entry": random_entries(scored[["pool_id", "ts"]], len(model_pick), sol, cfg.backtest),
        "rule_based": backtest(rule_pick.assign(priority=baselines.moon_rule_priority(rule_pick))[["pool_id", "ts", "priority"]], sol, cfg.backtest),
        "buy_and_hold_new_pools": buy_and_hold_new_pools(sol, new_pools, cfg.backtest.start_balance),
    }
    signals = {"model": model_pick, "entry_model": entry_pick, "rule_based": rule_pick}
    for name, pick in signals.items():  # what the entries' labels were: touched +15%, or banked a profit
        trading[name] |= {"signals_touching_moon": float(pick.will_moon.mean()) if len(pick) else float("nan"),
                          "signals_banking_profit": float((pick.bankable_return > 0).mean()) if len(pick) else float("nan")}
    best = max((k for k in trading if k not in MODEL_STRATEGIES), key=lambda k: trading[k]["net_pnl"])
    rug_recall = float(reports["rug_model"].loc[f"recall_at_{ENTER_RUG:g}", "model"])
    goals = {
        "rug_recall": {"goal": f">= {RUG_RECALL_GOAL} at P(rug) >= {ENTER_RUG}", "value": rug_recall,
                       "met": bool(rug_recall >= RUG_RECALL_GOAL)},
    } | {f"{name}_beats_best_baseline": {"goal": f"{name} strategy net PnL > the best baseline's ({best})",
                                         "value": trading[name]["net_pnl"] - trading[best]["net_pnl"],
                                         "met": bool(trading[name]["net_pnl"] > trading[best]["net_pnl"])}
         for name in MODEL_STRATEGIES}
    return {"reports": reports, "calibration": calibration, "slippage_mae": slippage_mae, "trading": trading,
            "best_baseline": best,
            "goals": goals, "folds": [f.describe() for f in folds], "oos_rows": len(moon)}
