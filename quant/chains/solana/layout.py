"""Raydium AMM v4 account layouts, decoded by hand from the program's packed little-endian structs.

`AmmInfo` (`raydium-io/raydium-amm`, `program/src/state.rs`): 752 bytes, no discriminator. The SPL token
account (165 bytes): mint, owner, amount at offsets 0, 32, 64.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solders.pubkey import Pubkey

from quant.chains.errors import BadAccount

AMM_V4_PROGRAM = Pubkey.from_string("675kPX9MHTjS2zt1qfr1NYHuzeLXfQM9H24wFSUt1Mp8")
TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
AMM_INFO_SIZE = 752
TOKEN_ACCOUNT_SIZE = 165

# 16 u64 header, Fees (8 u64), StateData (8 u64, u128, u128, u64, u128, u128, u64), 9 pubkeys, [u64; 8],
# amm_owner, lp_amount, client_order_id, recent_epoch, padding2.
_U64_FIELDS = ("status", "nonce", "order_num", "depth", "coin_decimals", "pc_decimals", "state", "reset_flag",
               "min_size", "vol_max_cut_ratio", "amount_wave", "coin_lot_size", "pc_lot_size",
               "min_price_multiplier", "max_price_multiplier", "sys_decimal_value",
               "min_separate_numerator", "min_separate_denominator", "trade_fee_numerator",
               "trade_fee_denominator", "pnl_numerator", "pnl_denominator", "swap_fee_numerator",
               "swap_fee_denominator", "need_take_pnl_coin", "need_take_pnl_pc", "total_pnl_pc",
               "total_pnl_coin", "pool_open_time", "punish_pc_amount", "punish_coin_amount",
               "orderbook_to_init_time")
_KEYS = ("coin_vault", "pc_vault", "coin_mint", "pc_mint", "lp_mint", "open_orders", "market",
         "market_program", "target_orders")
KEYS_OFFSET = 336  # where coin_vault starts: 32 u64 + 4 u128 + 2 u64 = 256 + 64 + 16
# Offsets for getProgramAccounts memcmp filters.
OFFSETS = {name: KEYS_OFFSET + 32 * i for i, name in enumerate(_KEYS)}
OFFSETS["status"] = 0


@dataclass(frozen=True)
class AmmInfo:
    status: int
    nonce: int
    coin_decimals: int
    pc_decimals: int
    trade_fee_numerator: int
    trade_fee_denominator: int
    swap_fee_numerator: int
    swap_fee_denominator: int
    need_take_pnl_coin: int
    need_take_pnl_pc: int
    pool_open_time: int
    coin_vault: Pubkey
    pc_vault: Pubkey
    coin_mint: Pubkey
    pc_mint: Pubkey
    lp_mint: Pubkey
    open_orders: Pubkey
    market: Pubkey
    market_program: Pubkey
    target_orders: Pubkey
    amm_owner: Pubkey
    lp_amount: int

    @property
    def trade_fee(self) -> float:
        return self.trade_fee_numerator / self.trade_fee_denominator if self.trade_fee_denominator else 0.0


def decode_amm_info(data: bytes, owner: Pubkey | str | None = None, where: str = "account") -> AmmInfo:
    """Decode an AmmInfo account; with `owner`, also require that the AMM v4 program owns it."""
    if owner is not None and str(owner) != str(AMM_V4_PROGRAM):
        raise BadAccount(f"{where}: owner {owner} is not the Raydium AMM v4 program {AMM_V4_PROGRAM}")
    if len(data) != AMM_INFO_SIZE:
        raise BadAccount(f"{where}: AmmInfo must be {AMM_INFO_SIZE} bytes, got {len(data)}")
    u64 = dict(zip(_U64_FIELDS, struct.unpack_from("<32Q", data, 0), strict=True))
    keys = {name: Pubkey.from_bytes(data[off:off + 32]) for name, off in OFFSETS.items() if name != "status"}
    tail = KEYS_OFFSET + 32 * len(_KEYS) + 64
    amm_owner = Pubkey.from_bytes(data[tail:tail + 32])
    (lp_amount,) = struct.unpack_from("<Q", data, tail + 32)
    fields = {k: u64[k] for k in AmmInfo.__dataclass_fields__ if k in u64}
    return AmmInfo(**fields, **keys, amm_owner=amm_owner, lp_amount=lp_amount)


@dataclass(frozen=True)
class TokenAccount:
    mint: Pubkey
    owner: Pubkey
    amount: int


def decode_token_account(data: bytes, owner: Pubkey | str | None = None, where: str = "account") -> TokenAccount:
    """Decode an SPL token account (mint, owner, amount)."""
    if owner is not None and str(owner) != str(TOKEN_PROGRAM):
        raise BadAccount(f"{where}: owner {owner} is not the SPL token program")
    if len(data) < TOKEN_ACCOUNT_SIZE:
        raise BadAccount(f"{where}: token account must be {TOKEN_ACCOUNT_SIZE} bytes, got {len(data)}")
    (amount,) = struct.unpack_from("<Q", data, 64)
    return TokenAccount(Pubkey.from_bytes(data[0:32]), Pubkey.from_bytes(data[32:64]), amount)
