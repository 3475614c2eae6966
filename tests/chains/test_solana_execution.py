"""Raydium SwapBaseIn built with solders: the instruction equals the recorded mainnet ones account for account
and byte for byte; swaps are signed, simulated on a loopback JSON-RPC server that answers in the shape of
real `simulateTransaction` responses (computing the swap on the recorded pool reserves), and sent only when
the simulation succeeds."""

import asyncio
import base64
import json
import logging
import struct
from dataclasses import replace

import base58
import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from quant.chains.errors import ExecutionRefused, SimulationFailed
from quant.chains.keys import KeyLoadError, load_solana_keypair
from quant.chains.retry import Backoff
from quant.chains.solana.layout import AMM_V4_PROGRAM, TOKEN_PROGRAM, decode_amm_info
from quant.chains.solana.rpc import SolanaRpc
from quant.chains.solana.swap import (
    PoolKeys,
    RaydiumSwapper,
    amm_authority,
    associated_token_address,
    swap_base_in,
)
from quant.market.amm import raydium_v4_amount_out
from tests.chains.rpc_server import LoopbackRpc, RpcError
from tests.chains.solana_data import (
    MEME_TX,
    MSOL_USDC_TX,
    account_response,
    as_rpc_account,
    sol_usdc_account,
    tx_response,
    with_keys,
)

AMM = str(AMM_V4_PROGRAM)
MSOL_POOL = "ZfvDXXUhZDzDVsapffUyXHj9ByCoPjP4thL6YXcZ9ix"
COIN_VAULT, PC_VAULT = "8JUjWjAyXTMB4ZXcV7nk3p6Gg1fWAAoSck7xekuyADKL", "DaXyxj42ZDrp3mjrL9pYjPNyBp5P8A2f37am4Kd4EyrK"
MSOL, USDC = "mSoLzYCxHdYgdzU16g5QSh3i5K3z3KZK7ytfqcJm7So", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
FAST = Backoff(attempts=2, base_s=0.01, cap_s=0.02)
CONTEXT = {"slot": 277083685, "apiVersion": "1.18.15"}


def raydium_ix(result: dict) -> dict:
    return next(ix for inner in result["meta"]["innerInstructions"] for ix in inner["instructions"]
                if ix.get("programId") == AMM)


@pytest.mark.parametrize("sig", [MSOL_USDC_TX, MEME_TX])
def test_instruction_equals_the_recorded_mainnet_swap(realdata, sig):
    ix = raydium_ix(tx_response(realdata, sig)["result"])
    acc = [Pubkey.from_string(a) for a in ix["accounts"]]
    tag, amount_in, min_out = struct.unpack("<BQQ", base58.b58decode(ix["data"]))
    nonce = decode_amm_info(sol_usdc_account(realdata)[0]).nonce  # every AMM v4 pool has the same authority
    keys = PoolKeys(amm=acc[1], authority=amm_authority(nonce), open_orders=acc[1], target_orders=acc[1],
                    coin_vault=acc[4], pc_vault=acc[5], market=None)
    built = swap_base_in(keys, acc[14], acc[15], acc[16], amount_in, min_out)
    assert tag == 9 and built.program_id == AMM_V4_PROGRAM
    assert [m.pubkey for m in built.accounts] == acc and built.accounts[0].pubkey == TOKEN_PROGRAM
    assert bytes(built.data) == base58.b58decode(ix["data"])
    signers = [m.pubkey for m in built.accounts if m.is_signer]
    assert signers == [acc[16]] and all(m.is_writable for m in built.accounts[14:16])


class RecordedValidator:
    """getMultipleAccounts / getLatestBlockhash from the recorded mainnet data; simulateTransaction runs the
    SwapBaseIn math on the recorded vault balances and answers like a node; sendTransaction checks the
    signature and returns it."""

    def __init__(self, realdata):
        data, _ = sol_usdc_account(realdata)
        pool = with_keys(data, coin_vault=COIN_VAULT, pc_vault=PC_VAULT, coin_mint=MSOL, pc_mint=USDC)
        self.info = decode_amm_info(pool)
        self.accounts = {MSOL_POOL: as_rpc_account(pool, AMM)}
        for v in (COIN_VAULT, PC_VAULT):
            self.accounts[v] = account_response(realdata, MSOL_USDC_TX, v)["result"]["value"]
        self.blockhash = tx_response(realdata, MSOL_USDC_TX)["result"]["transaction"]["message"]["recentBlockhash"]
        self.sent, self.configs = [], []

    def reserves(self) -> tuple[int, int]:
        return (self._amount(COIN_VAULT) - self.info.need_take_pnl_coin,
                self._amount(PC_VAULT) - self.info.need_take_pnl_pc)

    def _amount(self, v) -> int:
        return struct.unpack_from("<Q", base64.b64decode(self.accounts[v]["data"][0]), 64)[0]

    def tx(self, b64: str, verify: bool) -> VersionedTransaction:
        tx = VersionedTransaction.from_bytes(base64.b64decode(b64))
        if verify and not all(tx.verify_with_results()):
            raise RpcError(-32003, "Transaction signature verification failure")
        return tx

    def simulate(self, tx: VersionedTransaction) -> dict:
        msg = tx.message
        keys = list(msg.account_keys)
        i, ix = next((i, ix) for i, ix in enumerate(msg.instructions) if keys[ix.program_id_index] == AMM_V4_PROGRAM)
        _, a_in, min_out = struct.unpack("<BQQ", bytes(ix.data))
        vault_order = [keys[j] for j in ix.accounts[4:6]]
        source, owner = keys[ix.accounts[14]], keys[ix.accounts[16]]
        coin_to_pc = source == associated_token_address(owner, self.info.coin_mint)  # else pc's account
        assert coin_to_pc or source == associated_token_address(owner, self.info.pc_mint)
        r_coin, r_pc = self.reserves()
        out = raydium_v4_amount_out(a_in, r_coin, r_pc) if coin_to_pc else raydium_v4_amount_out(a_in, r_pc, r_coin)
        head = ["Program ComputeBudget111111111111111111111111111111 invoke [1]",
                "Program ComputeBudget111111111111111111111111111111 success", f"Program {AMM} invoke [1]"]
        assert vault_order == [Pubkey.from_string(COIN_VAULT), Pubkey.from_string(PC_VAULT)]
        if out < min_out:
            return {"context": CONTEXT, "value": {
                "err": {"InstructionError": [i, {"Custom": 30}]}, "accounts": None, "innerInstructions": None,
                "logs": head + ["Program log: Error: exceeds desired slippage limit",
                                f"Program {AMM} consumed 21346 of 119850 compute units",
                                f"Program {AMM} failed: custom program error: 0x1e"],
                "replacementBlockhash": None, "returnData": None, "unitsConsumed": 21496}}
        ray = struct.pack("<B7Q", 3, a_in, min_out, 2 if coin_to_pc else 1, a_in, self._amount(COIN_VAULT), self._amount(PC_VAULT), out)
        return {"context": CONTEXT, "value": {
            "err": None, "accounts": None, "innerInstructions": None, "replacementBlockhash": None,
            "logs": head + [f"Program log: ray_log: {base64.b64encode(ray).decode()}",
                            "Program TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA invoke [2]",
                            "Program TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA success",
                            f"Program {AMM} consumed 30247 of 119850 compute units", f"Program {AMM} success"],
            "returnData": None, "unitsConsumed": 30397}}

    def handle(self, method, params, _headers):
        if method == "getMultipleAccounts":
            return {"context": CONTEXT, "value": [self.accounts.get(k) for k in params[0]]}
        if method == "getLatestBlockhash":
            return {"context": CONTEXT, "value": {"blockhash": self.blockhash, "lastValidBlockHeight": 255120350}}
        if method == "simulateTransaction":
            self.configs.append(params[1])
            return self.simulate(self.tx(params[0], params[1]["sigVerify"]))
        if method == "sendTransaction":
            tx = self.tx(params[0], True)
            self.sent.append(tx)
            return str(tx.signatures[0])
        raise RpcError(-32601, "Method not found")


@pytest.fixture
def node(realdata):
    validator = RecordedValidator(realdata)
    with LoopbackRpc(validator.handle, max_s=60) as server:
        yield validator, server


@pytest.fixture
def keyfile(tmp_path, monkeypatch):
    kp = Keypair()
    path = tmp_path / "id.json"
    path.write_text(json.dumps(list(bytes(kp))))  # solana-cli's format
    monkeypatch.setenv("SOLANA_KEYPAIR_PATH", str(path))
    monkeypatch.delenv("QUANT_LIVE", raising=False)
    return kp


async def swap_flow(server, live, key, amount, tighten=0, send=True):
    async with SolanaRpc(server.url, rate_per_s=0, backoff=FAST) as rpc:
        s = RaydiumSwapper(rpc, key, live=live)
        owner = key.pubkey if key else Pubkey.from_string("46ECY5pTrN9Fbu5HdobxWBKxeAQXMo6uXTDwozrKadWZ")
        plan = await s.plan(MSOL_POOL, True, amount, owner, expected_slippage=0.002)
        if tighten:
            plan = replace(plan, min_out=plan.quote_out + tighten)
        dry = await s.dry_run(plan, owner)
        sig = await s.send(plan) if send else None
        return s, plan, dry, sig


def test_swap_is_simulated_then_sent(node, keyfile):
    validator, server = node
    key = load_solana_keypair()
    s, plan, dry, sig = asyncio.run(swap_flow(server, True, key, 250_000_000))
    r_coin, r_pc = validator.reserves()
    assert plan.quote_out == raydium_v4_amount_out(250_000_000, r_coin, r_pc) and plan.min_out < plan.quote_out
    assert dry.err is None and dry.swap.amount_out == plan.quote_out and dry.units == 30397
    assert server.calls[-3:] == ["getLatestBlockhash", "simulateTransaction", "sendTransaction"]
    assert [c["sigVerify"] for c in validator.configs] == [False, True]  # the dry run, then the signed one
    (tx,) = validator.sent
    assert sig == str(tx.signatures[0]) and all(tx.verify_with_results())
    msg = tx.message
    keys = list(msg.account_keys)
    assert keys[0] == keyfile.pubkey() and str(msg.recent_blockhash) == validator.blockhash
    ix = msg.instructions[-1]
    assert keys[ix.program_id_index] == AMM_V4_PROGRAM
    accounts = [keys[j] for j in ix.accounts]
    assert len(accounts) == 17 and accounts[0] == TOKEN_PROGRAM and accounts[1] == Pubkey.from_string(MSOL_POOL)
    assert accounts[2] == amm_authority(validator.info.nonce) and [str(a) for a in accounts[4:6]] == [COIN_VAULT, PC_VAULT]
    assert accounts[14:] == [associated_token_address(keyfile.pubkey(), Pubkey.from_string(MSOL)),
                             associated_token_address(keyfile.pubkey(), Pubkey.from_string(USDC)), keyfile.pubkey()]
    data = bytes(ix.data)
    assert len(data) == 17 and data[0] == 9 and struct.unpack_from("<QQ", data, 1) == (250_000_000, plan.min_out)


def test_failed_simulation_is_never_sent(node, keyfile):
    validator, server = node
    with pytest.raises(SimulationFailed, match=r"'Custom': 30.*exceeds desired slippage limit"):
        asyncio.run(swap_flow(server, True, load_solana_keypair(), 250_000_000, tighten=1))
    assert "sendTransaction" not in server.calls and validator.sent == []


def test_dry_run_needs_no_key_and_sending_needs_both(node, keyfile, monkeypatch):
    validator, server = node
    _, plan, dry, _ = asyncio.run(swap_flow(server, None, None, 10**9, send=False))
    assert dry.err is None and dry.swap.amount_out == plan.quote_out
    with pytest.raises(ExecutionRefused, match="live mode is off"):
        asyncio.run(swap_flow(server, False, load_solana_keypair(), 10**9))
    monkeypatch.setenv("QUANT_LIVE", "1")
    with pytest.raises(ExecutionRefused, match="no signing key loaded .*SOLANA_KEYPAIR_PATH"):
        asyncio.run(swap_flow(server, None, None, 10**9))
    assert validator.sent == [] and "sendTransaction" not in server.calls


def test_key_never_shows(node, keyfile, caplog, tmp_path, monkeypatch):
    validator, server = node
    caplog.set_level(logging.DEBUG)
    key = load_solana_keypair()
    s, _, _, sig = asyncio.run(swap_flow(server, True, key, 10**8))
    secret = base58.b58encode(bytes(keyfile)).decode()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(list(bytes(keyfile))[:63]))
    monkeypatch.setenv("SOLANA_KEYPAIR_PATH", str(bad))
    with pytest.raises(KeyLoadError, match="not a 64-byte") as err:
        load_solana_keypair()
    from_b58 = load_solana_keypair({"SOLANA_PRIVATE_KEY": secret})
    assert from_b58.pubkey == keyfile.pubkey() and sig in caplog.text
    shown = [caplog.text, repr(s), str(key), repr(from_b58), str(err.value), repr(err.value.__cause__)]
    assert not any(secret in x or str(list(bytes(keyfile))[:8])[1:-1] in x for x in shown)
