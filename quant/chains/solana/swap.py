"""Raydium AMM v4 `SwapBaseIn` built with solders, signed with a solders Keypair, and simulated with
`simulateTransaction` before any send (a failing simulation is never sent).

Instruction (`raydium-io/raydium-amm`, `program/src/instruction.rs`, `swap_base_in`): data = tag 9 (u8),
amount_in (u64 LE), minimum_amount_out (u64 LE); accounts in the program's order, see `swap_base_in` below.
The user's token accounts must exist (and wrapped SOL be wrapped): this module does not create them.
"""

from __future__ import annotations

import base64
import logging
import struct
from dataclasses import dataclass

from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from quant.chains.errors import BadAccount, ChainError, SimulationFailed
from quant.chains.keys import SOLANA_KEY_ENV, SOLANA_KEYPAIR_PATH_ENV, SolanaKey
from quant.chains.live import amount_out_min, live_requested, require_live
from quant.chains.solana.layout import (
    AMM_V4_PROGRAM,
    TOKEN_PROGRAM,
    AmmInfo,
    decode_amm_info,
    decode_token_account,
)
from quant.chains.solana.ray_log import SwapLog, ray_logs
from quant.chains.solana.rpc import SolanaRpc
from quant.market.amm import raydium_v4_amount_out

log = logging.getLogger(__name__)
SWAP_BASE_IN = 9
AMM_AUTHORITY_SEED = b"amm authority"
ATA_PROGRAM = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
KEY_HINT = f"load_solana_keypair() from ${SOLANA_KEYPAIR_PATH_ENV} or ${SOLANA_KEY_ENV}"


@dataclass(frozen=True)
class MarketKeys:
    """The pool's OpenBook/Serum market accounts (from the market account, or the pool's published keys)."""

    program: Pubkey
    market: Pubkey
    bids: Pubkey
    asks: Pubkey
    event_queue: Pubkey
    coin_vault: Pubkey
    pc_vault: Pubkey
    vault_signer: Pubkey


@dataclass(frozen=True)
class PoolKeys:
    amm: Pubkey
    authority: Pubkey
    open_orders: Pubkey
    target_orders: Pubkey
    coin_vault: Pubkey
    pc_vault: Pubkey
    market: MarketKeys | None  # None: the pool no longer trades against its order book (see swap_base_in)


def amm_authority(nonce: int) -> Pubkey:
    """The program's signing authority over the vaults: a PDA of "amm authority" and the pool's nonce."""
    return Pubkey.create_program_address([AMM_AUTHORITY_SEED, bytes([nonce])], AMM_V4_PROGRAM)


def pool_keys(amm: Pubkey | str, info: AmmInfo, market: MarketKeys | None = None) -> PoolKeys:
    return PoolKeys(Pubkey.from_string(str(amm)), amm_authority(info.nonce), info.open_orders, info.target_orders,
                    info.coin_vault, info.pc_vault, market)


def associated_token_address(owner: Pubkey, mint: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([bytes(owner), bytes(TOKEN_PROGRAM), bytes(mint)], ATA_PROGRAM)[0]


def swap_base_in(keys: PoolKeys, user_source: Pubkey, user_destination: Pubkey, owner: Pubkey, amount_in: int,
                 min_out: int, with_target_orders: bool = False) -> Instruction:
    """The SwapBaseIn instruction. Accounts: token program, amm, amm authority, open orders, (target orders,
    optional and unused by the program since 2023), coin vault, pc vault, market program, market, bids, asks,
    event queue, market coin vault, market pc vault, market vault signer, user source, user destination,
    user owner (signer). Without market keys, the open-orders and market slots carry the amm id, as mainnet
    routers send it for pools that no longer share liquidity with the order book (see the recorded swaps)."""
    if not (0 < amount_in < 2**64 and 0 <= min_out < 2**64):
        raise ValueError(f"amount_in {amount_in} / min_out {min_out} do not fit a u64")
    m, amm = keys.market, keys.amm
    book = [m.program, m.market, m.bids, m.asks, m.event_queue, m.coin_vault, m.pc_vault, m.vault_signer] \
        if m else [amm] * 8
    open_orders = keys.open_orders if m else amm
    metas = [AccountMeta(TOKEN_PROGRAM, False, False), AccountMeta(amm, False, True),
             AccountMeta(keys.authority, False, False), AccountMeta(open_orders, False, True)]
    if with_target_orders:
        metas.append(AccountMeta(keys.target_orders, False, True))
    metas += [AccountMeta(keys.coin_vault, False, True), AccountMeta(keys.pc_vault, False, True),
              AccountMeta(book[0], False, False)]
    metas += [AccountMeta(k, False, True) for k in book[1:7]]
    metas += [AccountMeta(book[7], False, False), AccountMeta(user_source, False, True),
              AccountMeta(user_destination, False, True), AccountMeta(owner, True, False)]
    return Instruction(AMM_V4_PROGRAM, struct.pack("<BQQ", SWAP_BASE_IN, amount_in, min_out), metas)


@dataclass(frozen=True)
class SwapPlan:
    keys: PoolKeys
    coin_to_pc: bool
    amount_in: int
    quote_out: int  # SwapBaseIn's output on the reserves read when planning
    min_out: int
    user_source: Pubkey
    user_destination: Pubkey


@dataclass(frozen=True)
class Simulation:
    """A `simulateTransaction` answer: `err` is None on success; `swap` is the Raydium ray_log, if any."""

    err: object
    logs: list[str]
    units: int | None
    swap: SwapLog | None


class RaydiumSwapper:
    """Plans, simulates and (live only) sends Raydium AMM v4 swaps for one owner."""

    def __init__(self, rpc: SolanaRpc, key: SolanaKey | None = None, live: bool | None = None,
                 compute_units: int = 120_000, micro_lamports_per_unit: int = 0):
        self.rpc, self.key, self.live = rpc, key, live_requested(live)
        self.compute_units, self.price = compute_units, micro_lamports_per_unit

    def __repr__(self) -> str:
        return f"RaydiumSwapper({self.rpc.url}, key={self.key!r}, live={self.live})"

    async def plan(self, amm: str, coin_to_pc: bool, amount_in: int, owner: Pubkey,
                   expected_slippage: float = 0.0, tolerance: float = 0.005,
                   market: MarketKeys | None = None) -> SwapPlan:
        """Quote on the pool's current price reserves (vaults minus need_take_pnl) and set the minimum output;
        the owner's associated token accounts of the two mints are source and destination."""
        acct = (await self.rpc.multiple_accounts([amm]))[amm]
        if acct is None:
            raise BadAccount(f"pool {amm}: no such account")
        info = decode_amm_info(acct["data"], acct.get("owner"), where=f"pool {amm}")
        vaults = await self.rpc.multiple_accounts([str(info.coin_vault), str(info.pc_vault)])
        coin, pc = (decode_token_account(vaults[str(v)]["data"], vaults[str(v)].get("owner"), str(v)).amount
                    if vaults[str(v)] else None for v in (info.coin_vault, info.pc_vault))
        if coin is None or pc is None:
            raise BadAccount(f"pool {amm}: a vault account is missing")
        r_coin, r_pc = coin - info.need_take_pnl_coin, pc - info.need_take_pnl_pc
        r_in, r_out = (r_coin, r_pc) if coin_to_pc else (r_pc, r_coin)
        quote = raydium_v4_amount_out(amount_in, r_in, r_out)
        mint_in, mint_out = (info.coin_mint, info.pc_mint) if coin_to_pc else (info.pc_mint, info.coin_mint)
        return SwapPlan(pool_keys(amm, info, market), coin_to_pc, amount_in, quote,
                        amount_out_min(quote, expected_slippage, tolerance),
                        associated_token_address(owner, mint_in), associated_token_address(owner, mint_out))

    def instructions(self, plan: SwapPlan, owner: Pubkey) -> list[Instruction]:
        ixs = [set_compute_unit_limit(self.compute_units)]
        if self.price:
            ixs.append(set_compute_unit_price(self.price))
        return ixs + [swap_base_in(plan.keys, plan.user_source, plan.user_destination, owner, plan.amount_in,
                                   plan.min_out)]

    async def message(self, plan: SwapPlan, payer: Pubkey) -> MessageV0:
        r = await self.rpc.call("getLatestBlockhash", [{"commitment": self.rpc.commitment}])
        try:
            blockhash = Hash.from_string(r["value"]["blockhash"])
        except (KeyError, TypeError, ValueError) as err:
            raise ChainError(f"getLatestBlockhash: no blockhash in {str(r)[:200]}") from err
        return MessageV0.try_compile(payer, self.instructions(plan, payer), [], blockhash)

    async def simulate(self, tx: VersionedTransaction, sig_verify: bool = True) -> Simulation:
        """`simulateTransaction` of `tx`. Unsigned dry runs pass sig_verify=False (the node then replaces
        the blockhash too, so a stale one does not fail the dry run)."""
        cfg = {"encoding": "base64", "commitment": self.rpc.commitment, "sigVerify": sig_verify,
               "replaceRecentBlockhash": not sig_verify}
        r = await self.rpc.call("simulateTransaction", [base64.b64encode(bytes(tx)).decode(), cfg])
        value = r.get("value") if isinstance(r, dict) else None
        if not isinstance(value, dict) or "err" not in value:
            raise ChainError(f"simulateTransaction: no value.err in {str(r)[:200]}")
        logs = value.get("logs") or []
        swaps = ray_logs(logs, str(AMM_V4_PROGRAM))
        return Simulation(value["err"], logs, value.get("unitsConsumed"), swaps[-1] if swaps else None)

    async def dry_run(self, plan: SwapPlan, payer: Pubkey) -> Simulation:
        """Simulate the swap for `payer` without any key (the signature slot is left empty)."""
        msg = await self.message(plan, payer)
        return await self.simulate(VersionedTransaction.populate(msg, [Signature.default()]), sig_verify=False)

    async def send(self, plan: SwapPlan) -> str:
        """Sign, simulate, and only if the simulation succeeds send; the transaction signature."""
        require_live(self.live, self.key, "Raydium swap", KEY_HINT)
        tx = self.key.sign(await self.message(plan, self.key.pubkey))
        sim = await self.simulate(tx)
        if sim.err is not None:
            tail = " | ".join(line for line in sim.logs[-4:])
            raise SimulationFailed(f"swap on {plan.keys.amm} not sent, simulation failed: {sim.err} ({tail})")
        cfg = {"encoding": "base64", "skipPreflight": True}  # simulated just now, on the same state
        sig = await self.rpc.call("sendTransaction", [base64.b64encode(bytes(tx)).decode(), cfg])
        if sig != str(tx.signatures[0]):
            raise ChainError(f"sendTransaction answered {sig!r}, expected the signature {tx.signatures[0]}")
        log.info("sent Raydium swap %s on %s: %d in, min %d out", sig, plan.keys.amm, plan.amount_in, plan.min_out)
        return sig
