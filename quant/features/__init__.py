"""Pool features: one definition (`definitions`), a vectorised batch execution (`batch`) and an incremental
per-pool execution for the live runtime (`online`), plus the contract of the feature table (`schema`)."""

from quant.features.batch import batch_features, feature_inputs
from quant.features.definitions import FEATURES, WINDOW
from quant.features.online import OnlineFeatures, replay

__all__ = ["FEATURES", "WINDOW", "OnlineFeatures", "batch_features", "feature_inputs", "replay"]
