"""The EVM client against a hostile node on loopback (web3's real HTTP provider, through quant.chains.factory):
every kind of garbage answer is a ChainError naming the call after the project's own retries (web3's are off:
N attempts are N requests), never a crash; a server's long Retry-After ends the call at once with its figure;
logs a reorg removed are not events; and a polling stream over a failing source degrades and resumes from its
cursor, losing and repeating nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from live_runtime.sources import ChainPollingStream
from quant.chains.errors import ChainError, RetriesExhausted
from quant.chains.evm.abi import SWAP, SYNC
from quant.chains.evm.logs import LogScanner
from quant.chains.evm.rpc import EvmRpc, json_depth
from quant.chains.factory import web3_for
from quant.chains.retry import Backoff, retry_after_s
from tests.chains.rpc_server import LoopbackRpc, Reply
from tests.chains.test_etl_replay import FIRST, LAST, node, rpc_log

FAST = Backoff(attempts=3, base_s=0.01, cap_s=0.02)
DEEP = b'{"jsonrpc":"2.0","id":0,"result":' + b"[" * 70_000 + b"]" * 70_000 + b"}"  # ~140 KB

GARBAGE = {
    "an HTML page with 200": (Reply(200, "<html><body>502 Bad Gateway</body></html>"), "not JSON"),
    "HTTP 500": (Reply(500, "internal error"), "HTTP 500"),
    "deeply nested JSON": (Reply(200, DEEP), "nests deeper than 32"),
    "a JSON array": (Reply(200, "[1, 2, 3]"), "not an object"),
    "a wrong response id": (Reply(200, '{"jsonrpc":"2.0","id":999,"result":"0x10"}'), "answer id 999"),
    "a null result": (None, "not a hex quantity"),
    "a hex of 20,000 digits": ("0x" + "f" * 20_000, "not a hex quantity"),
    "neither result nor error": (Reply(200, '{"jsonrpc":"2.0","id":1}'), "answer id|neither result"),
}


@pytest.mark.parametrize("answer, reason", GARBAGE.values(), ids=GARBAGE.keys())
def test_every_garbage_answer_is_a_chain_error_after_the_projects_retries_only(answer, reason):
    with LoopbackRpc(lambda m, p, h: answer) as server:
        rpc = EvmRpc(web3_for(server.url), FAST)
        with pytest.raises(RetriesExhausted, match=reason):
            rpc.call(lambda: rpc.w3.eth.block_number, "eth_blockNumber")
        assert server.calls.count("eth_blockNumber") == FAST.attempts


def test_a_client_error_is_sent_once_and_a_recovered_node_is_used():
    with LoopbackRpc(lambda m, p, h: Reply(403, "forbidden")) as server:
        rpc = EvmRpc(web3_for(server.url), FAST)
        with pytest.raises(ChainError, match="HTTP 403"):
            rpc.call(lambda: rpc.w3.eth.block_number, "eth_blockNumber")
        assert len(server.calls) == 1
    answers = iter([Reply(200, "<html>"), Reply(502, "bad gateway"), "0x2a"])
    with LoopbackRpc(lambda m, p, h: next(answers)) as server:
        rpc = EvmRpc(web3_for(server.url), FAST)
        assert rpc.call(lambda: rpc.w3.eth.block_number, "eth_blockNumber") == 42
        assert len(server.calls) == 3


def test_a_long_retry_after_ends_the_call_at_once_with_the_servers_figure():
    with LoopbackRpc(lambda m, p, h: Reply(429, "slow down", {"Retry-After": "3600"})) as server:
        rpc = EvmRpc(web3_for(server.url), FAST)
        with pytest.raises(RetriesExhausted, match="asks to wait 3600 s") as err:
            rpc.call(lambda: rpc.w3.eth.block_number, "eth_blockNumber")
        assert err.value.retry_after == 3600 and len(server.calls) == 1
    now = datetime(2015, 10, 21, 7, 27, 0, tzinfo=UTC)
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT", now) == 60.0
    assert retry_after_s(" 120 ", now) == 120.0 and retry_after_s("soon", now) is None
    assert retry_after_s("Wed, 21 Oct 2015 07:00:00 GMT", now) == 0.0  # in the past: no wait


def test_odd_length_log_data_is_refused_and_removed_logs_are_not_events(realdata):
    handle, logs = node(realdata)
    syncs = [rpc_log(x) for x in logs if x["topics"][0] == SYNC][:3]
    odd = [dict(syncs[0], data=syncs[0]["data"][:-1])]  # web3 would pad it: every value 16x off
    with LoopbackRpc(lambda m, p, h: odd if m == "eth_getLogs" else handle(m, p, h)) as server:
        with pytest.raises(RetriesExhausted, match="field data=.* is not even-length 0x hex"):
            list(LogScanner(EvmRpc(web3_for(server.url), FAST)).scan(FIRST, LAST, None, [[SYNC]]))
    reorged = [syncs[0], dict(syncs[1], removed=True), syncs[2]]
    with LoopbackRpc(lambda m, p, h: reorged if m == "eth_getLogs" else handle(m, p, h)) as server:
        got = list(LogScanner(EvmRpc(web3_for(server.url), FAST), max_range=10).scan(FIRST, LAST, None, [[SWAP, SYNC]]))
    assert [g["logIndex"] for g in got] == [int(syncs[0]["logIndex"], 16), int(syncs[2]["logIndex"], 16)]


def test_json_depth_ignores_brackets_inside_strings():
    assert json_depth(b'{"a": "[[[[{{{{", "b": [1, {"c": "]]]"}]}') == 3
    assert json_depth(b'{"a": "\\"[[[["}') == 1
    assert json_depth(b'{"a": "]]]]", "b": [[[[1]]]]}') == 5  # closers in a string hide no depth
    assert json_depth(b'{"a": "\\"]]]]", "b": [[[[1]]]]}') == 5


class _FlakySource:
    """A market source that fails its first `failures` fetches, then answers from fixed tables."""

    def __init__(self, tables: dict[str, pd.DataFrame], failures: int):
        self.tables, self.failures, self.asked = tables, failures, []

    def fetch(self, table, lo, hi):
        self.asked.append((table, lo, hi))
        if self.failures:
            self.failures -= 1
            raise RetriesExhausted(f"{table}: node down")
        t = self.tables[table]
        return t[(t.ts >= lo) & (t.ts < hi)].reset_index(drop=True)


def test_a_failing_source_degrades_the_stream_and_it_resumes_from_its_cursor(world_cache):
    from quant.simulator.config import world_config
    from quant.simulator.market import SimulatedMarket
    market = SimulatedMarket(world_config("small", 7), world_cache)
    lo = market.table("pool_snapshots").ts.min() + pd.Timedelta(hours=30)
    hi = lo + pd.Timedelta(minutes=20)
    tables = {t: market.fetch(t, lo, hi) for t in ("pool_snapshots", "swaps")}
    clock = [lo.to_pydatetime()]

    def drain(stream):
        events = []
        for _ in range(50):
            events += stream.poll(10_000, 0.0)
        return events

    clean = ChainPollingStream(_FlakySource(tables, 0), interval_s=0.0, lag_s=0.0, since=lo, clock=lambda: clock[0])
    flaky = ChainPollingStream(_FlakySource(tables, 3), interval_s=0.0, lag_s=0.0, since=lo, clock=lambda: clock[0])
    flaky.MAX_BACKOFF_S = 0.0
    clock[0] = (hi + timedelta(seconds=1)).to_pydatetime()
    first = flaky.poll(10_000, 0.0)
    assert first == [] and flaky.health()["state"] == "failing" and "node down" in flaky.health()["last_error"]
    assert flaky.cursor == pd.Timestamp(lo)  # nothing skipped: the same span is asked again
    want, got = drain(clean), drain(flaky)
    assert flaky.health()["state"] == "ok" and flaky.failed_fetches == 3
    assert len(want) > 100 and got == want
