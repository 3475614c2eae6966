"""The live runtime's chain stream on the real Uniswap V2 contracts (anvil on loopback): what was traded
arrives once, in market-time order, as the runtime's swap and snapshot events."""

from __future__ import annotations

import time
from datetime import datetime

import pandas as pd

from live_runtime.events import SNAPSHOT, SWAP
from live_runtime.sources import (
    ChainPollingStream,
    ChainSubscribedStream,
    Orderer,
    evm_subscription,
)
from quant.chains.factory import evm_source
from tests.chains.conftest import DAY_2026_01_02
from tests.chains.uniswap import E18, Done, buy, scenario, setup_uniswap, two_pair_market


def test_polled_chain_events_arrive_once_and_in_order(anvil):
    url, w3 = anvil
    u = setup_uniswap(w3)
    done = scenario(u, lambda s: w3.provider.make_request("evm_increaseTime", [s]))
    w3.provider.make_request("evm_increaseTime", [120])
    w3.provider.make_request("evm_mine", [])
    source = evm_source(url, u.factory.address, {u.tokens["USD"].address: "USD", u.weth.address: "ETH"},
                        {"ETH": u.pair("USD").address}, confirmations=0)
    chain_now = lambda: datetime.utcfromtimestamp(w3.eth.get_block("latest")["timestamp"])  # noqa: E731
    stream = ChainPollingStream(source, interval_s=0.0, lag_s=0.0, since=datetime.utcfromtimestamp(DAY_2026_01_02),
                                clock=chain_now)
    orderer, events = Orderer(tolerance_s=2.0), []
    for _ in range(3):  # the first poll fetches everything so far; later ones find nothing new
        orderer.push(stream.poll(10_000, 0.0))
        events += orderer.release()
    events += orderer.release(flush=True)
    swaps = [e for e in events if e.kind == SWAP]
    assert sorted(e.id for e in swaps) == sorted(s["tx"] for s in done.swaps)
    assert orderer.duplicates == 0 and orderer.late == 0
    assert [e[:2] for e in events] == sorted(e[:2] for e in events)
    snapshots = [e for e in events if e.kind == SNAPSHOT]
    pairs = {u.pair(t).address for t in u.tokens}
    assert snapshots and {e.pool_id for e in snapshots} <= pairs and {e.pool_id for e in swaps} <= pairs
    assert all(e.chain == "evm" and e.base_reserve > 0 and e.quote_reserve > 0 for e in snapshots)
    assert all(pd.Timestamp(e.ts_us, unit="us") >= pd.Timestamp(DAY_2026_01_02, unit="s") for e in events)


def test_a_subscribed_chain_stream_fetches_when_the_chain_announces_logs(anvil):
    """With the fallback poll an hour away, only the pair-log subscription can make the stream fetch: the first
    swap arrives as soon as the next one's logs are announced (a fetch reads up to the newest block's time,
    exclusive, so a block's own second is read once a later block exists)."""
    url, w3 = anvil
    u = two_pair_market(w3)
    source = evm_source(url, u.factory.address, {u.weth.address: "ETH"}, confirmations=0)
    chain_now = lambda: datetime.utcfromtimestamp(w3.eth.get_block("latest")["timestamp"])  # noqa: E731
    pairs = [u.pair("AAA").address, u.pair("BBB").address]
    stream = ChainSubscribedStream(source, evm_subscription(url.replace("http://", "ws://"), pairs),
                                   interval_s=3600.0, lag_s=0.0, since=chain_now(), clock=chain_now)
    try:
        assert stream.connected.wait(10), "the subscription did not connect"
        while stream.poll(10_000, 0.0):  # what is there already (the pairs' creation)
            pass
        a, b = w3.eth.accounts[1:3]
        done = Done()
        buy(u, done, "AAA", a, E18)
        w3.provider.make_request("evm_increaseTime", [60])
        buy(u, done, "BBB", b, E18 // 4)
        deadline, events = time.monotonic() + 10, []
        while not any(e.kind == SWAP for e in events) and time.monotonic() < deadline:
            events += stream.poll(10_000, 0.05)
        swaps = [e for e in events if e.kind == SWAP]
        assert [e.id for e in swaps] == [done.swaps[0]["tx"]] and swaps[0].pool_id == pairs[0]
        assert stream.notifications >= 2 and stream.reconnects == 0
    finally:
        stream.close()
