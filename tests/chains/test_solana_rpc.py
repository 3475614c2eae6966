"""solana-py's real AsyncClient against a loopback JSON-RPC server that answers with recorded responses."""

import asyncio
import base64
import time

import base58
import pandas as pd
import pytest

from quant.chains.errors import BadAccount, ChainError, RetriesExhausted
from quant.chains.retry import Backoff
from quant.chains.solana.layout import AMM_INFO_SIZE, OFFSETS, TOKEN_PROGRAM
from quant.chains.solana.rpc import SolanaRpc
from quant.chains.solana.source import WSOL, RaydiumSource
from quant.market.schemas import Swap
from tests.chains.rpc_server import LoopbackRpc, Reply, RpcError
from tests.chains.solana_data import (
    MSOL_USDC_TX,
    SOL_USDC_POOL,
    account_response,
    as_rpc_account,
    sol_usdc_account,
    tx_response,
    with_keys,
)

AMM = "675kPX9MHTjS2zt1qfr1NYHuzeLXfQM9H24wFSUt1Mp8"
MSOL_POOL = "ZfvDXXUhZDzDVsapffUyXHj9ByCoPjP4thL6YXcZ9ix"
COIN_VAULT, PC_VAULT = "8JUjWjAyXTMB4ZXcV7nk3p6Gg1fWAAoSck7xekuyADKL", "DaXyxj42ZDrp3mjrL9pYjPNyBp5P8A2f37am4Kd4EyrK"
MSOL, USDC = "mSoLzYCxHdYgdzU16g5QSh3i5K3z3KZK7ytfqcJm7So", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
FAST = Backoff(attempts=4, base_s=0.01, cap_s=0.05)


def recorded_chain(realdata):
    """Accounts and transactions as a mainnet node served them. The mSOL-USDC pool's state is the recorded
    SOL-USDC AmmInfo pointed at the mSOL pool's recorded vaults and mints (its own state was not recorded)."""
    data, _ = sol_usdc_account(realdata)
    msol_pool = with_keys(data, coin_vault=COIN_VAULT, pc_vault=PC_VAULT, coin_mint=MSOL, pc_mint=USDC)
    accounts = {SOL_USDC_POOL: as_rpc_account(data, AMM), MSOL_POOL: as_rpc_account(msol_pool, AMM)}
    for vault in (COIN_VAULT, PC_VAULT):
        accounts[vault] = account_response(realdata, MSOL_USDC_TX, vault)["result"]["value"]
    tx = tx_response(realdata, MSOL_USDC_TX)["result"]
    sigs = {MSOL_POOL: [{"signature": MSOL_USDC_TX, "slot": tx["slot"], "blockTime": tx["blockTime"],
                         "err": None, "memo": None, "confirmationStatus": "finalized"}]}
    return accounts, {MSOL_USDC_TX: tx}, sigs


def handler_for(realdata):
    accounts, txs, sigs = recorded_chain(realdata)
    seen = []

    def handle(method, params, _headers):
        seen.append((method, params))
        if method == "getProgramAccounts":
            program, cfg = params
            assert program == AMM and cfg["filters"][0] == {"dataSize": AMM_INFO_SIZE}
            out = []
            for key, acct in accounts.items():
                raw = base64.b64decode(acct["data"][0])
                if acct["owner"] == AMM and all(
                        raw[f["memcmp"]["offset"]:f["memcmp"]["offset"] + 32] == base58.b58decode(f["memcmp"]["bytes"])
                        for f in cfg["filters"][1:]):
                    out.append({"pubkey": key, "account": acct})
            return out
        if method == "getMultipleAccounts":
            return {"context": {"slot": 277083685, "apiVersion": "1.18.15"},
                    "value": [accounts.get(k) for k in params[0]]}
        if method == "getSignaturesForAddress":
            return [] if params[1].get("before") else sigs.get(params[0], [])
        if method == "getTransaction":
            return txs.get(params[0])
        raise RpcError(-32601, f"Method not found: {method}")

    return handle, seen


def run(coro):
    return asyncio.run(coro)


def test_discovery_uses_size_and_memcmp_filters(realdata):
    handle, seen = handler_for(realdata)
    with LoopbackRpc(handle) as server:
        async def go():
            async with SolanaRpc(server.url, backoff=FAST) as rpc:
                src = RaydiumSource(rpc)
                return await src.discover(WSOL, "coin_mint"), await src.discover(USDC, "coin_mint")
        with_sol, with_usdc_coin = run(go())
    assert with_sol == [SOL_USDC_POOL] and with_usdc_coin == []
    method, params = seen[0]
    assert params[1]["filters"] == [{"dataSize": 752}, {"memcmp": {"offset": OFFSETS["coin_mint"], "bytes": WSOL}}]
    assert params[1]["commitment"] == "confirmed"


def test_reserves_are_vaults_minus_pnl_in_one_batch(realdata):
    handle, seen = handler_for(realdata)
    with LoopbackRpc(handle) as server:
        async def go():
            async with SolanaRpc(server.url, backoff=FAST) as rpc:
                src = RaydiumSource(rpc, pools=[MSOL_POOL])
                pools = await src.load_pools([MSOL_POOL])
                return pools, await src.reserves(pools)
        pools, reserves = run(go())
    coin = int.from_bytes(base64.b64decode(account_response(realdata, MSOL_USDC_TX, COIN_VAULT)["result"]["value"]["data"][0])[64:72], "little")
    pc = int.from_bytes(base64.b64decode(account_response(realdata, MSOL_USDC_TX, PC_VAULT)["result"]["value"]["data"][0])[64:72], "little")
    assert reserves[MSOL_POOL] == (coin - 162834498, pc - 12518360)
    vault_calls = [p for m, p in seen if m == "getMultipleAccounts" and COIN_VAULT in p[0]]
    assert vault_calls == [[[COIN_VAULT, PC_VAULT], {"encoding": "base64", "commitment": "confirmed"}]]


def test_swaps_table_from_signatures_and_transactions(realdata):
    handle, _ = handler_for(realdata)
    with LoopbackRpc(handle) as server:
        async def go():
            async with SolanaRpc(server.url, backoff=FAST) as rpc:
                return await RaydiumSource(rpc, pools=[MSOL_POOL]).swap_rows(1720121536 - 60, 1720121536 + 60)
        df = run(go())
    Swap.validate(df)
    (row,) = df.to_dict("records")
    # USDC in, mSOL out: a buy of mSOL (base) with USDC (quote), amounts as Jupiter decoded them.
    assert row["tx_id"] == MSOL_USDC_TX and row["side"] == "buy" and row["pool_id"] == MSOL_POOL
    assert row["amount_in"] == 27086960 / 1e6 and row["amount_out"] == 166770422 / 1e9
    assert row["reserve_base_before"] == 820712055850 / 1e9 and row["reserve_quote_before"] == 132940309918 / 1e6
    assert row["fee"] == 67718 / 1e6 and row["ts"] == pd.Timestamp("2024-07-04 19:32:16")
    assert row["wallet"] == "4qLQDSpCwGJSig3tDvkfUbgW1TJWgeABpr5BtR3r3vZo"


def test_rate_limit_answers_are_retried_after_retry_after(realdata):
    handle, _ = handler_for(realdata)
    answers = iter([Reply(429, '{"error":"Too many requests"}', {"Retry-After": "0"}),
                    Reply(503, "busy")])

    def flaky(method, params, headers):
        nxt = next(answers, None)
        return nxt if nxt is not None else handle(method, params, headers)

    with LoopbackRpc(flaky) as server:
        async def go():
            async with SolanaRpc(server.url, backoff=FAST) as rpc:
                return await RaydiumSource(rpc).load_pools([SOL_USDC_POOL])
        pools = run(go())
        assert server.calls == ["getMultipleAccounts"] * 3
    assert pools[SOL_USDC_POOL].info.lp_amount == 57482213984111


def test_node_errors_retry_or_fail_clearly():
    calls = []

    def unhealthy(method, params, headers):
        calls.append(method)
        if len(calls) == 1:
            raise RpcError(-32005, "Node is behind by 42 slots")
        raise RpcError(-32602, "Invalid param: WrongSize")

    with LoopbackRpc(unhealthy) as server:
        async def go():
            async with SolanaRpc(server.url, backoff=FAST) as rpc:
                await rpc.multiple_accounts([SOL_USDC_POOL])
        with pytest.raises(ChainError, match="JSON-RPC error -32602: Invalid param"):
            run(go())
    assert calls == ["getMultipleAccounts", "getMultipleAccounts"]


def test_timeouts_are_retried_then_reported():
    with LoopbackRpc(lambda m, p, h: Reply(delay_s=0.5)) as server:
        async def go():
            async with SolanaRpc(server.url, backoff=Backoff(3, 0.01, 0.02), timeout_s=0.1) as rpc:
                await rpc.multiple_accounts([SOL_USDC_POOL])
        t0 = time.monotonic()
        with pytest.raises(RetriesExhausted, match="getMultipleAccounts: 3 attempts failed, last: .*Timeout"):
            run(go())
        assert time.monotonic() - t0 < 3
        assert len(server.calls) == 3


@pytest.mark.parametrize("bad", ["truncated", "wrong_owner", "missing"])
def test_bad_pool_accounts_give_errors_not_rows(realdata, bad):
    data, _ = sol_usdc_account(realdata)
    acct = {"truncated": as_rpc_account(data[:700], AMM), "wrong_owner": as_rpc_account(data, str(TOKEN_PROGRAM)),
            "missing": None}[bad]
    with LoopbackRpc(lambda m, p, h: {"context": {"slot": 1}, "value": [acct]}) as server:
        async def go():
            async with SolanaRpc(server.url, backoff=FAST) as rpc:
                await RaydiumSource(rpc).load_pools([SOL_USDC_POOL])
        match = {"truncated": "752 bytes, got 700", "wrong_owner": "not the Raydium AMM v4", "missing": "not found"}
        with pytest.raises(BadAccount, match=match[bad]):
            run(go())
