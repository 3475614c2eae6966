"""Labels on hand-built series: the values worked out by hand, null where the horizon runs past the data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant.features.labels import LabelConfig, build_labels

T0 = pd.Timestamp("2026-01-01")
H3 = LabelConfig(horizon=3)


def series(prices, quotes=None, pool="A") -> pd.DataFrame:
    n = len(prices)
    return pd.DataFrame({"pool_id": pool, "ts": T0 + pd.to_timedelta(np.arange(n), unit="min"),
                         "price": np.asarray(prices, float),
                         "quote_reserve": np.asarray(quotes if quotes is not None else np.full(n, 100.0), float)})


def labels_of(df: pd.DataFrame, cfg: LabelConfig = H3) -> pd.DataFrame:
    return build_labels(df, cfg).to_pandas()


def test_moon_and_rug_from_forward_returns():
    out = labels_of(series([100, 110, 120, 116, 50, 60, 60, 60]))
    np.testing.assert_array_equal(out.will_moon, [1, 0, 0, 0, 1, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(out.will_rug, [0, 1, 1, 1, 0, np.nan, np.nan, np.nan])
    assert list(out.regime[:5]) == ["moon_mission", "rug_dump", "rug_dump", "rug_dump", "moon_mission"]
    assert out.regime[5:].isna().all()
    np.testing.assert_allclose(out.fwd_max_return[:2], [0.2, 10 / 110])
    np.testing.assert_allclose(out.fwd_min_return[1], 50 / 110 - 1)
    np.testing.assert_allclose(out.fwd_return[0], 0.16)


def test_exact_thresholds_count():
    # a return exactly at the threshold counts (thresholds chosen exact in binary: +25%, -50%)
    out = labels_of(series([100, 125, 100, 100, 50, 50]), LabelConfig(horizon=1, moon_return=0.25))
    np.testing.assert_array_equal(out.will_moon[:5], [1, 0, 0, 0, 0])
    np.testing.assert_array_equal(out.will_rug[:5], [0, 0, 0, 1, 0])


def test_reserve_drain_within_horizon_is_a_rug():
    out = labels_of(series([1, 1, 1, 1, 1, 1], quotes=[100, 100, 100, 65, 65, 65]))
    np.testing.assert_array_equal(out.will_rug[:3], [1, 1, 1])  # the 35% drain at step 3 is within 3 steps
    assert (out.regime[:3] == "rug_dump").all()
    assert out.will_rug[3:].isna().all()
    no_drain = labels_of(series([1, 1, 1, 1, 1], quotes=[100, 100, 100, 71, 71]))
    np.testing.assert_array_equal(no_drain.will_rug[:2], [0, 0])  # -29% is not a drain


def test_climb_and_chop():
    climb = labels_of(series([1.0, 1.02, 1.04, 1.06]))
    assert climb.regime[0] == "steady_climb" and climb.will_moon[0] == 0
    chop = labels_of(series([1.0, 1.01, 0.99, 1.0]))
    assert chop.regime[0] == "sideways_chop"


def test_never_cut_short_and_never_across_pools():
    a = series([1, 1, 1, 1, 2], pool="A")  # the jump to 2 is 4 steps after the first row
    b = series([1, 5], pool="B")  # a short pool: fewer than 3 snapshots follow any row
    out = labels_of(pd.concat([b, a]).sort_values("ts"))
    by_pool = {p: g.reset_index(drop=True) for p, g in out.groupby("pool_id")}
    assert by_pool["B"].will_moon.isna().all()
    np.testing.assert_array_equal(by_pool["A"].will_moon, [0, 1, np.nan, np.nan, np.nan])


def test_default_horizon_is_ten_snapshots():
    prices = np.r_[np.ones(10), 1.2, np.ones(5)]
    out = labels_of(series(prices), LabelConfig())
    np.testing.assert_array_equal(out.will_moon[:6], [1, 1, 1, 1, 1, 1])
    assert out.will_moon[5] == 1 and out.will_moon[6:].isna().all()


def test_label_paths_equal_build_labels_on_every_snapshot(small_world_sim):
    """The live runtime's path form of the labels against the batch definition, on a simulated world."""
    from quant.features.labels import LabelConfig, build_labels, label_paths

    cfg = LabelConfig()
    snaps = small_world_sim.pool_snapshots.sort_values(["pool_id", "ts"]).reset_index(drop=True)
    batch = build_labels(snaps, cfg).to_pandas()
    known = batch.will_moon.notna().to_numpy()
    h = cfg.horizon
    rows = np.flatnonzero(known)
    price = np.stack([snaps.price.to_numpy()[rows + j] for j in range(h + 1)], axis=1)
    quote = np.stack([snaps.quote_reserve.to_numpy()[rows + j] for j in range(h + 1)], axis=1)
    moon, rug = label_paths(price, quote, cfg)
    assert rug.sum() > 0 and moon.sum() > 0
    np.testing.assert_array_equal(moon, batch.will_moon.to_numpy()[rows])
    np.testing.assert_array_equal(rug, batch.will_rug.to_numpy()[rows])


def test_bankable_return_is_the_backtests_fill_to_the_last_lamport(small_world_sim):
    """The label the strategy trades equals, row by row, the scalar AMM round trip and a one-signal backtest."""
    from quant.evaluation.backtest import BacktestConfig, backtest
    from quant.market.amm import round_trip

    cfg = LabelConfig()
    snaps = small_world_sim.pool_snapshots.sort_values(["pool_id", "ts"]).reset_index(drop=True)
    labels = build_labels(snaps, cfg).to_pandas()
    assert cfg.stake == BacktestConfig().stake
    assert labels.bankable_return[snaps.chain.to_numpy() != "solana"].isna().all()
    known = np.flatnonzero(labels.bankable_return.notna().to_numpy())
    assert (labels.bankable_return > 0).mean() > 0.05 and (labels.bankable_return < 0).mean() > 0.05
    for i in np.random.default_rng(0).choice(known, 200, replace=False):
        spent, received = round_trip(snaps.iloc[i + 1], snaps.iloc[i + 1 + cfg.horizon], cfg.stake)
        assert labels.bankable_return[i] == received / spent - 1
    for i in known[:: len(known) // 5][:5]:
        one = backtest(snaps.iloc[[i]][["pool_id", "ts"]].assign(priority=1.0), snaps)
        assert one["n_trades"] == 1
        assert one["net_pnl"] / one["trades"].spent[0] == pytest.approx(labels.bankable_return[i], rel=1e-12)
    # Null, never cut short, where the exit (horizon + 1 snapshots ahead) lies past the pool's data.
    remaining = snaps.groupby("pool_id").cumcount(ascending=False).to_numpy()
    assert labels.bankable_return[remaining <= cfg.horizon].isna().all()
