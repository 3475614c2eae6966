"""The Solana websocket client against a loopback websocket server written here, which answers subscriptions
and pushes notifications in the shape real nodes send, carrying the recorded mainnet pool account and
transaction logs."""

import asyncio
import base64
import json

import pytest
from websockets.asyncio.server import serve

from quant.chains.errors import ChainError
from quant.chains.solana.layout import decode_amm_info
from quant.chains.solana.ray_log import decode_ray_log
from quant.chains.solana.ws import AccountUpdate, LogsUpdate, SolanaStream
from tests.chains.solana_data import MEME_TX, SOL_USDC_POOL, sol_usdc_account, tx_response

AMM = "675kPX9MHTjS2zt1qfr1NYHuzeLXfQM9H24wFSUt1Mp8"


def notification(method, sub, slot, value):
    return json.dumps({"jsonrpc": "2.0", "method": method,
                       "params": {"result": {"context": {"slot": slot}, "value": value}, "subscription": sub}})


async def with_node(realdata, body, max_s=20):
    """Run `body(url, seen)` against a node on 127.0.0.1 that stops with it (and after `max_s` at most)."""
    data, _ = sol_usdc_account(realdata)
    tx = tx_response(realdata, MEME_TX)["result"]
    account = {"data": [base64.b64encode(data).decode(), "base64"], "executable": False, "lamports": 6124800,
               "owner": AMM, "rentEpoch": 18446744073709552000, "space": len(data)}
    seen = []

    async def node(ws):
        async for raw in ws:
            req = json.loads(raw)
            seen.append(req)
            m, rid = req["method"], req["id"]
            if m == "accountSubscribe":
                if req["params"][0] != SOL_USDC_POOL:
                    await ws.send(json.dumps({"jsonrpc": "2.0", "id": rid,
                                              "error": {"code": -32602, "message": "Invalid param: WrongSize"}}))
                    continue
                # a notification can come before the answer to a later request: the client must keep it
                await ws.send(json.dumps({"jsonrpc": "2.0", "result": 23784, "id": rid}))
                await ws.send(notification("accountNotification", 23784, 433179580, account))
            elif m == "logsSubscribe":
                await ws.send(notification("accountNotification", 23784, 433179581, {**account, "lamports": 6124801}))
                await ws.send(json.dumps({"jsonrpc": "2.0", "result": 24040, "id": rid}))
                value = {"signature": MEME_TX, "err": None, "logs": tx["meta"]["logMessages"]}
                await ws.send(notification("logsNotification", 24040, tx["slot"], value))
                await ws.send(notification("logsNotification", 24040, tx["slot"] + 1,
                                           {**value, "err": {"InstructionError": [3, {"Custom": 30}]}}))
            elif m in ("accountUnsubscribe", "logsUnsubscribe"):
                await ws.send(json.dumps({"jsonrpc": "2.0", "result": True, "id": rid}))

    async with serve(node, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        return await asyncio.wait_for(body(f"ws://127.0.0.1:{port}", seen), max_s), tx


def test_account_and_logs_notifications(realdata):
    async def body(url, seen):
        async with SolanaStream(url, commitment="confirmed", timeout_s=5) as s:
            acct_sub = await s.account_subscribe(SOL_USDC_POOL)
            logs_sub = await s.logs_subscribe(AMM)
            got = [u async for u in s.updates(idle_s=0.5)]
            await s.unsubscribe(acct_sub)
            await s.unsubscribe(logs_sub)
            return (acct_sub, logs_sub, got, s.subscriptions)

    (acct_sub, logs_sub, got, left), tx = asyncio.run(with_node(realdata, body))
    assert (acct_sub, logs_sub, left) == (23784, 24040, {})
    accounts = [u for u in got if isinstance(u, AccountUpdate)]
    logs = [u for u in got if isinstance(u, LogsUpdate)]
    assert [u.slot for u in accounts] == [433179580, 433179581] and [u.lamports for u in accounts] == [6124800, 6124801]
    info = decode_amm_info(accounts[0].data, accounts[0].owner)
    assert (info.status, info.nonce, str(info.market)) == (6, 254, "8BnEgHoWFysVcuFFX7QztDmzuH8r5ZFvyP3sYwn1XTh6")
    assert [u.signature for u in logs] == [MEME_TX, MEME_TX] and logs[0].subscription == 24040
    want = [decode_ray_log(line.split("ray_log: ")[1]) for line in tx["meta"]["logMessages"] if "ray_log" in line]
    assert logs[0].swaps() == want and len(want) == 1 and logs[1].swaps() == []  # a failed tx swapped nothing


def test_subscription_errors_are_clear(realdata):
    async def body(url, seen):
        async with SolanaStream(url, timeout_s=5) as s:
            with pytest.raises(ChainError, match="accountSubscribe: JSON-RPC error -32602: Invalid param"):
                await s.account_subscribe("11111111111111111111111111111111")
            return [r["params"] for r in seen]

    params, _ = asyncio.run(with_node(realdata, body))
    assert params == [["11111111111111111111111111111111", {"encoding": "base64", "commitment": "confirmed"}]]
    with pytest.raises(ValueError, match="websocket URL"):
        SolanaStream("http://127.0.0.1:1")
