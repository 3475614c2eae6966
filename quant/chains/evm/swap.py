"""Uniswap V2 router swaps, built and signed with eth-account: the minimum output comes from the pool's own
quote on the current reserves less the expected slippage, the gas is capped before signing, the nonce and
chain id come from the node. Signing and sending need live mode and a key (`quant.chains.live`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from web3 import Web3
from web3.exceptions import ContractLogicError

from quant.chains.errors import ChainError, ExecutionRefused, SimulationFailed
from quant.chains.evm.abi import ERC20, FACTORY, PAIR, ROUTER
from quant.chains.keys import EVM_KEY_ENV, EVM_KEYFILE_ENV, EvmKey
from quant.chains.live import amount_out_min, live_requested, require_live
from quant.market.amm import uniswap_v2_amount_out

log = logging.getLogger(__name__)
KEY_HINT = f"load_evm_key() from ${EVM_KEY_ENV} or ${EVM_KEYFILE_ENV}"


@dataclass(frozen=True)
class GasCap:
    """Limits checked before anything is signed: a fee spike or a runaway estimate must not drain the account."""

    max_fee_per_gas: int  # wei
    max_gas: int = 500_000
    priority_fee: int = 10**9  # the tip, wei (never above max_fee_per_gas)
    estimate_margin: float = 1.2  # gas limit = estimate x margin + headroom per pair: state can change
    # before inclusion, and an estimate run at the last block's timestamp skips each pair's cumulative-price
    # writes (Uniswap V2 `_update` writes them only when time has passed: 2 x 22.1k gas while still zero)
    headroom_per_pair: int = 50_000


@dataclass(frozen=True)
class SwapPlan:
    """One exact-input swap along `path` (token addresses; WETH ends are native ETH when `eth_in`/`eth_out`)."""

    path: tuple[str, ...]
    amount_in: int
    quote_out: int  # what the pools give on the reserves read when planning
    min_out: int  # amountOutMin: the router reverts below it
    recipient: str
    deadline: int  # chain time (unix s)
    eth_in: bool = False
    eth_out: bool = False


def pool_quote(w3: Web3, factory: str, path: list[str], amount_in: int, block="latest") -> list[int]:
    """Amounts along `path` on the pairs' current reserves (UniswapV2Library.getAmountsOut, computed here
    with `quant.market.amm` so the same formula prices backtests and live orders)."""
    fac = w3.eth.contract(address=factory, abi=FACTORY)
    amounts = [amount_in]
    for a, b in zip(path, path[1:], strict=False):
        pair = fac.functions.getPair(a, b).call(block_identifier=block)
        if int(pair, 16) == 0:
            raise ChainError(f"no pair {a}/{b} on factory {factory}")
        r0, r1, _ = w3.eth.contract(address=pair, abi=PAIR).functions.getReserves().call(block_identifier=block)
        a_is_token0 = a.lower() < b.lower()  # V2 pairs order their tokens by address
        r_in, r_out = (r0, r1) if a_is_token0 else (r1, r0)
        amounts.append(uniswap_v2_amount_out(amounts[-1], r_in, r_out))
    return amounts


class RouterSwapper:
    """Swaps through one Uniswap-V2-style router on one chain. Planning, `simulate` and `build` are dry runs;
    `sign`, `send` and `swap` refuse unless live mode is on and a key is held."""

    def __init__(self, w3: Web3, router: str, chain_id: int, gas_cap: GasCap, key: EvmKey | None = None,
                 live: bool | None = None):
        self.w3, self.chain_id, self.gas_cap, self.key = w3, chain_id, gas_cap, key
        self.live = live_requested(live)
        self.router = w3.eth.contract(address=Web3.to_checksum_address(router), abi=ROUTER)
        self.weth = self.router.functions.WETH().call()
        self.factory = self.router.functions.factory().call()

    def __repr__(self) -> str:
        return f"RouterSwapper(router={self.router.address}, chain_id={self.chain_id}, key={self.key!r}, live={self.live})"

    # ---- dry runs --------------------------------------------------------------------------------
    def plan(self, path: list[str], amount_in: int, recipient: str, expected_slippage: float = 0.0,
             tolerance: float = 0.005, deadline_s: int = 120, native: bool = True) -> SwapPlan:
        """Quote `amount_in` along `path` on the current reserves and set amountOutMin from it. A slippage
        model feeds `expected_slippage`; `tolerance` is the extra room on top. With `native`, a WETH end is
        paid or received as ETH."""
        path = [Web3.to_checksum_address(t) for t in path]
        quote = pool_quote(self.w3, self.factory, path, amount_in)[-1]
        now = self.w3.eth.get_block("latest")["timestamp"]  # chain time: node clocks and ours can differ
        return SwapPlan(tuple(path), amount_in, quote, amount_out_min(quote, expected_slippage, tolerance),
                        Web3.to_checksum_address(recipient), now + deadline_s,
                        eth_in=native and path[0] == self.weth, eth_out=native and path[-1] == self.weth)

    def _function(self, p: SwapPlan):
        f, path = self.router.functions, list(p.path)
        if p.eth_in:
            return f.swapExactETHForTokens(p.min_out, path, p.recipient, p.deadline), p.amount_in
        if p.eth_out:
            return f.swapExactTokensForETH(p.amount_in, p.min_out, path, p.recipient, p.deadline), 0
        return f.swapExactTokensForTokens(p.amount_in, p.min_out, path, p.recipient, p.deadline), 0

    def simulate(self, plan: SwapPlan, sender: str) -> int:
        """eth_call of the swap from `sender` on the latest state: the output it would receive now."""
        fn, value = self._function(plan)
        try:
            return fn.call({"from": sender, "value": value})[-1]
        except ContractLogicError as err:
            raise SimulationFailed(f"swap simulation reverted: {err.message}") from err

    def build(self, plan: SwapPlan, sender: str, gas: int | None = None, nonce: int | None = None) -> dict:
        """The unsigned EIP-1559 transaction. Without `gas`, eth_estimateGas runs it first (a revert there
        is a `SimulationFailed`); with it, nothing is simulated (a revert then happens on chain)."""
        fn, value = self._function(plan)
        return self._build(fn, sender, value, gas, nonce, pairs=len(plan.path) - 1)

    def _build(self, fn, sender: str, value: int, gas: int | None, nonce: int | None, pairs: int = 0) -> dict:
        node_chain = self.w3.eth.chain_id
        if node_chain != self.chain_id:
            raise ExecutionRefused(f"node is on chain {node_chain}, this swapper trades chain {self.chain_id}")
        base = self.w3.eth.get_block("latest")["baseFeePerGas"]
        tip = min(self.gas_cap.priority_fee, self.gas_cap.max_fee_per_gas)
        params = {"from": sender, "value": value, "chainId": self.chain_id, "type": 2,
                  "maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * base + tip,  # room for ~6 full blocks
                  "nonce": self.w3.eth.get_transaction_count(sender, "pending") if nonce is None else nonce}
        if gas is None:
            try:
                cap = self.gas_cap
                gas = int(fn.estimate_gas(params) * cap.estimate_margin) + pairs * cap.headroom_per_pair
            except ContractLogicError as err:
                raise SimulationFailed(f"gas estimate reverted: {err.message}") from err
        tx = fn.build_transaction({**params, "gas": gas})
        self.check_gas(tx)
        return tx

    def check_gas(self, tx: dict) -> None:
        cap = self.gas_cap
        if tx["gas"] > cap.max_gas:
            raise ExecutionRefused(f"gas limit {tx['gas']} is above the cap {cap.max_gas}")
        if tx["maxFeePerGas"] > cap.max_fee_per_gas:
            raise ExecutionRefused(f"maxFeePerGas {tx['maxFeePerGas']} wei is above the cap {cap.max_fee_per_gas}")

    # ---- live ------------------------------------------------------------------------------------
    def sign(self, tx: dict):
        """Sign `tx` after the live, key, gas-cap and chain checks (eth-account also checks `from`)."""
        require_live(self.live, self.key, "signing", KEY_HINT)
        self.check_gas(tx)
        if tx.get("chainId") != self.chain_id:
            raise ExecutionRefused(f"transaction chainId {tx.get('chainId')} is not {self.chain_id}")
        signed = self.key.sign_transaction(tx)
        log.info("signed tx %s nonce %s gas %s maxFeePerGas %s from %s", signed.hash.to_0x_hex(), tx["nonce"],
                 tx["gas"], tx["maxFeePerGas"], self.key.address)
        return signed

    def send(self, signed) -> str:
        require_live(self.live, self.key, "sending", KEY_HINT)
        h = self.w3.eth.send_raw_transaction(signed.raw_transaction).to_0x_hex()
        log.info("sent tx %s", h)
        return h

    def swap(self, plan: SwapPlan, gas: int | None = None) -> str:
        """Build (gas estimated unless given), sign and send `plan` from the key's address: the tx hash."""
        require_live(self.live, self.key, "swap", KEY_HINT)
        return self.send(self.sign(self.build(plan, self.key.address, gas)))

    def approve(self, token: str, amount: int = 2**256 - 1) -> str:
        """Let the router spend `amount` of `token` from the key's address (needed before selling a token)."""
        require_live(self.live, self.key, "approve", KEY_HINT)
        fn = self.w3.eth.contract(address=Web3.to_checksum_address(token), abi=ERC20).functions.approve(
            self.router.address, amount)
        return self.send(self.sign(self._build(fn, self.key.address, 0, None, None)))
