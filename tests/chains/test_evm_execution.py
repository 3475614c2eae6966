"""Router swaps signed with eth-account and sent to an anvil node on loopback, against the real Uniswap V2
contracts: the trader receives exactly the pool's quote, a too-tight amountOutMin reverts, caps and the live
switch refuse before anything is signed, and the key never shows up in logs, reprs or errors."""

import logging
from dataclasses import replace

import pytest
from eth_account import Account
from web3 import Web3

from quant.chains.errors import ExecutionRefused, SimulationFailed
from quant.chains.evm.abi import ERC20
from quant.chains.evm.swap import GasCap, RouterSwapper
from quant.chains.keys import KeyLoadError, load_evm_key
from quant.chains.live import amount_out_min
from quant.market.amm import uniswap_v2_amount_out
from tests.chains.uniswap import E18

GWEI = 10**9
CAP = GasCap(max_fee_per_gas=100 * GWEI)


@pytest.fixture
def trader(chain, monkeypatch):
    """A fresh key holding 20 ETH, given to the code only through $EVM_PRIVATE_KEY."""
    w3, u = chain
    acct = Account.create()
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": u.owner, "to": acct.address,
                                                                 "value": 20 * E18}))
    monkeypatch.setenv("EVM_PRIVATE_KEY", acct.key.to_0x_hex())
    monkeypatch.delenv("QUANT_LIVE", raising=False)
    return acct


def balance(u, token, who):
    return u.tokens[token].functions.balanceOf(who).call()


def swapper(chain, live=True, cap=CAP, key="env"):
    w3, u = chain
    return RouterSwapper(w3, u.router.address, 31337, cap, load_evm_key() if key == "env" else key, live=live)


def test_eth_for_tokens_receives_exactly_the_quote(chain, trader):
    w3, u = chain
    s = swapper(chain)
    r_tok, r_eth = u.reserves("AAA")
    plan = s.plan([u.weth.address, u.tokens["AAA"].address], E18, trader.address, expected_slippage=0.01)
    assert plan.eth_in and plan.quote_out == uniswap_v2_amount_out(E18, r_eth, r_tok)
    assert plan.min_out == amount_out_min(plan.quote_out, 0.01, 0.005) < plan.quote_out
    assert s.simulate(plan, trader.address) == plan.quote_out  # the dry run agrees with the quote
    rec = w3.eth.wait_for_transaction_receipt(s.swap(plan))
    assert rec["status"] == 1 and rec["from"] == trader.address
    assert balance(u, "AAA", trader.address) == plan.quote_out
    assert rec["effectiveGasPrice"] <= CAP.max_fee_per_gas


def test_token_to_token_through_weth_receives_exactly_the_quote(chain, trader):
    w3, u = chain
    s = swapper(chain)
    buy = s.plan([u.weth.address, u.tokens["AAA"].address], 2 * E18, trader.address)
    w3.eth.wait_for_transaction_receipt(s.swap(buy))
    assert w3.eth.wait_for_transaction_receipt(s.approve(u.tokens["AAA"].address))["status"] == 1
    path = [u.tokens["AAA"].address, u.weth.address, u.tokens["BBB"].address]
    amount = balance(u, "AAA", trader.address) // 3
    r_a, r_ae = u.reserves("AAA")
    r_b, r_be = u.reserves("BBB")
    want = uniswap_v2_amount_out(uniswap_v2_amount_out(amount, r_a, r_ae), r_be, r_b)
    plan = s.plan(path, amount, trader.address)
    assert (plan.quote_out, plan.eth_in, plan.eth_out) == (want, False, False)
    assert w3.eth.wait_for_transaction_receipt(s.swap(plan))["status"] == 1
    assert balance(u, "BBB", trader.address) == want


def test_too_tight_min_out_reverts(chain, trader):
    w3, u = chain
    s = swapper(chain)
    plan = s.plan([u.weth.address, u.tokens["AAA"].address], E18, trader.address)
    tight = replace(plan, min_out=plan.quote_out + 1)
    with pytest.raises(SimulationFailed, match="INSUFFICIENT_OUTPUT_AMOUNT"):
        s.simulate(tight, trader.address)
    with pytest.raises(SimulationFailed, match="INSUFFICIENT_OUTPUT_AMOUNT"):
        s.build(tight, trader.address)  # the estimate is the default dry run before signing
    before = balance(u, "AAA", trader.address)
    rec = w3.eth.wait_for_transaction_receipt(s.send(s.sign(s.build(tight, trader.address, gas=300_000))))
    assert rec["status"] == 0 and balance(u, "AAA", trader.address) == before
    ok = w3.eth.wait_for_transaction_receipt(s.swap(replace(plan, min_out=plan.quote_out)))
    assert ok["status"] == 1 and balance(u, "AAA", trader.address) == before + plan.quote_out


def test_gas_cap_refuses_before_signing(chain, trader):
    w3, u = chain
    plan = swapper(chain).plan([u.weth.address, u.tokens["AAA"].address], E18, trader.address)
    nonce = w3.eth.get_transaction_count(trader.address)
    base = w3.eth.get_block("latest")["baseFeePerGas"]
    cheap = swapper(chain, cap=GasCap(max_fee_per_gas=2 * base + GWEI - 1, priority_fee=GWEI))
    with pytest.raises(ExecutionRefused, match="maxFeePerGas .* above the cap"):
        cheap.swap(plan)
    small = swapper(chain, cap=GasCap(max_fee_per_gas=100 * GWEI, max_gas=60_000))
    with pytest.raises(ExecutionRefused, match="gas limit .* above the cap 60000"):
        small.swap(plan)
    tx = swapper(chain).build(plan, trader.address)
    with pytest.raises(ExecutionRefused, match="above the cap"):
        small.sign(tx)  # signing checks again, whoever built the transaction
    assert w3.eth.get_transaction_count(trader.address) == nonce


def test_wrong_chain_id_is_refused(chain, trader):
    w3, u = chain
    s = RouterSwapper(w3, u.router.address, 1, CAP, load_evm_key(), live=True)
    plan = s.plan([u.weth.address, u.tokens["AAA"].address], E18, trader.address)
    with pytest.raises(ExecutionRefused, match="chain 31337, this swapper trades chain 1"):
        s.swap(plan)


def test_live_needs_the_flag_and_a_key(chain, trader, monkeypatch):
    w3, u = chain
    path = [u.weth.address, u.tokens["AAA"].address]
    off = swapper(chain, live=None)
    plan = off.plan(path, E18, trader.address)
    assert off.simulate(plan, trader.address) == plan.quote_out  # dry runs need neither
    tx = off.build(plan, trader.address)
    for s in (off, swapper(chain, live=False)):
        with pytest.raises(ExecutionRefused, match="live mode is off .*QUANT_LIVE=1"):
            s.sign(tx)
        with pytest.raises(ExecutionRefused, match="live mode is off"):
            s.swap(plan)
    monkeypatch.setenv("QUANT_LIVE", "1")
    with pytest.raises(ExecutionRefused, match="no signing key loaded"):
        swapper(chain, live=None, key=None).swap(plan)
    assert swapper(chain, live=False).live is False  # an explicit False beats the environment
    h = swapper(chain, live=None).swap(plan)
    assert w3.eth.wait_for_transaction_receipt(h)["status"] == 1


def test_key_never_shows(chain, trader, caplog, monkeypatch, tmp_path):
    w3, u = chain
    secret = trader.key.hex()  # without 0x; also matches the 0x form
    caplog.set_level(logging.DEBUG)  # web3, urllib3 and ours, everything
    s = swapper(chain)
    plan = s.plan([u.weth.address, u.tokens["AAA"].address], E18 // 10, trader.address)
    h = s.swap(plan)
    tight = replace(plan, min_out=plan.quote_out * 2)
    with pytest.raises(SimulationFailed) as failed:
        s.swap(tight)
    monkeypatch.setenv("EVM_PRIVATE_KEY", secret[:-2] + "zz")
    with pytest.raises(KeyLoadError) as bad:
        load_evm_key()
    monkeypatch.delenv("EVM_PRIVATE_KEY")
    keyfile = tmp_path / "key.json"
    keyfile.write_text(Web3.to_json(Account.encrypt(trader.key, "pw", kdf="pbkdf2", iterations=2)))
    with pytest.raises(KeyLoadError, match="cannot decrypt") as locked:
        load_evm_key({"EVM_KEYFILE": str(keyfile), "EVM_KEYFILE_PASSWORD": "wrong"})
    unlocked = load_evm_key({"EVM_KEYFILE": str(keyfile), "EVM_KEYFILE_PASSWORD": "pw"})
    assert unlocked.address == trader.address and "signed tx" in caplog.text and h[2:] in caplog.text
    shown = [caplog.text, repr(s), str(s.key), repr(unlocked), str(failed.value), str(bad.value),
             str(locked.value), repr(bad.value.__cause__), repr(locked.value.__cause__)]
    assert not any(secret.lower() in x.lower() for x in shown)
    with pytest.raises(TypeError, match="not pickled"):
        __import__("pickle").dumps(s.key)
    assert w3.eth.contract(address=u.tokens["AAA"].address, abi=ERC20).functions.balanceOf(
        trader.address).call() == plan.quote_out
