"""The Flashbots relay client against a loopback relay written here: it recovers the signer of every
request from the `X-Flashbots-Signature` header (refusing bad ones, as relays do), simulates bundles on the
anvil node (snapshot, run, revert) and includes sent bundles and private transactions in anvil's blocks."""

import json
from dataclasses import replace

import pytest
import requests
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak

from quant.chains.errors import ChainError, ExecutionRefused, SimulationFailed
from quant.chains.evm.relay import FlashbotsRelay, flashbots_signature
from quant.chains.evm.swap import GasCap, RouterSwapper
from quant.chains.keys import FLASHBOTS_KEY_ENV, load_evm_key
from tests.chains.rpc_server import LoopbackRpc, Reply, RpcError
from tests.chains.uniswap import E18


def refusal(message: str) -> Reply:
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}}
    return Reply(403, json.dumps(body), {"Content-Type": "application/json"})


class AnvilRelay:
    """Answers eth_callBundle / eth_sendBundle / eth_sendPrivateTransaction like a relay, on anvil."""

    def __init__(self, w3):
        self.w3, self.signers = w3, []

    def auth(self, headers: dict, raw: bytes) -> Reply | None:
        value = {k.lower(): v for k, v in headers.items()}.get("x-flashbots-signature")
        if not value or ":" not in value:
            return refusal("missing or malformed X-Flashbots-Signature header")
        address, signature = value.split(":", 1)
        digest = "0x" + keccak(raw).hex()
        try:
            signer = Account.recover_message(encode_defunct(text=digest), signature=signature)
        except Exception:  # noqa: BLE001 - any undecodable signature is a refusal
            return refusal("invalid flashbots signature")
        if signer.lower() != address.lower():
            return refusal("signature does not match the address in X-Flashbots-Signature")
        self.signers.append(signer)
        return None

    def _run(self, raw: str) -> dict:
        w3 = self.w3
        h = w3.eth.send_raw_transaction(raw)
        rec = w3.eth.wait_for_transaction_receipt(h)
        tx = w3.eth.get_transaction(h)
        fees = rec["gasUsed"] * rec["effectiveGasPrice"]
        out = {"txHash": h.to_0x_hex(), "gasUsed": rec["gasUsed"], "gasPrice": str(rec["effectiveGasPrice"]),
               "gasFees": str(fees), "fromAddress": tx["from"], "toAddress": tx["to"], "value": "0x",
               "coinbaseDiff": str(fees), "ethSentToCoinbase": "0"}
        if rec["status"] == 0:
            call = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "value": tx["value"]}
            try:  # replay on the state before it, for the revert reason relays report
                w3.eth.call(call, rec["blockNumber"] - 1)
                reason = "execution reverted"
            except Exception as err:  # noqa: BLE001
                reason = str(getattr(err, "message", err))
            out.update(error="execution reverted", revert=reason)
        return out

    def handle(self, method, params, _headers):
        w3, p = self.w3, params[0]
        if method == "eth_callBundle":
            snap = w3.provider.make_request("evm_snapshot", [])["result"]
            try:
                state = w3.eth.block_number
                results = [self._run(t) for t in p["txs"]]
            finally:
                w3.provider.make_request("evm_revert", [snap])
            return {"bundleHash": self._bundle_hash(results), "results": results,
                    "totalGasUsed": sum(r["gasUsed"] for r in results),
                    "coinbaseDiff": str(sum(int(r["coinbaseDiff"]) for r in results)),
                    "stateBlockNumber": state}
        if method == "eth_sendBundle":
            return {"bundleHash": self._bundle_hash([self._run(t) for t in p["txs"]])}
        if method == "eth_sendPrivateTransaction":
            return self._run(p["tx"])["txHash"]
        raise RpcError(-32601, f"the method {method} does not exist/is not available")

    @staticmethod
    def _bundle_hash(results) -> str:
        return "0x" + keccak(b"".join(bytes.fromhex(r["txHash"][2:]) for r in results)).hex()


@pytest.fixture
def setup(chain, monkeypatch):
    w3, u = chain
    trader, searcher = Account.create(), Account.create()
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": u.owner, "to": trader.address,
                                                                 "value": 20 * E18}))
    monkeypatch.setenv("EVM_PRIVATE_KEY", trader.key.to_0x_hex())
    monkeypatch.setenv(FLASHBOTS_KEY_ENV, searcher.key.to_0x_hex())
    relay = AnvilRelay(w3)
    with LoopbackRpc(relay.handle, max_s=60, before=relay.auth) as server:
        swapper = RouterSwapper(w3, u.router.address, 31337, GasCap(100 * 10**9), load_evm_key(), live=True)
        client = FlashbotsRelay(server.url, load_evm_key(key_var=FLASHBOTS_KEY_ENV), live=True)
        yield w3, u, swapper, client, relay, server, trader, searcher


def signed_swaps(w3, u, swapper, trader, tight_second=False):
    """Two buys from the trader with consecutive nonces (gas given: the relay is the simulation)."""
    nonce = w3.eth.get_transaction_count(trader.address)
    out = []
    for i, tok in enumerate(("AAA", "BBB")):
        plan = swapper.plan([u.weth.address, u.tokens[tok].address], E18 // 2, trader.address)
        if tight_second and i == 1:
            plan = replace(plan, min_out=plan.quote_out * 2)
        out.append((plan, swapper.sign(swapper.build(plan, trader.address, gas=200_000, nonce=nonce + i))))
    return out


def test_signature_header_recovers_to_the_searcher(setup):
    w3, u, swapper, client, relay, server, trader, searcher = setup
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_callBundle","params":[]}'
    header = flashbots_signature(body, client.searcher)
    address, sig = header.split(":")
    assert address == searcher.address
    assert Account.recover_message(encode_defunct(text="0x" + keccak(body).hex()), signature=sig) == address
    forged = requests.post(server.url, data=body, timeout=5,
                           headers={"X-Flashbots-Signature": flashbots_signature(b"another body", client.searcher)})
    missing = requests.post(server.url, data=body, timeout=5)
    assert (forged.status_code, missing.status_code) == (403, 403)
    assert "does not match" in forged.json()["error"]["message"] and relay.signers == []


def test_bundle_is_simulated_then_sent(setup):
    w3, u, swapper, client, relay, server, trader, searcher = setup
    (buy_a, tx_a), (buy_b, tx_b) = signed_swaps(w3, u, swapper, trader)
    target = w3.eth.block_number + 1
    sim = client.call_bundle([tx_a.raw_transaction, tx_b.raw_transaction], target)
    assert not sim.reverted and [r["txHash"] for r in sim.results] == [tx_a.hash.to_0x_hex(), tx_b.hash.to_0x_hex()]
    assert w3.eth.block_number == target - 1  # the simulation left no trace on chain
    bundle = client.send_bundle([tx_a.raw_transaction, tx_b.raw_transaction], target)
    assert bundle == sim.bundle_hash and server.calls[-2:] == ["eth_callBundle", "eth_sendBundle"]
    for tx in (tx_a, tx_b):
        assert w3.eth.get_transaction_receipt(tx.hash)["status"] == 1
    assert u.tokens["AAA"].functions.balanceOf(trader.address).call() == buy_a.quote_out
    assert u.tokens["BBB"].functions.balanceOf(trader.address).call() == buy_b.quote_out
    assert set(relay.signers) == {searcher.address}  # every request was signed by the searcher, not the trader


def test_reverting_bundle_is_never_sent(setup):
    w3, u, swapper, client, relay, server, trader, searcher = setup
    (_, tx_a), (_, tx_b) = signed_swaps(w3, u, swapper, trader, tight_second=True)
    nonce = w3.eth.get_transaction_count(trader.address)
    raws = [tx_a.raw_transaction, tx_b.raw_transaction]
    sim = client.call_bundle(raws, w3.eth.block_number + 1)
    assert [r["txHash"] for r in sim.reverted] == [tx_b.hash.to_0x_hex()]
    assert "INSUFFICIENT_OUTPUT_AMOUNT" in sim.reverted[0]["revert"]
    with pytest.raises(SimulationFailed, match="INSUFFICIENT_OUTPUT_AMOUNT"):
        client.send_bundle(raws, w3.eth.block_number + 1)
    assert "eth_sendBundle" not in server.calls and w3.eth.get_transaction_count(trader.address) == nonce


def test_private_transaction(setup):
    w3, u, swapper, client, relay, server, trader, searcher = setup
    plan = swapper.plan([u.weth.address, u.tokens["AAA"].address], E18, trader.address)
    signed = swapper.sign(swapper.build(plan, trader.address))
    h = client.send_private_transaction(signed.raw_transaction, max_block_number=w3.eth.block_number + 25)
    assert h == signed.hash.to_0x_hex() and w3.eth.get_transaction_receipt(h)["status"] == 1
    assert u.tokens["AAA"].functions.balanceOf(trader.address).call() == plan.quote_out


def test_sending_needs_live_mode_and_relay_errors_are_clear(setup, monkeypatch):
    w3, u, swapper, client, relay, server, trader, searcher = setup
    monkeypatch.delenv("QUANT_LIVE", raising=False)
    off = FlashbotsRelay(server.url, client.searcher)
    (_, tx_a), _ = signed_swaps(w3, u, swapper, trader)
    n = len(server.calls)
    with pytest.raises(ExecutionRefused, match="live mode is off"):
        off.send_bundle([tx_a.raw_transaction], w3.eth.block_number + 1)
    with pytest.raises(ExecutionRefused, match="live mode is off"):
        off.send_private_transaction(tx_a.raw_transaction)
    assert len(server.calls) == n  # refused before any request
    assert not off.call_bundle([tx_a.raw_transaction], w3.eth.block_number + 1).reverted  # dry runs are fine
    with pytest.raises(ChainError, match="relay answered HTTP 200: .*unknown"):
        client.call("eth_unknownMethod", [{}])
    assert searcher.key.hex() not in repr(client)

