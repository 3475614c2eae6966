"""The live runtime's orders as real swaps on the Uniswap V2 contracts (anvil on loopback): booked from their
receipts (the tokens and ETH the pair's Swap event moved, the gas paid), logged before they are sent, and
never sent twice, whether the process dies after sending or before."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from datetime import datetime

import pytest
from eth_account import Account

from live_runtime.__main__ import live_executor
from live_runtime.broker import OrderFailed, PoolState
from live_runtime.config import DecisionConfig, RuntimeConfig
from live_runtime.engine import Engine
from live_runtime.execution import EvmExecutor
from live_runtime.journal import Journal
from live_runtime.sources import TableStream, table_events
from quant.chains.evm.swap import GasCap, RouterSwapper
from quant.chains.factory import evm_source
from quant.chains.keys import load_evm_key
from quant.market.amm import uniswap_v2_amount_out
from quant.settings import ChainSettings
from tests.chains.uniswap import E18, Done, buy, two_pair_market
from tests.live.conftest import live_config

GWEI = 10**9


@pytest.fixture
def market(anvil, monkeypatch):
    """A fresh two-pair market and a trader holding 20 ETH, whose key reaches the code only through the
    environment."""
    _, w3 = anvil
    u = two_pair_market(w3)
    acct = Account.create()
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": u.owner, "to": acct.address,
                                                                 "value": 20 * E18}))
    monkeypatch.setenv("EVM_PRIVATE_KEY", acct.key.to_0x_hex())
    return w3, u, acct


def executor(market, folder, balance=5.0, poll_every_s=0.5):
    w3, u, _ = market
    swapper = RouterSwapper(w3, u.router.address, 31337, GasCap(max_fee_per_gas=100 * GWEI), load_evm_key(),
                            live=True)
    return EvmExecutor(swapper, folder / "orders.jsonl", balance, poll_every_s=poll_every_s)


def pool_state(u, token="AAA") -> PoolState:
    r_tok, r_eth = u.reserves(token)
    return PoolState("evm", r_tok / E18, r_eth / E18, 18, 18)


def log_lines(tmp_path):
    return [json.loads(line) for line in (tmp_path / "orders.jsonl").read_text().splitlines()]


def booked(ex, wait_s=10.0):
    """The fills of the orders in flight once their receipts are in, booked as the engine books them:
    (fill, realised PnL)."""
    fills, failed = ex.poll(wait_s)
    assert not failed and not ex.pending
    return [(fill, ex.apply(fill)) for fill in fills]


def test_a_round_trip_is_two_real_swaps_booked_from_their_receipts(market, tmp_path):
    w3, u, acct = market
    ex = executor(market, tmp_path)
    pool = u.pair("AAA").address
    r_tok, r_eth = u.reserves("AAA")
    eth_before = w3.eth.get_balance(acct.address)
    order = ex.buy(pool, pool_state(u), 0.5, 1, 7)
    assert ex.in_flight(pool) and ex.open_count() == 1 and ex.available_cash() == 4.5 and ex.cash == 5.0
    [(buy, _)] = booked(ex)
    got = u.tokens["AAA"].functions.balanceOf(acct.address).call()
    assert got == uniswap_v2_amount_out(E18 // 2, r_eth, r_tok)  # exactly the pool's quote
    assert buy.order_id == order.order_id == "o7-buy" and buy.amount_out == got / E18 and buy.amount_in == 0.5
    receipt = w3.eth.get_transaction_receipt(buy.tx_hash)
    assert buy.gas == receipt["gasUsed"] * receipt["effectiveGasPrice"] / E18 > 0
    assert ex.positions[pool].base_amount == got / E18 and ex.cash == pytest.approx(5.0 - 0.5 - buy.gas, abs=1e-15)
    assert not ex.in_flight(pool) and ex.open_count() == 1

    r_tok, r_eth = u.reserves("AAA")
    ex.sell_all(pool, pool_state(u), 2, 9)
    [(sell, pnl)] = booked(ex)
    assert u.tokens["AAA"].functions.balanceOf(acct.address).call() == 0
    assert sell.amount_out == uniswap_v2_amount_out(got, r_tok, r_eth) / E18 and pool not in ex.positions
    assert pnl == pytest.approx(sell.amount_out - sell.gas - 0.5 - buy.gas, abs=1e-15)
    # the book agrees with the account: every wei that left it is a swap input or gas (approval's gas aside)
    approve_gas = eth_before - w3.eth.get_balance(acct.address) - round((0.5 - sell.amount_out + buy.gas + sell.gas) * E18)
    assert 0 < approve_gas < 10**15
    assert ex.cash == pytest.approx(5.0 - 0.5 - buy.gas + sell.amount_out - sell.gas, abs=1e-12)
    lines = log_lines(tmp_path)
    assert [(r["order_id"], r.get("outcome")) for r in lines] == [("o7-buy", None), ("o7-buy", "filled"),
                                                                 ("o9-sell", None), ("o9-sell", "filled")]
    assert lines[1]["received"] == got == lines[2]["amount_in"]  # the sell sold every raw unit bought
    assert lines[0]["tx_hash"] == buy.tx_hash and lines[0]["min_out"] < lines[0]["quote_out"]


def test_an_order_does_not_wait_for_its_block(market, tmp_path):
    """With blocks no longer mined on each transaction, `buy` returns at once and the order stays in flight
    (its pool takes no decision, its notional is committed) until a block holds it."""
    w3, u, acct = market
    ex = executor(market, tmp_path)
    pool = u.pair("AAA").address
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        ex.buy(pool, pool_state(u), 0.5, 1, 8)
        assert ex.poll(0.3) == ([], []) and ex.in_flight(pool) and ex.available_cash() == 4.5
        w3.provider.make_request("evm_mine", [])
        [(fill, _)] = booked(ex)
        assert fill.order_id == "o8-buy" and pool in ex.positions and not ex.in_flight(pool)
    finally:
        w3.provider.make_request("evm_setAutomine", [True])


def test_an_order_sent_but_never_booked_is_settled_from_its_receipt_after_a_restart(market, tmp_path):
    """The process dies after sending, before the fill reaches the journal: the next start books the fill
    from the chain, and the account's nonce shows one swap (and the approval a settled buy needs), not two."""
    w3, u, acct = market
    ex = executor(market, tmp_path)
    ex.buy(u.pair("AAA").address, pool_state(u), 0.5, 1, 3)  # ... and the process dies here
    nonce = w3.eth.get_transaction_count(acct.address)
    again = executor(market, tmp_path)
    fills = again.settle(booked=set())
    assert [f.order_id for f in fills] == ["o3-buy"] and fills[0].amount_out > 0
    assert fills[0].amount_out == u.tokens["AAA"].functions.balanceOf(acct.address).call() / E18
    assert nonce == 1 and w3.eth.get_transaction_count(acct.address) == 2  # only the approval it had not sent
    assert again.settle(booked={"o3-buy"}) == []  # once the journal holds it, nothing to settle
    with pytest.raises(OrderFailed, match="never placed twice"):  # the replayed stream decides it again
        again.buy(u.pair("AAA").address, pool_state(u), 0.5, 1, 3)


def test_an_order_logged_but_never_sent_is_sent_once_on_restart(market, tmp_path):
    """The process dies between writing the order and sending it: the next start sends the same signed
    bytes (same nonce: it can only ever be mined once), and nothing more is ever sent for it."""
    w3, u, acct = market
    ex = executor(market, tmp_path)
    ex.swapper.send = lambda signed: (_ for _ in ()).throw(SystemExit("killed before sending"))
    with pytest.raises(SystemExit):
        ex.buy(u.pair("BBB").address, pool_state(u, "BBB"), 0.25, 1, 4)
    assert w3.eth.get_transaction_count(acct.address) == 0 and log_lines(tmp_path)[0]["order_id"] == "o4-buy"
    again = executor(market, tmp_path)
    assert again.settle(booked=set()) == [] and again.in_flight(u.pair("BBB").address)  # sent again, in flight
    [(fill, _)] = booked(again)
    assert fill.order_id == "o4-buy" and w3.eth.get_transaction_count(acct.address) == 2  # and its approval
    assert fill.tx_hash == log_lines(tmp_path)[0]["tx_hash"]
    # the journal, not the order log, says what is booked: until it holds the fill, a start settles it again,
    # from the receipt, sending nothing
    with open(tmp_path / "orders.jsonl", "a") as f:  # and a crash cut the next order's line short
        f.write('{"order_id": "o5-buy", "pool_id": "0x')
    [settled] = executor(market, tmp_path).settle(booked=set())
    assert settled == fill and all(json.loads(x) for x in (tmp_path / "orders.jsonl").read_text().splitlines())
    assert executor(market, tmp_path).settle(booked={"o4-buy"}) == []
    assert w3.eth.get_transaction_count(acct.address) == 2  # the approval is not repeated either


def test_an_order_that_cannot_fill_is_refused_before_anything_is_signed(market, tmp_path):
    w3, u, acct = market
    ex = executor(market, tmp_path)
    ex.cash = 100.0  # a book that believes in more ETH than the account holds (20)
    with pytest.raises(OrderFailed, match="o5-buy not sent"):
        ex.buy(u.pair("AAA").address, pool_state(u), 50.0, 1, 5)
    assert w3.eth.get_transaction_count(acct.address) == 0 and not (tmp_path / "orders.jsonl").exists()
    assert not ex.positions


def test_the_executor_refuses_without_live_mode_or_a_key(market, tmp_path):
    w3, u, _ = market
    cap = GasCap(max_fee_per_gas=100 * GWEI)
    with pytest.raises(Exception, match="live mode"):
        EvmExecutor(RouterSwapper(w3, u.router.address, 31337, cap, load_evm_key(), live=False),
                    tmp_path / "o.jsonl", 1.0)
    with pytest.raises(Exception, match="key"):
        EvmExecutor(RouterSwapper(w3, u.router.address, 31337, cap, None, live=True), tmp_path / "o.jsonl", 1.0)


def test_the_runtime_trades_live_on_the_chain_and_a_restart_sends_nothing_again(anvil, market, live_root,
                                                                                  tmp_path):
    """The whole path with real execution: the chain's events (decoded by the chain source) through the
    engine, whose decisions become swaps from the trader's account; the journal's fills are those swaps,
    and a restart that resumes from the journal places no order twice. Entry gates are opened (the models
    were trained on the simulated market, whose ranges this little chain does not share) so that it trades."""
    url, _ = anvil
    w3, u, acct = market
    others = w3.eth.accounts[1:3]
    start = w3.eth.get_block("latest")["timestamp"]
    for minute in range(40):  # a market that moves: small buys and sells, a minute apart
        w3.provider.make_request("evm_increaseTime", [60])
        buy(u, Done(), "AAA" if minute % 2 else "BBB", others[minute % 2], E18 // 50)
    w3.provider.make_request("evm_increaseTime", [120])
    w3.provider.make_request("evm_mine", [])
    source = evm_source(url, u.factory.address, {u.weth.address: "ETH"}, confirmations=0)
    lo, hi = datetime.utcfromtimestamp(start), datetime.utcfromtimestamp(w3.eth.get_block("latest")["timestamp"])
    events = table_events(source.fetch("pool_snapshots", lo, hi), source.fetch("swaps", lo, hi))
    decision = DecisionConfig(moon_threshold=0.0, rug_threshold=1.0, vote_threshold=0.0, outlier_distance=1e9,
                              online_weight=0.0)
    cfg = replace(live_config(live_root, tmp_path), decision=decision, quote_symbol="ETH", live=True,
                  starting_balance=5.0)
    risk = replace(cfg.risk, max_volatility=1.0, market_volatility_limit=0.99)

    def run():
        journal = Journal(cfg.journal_dir)
        resume = journal.resume()
        engine = Engine(replace(cfg, risk=risk), TableStream(events, [], start_seq=resume.position),
                        journal=journal, resume=resume,
                        broker=executor(market, cfg.journal_dir, poll_every_s=0.0))  # receipts each batch
        engine.run()
        return engine

    engine = run()
    fills = engine.journal.read("activity").query("kind == 'fill'").data.map(json.loads).tolist()
    assert engine.stats["entries"] >= 2 and engine.stats["exits"] >= 1 and engine.stats["order_failures"] == 0
    assert len(fills) == engine.stats["entries"] + engine.stats["exits"]
    for fill in fills:  # each one a mined swap from the trader's account, booked at what it moved
        receipt = w3.eth.get_transaction_receipt(fill["tx_hash"])
        assert receipt["status"] == 1 and receipt["from"] == acct.address
        assert fill["gas"] == receipt["gasUsed"] * receipt["effectiveGasPrice"] / E18
    nonce = w3.eth.get_transaction_count(acct.address)
    tokens = {f["pool_id"] for f in fills if f["side"] == "buy"}
    assert nonce == len(fills) + len(tokens)  # the swaps, and one approval per token ever bought
    spent = sum(f["amount_in"] + f["gas"] for f in fills if f["side"] == "buy")
    assert engine.broker.cash == pytest.approx(5.0 - spent + sum(f["amount_out"] - f["gas"] for f in fills
                                                                 if f["side"] == "sell"), abs=1e-12)
    again = run()  # a restart resumes at the journal's end: nothing is settled, nothing is sent
    assert again.broker.cash == pytest.approx(engine.broker.cash, abs=1e-12)
    assert set(again.broker.positions) == set(engine.broker.positions)
    assert w3.eth.get_transaction_count(acct.address) == nonce and again.stats["entries"] == 0


def test_live_mode_from_the_command_line_refuses_until_every_condition_holds(anvil, market, tmp_path):
    url, _ = anvil
    w3, u, acct = market
    cfg = RuntimeConfig(data_dir=tmp_path, registry_dir=tmp_path, journal_dir=tmp_path / "journal",
                        starting_balance=5.0, quote_symbol="ETH", live=True)
    env = {"QUANT_LIVE": "1", "EVM_RPC_URL": url, "EVM_ROUTER": u.router.address, "EVM_CHAIN_ID": "31337",
           "EVM_PRIVATE_KEY": acct.key.to_0x_hex()}
    args = argparse.Namespace(source="evm")
    for change, refusal in (({"QUANT_LIVE": "0"}, "QUANT_LIVE=1"), ({"EVM_ROUTER": ""}, "EVM_ROUTER"),
                            ({"EVM_PRIVATE_KEY": ""}, "no EVM key"), ({"EVM_CHAIN_ID": "1"}, "on chain 31337")):
        with pytest.raises(SystemExit, match=refusal):
            live_executor(args, cfg, ChainSettings.from_env({**env, **change}))
    with pytest.raises(SystemExit, match="wired for --source evm"):
        live_executor(argparse.Namespace(source="solana"), cfg, ChainSettings.from_env(env))
    with pytest.raises(SystemExit, match="more than the account holds"):
        live_executor(args, replace(cfg, starting_balance=50.0), ChainSettings.from_env(env))
    ready = live_executor(args, cfg, ChainSettings.from_env(env))
    assert isinstance(ready, EvmExecutor) and ready.address == acct.address
    assert acct.key.to_0x_hex()[2:] not in repr(ready.swapper)  # the key never shows in a repr or a log
