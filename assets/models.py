"""The three XGBoost models, each trained on a rolling window of days before a held-out window and written
to the registry as a candidate; the manifest carries its held-out metrics and drift references."""

import dagster as dg
import numpy as np
import pandas as pd

from assets.common import ML_OWNER, TrainingConfig, thin
from quant.models import metrics
from quant.models.specs import MOON, RUG, SLIPPAGE, ModelSpec
from quant.models.train import code_version, data_fingerprint, predict, reference_histograms, train_booster
from resources import ModelRegistry, Warehouse
from resources.queries import labelled_data, slippage_data, training_window


def holdout_metrics(spec: ModelSpec, holdout: pd.DataFrame, pred: np.ndarray, train_rate: float | None) -> dict:
    if spec.is_classifier:
        y = holdout[spec.target].to_numpy()
        return {"roc_auc": metrics.roc_auc(y, pred), "pr_auc": metrics.pr_auc(y, pred),
                "brier": metrics.brier(y, pred), "base_rate_brier": metrics.brier(y, np.full(len(y), train_rate)),
                "positive_rate": float(y.mean())}
    realised = holdout.realised_slippage.to_numpy()
    return {"mae": float(np.mean(np.abs(holdout.cp_estimate + pred - realised))),
            "constant_product_mae": float(np.mean(np.abs(holdout.cp_estimate - realised)))}


def train_and_register(spec: ModelSpec, config: TrainingConfig, warehouse: Warehouse,
                       model_registry: ModelRegistry) -> dg.MaterializeResult:
    window = training_window(warehouse, config.train_days, config.holdout_days)
    if spec.is_classifier:
        data = labelled_data(warehouse, window)
        train, holdout = window.train(data), window.test(data)
    else:
        data = slippage_data(warehouse, window)
        train, holdout = thin(window.train(data), config.slippage_rows), thin(window.test(data), config.slippage_rows)
    booster = train_booster(spec, train)
    pred = predict(booster, holdout, spec.features)
    train_rate = float(train[spec.target].mean()) if spec.is_classifier else None
    # The figures a champion shows come from the second half of the hold-out: model_promotion chooses on the
    # first (quant.models.datasets.Window.choose_and_report), so no shown figure helped choose it.
    _choose, report = window.choose_and_report()
    reported = report.test(holdout)
    held = holdout_metrics(spec, reported, predict(booster, reported, spec.features), train_rate)
    registry = model_registry.registry()
    # The operating point's choice (rug model): the weight of positive rows and the recall it reached on the
    # training window's own last day (quant.models.train.positive_weight).
    operating = {k: booster.attr(k) for k in ("positive_weight", "operating_point_recall") if booster.attr(k)}
    version = registry.register(
        spec.name, booster, list(spec.features), metrics=held, training_window=window.describe(), **operating,
        metrics_window=report.describe(), training_rows=len(train), holdout_rows=len(holdout), target=spec.target, params=spec.xgb_params(),
        rounds=spec.rounds, data_fingerprint=data_fingerprint(train, [*spec.features, spec.target]),
        code_version=code_version(), reference_window="holdout",
        reference=reference_histograms(holdout, spec.features, pred),
    )
    registry.mark_candidate(spec.name, version)
    return dg.MaterializeResult(metadata={
        "version": version, "champion": str(registry.champion(spec.name)), "training_rows": len(train),
        "holdout_rows": len(holdout), "reported_rows": len(reported),
        **{f"holdout_{k}": float(v) for k, v in held.items()},
        "reported_on": f"{report.test_start} to {report.test_end} (the hold-out's second half; promotion chooses on the first)",
        "window": dg.MetadataValue.json(window.describe()), "registry_dir": str(registry.root / spec.name / version),
        **{k: float(v) for k, v in operating.items()},
    })


def model_asset(spec: ModelSpec, deps: list[str], description: str) -> dg.AssetsDefinition:
    @dg.asset(name=spec.name, description=description, group_name="models", kinds={"xgboost"}, owners=[ML_OWNER],
              deps=deps)
    def _asset(config: TrainingConfig, warehouse: Warehouse, model_registry: ModelRegistry) -> dg.MaterializeResult:
        return train_and_register(spec, config, warehouse, model_registry)

    return _asset


moon_model = model_asset(MOON, ["pool_features", "pool_labels"],
                         "XGBoost classifier of P(price up 15% within the label horizon), in the registry.")
rug_model = model_asset(RUG, ["pool_features", "pool_labels"],
                        "XGBoost classifier of P(rug: down 50% or reserves drained within the horizon).")
slippage_model = model_asset(SLIPPAGE, ["swaps", "pool_snapshots", "pool_features"],
                             "XGBoost regressor of realised swap slippage, as a correction to constant product.")
model_assets = [moon_model, rug_model, slippage_model]
