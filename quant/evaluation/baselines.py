"""The baselines every model number stands beside, fixed before any evaluation: the base rate (a constant
score), and hand-written rules of the kind a trading bot would use instead of a model."""

from __future__ import annotations

import numpy as np
import pandas as pd

MOMENTUM, IMBALANCE, YOUNG_POOL_MIN = 0.05, 0.2, 360


def moon_rule(f: pd.DataFrame) -> np.ndarray:
    """Momentum with buyers behind it, in a young pool that has not been drained or dumped.

    Fair to the first minutes, where the model acts too: a pool's first three snapshots have no `ret_3`, so
    there one step's return (`ret_1`) above the same +5% is the momentum, and at its very first snapshot,
    which has no return at all, the buyers' share of the flow alone decides. From the fourth snapshot on the
    rule is the original one: +5% over three steps, two gains in a row, rising volume."""
    seasoned = (f.ret_3 > MOMENTUM) & (f.consecutive_gains >= 2) & (f.volume_spike_mean5 > 0)
    first_minutes = f.ret_3.isna() & (f.ret_1.isna() | (f.ret_1 > MOMENTUM))
    # A first snapshot's drain and dump flags are null (no step before it): nothing has been drained yet.
    intact = (f.reserve_drain != 1) & (f.massive_dump != 1)
    return ((seasoned | first_minutes) & (f.buy_sell_imbalance_10 > IMBALANCE) & (f.pool_age_min < YOUNG_POOL_MIN)
            & intact).to_numpy()


def moon_rule_priority(f: pd.DataFrame) -> pd.Series:
    """Which of the rule's signals arriving together comes first: the strongest momentum it saw."""
    return f.ret_3.fillna(f.ret_1).fillna(0.0)


def rug_rule(f: pd.DataFrame) -> np.ndarray:
    """Liquidity leaving or a dump already under way."""
    return ((f.reserve_drain == 1) | (f.massive_dump == 1) | (f.depth_change < -0.05)
            | (f.liquidity_change < -0.1)).to_numpy()


RULES = {"will_moon": moon_rule, "will_rug": rug_rule}
