"""The 0x-style quote client against a loopback aggregator written here, which routes through the real
Uniswap V2 router on anvil (its calldata really executes) and can be told to quote better or worse than the
pool by some basis points: the comparison with the pool's own quote and the refusal margin are checked."""

import json

import pytest

from quant.chains.errors import ChainError, RetriesExhausted
from quant.chains.evm.aggregator import QuoteRejected, ZeroExClient, accept_aggregator, compare_quotes
from quant.chains.evm.swap import pool_quote
from quant.chains.retry import Backoff
from tests.chains.rpc_server import LoopbackRpc, Reply
from tests.chains.uniswap import DEADLINE, E18, add_liquidity, setup_uniswap

API_KEY = "test-api-key-7f3a"
FAST = Backoff(attempts=3, base_s=0.01, cap_s=0.02)


class Aggregator:
    """Answers GET /swap/v1/quote in the shape of 0x's API v1."""

    def __init__(self, w3, u):
        self.w3, self.u, self.edge_bps, self.fail = w3, u, 0, []

    def get(self, path, q, headers):
        if path != "/swap/v1/quote":
            return Reply(404, b'{"code":404,"reason":"Not Found"}')
        if {k.lower(): v for k, v in headers.items()}.get("0x-api-key") != API_KEY:
            return Reply(401, b'{"code":401,"reason":"Invalid API key"}')
        if self.fail:
            return self.fail.pop(0)
        sell, buy, amount = q["sellToken"], q["buyToken"], int(q["sellAmount"])
        r = self.u.router.functions
        out = r.getAmountsOut(amount, [sell, buy]).call()[-1]
        if out * 2 > self.u.reserves("AAA")[0]:
            return Reply(400, json.dumps({"code": 100, "reason": "Validation Failed", "validationErrors": [
                {"field": "sellAmount", "code": 1004, "reason": "INSUFFICIENT_ASSET_LIQUIDITY"}]}))
        quoted = out * (10_000 + self.edge_bps) // 10_000
        data = r.swapExactETHForTokens(quoted, [sell, buy], q.get("takerAddress", self.u.owner), DEADLINE)._encode_transaction_data()
        return {"chainId": 31337, "price": str(quoted / amount), "guaranteedPrice": str(quoted / amount * 0.99),
                "estimatedPriceImpact": "0.2", "to": self.u.router.address, "data": data, "value": str(amount),
                "gas": "136000", "estimatedGas": "136000", "gasPrice": "1000000000", "protocolFee": "0",
                "minimumProtocolFee": "0", "buyTokenAddress": buy.lower(), "sellTokenAddress": sell.lower(),
                "buyAmount": str(quoted), "sellAmount": str(amount), "allowanceTarget": self.u.router.address,
                "sources": [{"name": "Uniswap_V2", "proportion": "1"}, {"name": "SushiSwap", "proportion": "0"}],
                "orders": [], "sellTokenToEthRate": "1", "buyTokenToEthRate": "20000", "expectedSlippage": None}


@pytest.fixture(scope="module")
def market(anvil):
    _, w3 = anvil
    u = setup_uniswap(w3)
    add_liquidity(u, "AAA", 1_000_000 * E18, 50 * E18)
    agg = Aggregator(w3, u)
    with LoopbackRpc(max_s=60, get=agg.get) as server:
        yield w3, u, agg, server


def client(server, key=API_KEY):
    return ZeroExClient(server.url, api_key=key, backoff=FAST)


def test_quote_matches_the_pool_and_its_calldata_executes(market):
    w3, u, agg, server = market
    agg.edge_bps = 0
    taker, weth, aaa = w3.eth.accounts[5], u.weth.address, u.tokens["AAA"].address
    q = client(server).quote(weth, aaa, E18, taker=taker, slippage=0.01)
    pool_out = pool_quote(w3, u.factory.address, [weth, aaa], E18)[-1]
    c = compare_quotes(q, pool_out)
    assert (q.sell_amount, q.buy_amount, c.better, c.edge) == (E18, pool_out, "equal", 0)
    assert q.sell_token == weth and q.sources[0][0] == "Uniswap_V2" and len(q.sources) == 1
    h = w3.eth.send_transaction({"from": taker, "to": q.to, "data": q.data, "value": q.value, "gas": q.gas * 2})
    assert w3.eth.wait_for_transaction_receipt(h)["status"] == 1
    assert u.tokens["AAA"].functions.balanceOf(taker).call() == q.buy_amount


@pytest.mark.parametrize("edge_bps, better", [(25, "aggregator"), (-3, "pool")])
def test_comparison_says_which_is_better_and_by_how_much(market, edge_bps, better):
    w3, u, agg, server = market
    agg.edge_bps = edge_bps
    weth, aaa = u.weth.address, u.tokens["AAA"].address
    q = client(server).quote(weth, aaa, E18 // 4, taker=w3.eth.accounts[6])
    pool_out = pool_quote(w3, u.factory.address, [weth, aaa], E18 // 4)[-1]
    c = accept_aggregator(q, pool_out, max_worse_bps=5)
    assert c.better == better and c.edge == pool_out * (10_000 + edge_bps) // 10_000 - pool_out
    assert c.edge_bps == pytest.approx(edge_bps, abs=1e-6) and better in str(c)


def test_worse_than_the_margin_is_refused(market):
    w3, u, agg, server = market
    agg.edge_bps = -30
    weth, aaa = u.weth.address, u.tokens["AAA"].address
    q = client(server).quote(weth, aaa, E18, taker=w3.eth.accounts[6])
    pool_out = pool_quote(w3, u.factory.address, [weth, aaa], E18)[-1]
    with pytest.raises(QuoteRejected, match=r"30\.00 bps worse .*allowed 10 bps"):
        accept_aggregator(q, pool_out, max_worse_bps=10)
    assert accept_aggregator(q, pool_out, max_worse_bps=31).better == "pool"


def test_errors_are_clear_and_rate_limits_retried(market, monkeypatch):
    w3, u, agg, server = market
    agg.edge_bps = 0
    weth, aaa = u.weth.address, u.tokens["AAA"].address
    with pytest.raises(ChainError, match="HTTP 401: Invalid API key"):
        client(server, key="wrong").quote(weth, aaa, E18)
    monkeypatch.setenv("ZEROX_API_KEY", API_KEY)
    from_env = ZeroExClient(server.url, backoff=FAST)
    assert API_KEY not in repr(from_env) and from_env.quote(weth, aaa, E18).buy_amount > 0
    with pytest.raises(ChainError, match="INSUFFICIENT_ASSET_LIQUIDITY"):
        client(server).quote(weth, aaa, 10_000 * E18)
    agg.fail = [Reply(429, b'{"code":429,"reason":"Too Many Requests"}', {"Retry-After": "0"})]
    assert client(server).quote(weth, aaa, E18).buy_amount > 0 and agg.fail == []
    agg.fail = [Reply(503, b"busy")] * 3
    with pytest.raises(RetriesExhausted, match="HTTP 503"):
        client(server).quote(weth, aaa, E18)
    agg.fail = [Reply(200, json.dumps({"sellAmount": str(E18), "buyAmount": "5"}))]
    with pytest.raises(ChainError, match="malformed answer"):
        client(server).quote(weth, aaa, E18)
