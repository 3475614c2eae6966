"""The opportunity model beside the XGBoost models, out of sample, on the walk-forward folds that judge
them: per held-out day, the sequence model and the XGBoost moon and rug models are trained on that fold's
past, and all score the day. XGBoost's opportunity score is P(moon) x (1 - P(rug)); the baselines are the
fold's training base rate and the hand-written rules (moon filter and not rug filter). The same rows then
trade in the AMM backtest: the sequence model enters above ENTER_OPPORTUNITY, XGBoost on the strategy's
P(moon) > 0.7 and P(rug) < 0.3, the rules on the moon filter."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant.evaluation import baselines
from quant.evaluation.backtest import backtest, buy_and_hold_new_pools
from quant.evaluation.walk_forward import EvalConfig
from quant.models import metrics
from quant.models.datasets import Window, walk_forward
from quant.models.sequence import SequenceConfig, opportunity_target, predict_frame, train_sequence_model
from quant.models.specs import ENTER_MOON, ENTER_RUG, MOON, RUG
from quant.models.train import predict, train_booster

ENTER_OPPORTUNITY = 0.5


def out_of_sample(data: pd.DataFrame, folds: list[Window], seq_cfg: SequenceConfig) -> pd.DataFrame:
    """Held-out rows of every fold with the scores of models trained on the fold's past: `sequence_model`,
    `xgboost` (and its p_moon, p_rug), `base_rate`, `rule_based`."""
    frame = data.sort_values(["pool_id", "ts"], kind="stable").reset_index(drop=True)
    parts = []
    for fold in folds:
        train = fold.train(frame)
        rows = np.flatnonzero(((frame.ts >= fold.test_start) & (frame.ts < fold.test_end)).to_numpy())
        if len(rows) == 0:
            continue
        net, scaler, _ = train_sequence_model(train, fold.purge, seq_cfg)
        test = frame.iloc[rows].copy()
        test["sequence_model"] = predict_frame(net, scaler, frame, rows, seq_cfg.seq_len)
        test["p_moon"] = predict(train_booster(MOON, train), test, MOON.features)
        test["p_rug"] = predict(train_booster(RUG, train), test, RUG.features)
        test["xgboost"] = test.p_moon * (1 - test.p_rug)
        test["base_rate"] = float(opportunity_target(train).mean())
        test["rule_based"] = (baselines.moon_rule(test) & ~baselines.rug_rule(test)).astype(np.float64)
        parts.append(test)
    if not parts:
        raise ValueError(f"opportunity model: no held-out rows in {[f.describe() for f in folds]}")
    return pd.concat(parts, ignore_index=True).sort_values(["ts", "pool_id"], kind="stable")


SCORERS = ("sequence_model", "xgboost", "base_rate", "rule_based")


def evaluate_opportunity(data: pd.DataFrame, snapshots: pd.DataFrame, window: Window, cfg: EvalConfig = EvalConfig(),
                         seq_cfg: SequenceConfig = SequenceConfig()) -> dict:
    """`data`: features joined to will_moon and will_rug; `snapshots`: the held-out days' (for fills)."""
    folds = walk_forward(window, cfg.train_days)
    oos = out_of_sample(data, folds, seq_cfg)
    y = opportunity_target(oos)
    table = pd.DataFrame({name: metrics.classifier_metrics(y, oos[name].to_numpy(), cfg.top_k, ENTER_OPPORTUNITY)
                          for name in SCORERS})
    sol = window.test(snapshots)
    sol = sol[sol.chain == "solana"]
    scored = oos[oos.pool_id.isin(set(sol.pool_id))]
    picks = {"sequence_model": scored[scored.sequence_model > ENTER_OPPORTUNITY].assign(priority=lambda d: d.sequence_model),
             "xgboost": scored[(scored.p_moon > ENTER_MOON) & (scored.p_rug < ENTER_RUG)].assign(priority=lambda d: d.p_moon),
             "rule_based": scored[baselines.moon_rule(scored)].assign(priority=baselines.moon_rule_priority)}
    trading = {k: backtest(v[["pool_id", "ts", "priority"]], sol, cfg.backtest) for k, v in picks.items()}
    new_pools = set(sol.pool_id[sol.pool_open_time >= window.test_start])
    trading["buy_and_hold_new_pools"] = buy_and_hold_new_pools(sol, new_pools, cfg.backtest.start_balance)
    return {"report": table, "trading": trading, "folds": [f.describe() for f in folds], "oos_rows": len(oos),
            "positive_rate": float(y.mean())}
