"""Calls to an EVM node through web3, with failures sorted into retryable, range-too-large and the rest.

Every answer is distrusted: `GuardedHTTPProvider` decodes it itself, refusing JSON nested deeper than
MAX_DEPTH before the decoder sees it (web3's imports raise Python's recursion limit to 100,000, at which a
deeply nested answer overflows the C stack instead of raising) and anything but a JSON object. A malformed
answer (not JSON, an HTML page, a wrong shape, a number web3 cannot convert) is a RetryableError like a 5xx:
a flaky node's answer, worth another try, and a ChainError naming the call when the tries run out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import requests
from web3 import HTTPProvider, Web3
from web3.exceptions import BadResponseFormat, BlockNotFound, TransactionNotFound, Web3RPCError

from quant.chains.errors import ChainError, RangeTooLarge, RetryableError
from quant.chains.retry import Backoff, RateLimiter, retry, retry_after_s

T = TypeVar("T")
# How nodes and providers say an eth_getLogs range is too big (geth, erigon, Alchemy, Infura, QuickNode).
RANGE_HINTS = ("range", "too many", "limit exceeded", "exceed", "10000 results", "response size", "block range")
RETRYABLE_RPC_CODES = {-32005, 429, -32603}


MAX_DEPTH = 32  # a JSON-RPC answer nests a handful of levels; logs and blocks fewer than ten


class MalformedAnswer(RetryableError):
    """The node answered something that is not a JSON-RPC response."""


_BRACKET = np.zeros(256, np.int8)
_BRACKET[[ord("["), ord("{")]], _BRACKET[[ord("]"), ord("}")]] = 1, -1
_QUOTE = ord('"')


def json_depth(raw: bytes) -> int:
    """How deep brackets nest in `raw`, strings left out: vectorised over the few bytes that matter (answers
    run to megabytes), strings found by counting quotes; an answer with a backslash (escaped quotes, rare in
    RPC answers) has its strings cut by a regex first."""
    if b"\\" in raw:
        raw = re.sub(rb'"(?:[^"\\]|\\.)*"', b"", raw)
    b = np.frombuffer(raw, np.uint8)
    marks = b[(_BRACKET[b] != 0) | (b == _QUOTE)]
    quote = marks == _QUOTE
    outside = (np.cumsum(quote) % 2 == 0) & ~quote
    return int(np.cumsum(_BRACKET[marks[outside]], dtype=np.int64).max(initial=0))


def decode_answer(raw: bytes) -> dict:
    if json_depth(raw) > MAX_DEPTH:
        raise MalformedAnswer(f"answer of {len(raw)} bytes nests deeper than {MAX_DEPTH} levels")
    try:
        answer = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MalformedAnswer(f"answer is not JSON ({err}): {raw[:80]!r}") from err
    if not isinstance(answer, dict):
        raise MalformedAnswer(f"answer is a JSON {type(answer).__name__}, not an object: {raw[:80]!r}")
    result = answer.get("result")
    if isinstance(result, list) and result and isinstance(result[0], dict) and "logIndex" in result[0]:
        _check_logs(result)
    return answer


def _is_hex(value, length: int | None = None) -> bool:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) % 2:
        return False
    try:
        bytes.fromhex(value[2:])
    except ValueError:
        return False
    return length is None or len(value) == length


def _check_logs(logs: list) -> None:
    """Log fields as the JSON-RPC spec has them, before web3 formats them (web3 pads an odd-length hex
    `data` with a leading zero, shifting every decoded value by four bits)."""
    for i, log in enumerate(logs):
        if not isinstance(log, dict):
            raise MalformedAnswer(f"log {i} is a JSON {type(log).__name__}, not an object")
        if not _is_hex(log.get("data")):
            raise MalformedAnswer(f"log {i} field data={str(log.get('data'))[:80]!r} is not even-length 0x hex")
        topics = log.get("topics")
        if not isinstance(topics, list) or not all(_is_hex(t, 66) for t in topics):
            raise MalformedAnswer(f"log {i} field topics={str(topics)[:120]!r} are not 32-byte 0x hex words")


# Methods whose result is a QUANTITY: a 0x hex number of at most 256 bits (a block number of 80,000 hex
# digits is no block number).
QUANTITY_METHODS = frozenset({"eth_blockNumber", "eth_chainId", "eth_gasPrice", "eth_getBalance",
                              "eth_getTransactionCount", "eth_estimateGas", "eth_maxPriorityFeePerGas"})


def check_answer(method: str, request_id, answer: dict) -> None:
    """An answer to `method` is for this request and has the shape its method promises."""
    if "error" in answer:
        return  # web3 raises the node's error itself
    if answer.get("id") != request_id:
        raise MalformedAnswer(f"{method}: answer id {answer.get('id')!r} is not the request's {request_id!r}")
    if "result" not in answer:
        raise MalformedAnswer(f"{method}: answer has neither result nor error")
    result = answer["result"]
    if method in QUANTITY_METHODS and not (_is_quantity(result)):
        raise MalformedAnswer(f"{method}: result={str(result)[:80]!r} is not a hex quantity of 256 bits or fewer")
    if method == "eth_getLogs" and not isinstance(result, list):
        raise MalformedAnswer(f"{method}: result={str(result)[:80]!r} is not a list of logs")


def _is_quantity(value) -> bool:
    if not isinstance(value, str) or not value.startswith("0x") or not 3 <= len(value) <= 66:
        return False
    try:
        int(value, 16)
    except ValueError:
        return False
    return True


class GuardedHTTPProvider(HTTPProvider):
    """web3's HTTP provider with its own retries off (EvmRpc's are the only ones: five tries are five
    requests) and every answer decoded by `decode_answer` and checked by `check_answer`."""

    def __init__(self, url: str, timeout_s: float = 10.0):
        super().__init__(url, request_kwargs={"timeout": timeout_s}, exception_retry_configuration=None)

    def make_request(self, method, params):
        request = self.encode_rpc_request(method, params)
        answer = decode_answer(self._make_request(method, request))
        check_answer(method, json.loads(request)["id"], answer)
        return answer


def classify(err: Exception, what: str) -> Exception:
    """The chain error an exception from web3 stands for."""
    if isinstance(err, TransactionNotFound | BlockNotFound):  # asked of what the node already showed us: its
        return MalformedAnswer(f"{what}: a null answer: {err}")  # null is a lagging or broken backend: retry
    if isinstance(err, Web3RPCError):
        msg = str(err.message if hasattr(err, "message") else err)
        code = (err.rpc_response or {}).get("error", {}).get("code") if getattr(err, "rpc_response", None) else None
        if what.startswith("eth_getLogs") and any(h in msg.lower() for h in RANGE_HINTS):
            return RangeTooLarge(f"{what}: {msg}")
        if code in RETRYABLE_RPC_CODES:
            return RetryableError(f"{what}: JSON-RPC error {code}: {msg}")
        return ChainError(f"{what}: JSON-RPC error {code}: {msg}")
    if isinstance(err, requests.HTTPError) and err.response is not None:
        status = err.response.status_code
        if status == 429 or status >= 500:
            return RetryableError(f"{what}: HTTP {status}", retry_after_s(err.response.headers.get("Retry-After")))
        return ChainError(f"{what}: HTTP {status}")
    if isinstance(err, requests.Timeout | requests.ConnectionError | TimeoutError | ConnectionError):
        return RetryableError(f"{what}: {type(err).__name__}: {err}")
    if isinstance(err, ChainError):
        return err
    # web3 formatting a malformed answer: a wrong response id or shape, a null where a value belongs, a hex
    # too long for int() (the digit limit's ValueError), a missing field.
    if isinstance(err, BadResponseFormat | ValueError | TypeError | KeyError | AttributeError):
        return MalformedAnswer(f"{what}: malformed answer: {type(err).__name__}: {str(err)[:200]}")
    return err


class EvmRpc:
    """A web3 connection plus the retry policy and rate limit every call goes through."""

    def __init__(self, w3: Web3, backoff: Backoff = Backoff(), rate_per_s: float = 0.0):
        self.w3, self.backoff, self.limiter = w3, backoff, RateLimiter(rate_per_s, max(int(rate_per_s), 1))

    def call(self, fn: Callable[[], T], what: str) -> T:
        def once() -> T:
            self.limiter.wait()
            try:
                return fn()
            except Exception as err:  # noqa: BLE001 - sorted by `classify`, then re-raised
                mapped = classify(err, what)
                if mapped is err:
                    raise
                raise mapped from err
        return retry(once, self.backoff, what)
