"""The market-maker note states what was measured, not a remembered figure."""

from __future__ import annotations

import pandas as pd
import polars as pl

from quant.wallet_eval import market_maker_note


def test_note_reports_the_true_makers_win_rates():
    profiles = pl.DataFrame({"wallet": ["a", "b", "c", "d"], "win_rate": [0.50, 0.49, 0.60, 0.10],
                             "round_trips": [80, 100, 90, 5]})
    truth = pd.DataFrame({"address": ["a", "b", "c", "d"],
                          "archetype": ["market_maker", "market_maker", "market_maker", "retail"]})
    note = market_maker_note(profiles, truth)
    assert "median win rate is 0.50 over a median of 90 round trips" in note
    assert "only 67% of them inside" in note
    assert market_maker_note(profiles, truth.assign(archetype="retail")) == "no market makers in this world"
