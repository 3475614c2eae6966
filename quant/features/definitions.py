"""Every pool feature, defined once, over a handful of primitives.

A feature is arithmetic on primitives (`col`, `lag`, rolling windows, `run_length`, `below`, `div`). Each
primitive has two executions: a vectorised one over many pools (`quant.features.batch`, polars) and one over
a single pool's rolling window of the last `WINDOW` snapshots (`quant.features.online`, numpy), which the
live runtime keeps per pool. The arithmetic below runs unchanged on both, so the two cannot drift apart; a
test feeds the same events to both and requires equal values.

Missing history (a lag past a pool's first snapshot) is null, never zero: XGBoost treats it as missing.
Rolling windows use whatever history exists, up to their length, so a young pool still gets a value.
"""

from __future__ import annotations

from typing import Any, Protocol

WINDOW = 100  # snapshots a live pool state keeps; no feature may look further back than this
MAX_RUN = WINDOW - 1  # a run of gains needs one snapshot before it, so WINDOW snapshots show at most 99
DUMP_THRESHOLD = -0.5  # one-step price change that counts as a massive dump
DRAIN_THRESHOLD = -0.3  # one-step change of the quote reserve that counts as a reserve drain
FLOW_WINDOW = 10  # snapshots of swap flow summed for buyers, buys, sells and imbalance

# What each snapshot carries into the features: the pool snapshot columns and the swap flow since the
# previous snapshot of the same pool (see `quant.features.flow`).
SNAPSHOT_INPUTS = ("price", "base_reserve", "quote_reserve", "volume_24h", "trade_fee", "pool_age_min")
FLOW_INPUTS = ("n_buys", "n_sells", "buy_volume", "sell_volume", "buyers")
INPUTS = SNAPSHOT_INPUTS + FLOW_INPUTS


class Primitives(Protocol):
    """What a backend offers; `Any` is a polars expression in batch and a numpy array online."""

    def col(self, name: str) -> Any: ...
    def lag(self, x: Any, k: int) -> Any: ...
    def rolling_sum(self, x: Any, n: int) -> Any: ...
    def rolling_mean(self, x: Any, n: int) -> Any: ...
    def rolling_max(self, x: Any, n: int) -> Any: ...
    def rolling_std(self, x: Any, n: int) -> Any: ...
    def run_length(self, x: Any) -> Any: ...  # consecutive snapshots with x > 0, ending now, capped at MAX_RUN
    def below(self, x: Any, threshold: float) -> Any: ...  # 1.0 / 0.0, null where x is null
    def div(self, a: Any, b: Any, guard: Any) -> Any: ...  # a / b where guard > 0, else null
    def log(self, x: Any) -> Any: ...


def define(p: Primitives) -> dict[str, Any]:
    """The features, in model input order (see FEATURES)."""
    price, quote, base = p.col("price"), p.col("quote_reserve"), p.col("base_reserve")
    ret_1 = price / p.lag(price, 1) - 1
    log_k = p.log(base) + p.log(quote)  # log of k = base * quote, which overflows nothing in log form
    liquidity_change = quote / p.lag(quote, 1) - 1
    # 24h volume rises with each step's trading and falls as day-old trades drop out; scaled by the pool's
    # depth so SOL and ETH pools, large and small, read alike.
    volume_spike = (p.col("volume_24h") - p.lag(p.col("volume_24h"), 1)) / quote
    trades = p.rolling_sum(p.col("n_buys") + p.col("n_sells"), FLOW_WINDOW)
    buy_vol, sell_vol = p.rolling_sum(p.col("buy_volume"), FLOW_WINDOW), p.rolling_sum(p.col("sell_volume"), FLOW_WINDOW)
    return {
        "ret_1": ret_1,
        "ret_3": price / p.lag(price, 3) - 1,
        "ret_10": price / p.lag(price, 10) - 1,
        "consecutive_gains": p.run_length(ret_1),
        "log_k": log_k,
        "depth_change": log_k - p.lag(log_k, 1),  # log change of k: only liquidity moves and fees change k
        "liquidity_change": liquidity_change,
        "reserve_ratio": quote / p.rolling_max(quote, WINDOW),  # quote depth against its recent peak
        "volume_spike": volume_spike,
        "volume_spike_mean5": p.rolling_mean(volume_spike, 5),
        "massive_dump": p.below(ret_1, DUMP_THRESHOLD),
        "reserve_drain": p.below(liquidity_change, DRAIN_THRESHOLD),
        "pool_age_min": p.col("pool_age_min"),
        "price_accel": ret_1 - p.lag(ret_1, 1),
        "volume_accel": volume_spike - p.lag(volume_spike, 1),
        "volatility_10": p.rolling_std(ret_1, 10),
        "buys_10": p.rolling_sum(p.col("n_buys"), FLOW_WINDOW),
        "sells_10": p.rolling_sum(p.col("n_sells"), FLOW_WINDOW),
        # Buyers of each interval summed: a wallet buying in two intervals counts twice (the online state
        # keeps sets per interval, not across them).
        "buyers_10": p.rolling_sum(p.col("buyers"), FLOW_WINDOW),
        # Guarded by the trade count, which rolling sums keep exact: a volume sum can leave 1e-17, not 0.
        "buy_sell_imbalance_10": p.div(buy_vol - sell_vol, buy_vol + sell_vol, trades),
        "trade_fee": p.col("trade_fee"),
    }


class _Names:
    """A backend that only records names, to list FEATURES without data."""

    def __getattr__(self, _name):
        return lambda *a, **k: _Value()


class _Value:
    def __getattr__(self, _name):
        return lambda *a, **k: self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __truediv__ = __rtruediv__ = lambda self, other: self


FEATURES: tuple[str, ...] = tuple(define(_Names()))  # type: ignore[arg-type]
