"""A quote client for a 0x-style aggregator (`GET /swap/v1/quote`), and the comparison of its quote with the
pool's own (`quant.chains.evm.swap.pool_quote`): which is better and by how much, and a refusal of aggregator
quotes worse than the pool by more than a configured margin."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import requests
from web3 import Web3

from quant.chains.errors import ChainError, ExecutionRefused, RetryableError
from quant.chains.retry import Backoff, retry, retry_after_s
from quant.settings import ChainSettings

API_KEY_ENV = "ZEROX_API_KEY"


class QuoteRejected(ExecutionRefused):
    """The aggregator's quote is worse than the pool's by more than the allowed margin."""


@dataclass(frozen=True)
class AggregatorQuote:
    """The fields of a `/swap/v1/quote` answer that execution and comparison use (amounts in raw units)."""

    sell_token: str
    buy_token: str
    sell_amount: int
    buy_amount: int
    price: Decimal  # buy per sell, in whole tokens, as the API states it
    guaranteed_price: Decimal | None
    to: str  # the contract to call (0x's exchange proxy)
    data: str
    value: int
    gas: int
    gas_price: int
    allowance_target: str | None
    sources: tuple[tuple[str, Decimal], ...]  # (liquidity source, proportion) with proportion > 0


def parse_quote(j: dict, sell_amount: int) -> AggregatorQuote:
    """Check and convert an answer; a missing field or a sellAmount other than the one asked is an error."""
    try:
        q = AggregatorQuote(
            sell_token=Web3.to_checksum_address(j["sellTokenAddress"]),
            buy_token=Web3.to_checksum_address(j["buyTokenAddress"]),
            sell_amount=int(j["sellAmount"]), buy_amount=int(j["buyAmount"]), price=Decimal(j["price"]),
            guaranteed_price=Decimal(j["guaranteedPrice"]) if j.get("guaranteedPrice") else None,
            to=Web3.to_checksum_address(j["to"]), data=j["data"], value=int(j.get("value") or 0),
            gas=int(j.get("gas") or j.get("estimatedGas") or 0), gas_price=int(j.get("gasPrice") or 0),
            allowance_target=j.get("allowanceTarget") or None,
            sources=tuple((s["name"], Decimal(s["proportion"])) for s in j.get("sources", [])
                          if Decimal(s["proportion"]) > 0))
    except (KeyError, TypeError, ValueError, ArithmeticError) as err:
        raise ChainError(f"/swap/v1/quote: malformed answer ({type(err).__name__}: {err})") from err
    if q.sell_amount != sell_amount:
        raise ChainError(f"/swap/v1/quote: asked to sell {sell_amount}, quoted {q.sell_amount}")
    if not q.data.startswith("0x") or q.buy_amount <= 0:
        raise ChainError(f"/swap/v1/quote: unusable quote (buyAmount {q.buy_amount}, data {q.data[:10]})")
    return q


class ZeroExClient:
    """Quotes from one aggregator base URL. The API key is read from $ZEROX_API_KEY and sent as the
    `0x-api-key` header only; it is never logged or shown."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = 10.0,
                 backoff: Backoff = Backoff(attempts=3)):
        self.base_url, self.timeout_s, self.backoff = base_url.rstrip("/"), timeout_s, backoff
        self._api_key = api_key if api_key is not None else ChainSettings.from_env().zerox_api_key

    def __repr__(self) -> str:
        return f"ZeroExClient({self.base_url}, api_key={'set' if self._api_key else 'unset'})"

    def quote(self, sell_token: str, buy_token: str, sell_amount: int, taker: str | None = None,
              slippage: float | None = None) -> AggregatorQuote:
        """A firm quote to sell exactly `sell_amount` (raw units) of `sell_token` for `buy_token`."""
        params = {"sellToken": sell_token, "buyToken": buy_token, "sellAmount": str(sell_amount)}
        if taker:
            params["takerAddress"] = taker
        if slippage is not None:
            params["slippagePercentage"] = str(slippage)
        headers = {"0x-api-key": self._api_key} if self._api_key else {}
        return parse_quote(retry(lambda: self._get(params, headers), self.backoff, "/swap/v1/quote"), sell_amount)

    def _get(self, params: dict, headers: dict) -> dict:
        url = f"{self.base_url}/swap/v1/quote"
        try:
            resp = requests.get(url, params=params, headers=headers, timeout=self.timeout_s)
        except (requests.Timeout, requests.ConnectionError) as err:
            raise RetryableError(f"/swap/v1/quote: {type(err).__name__} talking to {self.base_url}") from err
        if resp.status_code == 429 or resp.status_code >= 500:
            raise RetryableError(f"/swap/v1/quote: HTTP {resp.status_code}",
                                 retry_after_s(resp.headers.get("Retry-After")))
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code != 200 or not isinstance(body, dict):
            reason = body.get("reason") if isinstance(body, dict) else resp.text[:200]
            details = [f"{e.get('field')}: {e.get('reason')}" for e in (body or {}).get("validationErrors", [])] \
                if isinstance(body, dict) else []
            raise ChainError(f"/swap/v1/quote: HTTP {resp.status_code}: {reason}"
                             + (f" ({'; '.join(details)})" if details else ""))
        return body


@dataclass(frozen=True)
class QuoteComparison:
    pool_out: int
    aggregator_out: int
    better: str  # "aggregator", "pool" or "equal"
    edge: int  # aggregator_out - pool_out, raw units of the bought token
    edge_bps: float  # edge as basis points of the pool's output

    def __str__(self) -> str:
        return f"{self.better} better by {abs(self.edge)} ({abs(self.edge_bps):.2f} bps)"


def compare_quotes(quote: AggregatorQuote, pool_out: int) -> QuoteComparison:
    """Compare the amounts bought for the same amount sold (gas is not netted: both are one transaction)."""
    if pool_out <= 0:
        raise ValueError(f"pool_out must be > 0, got {pool_out}")
    edge = quote.buy_amount - pool_out
    better = "aggregator" if edge > 0 else "pool" if edge < 0 else "equal"
    return QuoteComparison(pool_out, quote.buy_amount, better, edge, edge * 10_000 / pool_out)


def accept_aggregator(quote: AggregatorQuote, pool_out: int, max_worse_bps: float = 0.0) -> QuoteComparison:
    """The comparison, or `QuoteRejected` when the aggregator gives more than `max_worse_bps` less than the
    pool (a stale or manipulated quote, or fees hidden in the route)."""
    c = compare_quotes(quote, pool_out)
    if -c.edge_bps > max_worse_bps:
        raise QuoteRejected(f"aggregator quote {quote.buy_amount} is {-c.edge_bps:.2f} bps worse than the pool's "
                            f"{pool_out} (allowed {max_worse_bps} bps)")
    return c
