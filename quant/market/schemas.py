"""The contracts of the market tables, as pandera models. One definition, used by the ingestion assets'
quarantine, their blocking checks, and any code that reads the tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from quant.market.addresses import valid_addresses

CHAINS = ["solana", "evm"]


_TX_ID_CHARS = 128


def _finite(s: pd.Series) -> pd.Series:
    return pd.Series(np.isfinite(s.to_numpy(dtype=float)), index=s.index)


def _tx_id_ok(s: pd.Series) -> pd.Series:
    """Transaction ids are printable ASCII without whitespace (`hash` or `hash:n`), at most 128 characters."""
    text = s.astype(str)
    return text.str.fullmatch(r"[!-~]{1," + str(_TX_ID_CHARS) + "}").fillna(False).astype(bool)


class PoolSnapshot(pa.DataFrameModel):
    pool_id: Series[str]
    chain: Series[str] = pa.Field(isin=CHAINS)
    ts: Series[pd.Timestamp]
    price: Series[float] = pa.Field(gt=0)
    base_reserve: Series[float] = pa.Field(gt=0)
    quote_reserve: Series[float] = pa.Field(gt=0)
    volume_24h: Series[float] = pa.Field(ge=0)
    trade_fee: Series[float] = pa.Field(ge=0, le=0.1)
    pool_open_time: Series[pd.Timestamp]
    base_decimals: Series[int] = pa.Field(ge=0, le=18)
    quote_decimals: Series[int] = pa.Field(ge=0, le=18)
    category: Series[str]
    base_mint: Series[str]
    quote_symbol: Series[str]

    @pa.check("price", "base_reserve", "quote_reserve", "volume_24h", "trade_fee", name="finite")
    def finite(cls, s: Series[float]) -> Series[bool]:
        return _finite(s)

    @pa.dataframe_check(name="valid_pool_address")
    def valid_pool(cls, df: pd.DataFrame) -> Series[bool]:
        return pd.Series(valid_addresses(df.chain, df.pool_id), index=df.index)

    @pa.dataframe_check(name="valid_base_mint")
    def valid_mint(cls, df: pd.DataFrame) -> Series[bool]:
        return pd.Series(valid_addresses(df.chain, df.base_mint), index=df.index)

    @pa.dataframe_check(name="opened_before_snapshot")
    def opened_before(cls, df: pd.DataFrame) -> Series[bool]:
        return df.pool_open_time <= df.ts

    class Config:
        strict = True
        coerce = True
        unique = ["pool_id", "ts"]


class Swap(pa.DataFrameModel):
    tx_id: Series[str] = pa.Field(unique=True)
    ts: Series[pd.Timestamp]
    chain: Series[str] = pa.Field(isin=CHAINS)
    pool_id: Series[str]
    wallet: Series[str]
    side: Series[str] = pa.Field(isin=["buy", "sell"])
    amount_in: Series[float] = pa.Field(gt=0)
    amount_out: Series[float] = pa.Field(gt=0)
    reserve_base_before: Series[float] = pa.Field(gt=0)
    reserve_quote_before: Series[float] = pa.Field(gt=0)
    price: Series[float] = pa.Field(gt=0)
    fee: Series[float] = pa.Field(ge=0)

    @pa.check("price", "amount_in", "amount_out", "reserve_base_before", "reserve_quote_before", "fee",
              name="finite")
    def finite(cls, s: Series[float]) -> Series[bool]:
        return _finite(s)

    @pa.check("tx_id", name="valid_tx_id")
    def valid_tx_id(cls, s: Series[str]) -> Series[bool]:
        return _tx_id_ok(s)

    @pa.dataframe_check(name="valid_wallet_address")
    def valid_wallet(cls, df: pd.DataFrame) -> Series[bool]:
        return pd.Series(valid_addresses(df.chain, df.wallet), index=df.index)

    @pa.dataframe_check(name="valid_pool_address")
    def valid_pool(cls, df: pd.DataFrame) -> Series[bool]:
        return pd.Series(valid_addresses(df.chain, df.pool_id), index=df.index)

    class Config:
        strict = True
        coerce = True


class Transfer(pa.DataFrameModel):
    tx_id: Series[str] = pa.Field(unique=True)
    ts: Series[pd.Timestamp]
    chain: Series[str] = pa.Field(isin=CHAINS)
    from_address: Series[str]
    to_address: Series[str]
    amount: Series[float] = pa.Field(gt=0)
    fee: Series[float] = pa.Field(ge=0)

    @pa.check("amount", "fee", name="finite")
    def finite(cls, s: Series[float]) -> Series[bool]:
        return _finite(s)

    @pa.check("tx_id", name="valid_tx_id")
    def valid_tx_id(cls, s: Series[str]) -> Series[bool]:
        return _tx_id_ok(s)

    @pa.dataframe_check(name="valid_from_address")
    def valid_from(cls, df: pd.DataFrame) -> Series[bool]:
        return pd.Series(valid_addresses(df.chain, df.from_address), index=df.index)

    @pa.dataframe_check(name="valid_to_address")
    def valid_to(cls, df: pd.DataFrame) -> Series[bool]:
        return pd.Series(valid_addresses(df.chain, df.to_address), index=df.index)

    class Config:
        strict = True
        coerce = True


class CexPrice(pa.DataFrameModel):
    ts: Series[pd.Timestamp]
    symbol: Series[str]
    price_usd: Series[float] = pa.Field(gt=0)

    @pa.check("price_usd", name="finite")
    def finite(cls, s: Series[float]) -> Series[bool]:
        return _finite(s)

    class Config:
        strict = True
        coerce = True
        unique = ["symbol", "ts"]


# Row-level checks and the field whose value decides them, so a quarantine reason names it.
CHECK_FIELDS = {"valid_pool_address": "pool_id", "valid_base_mint": "base_mint", "valid_wallet_address": "wallet",
                "valid_from_address": "from_address", "valid_to_address": "to_address",
                "opened_before_snapshot": "pool_open_time"}

# table -> (schema, the key whose repeats are duplicates)
CONTRACTS: dict[str, tuple[type[pa.DataFrameModel], list[str]]] = {
    "pool_snapshots": (PoolSnapshot, ["pool_id", "ts"]),
    "swaps": (Swap, ["tx_id"]),
    "transfers": (Transfer, ["tx_id"]),
    "cex_prices": (CexPrice, ["symbol", "ts"]),
}
