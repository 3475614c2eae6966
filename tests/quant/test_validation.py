"""Quarantine: every bad row leaves with its reason, every good row stays, nothing is lost."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant.chains.tables import empty
from quant.market.addresses import is_solana_address
from quant.market.validation import BatchRejected, split_valid

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


@pytest.fixture(scope="module")
def few_rows(day_tables):
    """A hundred rows of each chain per table: enough for every rule, fast enough for many cases."""
    return {t: (d.groupby("chain").head(100) if "chain" in d else d.head(200)).reset_index(drop=True)
            for t, d in day_tables.items()}


def _one_bad_cell(few_rows, table, column, value, chain=None):
    df = few_rows[table].copy()
    row = int(df.index[df.chain == chain][0]) if chain else 0
    df[column] = df[column].astype(object)
    df.at[row, column] = value
    return df, row


EVM_TX = "0x" + "ab" * 32
BAD_CELLS = [  # (table, column, value, chain of the row, the rule that must quarantine it)
    ("pool_snapshots", "volume_24h", np.inf, None, "not_finite"),
    ("pool_snapshots", "trade_fee", -np.inf, None, "not_finite"),
    ("swaps", "reserve_base_before", np.inf, None, "not_finite"),
    ("swaps", "reserve_quote_before", np.inf, None, "not_finite"),
    ("swaps", "fee", np.inf, None, "not_finite"),
    ("swaps", "price", "1e999", None, "not_finite"),
    ("swaps", "amount_in", 10**400, None, "not_finite"),
    ("transfers", "amount", np.inf, None, "not_finite"),
    ("transfers", "fee", np.inf, None, "not_finite"),
    ("swaps", "price", True, None, "not_a_number"),
    ("swaps", "price", np.bool_(True), None, "not_a_number"),
    ("swaps", "price", "\u0661\u0662", None, "not_a_number"),  # Arabic-Indic digits: float() reads them as 12
    ("swaps", "price", "12abc", None, "not_a_number"),
    ("swaps", "price", [1.0], None, "not_a_number"),
    ("swaps", "price", None, None, "not_nullable"),
    ("pool_snapshots", "base_decimals", 6.7, None, "not_an_integer"),
    ("pool_snapshots", "base_decimals", "\u0666", None, "not_a_number"),
    ("pool_snapshots", "quote_decimals", False, None, "not_a_number"),
    ("swaps", "wallet", "0x" + "AbCdEf0123" * 4, "evm", "valid_wallet_address"),  # mixed case, wrong EIP-55
    ("swaps", "pool_id", "ab" * 20, "evm", "valid_pool_address"),  # no 0x
    ("swaps", "wallet", None, "solana", "not_nullable"),
    ("transfers", "to_address", 12345, None, "not_a_string"),
    ("pool_snapshots", "base_mint", "not-a-mint", "solana", "valid_base_mint"),
    ("pool_snapshots", "base_mint", "0x" + "12" * 19, "evm", "valid_base_mint"),
    ("swaps", "tx_id", "", None, "padded_or_blank"),
    ("swaps", "tx_id", "abc\x00def", None, "control_character"),
    ("swaps", "tx_id", "abc def", None, "valid_tx_id"),
    ("transfers", "tx_id", "x" * 129, None, "valid_tx_id"),
    ("swaps", "side", "buy\u200b", None, "control_character"),
    ("swaps", "ts", pd.Timestamp("2026-01-02 10:00", tz="UTC"), None, "tz_aware"),
    ("swaps", "ts", "2026-01-02T10:00:00+02:00", None, "tz_aware"),
    ("swaps", "ts", "yesterday", None, "unparseable_timestamp"),
    ("swaps", "ts", "now", None, "unparseable_timestamp"),
    ("swaps", "ts", "2026-13-45", None, "unparseable_timestamp"),
    ("swaps", "ts", "9999-01-01", None, "unparseable_timestamp"),
    ("swaps", "ts", np.datetime64("9999-01-01"), None, "out_of_range"),
    ("swaps", "ts", 1767312000, None, "not_a_timestamp"),
    ("pool_snapshots", "pool_open_time", "garbage", None, "unparseable_timestamp"),
    ("cex_prices", "price_usd", np.inf, None, "not_finite"),
]


@pytest.mark.parametrize(("table", "column", "value", "chain", "rule"), BAD_CELLS,
                         ids=[f"{t}.{c}={v!r}"[:60] for t, c, v, _, _ in BAD_CELLS])
def test_one_bad_cell_quarantines_its_row_with_field_and_value(few_rows, table, column, value, chain, rule):
    df, row = _one_bad_cell(few_rows, table, column, value, chain)
    split = split_valid(table, df, *DAY)
    assert len(split.quarantined) == 1, split.quarantined.reason.tolist()
    reason = split.quarantined.reason[0]
    assert reason.startswith(f"{rule}: {column}="), reason
    assert len(split.valid) == len(df) - 1
    pd.testing.assert_frame_equal(split.valid, split_valid(table, df.drop(index=row), *DAY).valid)


def test_solana_keys_with_whitespace_are_refused(few_rows):
    df = few_rows["swaps"].copy()
    sol = df.index[df.chain == "solana"][:3]
    df.loc[sol[0], "wallet"] += " "
    df.loc[sol[1], "pool_id"] = "\t" + df.loc[sol[1], "pool_id"]
    df.loc[sol[2], "wallet"] += "\n"
    split = split_valid("swaps", df, *DAY)
    assert sorted(split.quarantined.tx_id) == sorted(df.tx_id[sol])
    assert set(split.reasons) <= {"padded_or_blank", "control_character"}
    assert not any(is_solana_address(df.loc[i, c]) for i, c in zip(sol, ["wallet", "pool_id", "wallet"], strict=True))


def test_ascii_number_strings_are_read_exactly(few_rows):
    df = few_rows["swaps"].copy()
    df["price"] = df.price.astype(object)
    df.at[0, "price"] = "2.5e-3"
    split = split_valid("swaps", df, *DAY)
    assert split.quarantined.empty and split.valid.price[0] == 0.0025


def test_duplicates_differing_in_hex_case_are_duplicates(few_rows):
    df = few_rows["swaps"].copy()
    evm = int(df.index[df.chain == "evm"][0])
    copy = df.loc[[evm]].copy()
    copy["tx_id"] = copy.tx_id.str.upper().str.replace("0X", "0x")
    split = split_valid("swaps", pd.concat([df, copy], ignore_index=True), *DAY)
    assert len(split.quarantined) == 1 and split.quarantined.reason[0].startswith("duplicate_key:")


def test_a_bad_copy_never_pushes_out_the_clean_row(few_rows):
    df = few_rows["swaps"].copy()
    bad = df.loc[[5]].copy()
    bad["price"] = -1.0
    batch = pd.concat([bad, df], ignore_index=True)  # the bad copy comes first
    split = split_valid("swaps", batch, *DAY)
    assert split.quarantined.reason.tolist() == ["greater_than(0): price=-1.0"]
    assert split.valid.tx_id.tolist() == df.tx_id.tolist()


@pytest.mark.parametrize("mangle", [
    lambda d: d.drop(columns="price"),
    lambda d: d.assign(extra=1),
    lambda d: d.rename(columns={"fee": "price"}),
    lambda d: d.set_axis([*d.columns[:-1], 7], axis=1),
    lambda d: d.to_dict("records"),
], ids=["missing", "extra", "repeated", "non-string-name", "not-a-table"])
def test_a_batch_of_the_wrong_shape_is_refused_with_its_reason(few_rows, mangle):
    with pytest.raises(BatchRejected, match="swaps: .*(missing|outside|repeated|not strings|must be a table)"):
        split_valid("swaps", mangle(few_rows["swaps"]), *DAY)


def test_an_empty_batch_or_one_of_object_columns_is_fine(few_rows):
    assert split_valid("swaps", empty("swaps"), *DAY).valid.empty
    as_objects = few_rows["transfers"].astype(object)
    split = split_valid("transfers", as_objects, *DAY)
    assert split.quarantined.empty
    pd.testing.assert_frame_equal(split.valid, split_valid("transfers", few_rows["transfers"], *DAY).valid)
