"""Quarantine: every bad row leaves with its reason, every good row stays, nothing is lost."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant.market.validation import split_valid

DAY = (pd.Timestamp("2026-01-02"), pd.Timestamp("2026-01-03"))


@pytest.fixture(scope="module")
def day_tables(small_world_sim):
    return {t: getattr(small_world_sim, t).pipe(lambda d: d[(d.ts >= DAY[0]) & (d.ts < DAY[1])])
            .reset_index(drop=True) for t in ("swaps", "pool_snapshots", "transfers", "cex_prices")}


@pytest.mark.parametrize("table", ["swaps", "pool_snapshots", "transfers", "cex_prices"])
def test_clean_simulated_days_pass_whole(day_tables, table):
    split = split_valid(table, day_tables[table], *DAY)
    assert len(split.valid) == len(day_tables[table]) > 0 and split.quarantined.empty


def test_injected_bad_swaps_are_quarantined_with_reasons(day_tables):
    df = day_tables["swaps"].copy()
    evm = df.index[(df.chain == "evm") & ~df.index.isin([3, 4, 5, 7, 8, 10])][0]  # one fault per row
    df.loc[3, "price"] = np.nan
    df.loc[4, "reserve_base_before"] = 0.0
    df.loc[5, "wallet"] = "not-a-base58-key!"
    df.loc[evm, "wallet"] = "0x" + "12" * 19  # 19 bytes
    df.loc[7, "ts"] = pd.Timestamp("2026-01-05 10:00")
    df.loc[8, "price"] = -1.0
    df = pd.concat([df, df.iloc[[10]]], ignore_index=True)  # a duplicate tx id
    split = split_valid("swaps", df, *DAY)
    assert len(split.valid) + len(split.quarantined) == len(df)
    reasons = " | ".join(split.quarantined.reason)
    assert len(split.quarantined) == 7
    for expected in ("not_nullable: price=nan", "greater_than(0): reserve_base_before=0.0",
                     "valid_wallet_address: wallet=not-a-base58-key!", "valid_wallet_address: wallet=0x1212",
                     "outside_partition: ts=2026-01-05 10:00:00", "greater_than(0): price=-1.0",
                     f"duplicate_key: {df.tx_id.iloc[10]}"):
        assert expected in reasons, expected
    assert split.valid.tx_id.is_unique
    assert sorted(split.quarantined.tx_id.astype(str)) == sorted(df.tx_id.iloc[[3, 4, 5, evm, 7, 8, 10]].astype(str))


def test_a_batch_missing_a_column_fails_as_a_whole(day_tables):
    with pytest.raises(ValueError, match="price"):
        split_valid("swaps", day_tables["swaps"].drop(columns="price"), *DAY)
