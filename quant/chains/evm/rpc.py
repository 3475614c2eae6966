"""Calls to an EVM node through web3, with failures sorted into retryable, range-too-large and the rest."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import requests
from web3 import Web3
from web3.exceptions import Web3RPCError

from quant.chains.errors import ChainError, RangeTooLarge, RetryableError
from quant.chains.retry import Backoff, RateLimiter, retry

T = TypeVar("T")
# How nodes and providers say an eth_getLogs range is too big (geth, erigon, Alchemy, Infura, QuickNode).
RANGE_HINTS = ("range", "too many", "limit exceeded", "exceed", "10000 results", "response size", "block range")
RETRYABLE_RPC_CODES = {-32005, 429, -32603}


def classify(err: Exception, what: str) -> Exception:
    """The chain error an exception from web3 stands for."""
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
        after = err.response.headers.get("Retry-After")
        if status == 429 or status >= 500:
            return RetryableError(f"{what}: HTTP {status}", float(after) if after and after.isdigit() else None)
        return ChainError(f"{what}: HTTP {status}")
    if isinstance(err, requests.Timeout | requests.ConnectionError | TimeoutError | ConnectionError):
        return RetryableError(f"{what}: {type(err).__name__}: {err}")
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
