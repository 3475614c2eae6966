"""Live execution on an EVM chain: the runtime's orders as Uniswap V2 router swaps (`quant.chains.evm.swap`),
booked from their receipts and never sent twice.

An order's life: planned on the chain's reserves of that moment (amountOutMin = the pool's own quote less the
slippage tolerance), signed (the nonce is fixed there, so the transaction's hash is known before anything is
sent), appended to the order log and fsync'd, sent, and booked from its receipt: the amounts the pair's Swap
event says moved and the gas really paid. The order log (`orders.jsonl` beside the journal's segments) is
what makes a crash harmless. On start, every logged order whose fill is not in the journal is settled before
the first event: one that was mined is booked from its receipt; one the node never saw is sent again (the
same signed bytes, the same nonce: at most one of them can ever be mined); one that reverted, or whose nonce
another transaction took, is recorded as failed. Order ids are the event and the side (`o{seq}-buy`, as on
paper), so the stream replayed after a restart cannot place an order the log already holds.

An order does not hold up the decision loop: it is sent and stays in flight (its pool takes no other
decision, a buy counts as a position and its notional as committed cash) until `poll`, between micro-batches,
finds its receipt. The book (cash, positions, equity marks at the stream's reserves) is the paper broker's;
a fill adds the gas it cost.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3Exception

from live_runtime.broker import Fill, OrderFailed, PaperBroker, PoolState
from quant.chains.errors import ChainError, ExecutionRefused
from quant.chains.evm.abi import ERC20, PAIR, SWAP
from quant.chains.evm.swap import RouterSwapper
from quant.market.amm import UNISWAP_V2, price_impact

log = logging.getLogger("live_runtime.execution")


@dataclass
class Order:
    order_id: str
    pool_id: str
    side: str
    token: str  # the pool's base token; the quote is the router's WETH, paid and received as ETH
    amount_in: int  # raw units of what is sold
    quote_out: int  # the pool's quote when planned, raw
    min_out: int
    price_impact: float
    nonce: int
    tx_hash: str
    raw_tx: str  # the signed transaction: sent again, byte for byte, if the node never saw it
    ts_us: int
    seq: int
    base_decimals: int
    quote_decimals: int


class EvmExecutor(PaperBroker):
    """The paper broker's book with real swaps behind `buy` and `sell_all` (the engine's broker interface)."""

    def __init__(self, swapper: RouterSwapper, order_log: Path, starting_balance: float,
                 tolerance: float = 0.01, receipt_timeout_s: float = 120.0, poll_every_s: float = 0.5):
        super().__init__(starting_balance)
        if swapper.key is None or not swapper.live:
            raise ExecutionRefused("live execution needs a swapper in live mode holding a key")
        self.swapper, self.w3 = swapper, swapper.w3
        self.address = swapper.key.address
        self.tolerance, self.receipt_timeout_s, self.poll_every_s = tolerance, receipt_timeout_s, poll_every_s
        self.pending: dict[str, Order] = {}  # sent, no receipt yet
        self._sent_at: dict[str, float] = {}
        self._next_poll = 0.0
        self.order_log = Path(order_log)
        self.order_log.parent.mkdir(parents=True, exist_ok=True)
        self.orders: dict[str, Order] = {}
        self.outcomes: dict[str, str] = {}  # order id -> "filled" / "failed: why"
        self.received: dict[str, int] = {}  # order id -> raw units it bought or sold for (a sell sells them all)
        self._tokens: dict[str, tuple[str, str]] = {}  # pool -> (its token0, its token1), read once
        lines = self.order_log.read_text().splitlines() if self.order_log.exists() else []
        for k, line in enumerate(lines):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                if k < len(lines) - 1:
                    raise
                # a last line cut short by a crash: never fsync'd whole, so nothing was sent after it; cut off,
                # so that the next record starts on a line of its own
                log.warning("dropping a partial last line of %s: %.80s", self.order_log, line)
                with open(self.order_log, "r+b") as f:
                    f.truncate(len(self.order_log.read_bytes()) - len(line.encode()))
                continue
            if "outcome" in rec:
                self.outcomes[rec["order_id"]] = rec["outcome"]
                if "received" in rec:
                    self.received[rec["order_id"]] = rec["received"]
            else:
                self.orders[rec["order_id"]] = Order(**rec)

    def unsettled(self) -> list[str]:
        """Logged orders without an outcome (sent or about to be when the process stopped)."""
        return [o for o in self.orders if o not in self.outcomes]

    # ---- the engine's interface --------------------------------------------------------------------------

    def in_flight(self, pool_id: str) -> bool:
        return any(o.pool_id == pool_id for o in self.pending.values())

    def open_count(self) -> int:
        return len(self.positions) + sum(o.side == "buy" for o in self.pending.values())

    def available_cash(self) -> float:
        return self.cash - sum(o.amount_in / 10**o.quote_decimals for o in self.pending.values() if o.side == "buy")

    def buy(self, pool_id: str, pool: PoolState, quote_in: float, ts_us: int, seq: int) -> Order:
        """Send the swap; the fill comes from `poll` once its receipt does."""
        if quote_in > self.available_cash() + 1e-12:
            raise OrderFailed(f"order o{seq}-buy: notional {quote_in} exceeds the cash not committed "
                              f"({self.available_cash()})")
        token = self._base_token(pool_id)
        return self._place(f"o{seq}-buy", pool_id, "buy", token, int(quote_in * 10**pool.quote_decimals),
                           [self.swapper.weth, token], pool, ts_us, seq)

    def sell_all(self, pool_id: str, pool: PoolState, ts_us: int, seq: int) -> Order:
        pos = self.positions[pool_id]
        token = self._base_token(pool_id)
        # the raw amount the entry received (the float position loses the last digits of 18-decimal units)
        held = self.received.get(f"o{pos.entry_seq}-buy", int(pos.base_amount * 10**pool.base_decimals))
        return self._place(f"o{seq}-sell", pool_id, "sell", token, held, [token, self.swapper.weth], pool, ts_us,
                           seq)

    def poll(self, wait_s: float = 0.0) -> tuple[list[Fill], list[OrderFailed]]:
        """The orders in flight whose receipts have come: their fills (for the caller to book) and failures.
        Asks the node at most every `poll_every_s`; with `wait_s`, waits up to that long for all of them."""
        if not self.pending or (wait_s <= 0 and time.monotonic() < self._next_poll):
            return [], []
        deadline = time.monotonic() + wait_s
        fills, failed = [], []
        while True:
            for order in list(self.pending.values()):
                receipt = self._receipt_or_none(order)
                if receipt is None:
                    self._check_overdue(order, failed)
                    continue
                del self.pending[order.order_id]
                try:
                    fill = self._book(order, receipt)
                except OrderFailed as err:
                    failed.append(err)
                    continue
                fills.append(fill)
                if fill.side == "buy":
                    self._approve(order.token)
            if not self.pending or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        self._next_poll = time.monotonic() + self.poll_every_s
        return fills, failed

    def settle(self, booked: set[str]) -> list[Fill]:
        """On start: the fills of logged orders that the journal does not hold (`booked`: the order ids of its
        committed fills), read from their receipts; the caller books and journals them. An order the node
        never saw is sent again and, like one still pending, goes back in flight for `poll`."""
        fills = []
        for order in self.orders.values():
            if order.order_id in booked or self.outcomes.get(order.order_id, "").startswith("failed"):
                continue
            try:
                receipt = self._receipt_or_none(order)
                if receipt is None:
                    self._resend(order)
                    self.pending[order.order_id] = order
                    self._sent_at[order.order_id] = time.monotonic()
                    continue
                fills.append(self._book(order, receipt))
                if order.side == "buy":
                    self._approve(order.token)
            except OrderFailed as err:
                log.error("order %s from before the restart failed: %s", order.order_id, err)
                continue
            log.info("order %s from before the restart settled from its receipt %s", order.order_id, order.tx_hash)
        return fills

    # ---- orders ------------------------------------------------------------------------------------------

    def _place(self, order_id: str, pool_id: str, side: str, token: str, amount_in: int, path: list[str],
               pool: PoolState, ts_us: int, seq: int) -> Order:
        if order_id in self.orders:
            raise OrderFailed(f"order {order_id} was placed before ({self.outcomes.get(order_id, 'pending')}); "
                              "an order is never placed twice")
        if amount_in <= 0:
            raise OrderFailed(f"order {order_id}: amount_in={amount_in} raw units, nothing to trade")
        try:
            plan = self.swapper.plan(path, amount_in, self.address, tolerance=self.tolerance)
            tx = self.swapper.build(plan, self.address)  # gas estimated: a swap that would revert stops here
            signed = self.swapper.sign(tx)
        except (ChainError, Web3Exception, ValueError) as err:  # a revert in the estimate, a cap, the node's no
            raise OrderFailed(f"order {order_id} not sent: {err}") from err
        r_in, r_out = self._reserves(pool_id, path[0])
        order = Order(order_id, pool_id, side, token, amount_in, plan.quote_out, plan.min_out,
                      price_impact(UNISWAP_V2, amount_in, r_in, r_out), tx["nonce"], signed.hash.to_0x_hex(),
                      signed.raw_transaction.to_0x_hex(), ts_us, seq, pool.base_decimals, pool.quote_decimals)
        self._append(asdict(order))  # before sending: a crash from here on is settled from the log
        self.orders[order_id] = self.pending[order_id] = order
        self._sent_at[order_id] = time.monotonic()
        self.swapper.send(signed)
        return order

    def _book(self, order: Order, receipt) -> Fill:
        """The fill a mined transaction made: the pair's Swap amounts and the gas paid."""
        if receipt["status"] != 1:
            self._fail(order, f"transaction {order.tx_hash} reverted")
        base_out, quote_out = self._swap_amounts(receipt, order)
        gas = receipt["gasUsed"] * receipt["effectiveGasPrice"] / 10**18  # ETH, the quote currency
        if order.side == "buy":
            amount_in, amount_out = order.amount_in / 10**order.quote_decimals, base_out / 10**order.base_decimals
        else:
            amount_in, amount_out = order.amount_in / 10**order.base_decimals, quote_out / 10**order.quote_decimals
        fee = (amount_in if order.side == "buy" else amount_out) * UNISWAP_V2.fee_fraction
        received = base_out if order.side == "buy" else quote_out
        if order.order_id not in self.outcomes:
            self._append({"order_id": order.order_id, "outcome": "filled", "received": received})
        self.outcomes[order.order_id], self.received[order.order_id] = "filled", received
        return Fill(order.order_id, order.pool_id, order.side, amount_in, amount_out, order.price_impact, fee,
                    order.ts_us, order.seq, gas=gas, tx_hash=order.tx_hash)

    def _check_overdue(self, order: Order, failed: list[OrderFailed]) -> None:
        """No receipt after `receipt_timeout_s`: failed if another transaction took its nonce (it can never be
        mined), else still in flight (a fee spike, a slow chain), with a warning."""
        waited = time.monotonic() - self._sent_at.get(order.order_id, time.monotonic())
        if waited < self.receipt_timeout_s:
            return
        if self.w3.eth.get_transaction_count(self.address) > order.nonce:
            del self.pending[order.order_id]
            try:
                self._fail(order, f"nonce {order.nonce} was taken by another transaction; {order.tx_hash} never mined")
            except OrderFailed as err:
                failed.append(err)
            return
        log.warning("order %s: no receipt for %s after %.0f s, still waiting", order.order_id, order.tx_hash, waited)
        self._sent_at[order.order_id] = time.monotonic()  # warn again after another timeout

    def _approve(self, token: str) -> None:
        """Let the router take the tokens back when the position closes; not waited for (a sell comes later,
        and its gas estimate fails if the approval has not been mined)."""
        try:
            allowance = self.w3.eth.contract(address=token, abi=ERC20).functions.allowance(
                self.address, self.swapper.router.address).call()
            if allowance < 2**255:  # approvals are for the maximum: one per token, ever
                self.swapper.approve(token)
        except (ChainError, Web3Exception, ValueError) as err:
            log.error("approving %s for the router failed: %s", token, err)

    def _fail(self, order: Order, why: str) -> None:
        self._append({"order_id": order.order_id, "outcome": f"failed: {why}"})
        self.outcomes[order.order_id] = f"failed: {why}"
        raise OrderFailed(f"order {order.order_id}: {why}")

    def _receipt_or_none(self, order: Order):
        try:
            return self.w3.eth.get_transaction_receipt(order.tx_hash)
        except TransactionNotFound:
            return None

    def _resend(self, order: Order) -> None:
        try:
            self.w3.eth.get_transaction(order.tx_hash)
            return  # pending: the node has it
        except TransactionNotFound:
            pass
        if self.w3.eth.get_transaction_count(self.address) > order.nonce:
            self._fail(order, f"nonce {order.nonce} was taken by another transaction; {order.tx_hash} never mined")
        log.warning("order %s: the node never saw %s, sending the same signed transaction again", order.order_id,
                    order.tx_hash)
        self.w3.eth.send_raw_transaction(order.raw_tx)

    def _swap_amounts(self, receipt, order: Order) -> tuple[int, int]:
        """(base, quote) raw amounts the pair paid out in this transaction, from its Swap event."""
        token0 = self._pair_tokens(order.pool_id)[0]
        for entry in receipt["logs"]:
            if entry["address"].lower() != order.pool_id.lower() or entry["topics"][0].to_0x_hex() != SWAP:
                continue
            data = bytes(entry["data"])
            _, _, out0, out1 = (int.from_bytes(data[i:i + 32], "big") for i in range(0, 128, 32))
            return (out0, out1) if token0.lower() == order.token.lower() else (out1, out0)
        raise ChainError(f"receipt of {order.tx_hash} holds no Swap event of pair {order.pool_id}")

    # ---- chain reads -------------------------------------------------------------------------------------

    def _pair(self, pool_id: str):
        return self.w3.eth.contract(address=Web3.to_checksum_address(pool_id), abi=PAIR)

    def _pair_tokens(self, pool_id: str) -> tuple[str, str]:
        if pool_id not in self._tokens:
            pair = self._pair(pool_id)
            self._tokens[pool_id] = (pair.functions.token0().call(), pair.functions.token1().call())
        return self._tokens[pool_id]

    def _base_token(self, pool_id: str) -> str:
        tokens = set(self._pair_tokens(pool_id))
        if self.swapper.weth not in tokens:
            raise OrderFailed(f"pool {pool_id} is not quoted in WETH: the account trades ETH")
        return (tokens - {self.swapper.weth}).pop()

    def _reserves(self, pool_id: str, token_in: str) -> tuple[int, int]:
        pair = self._pair(pool_id)
        r0, r1, _ = pair.functions.getReserves().call()
        return (r0, r1) if self._pair_tokens(pool_id)[0] == token_in else (r1, r0)

    def _append(self, record: dict) -> None:
        with open(self.order_log, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
