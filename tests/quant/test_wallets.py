"""Wallet profiles on hand-built swaps whose answers are worked out by hand."""

import duckdb
import numpy as np
import pandas as pd
import pytest

from quant.simulator.addresses import solana_pubkeys
from quant.wallets.profiles import build_profiles
from quant.wallets.scanner.config import ScannerConfig

T0 = pd.Timestamp("2026-01-01")
A, B, C, D, V, F1, F2, F3, X, Y = solana_pubkeys(np.random.default_rng(5), 10)
P1, P2, P3 = solana_pubkeys(np.random.default_rng(6), 3)


def buy(t, pool, wallet, quote, base, reserve=100.0):
    return dict(ts=T0 + pd.Timedelta(seconds=t), chain="solana", pool_id=pool, wallet=wallet, side="buy",
                amount_in=quote, amount_out=base, reserve_quote_before=reserve)


def sell(t, pool, wallet, base, quote, reserve=100.0):
    return dict(ts=T0 + pd.Timedelta(seconds=t), chain="solana", pool_id=pool, wallet=wallet, side="sell",
                amount_in=base, amount_out=quote, reserve_quote_before=reserve)


SWAPS = [
    # A: +50% in P1, -50% in P2, then a 1.75x stake after the loss, flat.
    buy(0, P1, A, 1.0, 100), sell(600, P1, A, 100, 1.5),
    buy(1000, P2, A, 2.0, 100), sell(4600, P2, A, 100, 1.0),
    buy(5000, P1, A, 3.5, 100), sell(5100, P1, A, 100, 3.5),
    # B: a sell with nothing open (no cost basis), then one round trip.
    sell(50, P1, B, 10, 0.2), buy(60, P1, B, 1.0, 10), sell(70, P1, B, 10, 1.1),
    # C: still holding.
    buy(80, P2, C, 1.0, 10),
    # D: two overlapping positions in one pool, closed first in, first out.
    buy(10_000, P1, D, 1.0, 10), buy(10_010, P1, D, 2.0, 10), sell(10_020, P1, D, 10, 1.2), sell(10_030, P1, D, 10, 2.2),
    # V buys P3; two others follow within the copy window, nobody before or after.
    buy(20_000, P3, V, 1.0, 10), buy(20_100, P3, F1, 1.0, 10), buy(20_200, P3, F2, 1.0, 10),
    # P3 collapses: F3 buys before and sells after the reserve falls below 20% of its peak.
    buy(30_000, P3, F3, 1.0, 10, reserve=500.0), sell(30_500, P3, F3, 10, 0.1, reserve=50.0),
]
POOLS = pd.DataFrame({"pool_id": [P1, P2, P3], "category": ["memecoin", "ai", "gaming"],
                      "open_ts": [T0, T0, T0 + pd.Timedelta(seconds=19_950)]})
TRANSFERS = pd.DataFrame({"ts": [T0 - pd.Timedelta(hours=2), T0 - pd.Timedelta(hours=1)], "from_address": [X, Y],
                          "to_address": [A, A], "amount": [5.0, 1.0]})


@pytest.fixture(scope="module")
def profiles():
    con = duckdb.connect()
    con.register("swaps", pd.DataFrame(SWAPS))
    con.register("pools", POOLS)
    con.register("transfers", TRANSFERS)
    out = build_profiles(con, ScannerConfig(), as_of=T0 + pd.Timedelta(days=2)).to_pandas()
    return out.set_index("wallet")


def test_round_trips_win_rate_hold_and_pnl(profiles):
    a = profiles.loc[A]
    assert (a.trades, a.round_trips, a.pools, a.categories) == (6, 3, 2, 2)
    assert a.win_rate == pytest.approx(1 / 3)
    assert a.avg_hold_s == pytest.approx((600 + 3600 + 100) / 3)
    assert a.profit_per_trade == pytest.approx(0.0)
    assert a.realized_pnl == pytest.approx(0.5 - 1.0)
    assert list(a.pnl_series) == pytest.approx([0.5, -0.5, -0.5])
    assert a.max_drawdown == pytest.approx(1.0)
    assert a.drawdown_share == pytest.approx(1.0 / 6.5)


def test_category_focus_by_volume(profiles):
    a = profiles.loc[A]
    assert a.top_category == "memecoin"
    assert a.top_category_share == pytest.approx(9.5 / 12.5)


def test_post_loss_and_post_win_sizing(profiles):
    a = profiles.loc[A]
    assert a.post_loss_instances == 1 and list(a.post_loss_ratios) == pytest.approx([1.75])
    assert a.chase_after_loss == pytest.approx(1.0) and a.chase_after_win == pytest.approx(1.0)
    assert a.post_win_instances == 1 and list(a.post_win_ratios) == pytest.approx([2.0])


def test_unmatched_sells_and_open_positions(profiles):
    b, c = profiles.loc[B], profiles.loc[C]
    assert (b.trades, b.round_trips) == (3, 1)
    assert b.profit_per_trade == pytest.approx(0.1)
    assert (c.trades, c.round_trips) == (1, 0) and pd.isna(c.win_rate)


def test_fifo_pairs_overlapping_positions(profiles):
    d = profiles.loc[D]
    assert d.round_trips == 2 and d.avg_hold_s == pytest.approx(20.0)
    # First in, first out: 0.10 -> 0.12 (+20%) and 0.20 -> 0.22 (+10%); last in, first out would give -40%, +120%.
    assert d.win_rate == pytest.approx(1.0)
    assert d.profit_per_trade == pytest.approx((0.2 + 0.1) / 2)


def test_copier_count_against_its_baseline(profiles):
    v = profiles.loc[V]
    assert v.copier_count == 2 and v.copy_baseline == 0 and v.copies_per_buy == pytest.approx(2.0)
    assert profiles.loc[F2].copier_count == 0


def test_entry_timing_and_rug_escape(profiles):
    assert profiles.loc[V].early_entry_share == 1.0 and profiles.loc[V].snipe_share == 1.0  # 50 s after opening
    f3 = profiles.loc[F3]
    assert f3.rug_exposures == 1 and f3.rug_escape_share == 0.0


def test_funding_source_and_age(profiles):
    a = profiles.loc[A]
    assert a.funded_by == X and a.funding_kind == "wallet" and a.funder_recipients == 1
    assert a.first_seen == T0 - pd.Timedelta(hours=2)
    assert a.age_days == pytest.approx(2 + 2 / 24)
    assert bool(a.address_valid)
