"""What the agents replay: pool paths from the warehouse tables, with reserves as the venue's raw integers,
and exact fills at those reserves through quant.market.amm (the venue's fee, rounding and price impact).

A trade decided on snapshot t fills against the reserves of snapshot t + 1: the trader cannot act on a state
before seeing it. While we hold tokens bought into a pool, our buy stays in it: the liquidation value sells
them into the reserves of the moment with our quote added back and our tokens taken out, both scaled by the
share of the pool's liquidity (sqrt k) still there, as quant.evaluation.backtest does, so a rug that pulls
95% of the liquidity takes 95% of our quote with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quant.features import FEATURES
from quant.market.amm import RAYDIUM_V4, UNISWAP_V2, FeeModel, amount_out

VENUES = {"solana": RAYDIUM_V4, "evm": UNISWAP_V2}
CEX_QUOTE = {"SOL": "SOL", "WETH": "ETH"}  # a pool's quote symbol -> its CEX listing


@dataclass
class PoolPath:
    """One pool's snapshots over a period, in time order."""

    pool_id: str
    chain: str
    ts: np.ndarray
    base_raw: list[int]  # reserves in raw units (Python ints: EVM amounts pass 2**63)
    quote_raw: list[int]
    base_decimals: int
    quote_decimals: int
    features: np.ndarray  # [n, len(FEATURES)], NaN where undefined
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # scores, wallet signals, CEX reference

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def venue(self) -> FeeModel:
        return VENUES[self.chain]

    def mid(self, t: int) -> float:
        """Quote per base, whole tokens."""
        return (self.quote_raw[t] / 10**self.quote_decimals) / (self.base_raw[t] / 10**self.base_decimals)


def raw(x: float, decimals: int) -> int:
    return int(np.floor(x * 10**decimals))


def pool_paths(snapshots: pd.DataFrame, min_len: int = 2) -> list[PoolPath]:
    """A path per pool of `snapshots` with at least `min_len` rows, with its FEATURES columns when it has
    them (NaN otherwise)."""
    snaps = snapshots.sort_values(["pool_id", "ts"], kind="stable")
    has_features = set(FEATURES) <= set(snaps.columns)
    paths = []
    for pool_id, g in snaps.groupby("pool_id", sort=True):
        if len(g) < min_len:
            continue
        bd, qd = int(g.base_decimals.iloc[0]), int(g.quote_decimals.iloc[0])
        feats = (g[list(FEATURES)].to_numpy(np.float32) if has_features
                 else np.full((len(g), len(FEATURES)), np.nan, np.float32))
        paths.append(PoolPath(pool_id, str(g.chain.iloc[0]), g.ts.to_numpy(),
                              [raw(x, bd) for x in g.base_reserve], [raw(x, qd) for x in g.quote_reserve],
                              bd, qd, feats))
    return paths


@dataclass
class Holding:
    """Tokens bought into a pool: what we paid, what we got, and the pool's reserves just before our buy."""

    quote_in: int
    tokens: int
    base_entry: int
    quote_entry: int


def buy(path: PoolPath, t: int, quote_in: int) -> Holding:
    """Spend `quote_in` raw quote on the pool at snapshot t's reserves."""
    rb, rq = path.base_raw[t], path.quote_raw[t]
    return Holding(quote_in, amount_out(path.venue, quote_in, rq, rb), rb, rq)


def liquidation_value(path: PoolPath, t: int, h: Holding) -> int:
    """Raw quote from selling the holding at snapshot t, our own buy still in the pool (scaled by the
    liquidity left since it)."""
    if h.tokens == 0:
        return 0
    rb, rq = path.base_raw[t], path.quote_raw[t]
    share = float(np.sqrt((rb / h.base_entry) * (rq / h.quote_entry)))
    base_now = max(rb - int(h.tokens * share), 1)
    quote_now = rq + int(h.quote_in * share)
    return amount_out(path.venue, h.tokens, base_now, quote_now)


def cross_listed(snapshots: pd.DataFrame, cex: pd.DataFrame) -> pd.DataFrame:
    """pool_id, chain, symbol of the pools whose token is listed on the CEX. Snapshots carry no symbol, so
    a long-lived pool (opened before the data) is matched to the CEX token whose USD price is nearest its
    own (pool price times its quote's CEX price) at the first common minute."""
    first = snapshots.sort_values("ts").groupby("pool_id").head(1)
    old = first[first.pool_open_time < snapshots.ts.min()]
    wide = cex.pivot_table(index="ts", columns="symbol", values="price_usd")
    tokens = [s for s in wide.columns if s not in CEX_QUOTE.values()]
    rows = []
    for p in old.itertuples():
        minute = wide.loc[wide.index.asof(p.ts)]
        usd = p.price * minute[CEX_QUOTE[p.quote_symbol]]
        gaps = {s: abs(np.log(usd / minute[s])) for s in tokens}
        best = min(gaps, key=gaps.get)
        if gaps[best] < 0.1:
            rows.append({"pool_id": p.pool_id, "chain": p.chain, "symbol": best, "quote_symbol": p.quote_symbol})
    return pd.DataFrame(rows, columns=["pool_id", "chain", "symbol", "quote_symbol"])


def cex_reference(path: PoolPath, cex: pd.DataFrame, symbol: str, quote_symbol: str) -> tuple[np.ndarray, np.ndarray]:
    """USD per token and USD per quote unit on the CEX at each snapshot of `path` (the last CEX minute at or
    before it)."""
    wide = cex.pivot_table(index="ts", columns="symbol", values="price_usd").sort_index()
    at = wide.reindex(pd.DatetimeIndex(path.ts), method="ffill")
    return at[symbol].to_numpy(np.float64), at[CEX_QUOTE[quote_symbol]].to_numpy(np.float64)
