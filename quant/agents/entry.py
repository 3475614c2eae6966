"""The entry/exit timing agent's observation, one function for its training environment and the live runtime.

Actions (Discrete(3)): HOLD keeps the current state (stay out, or stay in), ENTER buys one stake when out
(ignored when already in: one position per pool), EXIT sells everything when in (ignored when out).
"""

from __future__ import annotations

import numpy as np

from quant.features import FEATURES

HOLD, ENTER, EXIT = 0, 1, 2
ACTION_MEANING = {HOLD: "hold (stay out / stay in)", ENTER: "enter: buy one stake", EXIT: "exit: sell all"}
CLIP = 10.0
OBSERVATION = (*FEATURES, "p_moon", "p_rug", "p_opportunity", "in_position")


def squash(x: np.ndarray) -> np.ndarray:
    """sign(x) log(1 + |x|), clipped, NaN -> 0: heavy-tailed features on one scale, missing as neutral."""
    x = np.asarray(x, np.float64)
    return np.nan_to_num(np.clip(np.sign(x) * np.log1p(np.abs(x)), -CLIP, CLIP), nan=0.0)


def entry_observation(features: np.ndarray, p_moon: np.ndarray, p_rug: np.ndarray, p_opportunity: np.ndarray,
                      in_position: np.ndarray) -> np.ndarray:
    """[B, len(FEATURES) + 4] float32 from features [B, len(FEATURES)] in FEATURES order and the model
    scores; a missing score (NaN) reads as 0."""
    f = np.atleast_2d(np.asarray(features, np.float64))
    if f.shape[1] != len(FEATURES):
        raise ValueError(f"features must have {len(FEATURES)} columns in FEATURES order, got {f.shape}")
    scores = [np.nan_to_num(np.asarray(s, np.float64).reshape(-1), nan=0.0)
              for s in (p_moon, p_rug, p_opportunity, in_position)]
    return np.column_stack([squash(f), *scores]).astype(np.float32)
