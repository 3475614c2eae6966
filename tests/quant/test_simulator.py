"""The simulated market: deterministic, exact, and showing the behaviour its truth says it has."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kurtosis

from quant.market import amm
from quant.market.addresses import is_evm_address, is_solana_address
from quant.simulator import RegimeShift, simulate, small_world
from quant.simulator.engine import BUY, SELL_REF
from quant.simulator.entities import build_pools, build_wallets
from quant.simulator.market import SimulatedMarket


@pytest.fixture(scope="module")
def positions(small_world_sim) -> pd.DataFrame:
    """Round trips as the simulator executed them: entry and exit amounts in quote, with the truth."""
    w = small_world_sim
    ev, ex = w.raw["events"], w.raw["executed"]
    buys = np.flatnonzero((ev.kind == BUY) & (ev.pos_id >= 0) & (ex["side"] == 0))
    sells = np.flatnonzero((ev.kind == SELL_REF) & (ex["side"] == 1))
    entry = pd.DataFrame({"pos": ev.pos_id[buys], "wallet": ev.wallet[buys], "pool": ev.pool[buys],
                          "t_in": ev.ts[buys], "quote_in": ex["amount_in"][buys]})
    exit_ = pd.DataFrame({"pos": ev.ref[sells], "t_out": ev.ts[sells], "quote_out": ex["amount_out"][sells]})
    df = entry.merge(exit_, on="pos", how="left")
    df["archetype"] = w.truth.wallets.archetype.to_numpy()[df.wallet]
    df["category"] = w.truth.pools.category.to_numpy()[df.pool]
    df["fate"] = w.truth.pools.fate.to_numpy()[df.pool]
    df["rug_ts"] = w.truth.pools.rug_ts.to_numpy()[df.pool]
    df["open_ts"] = w.truth.pools.open_ts.to_numpy()[df.pool]
    return df


def test_same_seed_same_world_and_another_seed_differs():
    cfg = small_world(days=1)
    a, b = simulate(cfg), simulate(cfg)
    for table in ("swaps", "pool_snapshots", "transfers", "cex_prices"):
        pd.testing.assert_frame_equal(getattr(a, table), getattr(b, table))
    c = simulate(cfg.with_(seed=cfg.seed + 1))
    assert not a.swaps.tx_id.isin(c.swaps.tx_id).any()


def test_a_longer_window_keeps_earlier_days_exactly():
    short, long_ = simulate(small_world(days=1)), simulate(small_world(days=2))
    cut = pd.Timestamp(small_world().start) + pd.Timedelta(days=1)
    for table in ("swaps", "pool_snapshots"):
        kept = getattr(long_, table)
        pd.testing.assert_frame_equal(getattr(short, table), kept[kept.ts < cut].reset_index(drop=True))


def test_partitions_are_the_same_in_any_order(tmp_path):
    cfg = small_world(days=2)
    days = [(pd.Timestamp(cfg.start) + pd.Timedelta(days=d), pd.Timestamp(cfg.start) + pd.Timedelta(days=d + 1))
            for d in range(2)]
    forward, backward = SimulatedMarket(cfg, tmp_path / "a"), SimulatedMarket(cfg, tmp_path / "b")
    got_fwd = [forward.fetch("swaps", *d) for d in days]
    got_bwd = [backward.fetch("swaps", *d) for d in reversed(days)][::-1]
    for f, b in zip(got_fwd, got_bwd, strict=True):
        pd.testing.assert_frame_equal(f, b)
        assert len(f) > 1000


def test_every_fill_is_the_exact_amm_output(small_world_sim):
    w = small_world_sim
    ev = w.raw["events"]
    for chain, venue in (("solana", amm.RAYDIUM_V4), ("evm", amm.UNISWAP_V2)):
        idx, out = w.raw["executed"]["raw"][chain]
        traded = np.flatnonzero(out.side >= 0)
        sample = np.random.default_rng(1).choice(traded, 2000, replace=False)
        for i in sample:
            buy = out.side[i] == 0
            r_in = int(out.quote_before[i] if buy else out.base_before[i])
            r_out = int(out.base_before[i] if buy else out.quote_before[i])
            assert int(out.amount_out[i]) == amm.amount_out(venue, int(out.amount_in[i]), r_in, r_out)
            # reserves move by exactly the amounts (the fee stays in the pool)
            assert int(out.quote_after[i]) - int(out.quote_before[i]) == (
                int(out.amount_in[i]) if buy else -int(out.amount_out[i]))
        assert ev.pool[idx].size == len(out.side)


def test_addresses_and_ids_look_like_each_chain(small_world_sim):
    w = small_world_sim
    wallets = w.truth.wallets
    assert wallets[wallets.chain == "solana"].address.map(is_solana_address).all()
    assert wallets[wallets.chain == "evm"].address.map(is_evm_address).all()
    evm = w.swaps[w.swaps.chain == "evm"]
    assert evm.wallet.str.match(r"^0x[0-9a-fA-F]{40}$").all() and evm.tx_id.str.len().eq(66).all()
    assert w.swaps.tx_id.is_unique and w.transfers.tx_id.is_unique


def test_market_tables_carry_no_truth(small_world_sim):
    hidden = {"archetype", "fate", "ring_id", "insider_group", "home_category", "rug_ts", "peak_ts", "peak_mult"}
    for table in ("swaps", "pool_snapshots", "transfers", "cex_prices", "liquidity_events"):
        assert hidden.isdisjoint(getattr(small_world_sim, table).columns), table


def test_fates_play_out(small_world_sim):
    s = small_world_sim.pool_snapshots.merge(small_world_sim.truth.pools[["pool_id", "fate"]], on="pool_id")
    g = s.groupby("pool_id")
    summary = pd.DataFrame({"fate": g.fate.first(), "end": g.price.last() / g.price.first(),
                            "peak": g.price.max() / g.price.first()})
    rugs = summary[summary.fate == "rug"]
    assert (rugs.end < 0.1).mean() >= 0.85  # rugs end near -99%
    assert (summary[summary.fate == "moon"].peak >= 4).all()
    assert summary[summary.fate == "slow_death"].end.median() < 1.0


def test_stylized_facts_of_returns_and_trades(small_world_sim):
    s = small_world_sim.pool_snapshots
    r = np.log(s.price).groupby(s.pool_id).diff()
    keep = r.notna() & np.isfinite(r)

    def autocorr(x: pd.Series, lag: int) -> float:
        lagged = x.groupby(s.pool_id).shift(lag)
        ok = keep & lagged.notna()
        return float(np.corrcoef(x[ok], lagged[ok])[0, 1])

    assert kurtosis(r[keep]) > 10  # heavy tails (a normal's excess kurtosis is 0)
    assert abs(autocorr(r, 1)) < 0.1 and abs(autocorr(r, 5)) < 0.05  # no linear predictability
    assert autocorr(r.abs(), 1) > 0.05 and autocorr(r.abs(), 10) > 0.02  # volatility clusters
    buys = small_world_sim.swaps.query("side == 'buy'").amount_in.sort_values(ascending=False)
    assert buys.head(len(buys) // 100).sum() / buys.sum() > 0.1  # a few trades carry much of the volume


def test_martingale_wallets_chase_losses(positions):
    def chase_rate(df: pd.DataFrame) -> float:
        df = df.dropna(subset=["quote_out"]).sort_values(["wallet", "t_in"])
        nxt = df.groupby("wallet").quote_in.shift(-1)
        lost = (df.quote_out < df.quote_in) & nxt.notna()
        return float((nxt[lost] > 1.5 * df.quote_in[lost]).mean())

    chasers = chase_rate(positions[positions.archetype == "martingale"])
    # Anyone whose stakes vary "chases" sometimes by the raw 1.5x rule (~35-40% here); chasers far more.
    assert chasers > 0.6 and chasers > 1.6 * chase_rate(positions[positions.archetype == "generalist"])


def test_market_makers_hold_briefly_win_half_and_earn_little(positions):
    mm = positions[(positions.archetype == "market_maker")].dropna(subset=["t_out"])
    ret = mm.quote_out / mm.quote_in - 1
    assert len(mm) > 500
    assert ((mm.t_out - mm.t_in) < 4 * 3600).all()
    assert 0.48 <= (ret > 0).mean() <= 0.52
    assert abs(ret.mean()) < 0.02 and ret.abs().median() < 0.02 and ret.abs().max() < 0.025  # under 2% a trade
    # PILLAR 3's band is 48-52%: each market maker's own win rate, over enough trips to show it.
    per_wallet = (ret > 0).groupby(mm.wallet).agg(["mean", "size"])
    assert per_wallet["size"].min() >= 60
    assert per_wallet["mean"].between(0.48, 0.52).mean() >= 0.9


def test_market_makers_trade_one_round_trip_at_a_time(positions):
    mm = positions[(positions.archetype == "market_maker")].sort_values(["wallet", "t_in"])
    next_entry = mm.groupby("wallet").t_in.shift(-1)
    assert (mm.t_out[next_entry.notna()] < next_entry.dropna()).all()
    assert positions.fate[positions.archetype == "market_maker"].eq("established").all()


def test_smart_money_specialises_enters_early_and_leaves_before_rugs(positions):
    sm = positions[positions.archetype == "smart_money"]
    share = sm.groupby("wallet").category.agg(lambda c: c.value_counts(normalize=True).iloc[0])
    assert (share >= 0.5).mean() >= 0.8
    rug = sm[(sm.fate == "rug") & sm.t_out.notna()]
    assert (rug.t_out < rug.rug_ts).mean() >= 0.8
    retail = positions[(positions.archetype == "retail") & (positions.fate == "rug")]
    assert (retail.t_out < retail.rug_ts).mean() < (rug.t_out < rug.rug_ts).mean()
    assert sm.fate.isin(["moon", "climb"]).mean() > 4 * positions.fate.isin(["moon", "climb"]).mean()
    generalist_categories = positions[positions.archetype == "generalist"].groupby("wallet").category.nunique()
    assert generalist_categories.median() > sm.groupby("wallet").category.nunique().median()


def test_copiers_follow_viral_wallets_within_minutes(positions):
    viral = positions[positions.archetype == "viral"][["pool", "t_in"]].rename(columns={"t_in": "t_lead"})
    copies = positions[positions.archetype == "copier"].merge(viral, on="pool")
    lag = copies.t_in - copies.t_lead
    followed = copies[(lag >= 30) & (lag <= 300)].pos.nunique()
    assert followed / positions[positions.archetype == "copier"].pos.nunique() > 0.9


def test_snipers_buy_at_launch(positions):
    sn = positions[positions.archetype == "sniper"]
    assert ((sn.t_in - sn.open_ts) <= 90).all() and len(sn) > 10


def test_planted_rings_are_circular_in_transfers(small_world_sim):
    w = small_world_sim
    t = w.transfers
    edges = set(zip(t.from_address, t.to_address, strict=True))
    rings = w.truth.wallets[w.truth.wallets.ring_id >= 0].groupby("ring_id").address.apply(list)
    assert len(rings) >= 3
    for members in rings:
        cycle = list(zip(members, members[1:] + members[:1], strict=True))
        assert all(e in edges for e in cycle), members


def test_regime_shift_raises_the_rug_rate():
    cfg = small_world(days=4).with_(pools_per_day=400, regime_shift=RegimeShift(day=2))
    pools = build_pools(cfg, build_wallets(cfg))
    before = (pools[pools.day < 2].fate == "rug").mean()
    after = (pools[pools.day >= 2].fate == "rug").mean()
    assert before == pytest.approx(0.80, abs=0.04) and after == pytest.approx(0.90, abs=0.04)


def test_cross_listed_tokens_track_the_cex_with_gaps(small_world_sim):
    w = small_world_sim
    est = w.truth.pools[w.truth.pools.established]
    snaps = w.pool_snapshots.merge(est[["pool_id", "symbol"]], on="pool_id")
    cex = w.cex_prices.pivot(index="ts", columns="symbol", values="price_usd")
    quote = snaps.quote_symbol.map({"SOL": "SOL", "WETH": "ETH"})
    rows = cex.index.get_indexer(snaps.ts)
    usd = snaps.price.to_numpy() * cex.to_numpy()[rows, cex.columns.get_indexer(quote)]
    ref = cex.to_numpy()[rows, cex.columns.get_indexer(snaps.symbol)]
    gap = np.abs(usd / ref - 1)
    assert np.median(gap) < 0.03  # arbitrage keeps the DEX near the CEX
    assert (gap > 0.005).mean() > 0.1  # yet gaps are there to trade
