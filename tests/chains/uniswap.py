"""Deploys the real Uniswap V2 contracts (npm build artifacts) on a chain and trades on them, recording
exactly what it did, so a test can require the ingested tables to match."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from web3 import Web3

from quant.market.amm import uniswap_v2_amount_out

MODULES = Path(__file__).parent / "node_modules"
ARTIFACTS = {"factory": "@uniswap/v2-core/build/UniswapV2Factory.json",
             "pair": "@uniswap/v2-core/build/UniswapV2Pair.json",
             "erc20": "@uniswap/v2-core/build/ERC20.json",
             "weth": "@uniswap/v2-periphery/build/WETH9.json",
             "router": "@uniswap/v2-periphery/build/UniswapV2Router02.json"}
E18 = 10**18
DEADLINE = 2**40


def artifact(name: str) -> dict:
    path = MODULES / ARTIFACTS[name]
    if not path.exists():
        pytest.fail(f"{path} missing: run `make chain-fixtures` (npm install in tests/chains)")
    return json.loads(path.read_text())


def deploy(w3: Web3, name: str, sender: str, *args):
    a = artifact(name)
    tx = w3.eth.contract(abi=a["abi"], bytecode=a["bytecode"]).constructor(*args).transact(
        {"from": sender, "gas": 6_000_000})
    addr = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    return w3.eth.contract(address=addr, abi=a["abi"])


@dataclass
class Done:
    """What the scenario did on chain, in raw integer units."""

    swaps: list[dict] = field(default_factory=list)
    transfers: list[dict] = field(default_factory=list)
    pairs: dict[str, tuple[str, str]] = field(default_factory=dict)  # pair -> (base token, quote token)


@dataclass
class Uniswap:
    w3: Web3
    weth: object
    factory: object
    router: object
    tokens: dict[str, object]
    owner: str

    def send(self, fn, sender: str, value: int = 0) -> dict:
        tx = fn.transact({"from": sender, "value": value, "gas": 5_000_000})
        rec = self.w3.eth.wait_for_transaction_receipt(tx)
        assert rec["status"] == 1
        return rec

    def pair(self, token: str) -> object:
        addr = self.factory.functions.getPair(self.tokens[token].address, self.weth.address).call()
        return self.w3.eth.contract(address=addr, abi=artifact("pair")["abi"])

    def reserves(self, token: str) -> tuple[int, int]:
        """(token reserve, WETH reserve)."""
        p = self.pair(token)
        r0, r1, _ = p.functions.getReserves().call()
        return (r0, r1) if p.functions.token0().call() == self.tokens[token].address else (r1, r0)


def setup_uniswap(w3: Web3, names=("AAA", "BBB", "USD")) -> Uniswap:
    owner = w3.eth.accounts[0]
    weth = deploy(w3, "weth", owner)
    factory = deploy(w3, "factory", owner, owner)
    router = deploy(w3, "router", owner, factory.address, weth.address)
    tokens = {n: deploy(w3, "erc20", owner, 10**30) for n in names}
    u = Uniswap(w3, weth, factory, router, tokens, owner)
    for t in tokens.values():
        u.send(t.functions.approve(router.address, 2**256 - 1), owner)
    return u


def add_liquidity(u: Uniswap, token: str, amount: int, eth: int) -> None:
    u.send(u.router.functions.addLiquidityETH(u.tokens[token].address, amount, 0, 0, u.owner, DEADLINE),
           u.owner, value=eth)


def buy(u: Uniswap, done: Done, token: str, trader: str, eth_in: int) -> None:
    r_tok, r_eth = u.reserves(token)
    out = uniswap_v2_amount_out(eth_in, r_eth, r_tok)
    rec = u.send(u.router.functions.swapExactETHForTokens(out, [u.weth.address, u.tokens[token].address],
                                                         trader, DEADLINE), trader, value=eth_in)
    done.swaps.append({"tx": rec["transactionHash"].to_0x_hex(), "pool": u.pair(token).address, "wallet": trader,
                       "side": "buy", "in": eth_in, "out": out, "base_before": r_tok, "quote_before": r_eth})


def sell(u: Uniswap, done: Done, token: str, trader: str, tok_in: int) -> None:
    t = u.tokens[token]
    if t.functions.allowance(trader, u.router.address).call() < tok_in:
        u.send(t.functions.approve(u.router.address, 2**256 - 1), trader)
    r_tok, r_eth = u.reserves(token)
    out = uniswap_v2_amount_out(tok_in, r_tok, r_eth)
    rec = u.send(u.router.functions.swapExactTokensForETH(tok_in, out, [t.address, u.weth.address], trader,
                                                         DEADLINE), trader)
    done.swaps.append({"tx": rec["transactionHash"].to_0x_hex(), "pool": u.pair(token).address, "wallet": trader,
                       "side": "sell", "in": tok_in, "out": out, "base_before": r_tok, "quote_before": r_eth})


def send_eth(u: Uniswap, done: Done, sender: str, to: str, value: int) -> None:
    before = u.w3.eth.get_balance(sender)
    tx = u.w3.eth.send_transaction({"from": sender, "to": to, "value": value, "gas": 21000})
    u.w3.eth.wait_for_transaction_receipt(tx)
    fee = before - u.w3.eth.get_balance(sender) - value  # what the sender paid beyond the value
    done.transfers.append({"tx": tx.to_0x_hex(), "from": sender, "to": to, "value": value, "fee": fee})


def scenario(u: Uniswap, advance=lambda s: None) -> Done:
    """Two token/WETH pairs and a USD/WETH pair, buys and sells by three traders, native transfers.
    `advance(seconds)` moves the chain clock between steps where the chain allows it."""
    w3, done = u.w3, Done()
    a, b, c = w3.eth.accounts[1:4]
    add_liquidity(u, "AAA", 1_000_000 * E18, 50 * E18)
    add_liquidity(u, "BBB", 20_000 * E18, 10 * E18)
    add_liquidity(u, "USD", 300_000 * E18, 100 * E18)
    for tok in ("AAA", "BBB", "USD"):
        base_quote = (u.tokens[tok].address, u.weth.address)
        done.pairs[u.pair(tok).address] = base_quote[::-1] if tok == "USD" else base_quote
    u.send(u.tokens["AAA"].functions.transfer(c, 5_000 * E18), u.owner)
    advance(90)
    buy(u, done, "AAA", a, 2 * E18)
    advance(45)
    buy(u, done, "BBB", b, E18 // 3)
    send_eth(u, done, a, c, 12345 * 10**12)
    advance(120)
    sell(u, done, "AAA", c, 4_321 * E18)
    buy(u, done, "AAA", b, 7 * E18 // 10)
    advance(30)
    send_eth(u, done, c, b, 3 * E18)
    sell(u, done, "BBB", b, 100 * E18)
    buy(u, done, "USD", a, E18)
    # On USD/WETH, USD is the quote token: paying ETH for USD sells the base (WETH).
    last = done.swaps[-1]
    last.update(side="sell", base_before=last["quote_before"], quote_before=last["base_before"])
    return done


def two_pair_market(w3):
    """The real Uniswap V2 contracts with two WETH pairs, AAA (deep) and BBB (shallow): the execution tests'
    market."""
    u = setup_uniswap(w3)
    add_liquidity(u, "AAA", 1_000_000 * E18, 50 * E18)
    add_liquidity(u, "BBB", 20_000 * E18, 10 * E18)
    return u
