"""The contract of the feature table: types, ranges, no infinities, and which features may be null (those
that need history a young pool does not have yet)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from quant.features.definitions import FEATURES, MAX_RUN

# Features that exist from a pool's first snapshot; every other one is null until its history exists.
ALWAYS_PRESENT = {"consecutive_gains", "log_k", "reserve_ratio", "pool_age_min", "buys_10", "sells_10",
                  "buyers_10", "trade_fee"}
FLAGS = ("massive_dump", "reserve_drain")


def _no_inf(s: pd.Series) -> pd.Series:
    return pd.Series(~np.isinf(s.to_numpy(np.float64)), index=s.index)


def _range(name: str) -> list[pa.Check]:
    bounds = {
        "ret_1": pa.Check.gt(-1), "ret_3": pa.Check.gt(-1), "ret_10": pa.Check.gt(-1),
        "consecutive_gains": pa.Check.in_range(0, MAX_RUN), "liquidity_change": pa.Check.gt(-1),
        "reserve_ratio": pa.Check.in_range(0, 1, include_min=False), "pool_age_min": pa.Check.ge(0),
        "volatility_10": pa.Check.ge(0), "buys_10": pa.Check.ge(0), "sells_10": pa.Check.ge(0),
        "buyers_10": pa.Check.ge(0), "buy_sell_imbalance_10": pa.Check.in_range(-1, 1),
        "trade_fee": pa.Check.in_range(0, 0.1),
        **{f: pa.Check.isin([0.0, 1.0]) for f in FLAGS},
    }
    return [pa.Check(_no_inf, element_wise=False, name="no_inf")] + ([bounds[name]] if name in bounds else [])


FEATURE_SCHEMA = pa.DataFrameSchema(
    {"pool_id": pa.Column(str), "ts": pa.Column("datetime64[us]", coerce=True),
     **{f: pa.Column(float, checks=_range(f), nullable=f not in ALWAYS_PRESENT) for f in FEATURES}},
    strict=True, ordered=True, unique=["pool_id", "ts"],
)
