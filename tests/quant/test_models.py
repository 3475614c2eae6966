"""Models and their evaluation: determinism, the leakage guard, metric definitions, the purge gap, AMM-exact
backtest fills, and that nothing a model learns from reads the simulator's hidden truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from quant.evaluation import leakage
from quant.evaluation.backtest import (
    BacktestConfig,
    backtest,
    launch_flip,
    no_trade,
    random_entries,
    round_trip,
)
from quant.evaluation.walk_forward import out_of_sample
from quant.features import batch_features
from quant.features.labels import build_labels
from quant.market.amm import raydium_v4_amount_out
from quant.models import metrics
from quant.models.datasets import Window, cadence, cp_slippage, holdout_window, slippage_table
from quant.models.specs import MOON, RUG, SLIPPAGE
from quant.models.train import VALIDATION_PURGE, fit_weighted, positive_weight, predict, train_booster

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data(small_world_sim):
    w = small_world_sim
    f = batch_features(w.pool_snapshots, w.swaps).to_pandas()
    labels = build_labels(w.pool_snapshots).to_pandas()
    d = f.merge(labels, on=["pool_id", "ts"])
    d = d[d.will_moon.notna()].sort_values(["ts", "pool_id"]).reset_index(drop=True)
    window = holdout_window(pd.Timestamp("2026-01-01"), pd.Timestamp("2026-01-04"), 2, 1,
                            10 * cadence(w.pool_snapshots))
    return d, f, window


def test_retrain_on_same_data_gives_the_same_model(data):
    d, _, window = data
    train = window.train(d)
    a, b = train_booster(RUG, train), train_booster(RUG, train)
    assert bytes(a.save_raw("ubj")) == bytes(b.save_raw("ubj"))


def test_models_have_out_of_sample_skill(data):
    d, _, window = data
    for spec in (MOON, RUG):
        oos = out_of_sample(spec, d, [window])
        assert metrics.roc_auc(oos[spec.target], oos.score) > 0.7, spec.name


def test_leakage_guard_shuffled_labels_give_chance_auc(data):
    """With every row's label shuffled (training and held-out day alike) the labels are independent of the
    features, so a pipeline that keeps the held-out day out of training scores chance there, within a row-level
    sampling error of ~0.01. A pipeline that lets held-out rows into training memorises their labels and
    scores far above it.

    Scoring the noise model against the true labels instead is not a null: noise models share a systematic
    component (the mean of 20 of them has AUC 0.43 against the true labels on this world, lower on the
    high-volume, high-volatility rows where moons are), and the held-out day's labels come in 32 pools."""
    d, _, window = data
    for seed in (11, 12, 13):
        shuffled = d.assign(will_moon=np.random.default_rng(seed).permutation(d.will_moon.to_numpy()))
        oos = out_of_sample(MOON, shuffled, [window])
        assert abs(metrics.roc_auc(oos.will_moon, oos.score) - 0.5) < 0.05, seed
    train, test = window.train(shuffled), window.test(shuffled)
    contaminated = predict(train_booster(MOON, pd.concat([train, test])), test, MOON.features)
    assert metrics.roc_auc(test.will_moon, contaminated) > 0.7  # measured 0.86-0.87: the guard can fail


def test_no_feature_alone_ranks_a_label_like_a_leak(data):
    """Each feature alone against each label on the held-out day stays under the leak ceiling (measured at most
    0.92: pool age against rugs, which are front-loaded). A copy of the moon label's own path is caught; the
    horizon's end return is not (0.83 and 0.91), so the perturbation test below is the one that catches windows
    reaching forward."""
    d, _, window = data
    test = window.test(d)
    assert leakage.suspects(test, MOON.features, ["will_moon", "will_rug"]) == {}
    caught = leakage.suspects(test, [*MOON.features, "fwd_max_return"], ["will_moon", "will_rug"])
    assert list(caught) == [("fwd_max_return", "will_moon")]


def _perturbed_after(w, t: pd.Timestamp):
    """The world's snapshots and swaps with every row later than `t` changed (prices, reserves, amounts scaled
    by independent random factors), the rows themselves kept."""
    rng = np.random.default_rng(3)
    snaps, swaps = w.pool_snapshots.copy(), w.swaps.copy()
    for frame, cols in ((snaps, ["price", "base_reserve", "quote_reserve", "volume_24h"]),
                        (swaps, ["amount_in", "amount_out", "reserve_base_before", "reserve_quote_before", "price"])):
        later = (frame.ts > t).to_numpy()
        for c in cols:
            frame.loc[later, c] = frame.loc[later, c].to_numpy() * rng.lognormal(0.0, 0.5, later.sum())
    return snaps, swaps


def test_changing_the_future_moves_no_feature_or_prediction_before_it(small_world_sim, data):
    """The whole path from the market tables to a model's score: every row after t changed, nothing at or
    before t moves. The same check on a planted window that reaches three snapshots ahead catches it."""
    w = small_world_sim
    d, _, window = data
    t = pd.Timestamp("2026-01-02 12:00")
    booster = train_booster(MOON, d[d.ts < t - VALIDATION_PURGE])

    def scored(snaps, swaps, leak=False):
        f = batch_features(snaps, swaps).to_pandas()
        if leak:
            f["ret_10"] = f.groupby("pool_id").ret_10.shift(-3)
        return f.assign(score=predict(booster, f, MOON.features))

    later_snaps, later_swaps = _perturbed_after(w, t)
    columns = [*MOON.features, "score"]
    moved = leakage.moved_before(scored(w.pool_snapshots, w.swaps), scored(later_snaps, later_swaps), t, columns)
    assert sum(moved.values()) == 0, {c: n for c, n in moved.items() if n}
    leaked = leakage.moved_before(scored(w.pool_snapshots, w.swaps, leak=True),
                                  scored(later_snaps, later_swaps, leak=True), t, columns)
    assert leaked["ret_10"] > 0 and leaked["score"] > 0 and leaked["volatility_10"] == 0


def test_purge_gap_keeps_label_horizon_out_of_training():
    ts = pd.date_range("2026-01-01", "2026-01-03", freq="min", inclusive="left")
    frame = pd.DataFrame({"ts": ts})
    w = Window(pd.Timestamp("2026-01-01"), pd.Timestamp("2026-01-02"), pd.Timestamp("2026-01-03"),
               pd.Timedelta(minutes=10))
    train, test = w.train(frame), w.test(frame)
    assert train.ts.max() == pd.Timestamp("2026-01-01 23:49:00")
    assert test.ts.min() == pd.Timestamp("2026-01-02") and len(test) == 1440


def test_metrics_on_hand_worked_examples():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    assert metrics.roc_auc(y, p) == pytest.approx(0.75)  # 3 of 4 positive-negative pairs in order
    assert metrics.pr_auc(y, p) == pytest.approx((1 + 2 / 3) / 2)
    assert metrics.precision_at_k(y, p, 2) == pytest.approx(0.5)
    assert metrics.brier(y, p) == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    assert metrics.recall_at(y, p, 0.3) == 1.0 and metrics.recall_at(y, p, 0.5) == 0.5
    assert metrics.precision_at_k(y, np.full(4, 0.3), 1) == pytest.approx(0.5)  # ties share the cut
    table = metrics.calibration_table(y, p, bins=2)
    assert list(table.rows) == [3, 1] and table.observed_rate.tolist() == pytest.approx([1 / 3, 1.0])


def test_metrics_agree_with_sklearn_on_random_scores():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 500)
    p = np.round(rng.random(500), 2)  # rounded: plenty of ties
    assert metrics.roc_auc(y, p) == pytest.approx(roc_auc_score(y, p))
    assert metrics.pr_auc(y, p) == pytest.approx(average_precision_score(y, p))


def snapshot_rows(prices, quote=40.0, pool="P", start="2026-01-02") -> pd.DataFrame:
    n = len(prices)
    q = np.full(n, quote)
    return pd.DataFrame({"pool_id": pool, "ts": pd.Timestamp(start) + pd.to_timedelta(np.arange(n), unit="min"),
                         "base_reserve": q / np.asarray(prices, float), "quote_reserve": q, "price": prices,
                         "base_decimals": 6, "quote_decimals": 9, "chain": "solana"})


def test_round_trip_in_an_unchanged_pool_costs_exactly_the_amm_fees():
    snaps = snapshot_rows([0.001] * 3)
    spent, received = round_trip(snaps.iloc[0], snaps.iloc[1], 1.0)
    rb, rq = int(snaps.base_reserve[0] * 1e6), int(40.0 * 1e9)
    got = raydium_v4_amount_out(10**9, rq, rb)
    back = raydium_v4_amount_out(got, rb - got, rq + 10**9)
    assert spent == 1.0 and received == back / 1e9
    assert 0.99 < received < 1.0  # two 0.25% fees and rounding, nothing else


def test_backtest_holds_at_most_three_positions_and_exits_after_hold():
    pools = pd.concat([snapshot_rows(np.linspace(0.001, 0.002, 30), pool=f"P{i}") for i in range(5)])
    cand = pools[pools.ts == pools.ts.min()][["pool_id", "ts"]].assign(priority=[5, 4, 3, 2, 1])
    result = backtest(cand, pools, BacktestConfig(start_balance=9.0, max_positions=3, hold=10))
    trades = result["trades"]
    assert list(trades.pool_id) == ["P0", "P1", "P2"]  # the highest priorities, and no fourth
    assert (trades.exit_ts - trades.entry_ts == pd.Timedelta(minutes=10)).all()
    assert (trades.entry_ts == pools.ts.min() + pd.Timedelta(minutes=1)).all()  # filled a snapshot later
    assert result["net_pnl"] > 0 and trades.spent.tolist() == [3.0, 3.0, 3.0]
    # the live bench's baselines trade the runtime's per-order notional instead of a third of the balance
    fixed = backtest(cand, pools, BacktestConfig(start_balance=9.0, max_positions=3, hold=10, stake_sol=1.0))
    assert fixed["trades"].spent.tolist() == [1.0, 1.0, 1.0]


def test_trading_baselines_launch_flip_random_entry_and_no_trade():
    pools = pd.concat([snapshot_rows(np.linspace(0.001, 0.002, 30), pool=f"P{i}",
                                     start=f"2026-01-02 00:0{i}") for i in range(5)])
    flip = launch_flip(pools, {"P1", "P3"}, BacktestConfig(start_balance=9.0, max_positions=3, hold=10))
    trades = flip["trades"]
    assert sorted(trades.pool_id) == ["P1", "P3"]
    first = pools.groupby("pool_id").ts.min()
    assert (trades.signal_ts.to_numpy() == first[trades.pool_id].to_numpy()).all()  # its first snapshot
    assert flip["net_pnl"] > 0  # prices doubled over the 30 minutes
    rows = pools[["pool_id", "ts"]]
    drawn = random_entries(rows, 2, pools, BacktestConfig(start_balance=9.0, max_positions=3, hold=10))
    assert len(drawn["net_pnl_draws"]) == 20 and drawn["net_pnl_draws"] == sorted(drawn["net_pnl_draws"])
    assert drawn["net_pnl"] == drawn["net_pnl_draws"][10] and 1 <= drawn["n_trades"] <= 2
    assert random_entries(rows, 2, pools)["net_pnl_draws"] == random_entries(rows, 2, pools)["net_pnl_draws"]
    assert no_trade(10.0)["net_pnl"] == 0.0 and no_trade(10.0)["n_trades"] == 0


def test_slippage_model_features_come_from_before_the_swap(small_world_sim):
    w = small_world_sim
    f = batch_features(w.pool_snapshots, w.swaps).to_pandas()
    table = slippage_table(w.swaps, w.pool_snapshots, f)
    assert len(table) > 0.9 * len(w.swaps)
    assert np.isfinite(table[list(SLIPPAGE.features)].drop(columns=["volatility_10", "ret_1", "volume_spike"])).all().all()
    # On constant product every trade pays at least the fee against the mid, and exactly the fee as size -> 0.
    assert (table.realised_slippage >= table.trade_fee - 1e-6).mean() > 0.999
    np.testing.assert_allclose(cp_slippage(np.array([0.0, 1.0]), np.array([0.0025, 0.0])), [0.0025, 0.5])


def test_no_model_input_reads_the_hidden_truth():
    """Truth (fates, archetypes) is for evaluation; the code that builds model inputs never touches it."""
    sources = [*ROOT.glob("quant/features/*.py"), ROOT / "quant/features/labels.py", *ROOT.glob("quant/models/*.py"),
               ROOT / "assets/features.py", ROOT / "assets/models.py"]
    offenders = [str(p.relative_to(ROOT)) for p in sources if "truth" in p.read_text()]
    assert offenders == []


def test_the_rug_models_weight_is_chosen_on_its_own_training_windows_last_day(data):
    """The operating point: the smallest weight whose fit on the window before its last day reaches the
    recall goal there with 95% confidence (or the largest tried), with a purge gap between the two."""
    d, _, window = data
    train = window.train(d)
    multiple, recall = positive_weight(RUG, train)
    point = RUG.operating_point
    assert multiple in point.weights
    last_day = train.ts.max().floor("D")
    check, fit_rows = train[train.ts >= last_day], train[train.ts < last_day - VALIDATION_PURGE]
    score = predict(fit_weighted(RUG, fit_rows, multiple), check, RUG.features)
    y = check.will_rug.to_numpy() > 0
    assert recall == pytest.approx(((score >= point.threshold) & y).sum() / y.sum())
    events = check.loc[y, "pool_id"].nunique()
    bound = recall - 1.645 * np.sqrt(recall * (1 - recall) / events)
    assert bound >= point.recall or multiple == point.weights[-1]
    for smaller in point.weights[:point.weights.index(multiple)]:  # every smaller weight fell short
        s = predict(fit_weighted(RUG, fit_rows, smaller), check, RUG.features)
        r = ((s >= point.threshold) & y).sum() / y.sum()
        assert r - 1.645 * np.sqrt(r * (1 - r) / events) < point.recall
    booster = train_booster(RUG, train)
    assert booster.attr("positive_weight") == f"{multiple:g}"
    # The purge gap takes no part: rows in the half hour before the last day may say anything.
    gap = (train.ts >= last_day - VALIDATION_PURGE) & (train.ts < last_day)
    assert gap.any()
    assert positive_weight(RUG, train.assign(will_rug=np.where(gap, 1.0 - train.will_rug, train.will_rug))) == (
        multiple, recall)
