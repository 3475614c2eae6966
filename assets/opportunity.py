"""The Transformer+GRU opportunity model: trained on the models' rolling window, registered as a candidate,
judged out of sample beside the XGBoost models on the same walk-forward folds, and promoted by the same
champion/challenger rule."""

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from assets.common import ML_OWNER, TrainingConfig
from quant.evaluation.opportunity import ENTER_OPPORTUNITY, evaluate_opportunity
from quant.evaluation.plot import equity_png, png_markdown
from quant.evaluation.walk_forward import EvalConfig
from quant.features import FEATURES
from quant.models import metrics, promotion, sequence
from quant.models.train import code_version, data_fingerprint, reference_histograms
from resources import ModelRegistry, Warehouse
from resources.queries import labelled_data, training_window

MODEL = "opportunity_model"
PROMOTION_CHECK = "opportunity_model_promotion"


class OpportunityConfig(TrainingConfig):
    """The XGBoost models' windows, plus the sequence model's training budget."""

    seq_len: int = 16
    max_epochs: int = 8
    max_train_windows: int = 20_000

    def seq_config(self) -> sequence.SequenceConfig:
        return sequence.SequenceConfig(seq_len=self.seq_len, max_epochs=self.max_epochs, max_train_windows=self.max_train_windows)


@dg.asset(
    group_name="models", kinds={"torch"}, owners=[ML_OWNER],
    deps=["pool_features", "pool_labels", "pool_snapshots", "moon_model", "rug_model"],
    check_specs=[dg.AssetCheckSpec(PROMOTION_CHECK, asset=MODEL,
                                   description="The candidate became (or already is) the champion: it beat the "
                                               "champion's ROC-AUC on the same held-out window by the margin.")],
)
def opportunity_model(context: dg.AssetExecutionContext, config: OpportunityConfig, warehouse: Warehouse,
                      model_registry: ModelRegistry) -> dg.MaterializeResult:
    """Transformer+GRU P(moon without a rug within the horizon) from the last seq_len feature vectors."""
    registry, seq_cfg = model_registry.registry(), config.seq_config()
    window = training_window(warehouse, config.train_days, config.holdout_days)
    data = labelled_data(warehouse, window).sort_values(["pool_id", "ts"], kind="stable").reset_index(drop=True)
    train = window.train(data)
    checkpoint = Path(registry.root) / "_checkpoints" / f"{MODEL}-{context.run.run_id}.pt"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    net, scaler, info = sequence.train_sequence_model(train, window.purge, seq_cfg, checkpoint=checkpoint)
    rows = np.flatnonzero(((data.ts >= window.test_start) & (data.ts < window.test_end)).to_numpy())
    holdout, y = data.iloc[rows], sequence.opportunity_target(data.iloc[rows])
    pred = sequence.predict_frame(net, scaler, data, rows, seq_cfg.seq_len)
    held = holdout_metrics_opportunity(y, pred, float(sequence.opportunity_target(train).mean()))
    version = sequence.register_sequence_model(
        registry, net, scaler, seq_cfg, metrics=held, training_window=window.describe(), training=info,
        training_rows=len(train), holdout_rows=len(rows), data_fingerprint=data_fingerprint(
            train, [*FEATURES, "will_moon", "will_rug"]), code_version=code_version(), reference_window="holdout",
        reference=reference_histograms(holdout, FEATURES, pred))
    registry.mark_candidate(MODEL, version)

    def score_of(v: str) -> tuple[str, float]:
        if v == version:  # just scored; the registry round trip is exact (tests/quant/test_sequence_model.py)
            return "roc_auc", held["roc_auc"]
        scorer = sequence.load_sequence_model(registry, MODEL, v)
        return "roc_auc", metrics.roc_auc(y, sequence.predict_frame(scorer, None, data, rows, scorer.seq_len))

    # The walk-forward retrains first: loading a scorer (for the champion's score) pins torch to one thread.
    report = evaluate_opportunity(data, warehouse.read_window("pool_snapshots", window.test_start, window.test_end),
                                  window, EvalConfig(train_days=config.train_days), seq_cfg)
    decision = promotion.judge(registry, MODEL, version, score_of, config.promotion_margin)
    promotion.apply(registry, decision)
    start = EvalConfig().backtest.start_balance
    png = equity_png({k: v["equity"] for k, v in report["trading"].items()}, start,
                     f"Held-out {window.test_start:%Y-%m-%d} to {window.test_end:%Y-%m-%d}, Solana pools, {start:g} SOL")
    pnl = {k: {"net_pnl_sol": v["net_pnl"], "trades": v["n_trades"], "win_rate": v["win_rate"]}
           for k, v in report["trading"].items()}
    serving = decision.promote or decision.champion == decision.challenger
    return dg.MaterializeResult(
        metadata={
            "version": version, "champion": str(registry.champion(MODEL)), "decision": decision.reason,
            "training_windows": info["train_windows"], "epochs_run": len(info["epochs"]),
            "best_val_loss": info["best_val_loss"], **{f"holdout_{k}": float(v) for k, v in held.items()},
            "walk_forward_vs_xgboost_and_baselines": dg.MetadataValue.md(report["report"].to_markdown(floatfmt=".4f")),
            "backtest": dg.MetadataValue.md(pd.DataFrame(pnl).to_markdown(floatfmt=".4f")),
            "backtest_rules": dg.MetadataValue.md(
                f"Sequence model: enter when P(opportunity) > {ENTER_OPPORTUNITY}; XGBoost: P(moon) > 0.7 and "
                "P(rug) < 0.3; rule-based: the moon filter. Raydium v4 fills at the snapshot after the signal, "
                "sold 10 snapshots later, at most 3 positions of a third of 10 SOL."),
            "equity_curves": dg.MetadataValue.md(png_markdown(png, "equity curves")),
            "folds": dg.MetadataValue.json(report["folds"]), "out_of_sample_rows": report["oos_rows"],
            "window": dg.MetadataValue.json(window.describe()), "target": sequence.TARGET,
        },
        check_results=[dg.AssetCheckResult(check_name=PROMOTION_CHECK, passed=serving,
                                           severity=dg.AssetCheckSeverity.WARN,
                                           metadata={**decision.as_metadata(), "champion_now": registry.champion(MODEL)})],
    )


def holdout_metrics_opportunity(y: np.ndarray, pred: np.ndarray, train_rate: float) -> dict:
    """The XGBoost classifiers' held-out figures, for the opportunity target."""
    return {"roc_auc": metrics.roc_auc(y, pred), "pr_auc": metrics.pr_auc(y, pred), "brier": metrics.brier(y, pred),
            "base_rate_brier": metrics.brier(y, np.full(len(y), train_rate)), "positive_rate": float(y.mean())}
