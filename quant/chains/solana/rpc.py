"""A Solana JSON-RPC client on solana-py's `AsyncClient`: commitment, rate limit, retries, batching.

Results come back as plain JSON (`send_rpc_request`), not solders types: real endpoints send values that
strict parsers reject (a `rentEpoch` of u64::MAX after a JavaScript float round trip, 18446744073709552000),
and the decoders here read the raw fields they need.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

import httpx2
from solana.exceptions import SolanaRpcException
from solana.rpc.async_api import AsyncClient
from solana.rpc.jsonrpc import JsonRpcRequest, SolanaJsonRpcError

from quant.chains.errors import ChainError, RetryableError
from quant.chains.retry import Backoff, RateLimiter, aretry, retry_after_s

MAX_MULTIPLE_ACCOUNTS = 100  # the RPC's own limit per getMultipleAccounts
# Node is behind, busy or the slot is not there yet: worth asking again.
RETRYABLE_CODES = {-32004, -32005, -32014, -32016, -32603, 429}


class SolanaRpc:
    """JSON-RPC calls with retries (backoff with jitter, Retry-After honoured) and a client-side rate limit."""

    def __init__(self, url: str, commitment: str = "confirmed", rate_per_s: float = 10.0,
                 backoff: Backoff = Backoff(), timeout_s: float = 30.0):
        if commitment not in ("processed", "confirmed", "finalized"):
            raise ValueError(f"commitment must be processed|confirmed|finalized, got {commitment!r}")
        self.url, self.commitment, self.backoff = url, commitment, backoff
        # Our retry loop owns retries (with backoff), so the transport does not retry on its own.
        self.client = AsyncClient(url, timeout=timeout_s, max_transport_retries=0)
        self.limiter = RateLimiter(rate_per_s, burst=max(int(rate_per_s), 1))

    async def close(self) -> None:
        await self.client.close()

    async def __aenter__(self) -> SolanaRpc:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def _once(self, method: str, params: list) -> object:
        await self.limiter.await_()
        try:
            return await self.client.send_rpc_request(JsonRpcRequest(method=method, params=params), object)
        except SolanaJsonRpcError as err:
            msg = f"{method}: JSON-RPC error {err.code}: {err.message}"
            raise (RetryableError(msg) if err.code in RETRYABLE_CODES else ChainError(msg)) from err
        except SolanaRpcException as err:
            cause = err.__cause__
            if isinstance(cause, httpx2.HTTPStatusError):
                status = cause.response.status_code
                after = cause.response.headers.get("retry-after")
                msg = f"{method}: HTTP {status} from {self.url}"
                if status == 429 or status >= 500:
                    raise RetryableError(msg, retry_after_s(after)) from err
                raise ChainError(msg) from err
            raise RetryableError(f"{method}: {type(cause).__name__} talking to {self.url}: {cause}") from err
        except ValueError as err:  # not JSON, or not a JSON-RPC envelope
            raise ChainError(f"{method}: malformed response from {self.url}: {err}") from err

    async def call(self, method: str, params: list) -> object:
        """One JSON-RPC call; retryable failures are retried, the rest raise `ChainError`."""
        return await aretry(lambda: self._once(method, params), self.backoff, method)

    async def program_accounts(self, program: str, data_size: int, memcmp: dict[int, str] | None = None) -> list[dict]:
        """getProgramAccounts with a dataSize filter and memcmp filters (offset -> base58 bytes)."""
        filters: list[dict] = [{"dataSize": data_size}]
        filters += [{"memcmp": {"offset": off, "bytes": b}} for off, b in (memcmp or {}).items()]
        cfg = {"encoding": "base64", "commitment": self.commitment, "filters": filters}
        result = await self.call("getProgramAccounts", [program, cfg])
        if not isinstance(result, list):
            raise ChainError(f"getProgramAccounts: expected a list, got {type(result).__name__}")
        return result

    async def multiple_accounts(self, pubkeys: Iterable[str]) -> dict[str, dict | None]:
        """getMultipleAccounts in batches of 100: pubkey -> account (data decoded to bytes) or None."""
        keys = list(dict.fromkeys(pubkeys))
        out: dict[str, dict | None] = {}
        for i in range(0, len(keys), MAX_MULTIPLE_ACCOUNTS):
            batch = keys[i:i + MAX_MULTIPLE_ACCOUNTS]
            result = await self.call("getMultipleAccounts",
                                     [batch, {"encoding": "base64", "commitment": self.commitment}])
            values = result.get("value") if isinstance(result, dict) else None
            if not isinstance(values, list) or len(values) != len(batch):
                raise ChainError(f"getMultipleAccounts: expected {len(batch)} accounts, got {values!r:.200}")
            for key, acct in zip(batch, values, strict=True):
                out[key] = None if acct is None else {**acct, "data": account_bytes(acct, key)}
        return out

    async def signatures(self, address: str, before: str | None = None, limit: int = 1000) -> list[dict]:
        """One page of getSignaturesForAddress, newest first."""
        cfg = {"limit": limit, "commitment": self.commitment, **({"before": before} if before else {})}
        result = await self.call("getSignaturesForAddress", [address, cfg])
        if not isinstance(result, list):
            raise ChainError(f"getSignaturesForAddress: expected a list, got {type(result).__name__}")
        return result

    async def transaction(self, signature: str) -> dict:
        cfg = {"encoding": "jsonParsed", "commitment": self.commitment, "maxSupportedTransactionVersion": 0}
        result = await self.call("getTransaction", [signature, cfg])
        if not isinstance(result, dict):
            raise ChainError(f"getTransaction {signature}: no transaction (got {result!r:.100})")
        return result


def account_bytes(acct: dict, where: str) -> bytes:
    data = acct.get("data")
    if not (isinstance(data, list) and len(data) == 2 and data[1] == "base64"):
        raise ChainError(f"{where}: expected base64 account data, got {data!r:.80}")
    return base64.b64decode(data[0])
