"""What each model is: its inputs in order, its target, its objective and its fixed hyper-parameters.

Chosen before looking at any held-out day and not tuned on one. The rug model weights rug rows by the
training set's class ratio: the strategy uses P(rug) as a filter where a missed rug costs far more than a
skipped trade, so its score is a balanced risk score, not a calibrated probability (its Brier score and
calibration table show exactly how far from one it is). It also has an operating point: the strategy
skips a pool at P(rug) >= 0.3 and wants at least 80% of rugs skipped, so each fit picks the weight of rug
rows (a multiple of the class ratio) that reaches that recall on the last day of its own training window
(quant.models.train); held-out days never take part.
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


ENTER_MOON, ENTER_RUG = 0.7, 0.3  # the strategy: enter when P(moon) > 0.7 and P(rug) < 0.3
RUG_RECALL_GOAL = 0.8


@dataclass(frozen=True)
class OperatingPoint:
    """Recall of at least `recall` at score >= `threshold`, chosen in-sample among `weights` (multiples of
    the class-ratio weight of positive rows, smallest first)."""

    threshold: float
    recall: float
    weights: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0, 4.0)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    target: str
    features: tuple[str, ...]
    objective: str
    rounds: int = 300
    balance_classes: bool = False
    params: dict = field(default_factory=dict)
    operating_point: OperatingPoint | None = None

    @property
    def is_classifier(self) -> bool:
        return self.objective.startswith("binary:")

    def xgb_params(self) -> dict:
        extra = {"eval_metric": "auc"} if self.is_classifier else {"eval_metric": "mae"}
        return {**BASE_PARAMS, "objective": self.objective, **extra, **self.params}


MOON = ModelSpec("moon_model", "will_moon", FEATURES, "binary:logistic")
RUG = ModelSpec("rug_model", "will_rug", FEATURES, "binary:logistic", balance_classes=True,
                operating_point=OperatingPoint(ENTER_RUG, RUG_RECALL_GOAL))
# The slippage model learns the correction to the constant-product estimate made from the last snapshot's
# reserves; its prediction is that estimate plus the correction.
SLIPPAGE = ModelSpec("slippage_model", "slippage_residual", SLIPPAGE_FEATURES, "reg:absoluteerror")
SPECS = {s.name: s for s in (MOON, RUG, SLIPPAGE)}
# The entry model learns the label the strategy banks (quant.features.labels, bankable_return: the round trip's
# return net of both fees on Solana pools), and its strategy enters where the expected return is above zero:
# the one threshold that needs no choosing. Judged walk-forward in model_evaluation beside the moon/rug
# strategy; not yet registered or served.
ENTRY = ModelSpec("entry_model", "bankable_return", FEATURES, "reg:squarederror")
ENTER_EXPECTED_RETURN = 0.0
