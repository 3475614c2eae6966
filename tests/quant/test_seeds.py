"""The multi-seed evaluation on small worlds of two seeds that took no part in any design choice, against
floors fixed beforehand: a change that only helps seed 7 shows up here.

The floors were set from seeds 201-203 (small worlds: 3 days, so one training day and two held-out days) as
about 0.06-0.2 below the lowest of the three, before seeds 204 and 205 were ever run; on the small world's
single training day the rug model misses its 0.8 recall goal (201-203: 0.44-0.58), so its floor states
what one day of training gives, not the goal. TARGET precision (0.04-0.50 on 4-45 calls) and strategy PnL
(the models beat no trade on one of three) vary too much on two held-out days to carry a floor here; the
default-world figures over seeds 101-103 (README, BENCHMARKS.md) are the ones that count."""

from __future__ import annotations

import pytest

from quant.evaluation.seeds import seed_figures, summarise

FRESH_SEEDS = (204, 205)
FLOORS = {
    "rug_roc_auc": 0.78,  # 201-203: 0.846-0.880
    "moon_roc_auc": 0.72,  # 0.782-0.830
    "rug_recall_at_0.3": 0.35,  # 0.439-0.577
    "moon_precision_at_100": 0.20,  # 0.29-0.39
    "ring_recall": 0.60,  # 0.778-1.0
    "ring_precision": 0.30,  # 0.438-0.500
    "market_maker_precision": 0.80,  # 1.0
}
BASELINES = ("no_trade", "launch_flip", "random_entry", "rule_based", "buy_and_hold_new_pools")


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    worlds = tmp_path_factory.mktemp("fresh_worlds")
    return [seed_figures(seed, "small", worlds) for seed in FRESH_SEEDS]


@pytest.mark.parametrize("figure", FLOORS)
def test_headline_figures_hold_their_floors_on_fresh_seeds(fresh, figure):
    values = [row[figure] for row in fresh]
    assert all(v is not None and v >= FLOORS[figure] for v in values), f"{figure} on seeds {FRESH_SEEDS}: {values}"


def test_every_strategy_stands_beside_every_baseline(fresh):
    for row in fresh:
        assert row["pnl_no_trade"] == 0.0 and row["trades_launch_flip"] > 0
        assert all(f"pnl_{b}" in row for b in BASELINES)
        best = max(BASELINES, key=lambda b: row[f"pnl_{b}"])
        assert row["best_baseline"] == best and row["pnl_best_baseline"] >= 0.0
        assert row["model_minus_best_baseline"] == pytest.approx(row["pnl_model"] - row[f"pnl_{best}"])


def test_summary_is_mean_and_sample_spread_over_seeds():
    rows = [{"seed": 1, "seconds": 1.0, "x": 1.0, "y": None, "name": "a"},
            {"seed": 2, "seconds": 1.0, "x": 3.0, "y": 0.5, "name": "b"}]
    out = summarise(rows)
    assert out["x"] == {"mean": 2.0, "std": pytest.approx(2**0.5), "min": 1.0, "max": 3.0, "undefined": 0}
    assert out["y"]["undefined"] == 1 and out["y"]["mean"] == 0.5 and "name" not in out
