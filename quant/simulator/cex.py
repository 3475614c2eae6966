"""Reference prices on a centralised exchange, per minute, in USD: SOL, ETH and the cross-listed tokens.
Returns have Student-t shocks and GARCH(1,1) variance, so they are heavy-tailed and volatility clusters."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant.simulator.rng import stream

GARCH_ALPHA, GARCH_BETA = 0.08, 0.90


def price_path(seed: int, symbol: str, start_usd: float, minute_vol: float, n: int) -> np.ndarray:
    """A minute path of `n` prices; drawn from its own stream so a longer window only appends."""
    rng = stream(seed, "cex-" + symbol)
    shocks = rng.standard_t(4, n) / np.sqrt(2.0)  # t(4) has variance 2: scale to unit variance
    omega = minute_vol**2 * (1 - GARCH_ALPHA - GARCH_BETA)
    var, logp = minute_vol**2, np.log(start_usd)
    out = np.empty(n)
    for i in range(n):
        r = np.sqrt(var) * shocks[i]
        logp += r - var / 2
        out[i] = logp
        var = omega + GARCH_ALPHA * r * r + GARCH_BETA * var
    return np.exp(out)


def build_cex_prices(seed: int, t0: int, n_minutes: int, quote_usd: dict[str, float],
                     token_usd: dict[str, float]) -> pd.DataFrame:
    """Long table (ts, symbol, price_usd)."""
    frames = []
    minutes = t0 + np.arange(n_minutes, dtype=np.int64) * 60
    for symbol, start in {**quote_usd, **token_usd}.items():
        vol = 0.0012 if symbol in quote_usd else 0.002
        frames.append(pd.DataFrame({"ts": minutes, "symbol": symbol,
                                    "price_usd": price_path(seed, symbol, start, vol, n_minutes)}))
    return pd.concat(frames, ignore_index=True)
