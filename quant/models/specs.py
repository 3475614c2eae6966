"""What each model is: its inputs in order, its target, its objective and its fixed hyper-parameters.

Chosen before looking at any held-out day and not tuned on one. The rug model weights rug rows by the
training set's class ratio: the strategy uses P(rug) as a filter where a missed rug costs far more than a
skipped trade, so its score is a balanced risk score, not a calibrated probability (its Brier score and
calibration table show exactly how far from one it is).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from quant.features import FEATURES

SEED = 7
SLIPPAGE_FEATURES = ("is_buy", "size_over_reserve", "cp_estimate", "trade_fee", "volatility_10", "ret_1",
                     "volume_spike", "log_k")

BASE_PARAMS = {
    "tree_method": "hist", "max_depth": 5, "eta": 0.08, "subsample": 0.8, "colsample_bytree": 0.8,
    # One thread: on a shared, loaded machine OpenMP threads spin-wait on each other (15x slower at 2);
    # a single thread is also trivially deterministic.
    "min_child_weight": 5.0, "seed": SEED, "nthread": 1,
}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    target: str
    features: tuple[str, ...]
    objective: str
    rounds: int = 300
    balance_classes: bool = False
    params: dict = field(default_factory=dict)

    @property
    def is_classifier(self) -> bool:
        return self.objective.startswith("binary:")

    def xgb_params(self) -> dict:
        extra = {"eval_metric": "auc"} if self.is_classifier else {"eval_metric": "mae"}
        return {**BASE_PARAMS, "objective": self.objective, **extra, **self.params}


MOON = ModelSpec("moon_model", "will_moon", FEATURES, "binary:logistic")
RUG = ModelSpec("rug_model", "will_rug", FEATURES, "binary:logistic", balance_classes=True)
# The slippage model learns the correction to the constant-product estimate made from the last snapshot's
# reserves; its prediction is that estimate plus the correction.
SLIPPAGE = ModelSpec("slippage_model", "slippage_residual", SLIPPAGE_FEATURES, "reg:absoluteerror")
SPECS = {s.name: s for s in (MOON, RUG, SLIPPAGE)}
