"""Ethereum mainnet blocks 17173049-17173050 (ethereum-etl export) served as eth_getLogs and
eth_getBlockByNumber by a loopback JSON-RPC server to web3's real HTTP provider."""

import json

import pytest
from web3 import HTTPProvider, Web3

from quant.chains.errors import ChainError, RetriesExhausted
from quant.chains.evm.abi import SWAP, SYNC
from quant.chains.evm.logs import LogScanner
from quant.chains.evm.pairs import PairRegistry
from quant.chains.evm.rpc import EvmRpc
from quant.chains.retry import Backoff
from quant.market.amm import uniswap_v2_amount_out
from tests.chains.rpc_server import LoopbackRpc, Reply, RpcError

FIRST, LAST = 17173049, 17173050
WETH_USDT = Web3.to_checksum_address("0x0d4a11d5eeaac28ec3f61d100daf4d40471f1852")
FAST = Backoff(attempts=4, base_s=0.01, cap_s=0.05)


def load(realdata, name):
    path = realdata / "evm" / "ethereum_etl_blocks_17173049_17173050" / f"expected_{name}.json"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def rpc_log(x):
    return {"address": x["address"], "topics": x["topics"], "data": x["data"], "blockNumber": hex(x["block_number"]),
            "blockHash": x["block_hash"], "transactionHash": x["transaction_hash"],
            "transactionIndex": hex(x["transaction_index"]), "logIndex": hex(x["log_index"]), "removed": False}


def rpc_block(b):
    return {"number": hex(b["number"]), "hash": b["hash"], "parentHash": b["parent_hash"], "timestamp": hex(b["timestamp"]),
            "gasLimit": hex(b["gas_limit"]), "gasUsed": hex(b["gas_used"]), "miner": b["miner"],
            "baseFeePerGas": hex(b["base_fee_per_gas"]), "transactions": [], "logsBloom": b["logs_bloom"],
            "extraData": b["extra_data"], "nonce": b["nonce"], "difficulty": hex(b["difficulty"]),
            "size": hex(b["size"]), "stateRoot": b["state_root"], "receiptsRoot": b["receipts_root"],
            "transactionsRoot": b["transactions_root"], "sha3Uncles": b["sha3_uncles"], "uncles": []}


def node(realdata, max_span=None, refusals=None):
    logs, blocks = load(realdata, "logs"), {b["number"]: b for b in load(realdata, "blocks")}

    def handle(method, params, _h):
        if method == "eth_chainId":
            return "0x1"
        if method == "eth_blockNumber":
            return hex(LAST)
        if method == "eth_getBlockByNumber":
            return rpc_block(blocks[int(params[0], 16)])
        if method == "eth_getLogs":
            f = params[0]
            lo, hi = int(f["fromBlock"], 16), int(f["toBlock"], 16)
            if refusals is not None and refusals:
                return refusals.pop(0)
            if max_span is not None and hi - lo + 1 > max_span:
                raise RpcError(-32005, "query returned more than 10000 results")
            addrs = f.get("address")
            addrs = {a.lower() for a in ([addrs] if isinstance(addrs, str) else addrs)} if addrs else None
            want = f.get("topics", [None])[0]
            want = {w.lower() for w in ([want] if isinstance(want, str) else want)} if want else None
            return [rpc_log(x) for x in logs if lo <= x["block_number"] <= hi
                    and (addrs is None or x["address"].lower() in addrs)
                    and (want is None or x["topics"][0].lower() in want)]
        raise RpcError(-32601, f"method {method} not served")

    return handle, logs


def pairs_in(logs):
    return sorted({Web3.to_checksum_address(x["address"]) for x in logs if x["topics"][0] in (SWAP, SYNC)})


def test_swaps_and_reserves_from_recorded_blocks(realdata):
    handle, logs = node(realdata)
    with LoopbackRpc(handle) as server:
        reg = PairRegistry(EvmRpc(Web3(HTTPProvider(server.url)), FAST), factory=WETH_USDT)
        pairs = pairs_in(logs)
        events = reg.events(pairs, FIRST, LAST)
    swaps = [e for e in events if e.kind == "swap"]
    syncs = [e for e in events if e.kind == "sync"]
    assert (len(pairs), len(swaps), len(syncs)) == (38, 69, 69) and WETH_USDT in pairs
    exact = 0
    for s in swaps:
        (sync,) = [e for e in syncs if e.tx_hash == s.tx_hash and e.pair == s.pair and e.log_index == s.log_index - 1]
        a0in, a1in, a0out, a1out = s.values
        r0, r1 = sync.values[0] - a0in + a0out, sync.values[1] - a1in + a1out
        a, r_in, r_out, out = (a0in, r0, r1, a1out) if a0in else (a1in, r1, r0, a0out)
        best = uniswap_v2_amount_out(a, r_in, r_out)
        assert out <= best
        exact += out == best
    assert exact == 65


def test_refused_ranges_halve_and_grow_back(realdata):
    handle, logs = node(realdata, max_span=2)  # the node refuses more than 2 blocks at a time
    with LoopbackRpc(handle) as server:
        scanner = LogScanner(EvmRpc(Web3(HTTPProvider(server.url)), FAST), max_range=8, grow_after=1)
        got = list(scanner.scan(FIRST - 8, LAST, None, [[SWAP, SYNC]]))
    assert len(got) == 138 and [(g["blockNumber"], g["logIndex"]) for g in got] == \
        sorted((g["blockNumber"], g["logIndex"]) for g in got)
    widths = [hi - lo + 1 for lo, hi in scanner.ranges]
    assert widths[:5] == [8, 4, 2, 4, 2]  # halved twice, then grown back after a success, refused, halved
    covered = [b for lo, hi in scanner.ranges if hi - lo + 1 <= 2 for b in range(lo, hi + 1)]
    assert covered == list(range(FIRST - 8, LAST + 1))


def test_rate_limits_are_retried_and_errors_are_clear(realdata):
    handle, logs = node(realdata, refusals=[Reply(429, "slow down", {"Retry-After": "0"}), Reply(502, "bad gateway")])
    want = [x["transaction_hash"] for x in logs if x["address"] == WETH_USDT.lower() and x["topics"][0] in (SWAP, SYNC)]
    with LoopbackRpc(handle) as server:
        w3 = Web3(HTTPProvider(server.url, exception_retry_configuration=None))
        scanner = LogScanner(EvmRpc(w3, FAST), max_range=2)
        got = list(scanner.scan(FIRST, LAST, WETH_USDT, [[SWAP, SYNC]]))
        assert server.calls.count("eth_getLogs") == 3
    assert {Web3.to_checksum_address(g["address"]) for g in got} == {WETH_USDT}
    assert [g["transactionHash"].to_0x_hex() for g in got] == want and len(want) == 10

    with LoopbackRpc(lambda m, p, h: Reply(429, "no")) as server:
        scanner = LogScanner(EvmRpc(Web3(HTTPProvider(server.url, exception_retry_configuration=None)), FAST))
        with pytest.raises(RetriesExhausted, match="eth_getLogs 17173049-17173050: 4 attempts failed, last: .*HTTP 429"):
            list(scanner.scan(FIRST, LAST, None, [[SWAP]]))

    def broken(m, p, h):
        raise RpcError(-32000, "header not found")
    with LoopbackRpc(broken) as server:
        scanner = LogScanner(EvmRpc(Web3(HTTPProvider(server.url, exception_retry_configuration=None)), FAST))
        with pytest.raises(ChainError, match="header not found"):
            list(scanner.scan(FIRST, LAST, None, [[SWAP]]))


def test_malformed_log_data_is_an_error_not_a_row(realdata):
    handle, logs = node(realdata)
    bad = [rpc_log(x) for x in logs if x["topics"][0] == SYNC][:1]
    bad[0]["data"] = bad[0]["data"][:-2]
    with LoopbackRpc(lambda m, p, h: bad if m == "eth_getLogs" else handle(m, p, h)) as server:
        reg = PairRegistry(EvmRpc(Web3(HTTPProvider(server.url)), FAST), factory=WETH_USDT)
        with pytest.raises(ChainError, match="Sync data must be 64 bytes, got 63"):
            reg.events([WETH_USDT], FIRST, LAST)
