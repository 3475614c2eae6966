"""The live runtime's chain stream on the real Uniswap V2 contracts (anvil on loopback): what was traded
arrives once, in market-time order, as the runtime's swap and snapshot events."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from live_runtime.sources import SNAPSHOT, SWAP, ChainPollingStream, Orderer
from quant.chains.factory import evm_source
from tests.chains.conftest import DAY_2026_01_02
from tests.chains.uniswap import scenario, setup_uniswap


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
    swaps = [e for e in events if e[1] == SWAP]
    assert sorted(e[2] for e in swaps) == sorted(s["tx"] for s in done.swaps)
    assert orderer.duplicates == 0 and orderer.late == 0
    assert [e[:2] for e in events] == sorted(e[:2] for e in events)
    snapshots = [e for e in events if e[1] == SNAPSHOT]
    pairs = {u.pair(t).address for t in u.tokens}
    assert snapshots and {e[3] for e in snapshots} <= pairs and {e[3] for e in swaps} <= pairs
    assert all(e[11] == "evm" and e[5] > 0 and e[6] > 0 for e in snapshots)
    assert all(pd.Timestamp(e[0], unit="us") >= pd.Timestamp(DAY_2026_01_02, unit="s") for e in events)
