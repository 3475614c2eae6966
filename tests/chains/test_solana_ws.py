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
from quant.chains.tables import empty
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


def test_pool_account_notifications_wake_the_live_runtimes_chain_stream(realdata):
    """The runtime's subscribed stream over a loopback node: a pool-account notification makes the next poll
    fetch at once (the fallback poll is an hour away). The fetch side is the chain source's, tested against
    recorded RPC answers elsewhere; here it records what it was asked."""
    from live_runtime.sources import ChainSubscribedStream, solana_subscription

    data, _ = sol_usdc_account(realdata)
    account = {"data": [base64.b64encode(data).decode(), "base64"], "executable": False, "lamports": 6124800,
               "owner": AMM, "rentEpoch": 0, "space": len(data)}

    class Recorded:
        def __init__(self):
            self.asked = []

        def fetch(self, table, start, end):
            self.asked.append(table)
            return empty(table)

    async def run():
        push = asyncio.Event()

        async def node(ws):
            async for raw in ws:
                req = json.loads(raw)
                assert req["method"] == "accountSubscribe" and req["params"][0] == SOL_USDC_POOL
                await ws.send(json.dumps({"jsonrpc": "2.0", "result": 7, "id": req["id"]}))
                await push.wait()  # the account changes only when the test says so
                await ws.send(notification("accountNotification", 7, 433179580, account))

        async with serve(node, "127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            source = Recorded()
            stream = ChainSubscribedStream(source, solana_subscription(url, [SOL_USDC_POOL]), interval_s=3600.0,
                                           lag_s=0.0)
            try:
                while not stream.connected.is_set():
                    await asyncio.sleep(0.01)
                stream.poll(100, 0.0)  # the first poll fetches; the next is an hour away
                stream.poll(100, 0.0)
                quiet = list(source.asked)
                push.set()
                while not stream.notifications:
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.01)
                stream.poll(100, 0.0)
                return quiet, source.asked, stream.notifications
            finally:
                stream.close()

    quiet, asked, notifications = asyncio.run(asyncio.wait_for(run(), 20))
    assert quiet == ["pool_snapshots", "swaps"]  # one fetch; without news, none
    assert asked == quiet * 2 and notifications == 1  # the notification: a fetch at once
