"""A flaky EVM node and a market trading on anvil in real time, for the runtime's end-to-end hostile-RPC test
and the `soak_rpc` benchmark.

`FlakyNode` is a JSON-RPC proxy on loopback in front of a real node: each request, with probability
`fault_rate`, gets the next of the faults real providers serve (an HTML error page with 200, HTTP 500, an answer
slower than the client's timeout, JSON nested 50,000 deep, a wrong response id, a null result, 429 with
Retry-After, a 20,000-digit quantity), and during `outages` every request gets 500. `trade` drives a Uniswap
V2 market on anvil: swaps at a compressed chain clock, paced in wall time, with reorgs (an anvil snapshot,
blocks of swaps the chain then abandons, a revert) shallower than the runtime's confirmation depth (the
abandoned swaps are buys: a first sell would also mine an approval's block and could reach the depth).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from live_runtime.journal import Journal
from tests.chains.rpc_server import LoopbackRpc, Reply
from tests.chains.uniswap import E18, Done, Uniswap, buy, sell

FAULTS = ("html", "status_500", "timeout", "deep_json", "wrong_id", "null_result", "rate_limited", "huge_quantity")
assert FAULTS[-1] == "huge_quantity"
QUANTITY_METHODS = {"eth_blockNumber", "eth_chainId", "eth_getBalance", "eth_gasPrice", "eth_getTransactionCount"}


class FlakyNode:
    def __init__(self, upstream: str, fault_rate: float = 0.15, timeout_s: float = 1.0, seed: int = 0,
                 outages: tuple[tuple[float, float], ...] = (), max_s: float = 4 * 3600.0):
        self.upstream, self.fault_rate, self.timeout_s = upstream, fault_rate, timeout_s
        self.outages = outages  # (start, length) in seconds after the node starts serving
        self.rng, self.lock = random.Random(seed), threading.Lock()
        self.faults: Counter[str] = Counter()
        self.requests = self._turn = self._quantities = 0
        self.t0 = time.monotonic()
        # Every request is answered by `answer` before LoopbackRpc would parse it: a proxy on its server.
        self.server = LoopbackRpc(max_s=max_s, before=lambda _headers, raw: Reply(*self.answer(raw)))
        self.url = self.server.url

    def __enter__(self) -> FlakyNode:
        self.t0 = time.monotonic()
        self.server.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()

    def _forward(self, raw: bytes) -> bytes:
        req = urllib.request.Request(self.upstream, raw, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read()

    def _choose(self, method: str) -> str | None:
        """The fault for this request: an outage's 500, else at `fault_rate` the next kind in turn (every
        fifth quantity request gets the huge quantity, which only a quantity answer can carry)."""
        with self.lock:
            self.requests += 1
            now = time.monotonic() - self.t0
            if any(start <= now < start + length for start, length in self.outages):
                fault = "outage"
            elif method in QUANTITY_METHODS and self._quantities % 5 == 4:
                fault = "huge_quantity"
            elif self.rng.random() < self.fault_rate:
                fault = FAULTS[self._turn % (len(FAULTS) - 1)]  # huge_quantity is last: not in the turn
                self._turn += 1
            else:
                fault = None
            self._quantities += method in QUANTITY_METHODS
            if fault:
                self.faults[fault] += 1
            return fault

    def answer(self, raw: bytes) -> tuple[int, bytes, dict]:
        json_type = {"Content-Type": "application/json"}
        try:
            request = json.loads(raw)
        except ValueError:
            return 400, b"not json", {}
        method = request.get("method", "") if isinstance(request, dict) else ""
        fault = self._choose(method) if isinstance(request, dict) else None
        if fault in ("outage", "status_500"):
            return 500, b"internal error", {}
        if fault == "html":
            return 200, b"<html><body><h1>502 Bad Gateway</h1></body></html>", {"Content-Type": "text/html"}
        if fault == "rate_limited":
            return 429, b'{"error": "rate limited"}', {"Retry-After": "1", **json_type}
        if fault == "deep_json":
            return 200, b"[" * 50_000 + b"]" * 50_000, json_type
        if fault == "timeout":
            time.sleep(self.timeout_s + 0.5)
        try:
            body = self._forward(raw)
        except (urllib.error.URLError, OSError) as err:
            return 502, str(err).encode(), {}
        if fault in ("wrong_id", "null_result", "huge_quantity"):
            answer = json.loads(body)
            if fault == "wrong_id":
                answer["id"] = (answer.get("id") or 0) + 1000
            elif fault == "null_result":
                answer["result"] = None
            else:
                answer["result"] = "0x" + "f" * 20_000
            body = json.dumps(answer).encode()
        return 200, body, json_type


@dataclass
class Market:
    """What `trade` did: the chain-time window it traded in and the swaps the chain kept or abandoned."""

    start_ts: int
    end_ts: int = 0
    kept: Done = field(default_factory=Done)
    abandoned: list[str] = field(default_factory=list)
    reorgs: int = 0


def chain_time(u: Uniswap) -> int:
    return int(u.w3.eth.get_block("latest")["timestamp"])


def trade(u: Uniswap, steps: int, step_s: int, wall_step_s: float, reorg_every: int, confirmations: int,
          seed: int = 7, orphan_hold_s: float = 6.0, market: Market | None = None) -> Market:
    """`steps` swaps on AAA/BBB by five traders, the chain clock moved `step_s` before each and `wall_step_s`
    of wall time between them; every `reorg_every` steps, `confirmations - 1` blocks of swaps are mined,
    held `orphan_hold_s` (the runtime polls meanwhile) and reverted. Ends with `confirmations` empty blocks so
    everything traded is final."""
    w3, rng = u.w3, random.Random(seed)
    market = market or Market(start_ts=chain_time(u))
    traders = w3.eth.accounts[1:6]

    def swap(done: Done, buy_only: bool = False) -> None:
        w3.provider.make_request("evm_increaseTime", [step_s])
        token, trader = rng.choice(["AAA", "BBB"]), rng.choice(traders)
        held = u.tokens[token].functions.balanceOf(trader).call()
        if held and rng.random() < 0.45 and not buy_only:  # a first sell also mines an approval's block
            sell(u, done, token, trader, held * rng.randint(20, 90) // 100)
        else:
            buy(u, done, token, trader, E18 * rng.randint(5, 150) // 100)

    for step in range(steps):
        if reorg_every and step and step % reorg_every == 0:
            snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
            orphans, first_orphan = Done(), w3.eth.block_number + 1
            for _ in range(max(confirmations - 1, 1)):
                swap(orphans, buy_only=True)  # one block each: the reorg stays below the confirmation depth
            assert w3.eth.block_number - first_orphan + 1 < confirmations, "the reorg must stay below the depth"
            time.sleep(orphan_hold_s)
            assert w3.provider.make_request("evm_revert", [snapshot])["result"]
            market.abandoned += [s["tx"] for s in orphans.swaps]
            market.reorgs += 1
        swap(market.kept)
        time.sleep(wall_step_s)
    market.end_ts = chain_time(u) + 1
    for _ in range(confirmations + 1):
        w3.provider.make_request("evm_increaseTime", [1])
        w3.provider.make_request("evm_mine", [])
    return market


RUNTIME_ARGS = ["run", "--no-api", "--source", "evm", "--quote-symbol", "ETH", "--moon-threshold", "0.0",
                "--rug-threshold", "1.0", "--online-weight", "0", "--reorder-tolerance-s", "0"]


def runtime(live_root: Path, work: Path, url: str, u: Uniswap, since: int, until: int, confirmations: int,
            timeout_s: float = 1.0) -> subprocess.Popen:
    """`python -m live_runtime run --source evm` on the market's WETH pairs over [since, until), with the
    champions of `live_root`'s registry and thresholds that let it trade (the test is about the data path)."""
    work.mkdir()
    shutil.copytree(live_root / "registry", work / "registry")
    env = {**os.environ, "QUANT_DATA_DIR": str(work), "EVM_RPC_URL": url, "EVM_FACTORY": u.factory.address,
           "EVM_QUOTE_TOKENS": json.dumps({u.weth.address: "ETH"}), "EVM_CONFIRMATIONS": str(confirmations),
           "EVM_RPC_TIMEOUT_S": str(timeout_s)}
    window = ["--since", pd.Timestamp(since, unit="s").isoformat(), "--until", pd.Timestamp(until, unit="s").isoformat()]
    return subprocess.Popen([sys.executable, "-m", "live_runtime", *RUNTIME_ARGS, *window], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def journal_of(work: Path) -> dict[str, pd.DataFrame]:
    """The fills and decisions a run journaled."""
    activity = Journal(work / "journal").read("activity")
    return {kind: activity[activity.kind == kind][["seq", "ts", "pool_id", "data"]].reset_index(drop=True)
            for kind in ("fill", "decision")}
