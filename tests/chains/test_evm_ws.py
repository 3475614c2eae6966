"""`eth_subscribe` logs over anvil's websocket endpoint (the same port as HTTP): swaps made on the real
Uniswap V2 contracts arrive as the same Sync/Swap events, in order, that the receipts hold."""

import asyncio

import pytest

from quant.chains.evm.pairs import decode_pair_event
from quant.chains.evm.ws import PairLogStream
from tests.chains.uniswap import E18, Done, buy, sell, two_pair_market


@pytest.fixture(scope="module")
def chain(anvil):
    url, w3 = anvil
    u = two_pair_market(w3)
    return url.replace("http://", "ws://"), w3, u


def test_swaps_arrive_as_pair_events(chain):
    ws_url, w3, u = chain
    a, b = w3.eth.accounts[1:3]
    followed = [u.pair("AAA").address]  # BBB's pair trades too but is not followed

    async def run():
        async with PairLogStream(ws_url, followed, timeout_s=5) as stream:
            done = Done()
            buy(u, done, "AAA", a, E18)  # blocking HTTP calls: the websocket buffers meanwhile
            buy(u, done, "BBB", b, E18 // 4)
            sell(u, done, "AAA", a, 1_000 * E18)
            got = [e async for e in stream.events(idle_s=1.0)]
            return done, got

    done, got = asyncio.run(asyncio.wait_for(run(), 30))
    want = []
    for s in done.swaps:
        for log in w3.eth.get_transaction_receipt(s["tx"])["logs"]:
            ev = decode_pair_event(log)
            if ev is not None and ev.pair in followed:
                want.append(ev)
    assert [e.event for e in got] == want and not any(e.removed for e in got)
    assert [e.event.kind for e in got] == ["sync", "swap"] * 2  # the AAA buy and sell; BBB's not followed
    assert [e.event.tx_hash for e in got[1::2]] == [done.swaps[0]["tx"], done.swaps[2]["tx"]]


def test_needs_a_websocket_url():
    with pytest.raises(ValueError, match="websocket URL"):
        PairLogStream("http://127.0.0.1:8545", [])
