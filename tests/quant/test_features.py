"""Features: the batch and online executions agree, nothing looks ahead, and the definitions give the values
worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandera.errors import SchemaErrors

from quant.features import FEATURES, WINDOW, batch_features, replay
from quant.features.definitions import MAX_RUN
from quant.features.schema import FEATURE_SCHEMA

T0 = pd.Timestamp("2026-01-01 00:00:00")


def pool_series(prices, quotes=None, volumes=None, pool="P1", open_offset_s=30) -> pd.DataFrame:
    """A hand-built pool: one snapshot a minute; base reserve follows from price and quote reserve."""
    n = len(prices)
    prices = np.asarray(prices, float)
    quotes = np.asarray(quotes if quotes is not None else np.full(n, 100.0), float)
    return pd.DataFrame({
        "pool_id": pool, "ts": T0 + pd.to_timedelta(np.arange(n), unit="min"), "price": prices,
        "base_reserve": quotes / prices, "quote_reserve": quotes,
        "volume_24h": np.asarray(volumes if volumes is not None else np.zeros(n), float), "trade_fee": 0.0025,
        "pool_open_time": T0 - pd.Timedelta(seconds=open_offset_s),
    })


NO_SWAPS = pd.DataFrame({"ts": pd.Series(dtype="datetime64[us]"), "pool_id": pd.Series(dtype=str),
                         "wallet": pd.Series(dtype=str), "side": pd.Series(dtype=str),
                         "amount_in": pd.Series(dtype=float), "amount_out": pd.Series(dtype=float)})


def swap(ts, side, quote, wallet, pool="P1") -> dict:
    return {"ts": pd.Timestamp(ts), "pool_id": pool, "wallet": wallet, "side": side,
            "amount_in": quote if side == "buy" else 1.0, "amount_out": 1.0 if side == "buy" else quote}


@pytest.fixture(scope="module")
def sample(small_world_sim):
    """Twelve new pools of the small world (each longer than the online window) and their swaps."""
    snaps = small_world_sim.pool_snapshots
    counts = snaps.groupby("pool_id").size()
    pools = counts[(counts > WINDOW + 20) & (counts < 1000)].index[:12]
    s = snaps[snaps.pool_id.isin(pools)].reset_index(drop=True)
    return s, small_world_sim.swaps[small_world_sim.swaps.pool_id.isin(pools)].reset_index(drop=True)


def assert_same(a: pd.DataFrame, b: pd.DataFrame, tol: float = 1e-9) -> None:
    a, b = (x.sort_values(["pool_id", "ts"]).reset_index(drop=True) for x in (a, b))
    assert list(a.pool_id) == list(b.pool_id) and list(a.ts) == list(b.ts)
    for f in FEATURES:
        x, y = a[f].to_numpy(float), b[f].to_numpy(float)
        assert np.array_equal(np.isnan(x), np.isnan(y)), f"{f}: null pattern differs"
        assert np.allclose(x, y, rtol=tol, atol=tol, equal_nan=True), f"{f}: max diff {np.nanmax(np.abs(x - y))}"


def test_batch_and_online_agree_on_the_same_events(sample):
    snaps, swaps = sample
    batch = batch_features(snaps, swaps).to_pandas()
    online = replay(snaps, swaps)
    assert len(batch) == len(snaps)
    assert (batch.consecutive_gains.max() > 2) and batch.buyers_10.max() > 0  # the data exercises them
    assert_same(batch, online)


def test_no_look_ahead_when_later_data_is_appended(sample):
    snaps, swaps = sample
    cut = snaps.ts.min() + (snaps.ts.max() - snaps.ts.min()) / 2
    early = batch_features(snaps[snaps.ts <= cut], swaps[swaps.ts <= cut]).to_pandas()
    full = batch_features(snaps, swaps).to_pandas()
    early = early.sort_values(["pool_id", "ts"]).reset_index(drop=True)
    full_early = full[full.ts <= cut].sort_values(["pool_id", "ts"]).reset_index(drop=True)
    assert len(early) == len(full_early) > 0
    for f in FEATURES:
        x, y = early[f].to_numpy(float), full_early[f].to_numpy(float)
        # Nulls exactly, values to 1e-12: polars' SIMD kernels may round a row differently when the frame is
        # chunked differently (seen: 21 of 1,368 rows 1 ulp apart). Leaked future data moves a value by the
        # size of the feature itself, not 3e-16 of it.
        assert np.array_equal(np.isnan(x), np.isnan(y)), f
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-15, equal_nan=True, err_msg=f)


def test_tail_of_window_minus_one_snapshots_is_enough(sample):
    """A partition computed from its day plus the last WINDOW-1 snapshots before it equals full history."""
    snaps, swaps = sample
    since = snaps.ts.min().floor("D") + pd.Timedelta(hours=12)
    before = snaps[snaps.ts < since].sort_values("ts").groupby("pool_id").tail(WINDOW - 1)
    part = pd.concat([before, snaps[snaps.ts >= since]])
    from_tail = batch_features(part, swaps[swaps.ts >= since - pd.Timedelta(days=1)], since=since).to_pandas()
    full = batch_features(snaps, swaps, since=since).to_pandas()
    assert len(full) > 0
    assert_same(from_tail, full, tol=1e-12)


def test_hand_built_prices_give_exact_features():
    f = batch_features(pool_series([1.0, 2.0, 1.0, 0.4, 0.5]), NO_SWAPS).to_pandas()
    np.testing.assert_allclose(f.ret_1, [np.nan, 1.0, -0.5, -0.6, 0.25])
    np.testing.assert_allclose(f.ret_3, [np.nan, np.nan, np.nan, -0.6, -0.75])
    np.testing.assert_allclose(f.massive_dump, [np.nan, 0, 0, 1, 0])  # -0.5 is not below -0.5
    np.testing.assert_allclose(f.consecutive_gains, [0, 1, 0, 0, 1])
    np.testing.assert_allclose(f.price_accel, [np.nan, np.nan, -1.5, -0.1, 0.85])
    np.testing.assert_allclose(f.pool_age_min, [0.5, 1.5, 2.5, 3.5, 4.5])
    np.testing.assert_allclose(f.log_k, np.log(100.0 / np.array([1.0, 2.0, 1.0, 0.4, 0.5])) + np.log(100.0))


def test_reserve_drain_and_ratio():
    f = batch_features(pool_series(np.ones(4), quotes=[100.0, 80.0, 50.0, 60.0]), NO_SWAPS).to_pandas()
    np.testing.assert_allclose(f.liquidity_change, [np.nan, -0.2, -0.375, 0.2])
    np.testing.assert_allclose(f.reserve_drain, [np.nan, 0, 1, 0])
    np.testing.assert_allclose(f.reserve_ratio, [1.0, 0.8, 0.5, 0.6])
    np.testing.assert_allclose(f.depth_change, [np.nan, 2 * np.log(0.8), 2 * np.log(50 / 80), 2 * np.log(1.2)])


def test_consecutive_gains_are_capped_at_the_window():
    n = WINDOW + 50
    f = batch_features(pool_series(1.01 ** np.arange(n)), NO_SWAPS).to_pandas()
    assert f.consecutive_gains.iloc[MAX_RUN] == MAX_RUN
    assert f.consecutive_gains.iloc[-1] == MAX_RUN
    assert replay(pool_series(1.01 ** np.arange(n)), NO_SWAPS).consecutive_gains.iloc[-1] == MAX_RUN


def test_swap_flow_lands_on_the_next_snapshot():
    swaps = pd.DataFrame([swap("2026-01-01 00:00:30", "buy", 2.0, "a"), swap("2026-01-01 00:01:00", "buy", 1.0, "a"),
                          swap("2026-01-01 00:01:10", "sell", 3.0, "b"), swap("2026-01-01 00:02:00", "buy", 1.0, "c")])
    f = batch_features(pool_series([1.0, 1.0, 1.0]), swaps).to_pandas()
    np.testing.assert_allclose(f.buys_10, [0, 2, 3])  # the 00:01:00 swap is in the 00:01:00 snapshot
    np.testing.assert_allclose(f.sells_10, [0, 0, 1])
    np.testing.assert_allclose(f.buyers_10, [0, 1, 2])  # wallet a twice in one interval counts once
    np.testing.assert_allclose(f.buy_sell_imbalance_10, [np.nan, 1.0, 1.0 / 7.0])
    assert_same(f, replay(pool_series([1.0, 1.0, 1.0]), swaps))


def test_feature_schema_rejects_infinities(sample):
    snaps, swaps = sample
    f = batch_features(snaps, swaps).to_pandas()
    FEATURE_SCHEMA.validate(f)
    f.loc[5, "volume_spike"] = np.inf
    with pytest.raises(SchemaErrors, match="no_inf"):
        FEATURE_SCHEMA.validate(f, lazy=True)
