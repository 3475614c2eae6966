"""Champion/challenger: score both on the same held-out rows and promote the challenger only when it wins
by the configured margin (or when there is no champion). The decision says why, in numbers."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from quant.models.metrics import recall_at, roc_auc
from quant.models.registry import LoadedModel, Registry, RegistryError
from quant.models.specs import ModelSpec
from quant.models.train import predict


@dataclass(frozen=True)
class Decision:
    model: str
    challenger: str
    champion: str | None
    promote: bool
    reason: str
    metric: str
    challenger_score: float
    champion_score: float | None

    def as_metadata(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def score(spec: ModelSpec, loaded: LoadedModel, holdout: pd.DataFrame) -> tuple[str, float]:
    """The promotion metric, oriented so higher is better: ROC-AUC, or minus the slippage MAE. A model with an
    operating point (the rug model) is judged on it first: 1 + ROC-AUC when its recall at the threshold meets
    the goal on the held-out rows, ROC-AUC alone when not; so a challenger that meets the goal replaces a
    champion that does not, and between two that both meet it (or both miss) ROC-AUC decides."""
    pred = predict(loaded.booster, holdout, loaded.features)
    if spec.is_classifier and spec.operating_point is not None:
        point, y = spec.operating_point, holdout[spec.target]
        return (f"recall_at_{point.threshold:g}>={point.recall:g}_then_roc_auc",
                float(recall_at(y, pred, point.threshold) >= point.recall) + roc_auc(y, pred))
    if spec.is_classifier:
        return "roc_auc", roc_auc(holdout[spec.target], pred)
    realised = holdout.cp_estimate + pred
    return "neg_mae", -float(np.mean(np.abs(realised - holdout.realised_slippage)))


def decide(registry: Registry, spec: ModelSpec, challenger: str, holdout: pd.DataFrame, margin: float) -> Decision:
    def score_of(version: str) -> tuple[str, float]:
        return score(spec, registry.load(spec.name, version, expected_features=list(spec.features)), holdout)

    return judge(registry, spec.name, challenger, score_of, margin)


def judge(registry: Registry, model: str, challenger: str, score_of: Callable[[str], tuple[str, float]],
          margin: float) -> Decision:
    """The rule for any kind of model: `score_of(version)` loads a version and returns (metric, score) on
    the held-out rows, higher better; a champion that cannot be loaded (RegistryError) is replaced."""
    metric, chal_score = score_of(challenger)
    champion = registry.champion(model)
    if champion is None:
        return Decision(model, challenger, None, True, "no champion yet", metric, chal_score, None)
    if champion == challenger:
        return Decision(model, challenger, champion, False,
                        f"{challenger} is already the champion (a retrain on the same data gives the same model)",
                        metric, chal_score, chal_score)
    try:
        _, champ_score = score_of(champion)
    except RegistryError as err:
        return Decision(model, challenger, champion, True, f"champion cannot be served: {err}", metric,
                        chal_score, None)
    if chal_score >= champ_score + margin:
        return Decision(model, challenger, champion, True,
                        f"{metric} {chal_score:.5f} beats champion {champ_score:.5f} by >= {margin}", metric,
                        chal_score, champ_score)
    return Decision(model, challenger, champion, False,
                    f"{metric} {chal_score:.5f} does not beat champion {champion}'s {champ_score:.5f} by the "
                    f"margin {margin} on the same held-out window", metric, chal_score, champ_score)


def apply(registry: Registry, decision: Decision) -> None:
    if decision.promote:
        registry.promote(decision.model, decision.challenger, decision.reason)


# The strategy's verdict: model_evaluation's out-of-sample backtest of the moon/rug strategy beside its
# baselines, for one pair of moon and rug versions. model_promotion refuses to replace a champion pair with
# one whose strategy did not beat the best baseline; the live runtime opens no positions on a pair whose
# strategy did not beat no trade (exits, risk and journaling go on) and its page says why.
def strategy_path(root: Path, moon_version: str, rug_version: str) -> Path:
    return Path(root) / "_evaluation" / f"strategy-moon_model-{moon_version}-rug_model-{rug_version}.json"


def write_strategy(root: Path, verdict: dict) -> Path:
    path = strategy_path(root, verdict["moon_model"], verdict["rug_model"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(verdict, indent=1, default=str))
    os.replace(tmp, path)  # a reader never sees half a verdict
    return path


def read_strategy(root: Path, moon_version: str | None, rug_version: str | None) -> dict | None:
    """The verdict of that pair, or None where it was never evaluated."""
    if moon_version is None or rug_version is None:
        return None
    path = strategy_path(root, moon_version, rug_version)
    return json.loads(path.read_text()) if path.exists() else None
