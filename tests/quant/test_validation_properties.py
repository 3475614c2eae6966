"""Generated hostile batches against the quarantine and the raw store: nothing crashes, every row is either
accepted clean or quarantined with a reason naming its field, nothing is dropped, and the raw store gives
back every cell it was handed."""

from __future__ import annotations

import json
import re
from datetime import UTC, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant.market.raw import REPR, cell
from quant.market.schemas import CONTRACTS
from quant.market.validation import _canonical_key, field_kinds, split_valid
from resources import RawStore

DAY = (pd.Timestamp("2026-01-02"), pd.Timestamp("2026-01-03"))
TABLES = ["swaps", "pool_snapshots", "transfers", "cex_prices"]
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
REASON = re.compile(r"(?P<rule>[a-z_]+(?:\([^)]*\))?): (?P<field>[a-z_0-9]+)=")

hostile = st.one_of(
    st.none(), st.just(np.nan), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80), st.text(max_size=60),
    st.sampled_from(["", " ", "0x", "1e999", "\u0661\u0662", "6.7", "-0", "NaN", "inf", "now", "2026-01-02",
                     "2026-01-02T10:00:00Z", "9999-12-31", "0x" + "Ab" * 20, "buy", "sell", "solana", "evm",
                     "1" * 44, "abc\x00", "\u200b"]),
    st.binary(max_size=8),
    st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=5))])),
    st.lists(st.integers(), max_size=2),
)


@pytest.fixture(scope="module")
def samples(small_world_sim):
    out = {}
    for t in TABLES:
        d = getattr(small_world_sim, t)
        d = d[(d.ts >= DAY[0]) & (d.ts < DAY[1])]
        out[t] = (d.groupby("chain").head(30) if "chain" in d else d.head(60)).reset_index(drop=True)
    return out


@st.composite
def corrupted(draw, samples):
    """A clean sample with some cells replaced by hostile values and some rows repeated (maybe mangled)."""
    table = draw(st.sampled_from(TABLES))
    df = samples[table].astype(object).copy()
    touched = set()
    for _ in range(draw(st.integers(1, 12))):
        row = draw(st.integers(0, len(df) - 1))
        column = draw(st.sampled_from(list(df.columns)))
        df.at[row, column] = draw(hostile)
        touched.add(row)
    repeats = draw(st.lists(st.integers(0, len(df) - 1), max_size=4))
    if repeats:
        df = pd.concat([df, df.iloc[repeats]], ignore_index=True)
        touched |= set(range(len(df) - len(repeats), len(df))) | set(repeats)
    return table, df, touched


@PROPERTY
@given(data=st.data())
def test_every_row_is_accepted_clean_or_quarantined_with_its_field(samples, data):
    table, batch, touched = data.draw(corrupted(samples))
    split = split_valid(table, batch, *DAY)
    assert len(split.valid) + len(split.quarantined) == len(batch)  # nothing dropped
    schema, key = CONTRACTS[table]
    schema.validate(split.valid)  # what is accepted honours the whole contract
    assert not _canonical_key(split.valid, key).duplicated().any()
    fields = set(field_kinds(table))
    for reason in split.quarantined.reason:
        if reason.startswith("duplicate_key: "):
            continue
        m = REASON.match(reason)
        assert m and m["field"] in fields, reason
    # every untouched row is kept: hostile cells elsewhere never cost a clean row its place
    untouched = batch.drop(index=list(touched))
    assert len(split.valid) >= len(untouched)
    kept = set(_canonical_key(split.valid, key).astype(str).agg("|".join, axis=1))
    clean = _canonical_key(split_valid(table, untouched, *DAY).valid, key).astype(str).agg("|".join, axis=1)
    assert set(clean) <= kept


def _kept(value: object) -> object:
    """A cell as the raw store promises to give it back (what JSON cannot type comes back as its repr)."""
    c = cell(value)
    return c[REPR] if isinstance(c, dict) and REPR in c else c


def _as_json(df: pd.DataFrame) -> list[str]:
    return [json.dumps([_kept(v) for v in row], allow_nan=True) for row in df.itertuples(index=False, name=None)]


@PROPERTY
@given(data=st.data())
def test_the_raw_store_keeps_any_batch_as_received(samples, data, tmp_path_factory):
    table, batch, _ = data.draw(corrupted(samples))
    store = RawStore(directory=str(tmp_path_factory.mktemp("raw")))
    path = store.keep(table, "2026-01-02", batch)
    back = store.read(table, "2026-01-02")
    assert list(back.columns) == list(batch.columns) and len(back) == len(batch)
    assert _as_json(back) == _as_json(batch), path.suffix
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left behind


def test_a_typed_batch_stays_parquet_and_a_mixed_one_becomes_json_lines(samples, tmp_path):
    store = RawStore(directory=str(tmp_path))
    assert store.keep("swaps", "2026-01-02", samples["swaps"]).suffix == ".parquet"
    mixed = samples["swaps"].astype(object)
    mixed.at[0, "price"] = "1.5"
    mixed.at[1, "ts"] = "2026-01-02T10:00:00+02:00"
    mixed.at[2, "amount_in"] = 10**30
    path = store.keep("swaps", "2026-01-02", mixed)
    assert path.suffix == ".jsonl" and not path.with_suffix(".parquet").exists()
    back = store.read("swaps", "2026-01-02")
    assert back.at[0, "price"] == "1.5" and back.at[2, "amount_in"] == 10**30
    assert back.at[1, "ts"] == "2026-01-02T10:00:00+02:00" and back.at[3, "ts"] == samples["swaps"].ts[3]
