"""The baselines every model number stands beside, fixed before any evaluation: the base rate (a constant
score), and hand-written rules of the kind a trading bot would use instead of a model."""

from __future__ import annotations

import numpy as np
import pandas as pd


def moon_rule(f: pd.DataFrame) -> np.ndarray:
    """Momentum with buyers behind it, in a young pool that has not been drained or dumped."""
    return ((f.ret_3 > 0.05) & (f.consecutive_gains >= 2) & (f.buy_sell_imbalance_10 > 0.2)
            & (f.volume_spike_mean5 > 0) & (f.pool_age_min < 360) & (f.reserve_drain == 0)
            & (f.massive_dump == 0)).to_numpy()


def rug_rule(f: pd.DataFrame) -> np.ndarray:
    """Liquidity leaving or a dump already under way."""
    return ((f.reserve_drain == 1) | (f.massive_dump == 1) | (f.depth_change < -0.05)
            | (f.liquidity_change < -0.1)).to_numpy()


RULES = {"will_moon": moon_rule, "will_rug": rug_rule}
