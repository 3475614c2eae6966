"""A Flashbots-style private relay client: `eth_callBundle` (simulation), `eth_sendBundle` and
`eth_sendPrivateTransaction`, each request signed in the `X-Flashbots-Signature` header.

The header is `<address>:<signature>`, an EIP-191 personal signature of the hex keccak of the exact request
body, made with a searcher key that identifies us to the relay (reputation) and holds no funds: keep it
separate from the trading key ($FLASHBOTS_SIGNER_KEY). A bundle is always simulated first and never sent when
a transaction in it would revert.
"""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import dataclass

import requests
from eth_account.messages import encode_defunct
from eth_utils import keccak

from quant.chains.errors import ChainError, RetryableError, SimulationFailed
from quant.chains.keys import FLASHBOTS_KEY_ENV, EvmKey
from quant.chains.live import live_requested, require_live
from quant.chains.retry import Backoff, retry, retry_after_s

log = logging.getLogger(__name__)
_ids = itertools.count(1)


def flashbots_signature(body: bytes, searcher: EvmKey) -> str:
    """The `X-Flashbots-Signature` value for `body` (as Flashbots' clients make it: ethers
    `wallet.signMessage(id(body))`, i.e. personal_sign of the 0x-hex keccak text)."""
    digest = "0x" + keccak(body).hex()
    return f"{searcher.address}:{searcher.sign_message(encode_defunct(text=digest)).signature.to_0x_hex()}"


def _hex_tx(raw: bytes | str) -> str:
    return raw if isinstance(raw, str) else "0x" + bytes(raw).hex()


@dataclass(frozen=True)
class BundleSimulation:
    """An `eth_callBundle` answer: per-transaction results and the totals."""

    bundle_hash: str
    results: list[dict]
    total_gas_used: int
    coinbase_diff: int
    state_block: int

    @property
    def reverted(self) -> list[dict]:
        """The results that reverted or failed (a relay marks them with `error` and/or `revert`)."""
        return [r for r in self.results if r.get("error") or r.get("revert")]


class FlashbotsRelay:
    """Requests to one relay URL. Simulation runs in any mode; sending needs live mode."""

    def __init__(self, url: str, searcher: EvmKey, live: bool | None = None, timeout_s: float = 10.0,
                 backoff: Backoff = Backoff(attempts=3)):
        self.url, self.searcher, self.timeout_s, self.backoff = url, searcher, timeout_s, backoff
        self.live = live_requested(live)

    def __repr__(self) -> str:
        return f"FlashbotsRelay({self.url}, searcher={self.searcher!r}, live={self.live})"

    def _once(self, method: str, body: bytes) -> object:
        headers = {"Content-Type": "application/json",
                   "X-Flashbots-Signature": flashbots_signature(body, self.searcher)}
        try:
            resp = requests.post(self.url, data=body, headers=headers, timeout=self.timeout_s)
        except (requests.Timeout, requests.ConnectionError) as err:
            raise RetryableError(f"{method}: {type(err).__name__} talking to {self.url}") from err
        try:
            answer = resp.json()
        except ValueError:
            answer = {}
        error = answer.get("error") if isinstance(answer, dict) else None
        if resp.status_code == 429 or resp.status_code >= 500:
            raise RetryableError(f"{method}: HTTP {resp.status_code} from {self.url}",
                                 retry_after_s(resp.headers.get("Retry-After")))
        if error or resp.status_code != 200:
            what = error.get("message", error) if isinstance(error, dict) else error or resp.text[:200]
            raise ChainError(f"{method}: relay answered HTTP {resp.status_code}: {what}")
        if "result" not in answer:
            raise ChainError(f"{method}: no result in the relay's answer {str(answer)[:200]}")
        return answer["result"]

    def call(self, method: str, params: list) -> object:
        """One signed JSON-RPC call (429/5xx/timeouts retried with backoff; each try is signed afresh)."""
        body = json.dumps({"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": params}).encode()
        return retry(lambda: self._once(method, body), self.backoff, method)

    def call_bundle(self, raw_txs: list[bytes | str], block_number: int,
                    state_block: int | str = "latest") -> BundleSimulation:
        """Simulate the bundle as if in `block_number`, on the state of `state_block` (a dry run)."""
        r = self.call("eth_callBundle", [{"txs": [_hex_tx(t) for t in raw_txs], "blockNumber": hex(block_number),
                                          "stateBlockNumber": state_block if isinstance(state_block, str)
                                          else hex(state_block)}])
        if not isinstance(r, dict) or not isinstance(r.get("results"), list):
            raise ChainError(f"eth_callBundle: expected results, got {str(r)[:200]}")
        if len(r["results"]) != len(raw_txs):
            raise ChainError(f"eth_callBundle: {len(raw_txs)} transactions, {len(r['results'])} results")
        return BundleSimulation(r.get("bundleHash", ""), r["results"], int(r.get("totalGasUsed", 0)),
                                int(r.get("coinbaseDiff", 0)), int(r.get("stateBlockNumber", 0)))

    def send_bundle(self, raw_txs: list[bytes | str], block_number: int) -> str:
        """Simulate, then send the bundle for `block_number`; refused when any transaction would revert.
        Returns the relay's bundle hash."""
        require_live(self.live, self.searcher, "eth_sendBundle", f"${FLASHBOTS_KEY_ENV}")
        sim = self.call_bundle(raw_txs, block_number)
        if sim.reverted:
            why = "; ".join(f"{r.get('txHash')}: {r.get('revert') or r.get('error')}" for r in sim.reverted)
            raise SimulationFailed(f"bundle for block {block_number} not sent, its simulation reverted: {why}")
        r = self.call("eth_sendBundle", [{"txs": [_hex_tx(t) for t in raw_txs], "blockNumber": hex(block_number)}])
        if not isinstance(r, dict) or "bundleHash" not in r:
            raise ChainError(f"eth_sendBundle: expected a bundleHash, got {str(r)[:200]}")
        log.info("bundle %s sent for block %d (%d txs, %d gas simulated)", r["bundleHash"], block_number,
                 len(raw_txs), sim.total_gas_used)
        return r["bundleHash"]

    def send_private_transaction(self, raw_tx: bytes | str, max_block_number: int | None = None,
                                 fast: bool = True) -> str:
        """Send one signed transaction privately (builders only, never the public mempool); the tx hash.
        The relay keeps trying until `max_block_number` (its default: 25 blocks)."""
        require_live(self.live, self.searcher, "eth_sendPrivateTransaction", f"${FLASHBOTS_KEY_ENV}")
        params: dict = {"tx": _hex_tx(raw_tx), "preferences": {"fast": fast}}
        if max_block_number is not None:
            params["maxBlockNumber"] = hex(max_block_number)
        h = self.call("eth_sendPrivateTransaction", [params])
        if not isinstance(h, str) or not h.startswith("0x"):
            raise ChainError(f"eth_sendPrivateTransaction: expected a tx hash, got {str(h)[:200]}")
        log.info("private tx %s sent", h)
        return h
