"""The calibration command's measurements, exact on hand-built paths (the definitions of MARKET_FACTS.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant.evaluation.calibration import (
    PUBLISHED_FIRST_HOUR,
    PUBLISHED_MEDIAN_LAST_OVER_PEAK,
    _autocorr,
    crashed,
    figures,
    first_hour,
    launch_flip,
    longest_silence,
    pool_paths,
    stylized_facts,
)
from quant.market.amm import raydium_v4_amount_out

T0 = pd.Timestamp("2026-01-01")


def test_crash_needs_the_fall_after_the_peak_and_no_recovery():
    assert crashed(np.array([1.0, 10.0, 0.5, 0.5]), 0.90, 0.01)  # fell 95% of the peak, recovered nothing
    bounced = np.array([1.0, 10.0, 0.05, 0.2])  # fell 99.5%, then recovered 0.15 / 9.95 = 1.5% of the fall
    assert not crashed(bounced, 0.99, 0.005)
    assert not crashed(bounced, 0.90, 0.01)
    assert crashed(bounced, 0.90, None)
    assert not crashed(np.array([1.0, 0.01, 5.0, 4.0]), 0.90, None)  # the low came before the peak
    assert not crashed(np.array([1.0, 10.0, 1.1]), 0.90, None)  # a fall of 89%


def test_silence_counts_the_stretch_to_the_hours_end():
    assert longest_silence(np.array([0.0, 100.0, 500.0]), 3600.0) == 3100.0
    assert longest_silence(np.array([0.0, 400.0, 3500.0]), 3600.0) == 3100.0


def _swap(ts_s, side, a_in, a_out, base, quote, pool="P"):
    return dict(pool_id=pool, ts=T0 + pd.Timedelta(seconds=ts_s), side=side, amount_in=a_in, amount_out=a_out,
                reserve_base_before=base, reserve_quote_before=quote)


def _liquidity(ts_s, action, base_after, quote_after, pool="P"):
    return dict(pool_id=pool, ts=T0 + pd.Timedelta(seconds=ts_s), action=action, base_reserve_after=base_after,
                quote_reserve_after=quote_after)


def test_pool_path_rebuilds_reserves_through_swaps_and_liquidity_events():
    swaps = pd.DataFrame([
        _swap(0, "buy", 1.0, 90.0, 1000.0, 10.0),      # -> base 910, quote 11
        _swap(120, "sell", 45.5, 0.5, 455.0, 5.5),     # after half the liquidity left at 60 s -> 500.5, 5.0
        _swap(200, "buy", 2.0, 50.0, 1001.0, 10.0),    # after a deposit doubled it at 150 s -> 951, 12
    ])
    liquidity = pd.DataFrame([_liquidity(-5, "create", 1000.0, 10.0), _liquidity(-1, "remove", 700.0, 7.0),
                              _liquidity(60, "remove", 455.0, 5.5), _liquidity(150, "add", 1001.0, 10.0)])
    p = pool_paths(swaps, liquidity)  # the creation and a removal before the first swap start no path
    assert p.base_after.tolist() == pytest.approx([910.0, 455.0, 500.5, 1001.0, 951.0])
    assert p.quote_after.tolist() == pytest.approx([11.0, 5.5, 5.0, 10.0, 12.0])
    assert p.price.tolist() == pytest.approx([11 / 910, 5.5 / 455, 5.0 / 500.5, 10 / 1001, 12 / 951])


def test_first_hour_flags_a_rug_and_ignores_what_follows_the_hour():
    rug = [_swap(0, "buy", 10.0, 100.0, 1000.0, 10.0, "R")]  # -> 900, 20
    liq = pd.DataFrame([_liquidity(-1, "create", 1000.0, 10.0, "R"), _liquidity(600, "remove", 4.5, 0.1, "R")])
    # The creator then dumps into what is left: price falls by far more than 99%, TVL too; then silence.
    rug.append(_swap(700, "sell", 9000.0, 0.0999, 4.5, 0.1, "R"))
    calm = [_swap(60 * m, "buy" if m % 2 else "sell", 0.1, 0.1, 1000.0, 10.0, "C") for m in range(0, 61, 4)]
    calm.append(_swap(4000, "sell", 900.0, 9.0, 1000.0, 10.0, "C"))  # after the hour: not counted
    fh = first_hour(pd.DataFrame(rug + calm), liq)
    assert fh["pools"] == 2
    assert fh["liquidity_pulled"] == fh["liquidity_mostly_gone"] == 0.5
    assert fh["price_crash_no_recovery"] == fh["hard_price_crash"] == 0.5
    assert fh["silence_300s"] == 0.5  # the rug's last trade is at 700 s; the calm pool trades every 4 minutes


def test_autocorrelation_of_a_known_series():
    x = np.array([1.0, -1.0] * 50)
    assert _autocorr(x, 1) == pytest.approx(-0.99)
    assert _autocorr(x, 2) == pytest.approx(0.98)


def test_stylized_facts_see_clustering_within_pools_not_across_them():
    rng = np.random.default_rng(0)
    rows = []
    for i, sd in enumerate([0.001, 0.05, 0.2]):  # three calm-but-different pools: no clustering inside any
        r = rng.normal(0, sd, 400)
        rows.append(pd.DataFrame({"pool_id": f"P{i}", "ts": T0 + pd.to_timedelta(np.arange(401), "min"),
                                  "price": np.exp(np.r_[0.0, np.cumsum(r)])}))
    st = stylized_facts(pd.concat(rows))
    assert st["pools"] == 3
    assert abs(st["acf_abs_returns"][5]) < 0.1
    assert abs(st["excess_kurtosis_without_largest_move"]) < 1.0


def _snap(ts_min, base, quote, pool="P"):
    return dict(pool_id=pool, ts=T0 + pd.Timedelta(minutes=ts_min), base_reserve=base, quote_reserve=quote,
                base_decimals=6, quote_decimals=9)


def test_launch_flip_on_a_flat_pool_loses_exactly_the_fees_and_price_impact():
    snaps = pd.DataFrame([_snap(m, 1_000_000.0, 40.0) for m in range(8)])
    out = launch_flip(snaps, holds=(1, 5, 30), stake=1.0)
    a_in, rb, rq = 10**9, 10**12, 40 * 10**9
    got = raydium_v4_amount_out(a_in, rq, rb)
    back = raydium_v4_amount_out(got, rb - got, rq + a_in)
    for k in (1, 5, 30):  # a hold past the pool's last snapshot sells at the last
        assert out[k]["trades"] == 1
        assert out[k]["mean_return"] == pytest.approx(back / a_in - 1, abs=1e-12)
        assert out[k]["win_rate"] == 0.0


# The small world has ~54 new Solana pools where the default has ~290: one seed's first-hour fraction then moves by
# ~0.07 by chance (the default world's goal is 0.08 a seed at ~0.03), so its band is 0.15, and last/peak a factor 3.
SMALL_WORLD_BAND, SMALL_WORLD_LAST_OVER_PEAK_FACTOR = 0.15, 3.0


def test_small_world_meets_the_market_facts_within_a_looser_band(small_world_sim):
    w = small_world_sim
    f = figures(w.pool_snapshots, w.swaps, w.liquidity_events, pd.Timestamp(w.config.start))
    fh = f["first_hour"]
    assert fh["pools"] >= 40
    for name, published in PUBLISHED_FIRST_HOUR.items():
        assert abs(fh[name] - published) <= SMALL_WORLD_BAND, (name, fh[name], published)
    ratio = fh["median_last_over_peak"] / PUBLISHED_MEDIAN_LAST_OVER_PEAK
    assert 1 / SMALL_WORLD_LAST_OVER_PEAK_FACTOR <= ratio <= SMALL_WORLD_LAST_OVER_PEAK_FACTOR, ratio
    st = f["stylized"]
    assert st["excess_kurtosis_without_largest_move"] > 3  # heavy tails without the rug's step
    # MARKET_FACTS: no linear autocorrelation of returns beyond the shortest lag. At one minute a launch's sell-off
    # runs on (buyers walk away from a falling chart, orders go in as pieces ~40 s apart): 0.05-0.07 on the small
    # world's seeds 1, 2 and 7, 0.03 on the default world's seeds 1-2, where more trading drowns it.
    acf = st["acf_returns"]
    assert abs(acf[1]) < 0.1 and all(abs(acf[lag]) < 0.05 for lag in (5, 15, 60)), acf
    # Issue 19's clustering goal: |returns| at lag 5 at least 0.1 and 0.05 above returns, the memory fading with lag.
    clustering = st["acf_abs_returns"]
    assert clustering[5] >= 0.1 and clustering[5] > acf[5] + 0.05, clustering
    assert clustering[1] > acf[1] + 0.05 and clustering[1] > clustering[5] > clustering[15] > clustering[60]
    for k, flip in f["launch_flip"].items():  # buying every launch loses on average, after fees, at every hold
        assert flip["mean_return"] < -0.02, (k, flip)
