"""The three XGBoost models, each trained on a rolling window of days before a held-out window and written
to the registry as a candidate; the manifest carries its held-out metrics and drift references."""

import dagster as dg
import numpy as np
import pandas as pd

from quant.models import metrics
from quant.models.datasets import Window, cadence, holdout_window, slippage_table
from quant.models.specs import MOON, RUG, SLIPPAGE, ModelSpec
from quant.models.train import code_version, data_fingerprint, predict, reference_histograms, train_booster
from resources import ModelRegistry, Warehouse

OWNER = "team:ml"
DAY = pd.Timedelta(days=1)

LABELLED_SQL = """
SELECT f.*, l.will_moon, l.will_rug, l.regime, l.fwd_return
FROM pool_features f JOIN pool_labels l USING (pool_id, ts)
WHERE f.ts >= ? AND f.ts < ? AND l.will_moon IS NOT NULL ORDER BY f.ts, f.pool_id
"""


class TrainingConfig(dg.Config):
    """Rolling windows, in days: the newest `holdout_days` are held out; `train_days` before them train."""

    train_days: int = 5
    holdout_days: int = 2
    slippage_rows: int = 100_000  # most swaps a slippage fit uses (an even stride over the window)
    promotion_margin: float = 0.002  # ROC-AUC points, or slippage MAE, a challenger must win by


def training_window(warehouse: Warehouse, config: TrainingConfig) -> Window:
    """The held-out window over the labelled days present, with a purge gap of the label horizon."""
    span = warehouse.query("SELECT min(ts) AS lo, max(ts) AS hi, max(horizon) AS horizon FROM pool_labels")
    if span.lo.isna().iloc[0]:
        raise ValueError("pool_labels is empty: materialize pool_features and pool_labels first")
    first, last_end = pd.Timestamp(span.lo.iloc[0]).floor("D"), pd.Timestamp(span.hi.iloc[0]).floor("D") + DAY
    step = cadence(warehouse.query("SELECT pool_id, ts FROM pool_snapshots WHERE ts >= ? AND ts < ?",
                                   [first, first + DAY]))
    return holdout_window(first, last_end, config.train_days, config.holdout_days, int(span.horizon.iloc[0]) * step)


def labelled_data(warehouse: Warehouse, window: Window) -> pd.DataFrame:
    return warehouse.query(LABELLED_SQL, [window.train_start, window.test_end])


def slippage_data(warehouse: Warehouse, window: Window) -> pd.DataFrame:
    lo, hi = window.train_start, window.test_end
    return slippage_table(warehouse.read_window("swaps", lo, hi), warehouse.read_window("pool_snapshots", lo, hi),
                          warehouse.read_window("pool_features", lo, hi))


def thin(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """An even, deterministic stride down to at most `rows` rows."""
    return frame.iloc[:: max(1, -(-len(frame) // rows))]


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
    window = training_window(warehouse, config)
    if spec.is_classifier:
        data = labelled_data(warehouse, window)
        train, holdout = window.train(data), window.test(data)
    else:
        data = slippage_data(warehouse, window)
        train, holdout = thin(window.train(data), config.slippage_rows), thin(window.test(data), config.slippage_rows)
    booster = train_booster(spec, train)
    pred = predict(booster, holdout, spec.features)
    train_rate = float(train[spec.target].mean()) if spec.is_classifier else None
    held = holdout_metrics(spec, holdout, pred, train_rate)
    registry = model_registry.registry()
    # The operating point's choice (rug model): the weight of positive rows and the recall it reached on the
    # training window's own last day (quant.models.train.positive_weight).
    operating = {k: booster.attr(k) for k in ("positive_weight", "operating_point_recall") if booster.attr(k)}
    version = registry.register(
        spec.name, booster, list(spec.features), metrics=held, training_window=window.describe(), **operating,
        training_rows=len(train), holdout_rows=len(holdout), target=spec.target, params=spec.xgb_params(),
        rounds=spec.rounds, data_fingerprint=data_fingerprint(train, [*spec.features, spec.target]),
        code_version=code_version(), reference_window="holdout",
        reference=reference_histograms(holdout, spec.features, pred),
    )
    registry.mark_candidate(spec.name, version)
    return dg.MaterializeResult(metadata={
        "version": version, "champion": str(registry.champion(spec.name)), "training_rows": len(train),
        "holdout_rows": len(holdout), **{f"holdout_{k}": float(v) for k, v in held.items()},
        "window": dg.MetadataValue.json(window.describe()), "registry_dir": str(registry.root / spec.name / version),
        **{k: float(v) for k, v in operating.items()},
    })


def model_asset(spec: ModelSpec, deps: list[str], description: str) -> dg.AssetsDefinition:
    @dg.asset(name=spec.name, description=description, group_name="models", kinds={"xgboost"}, owners=[OWNER],
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
