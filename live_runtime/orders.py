"""Orders to the broker. On paper an order fills at once; live, it is sent and stays in flight (its pool takes
no decision) until its receipt comes between micro-batches. Either way the fill comes back to the engine,
which books it. A failed order is journaled with its reason and counted."""

from __future__ import annotations

import logging

from live_runtime.broker import Fill, OrderFailed, PaperBroker, PoolState
from live_runtime.events import Snapshot
from live_runtime.status import Status

log = logging.getLogger("live_runtime.orders")
SETTLED = {"reasons": ["settled from the chain after a restart"]}  # a live order sent before the restart


class Orders:
    def __init__(self, broker: PaperBroker, status: Status, stats: dict):
        self.broker, self.status, self.stats = broker, status, stats
        self.in_flight: dict[str, dict] = {}  # live orders sent, by id: the decision that sent them
        self.sent = False  # an order was sent since the last commit (journaled at once, as a fill is)

    def place(self, e: Snapshot, seq: int, side: str, decision: dict, pool: PoolState) -> Fill | None:
        """The fill of a paper order; None for a live order sent (or one that failed: the position, if any,
        stays open and the next snapshot decides again)."""
        try:
            fill = (self.broker.buy(e.pool_id, pool, decision["notional"], e.ts_us, seq) if side == "buy"
                    else self.broker.sell_all(e.pool_id, pool, e.ts_us, seq))
        except OrderFailed as err:
            self.failed(seq, e.ts_us, e.pool_id, side, err)
            return None
        if isinstance(fill, Fill):
            return fill
        self.in_flight[fill.order_id] = decision
        self.status.activity("order_sent", fill.seq, fill.ts_us, fill.pool_id,
                             {"order_id": fill.order_id, "side": fill.side, "tx_hash": fill.tx_hash,
                              "amount_in_raw": fill.amount_in, "min_out_raw": fill.min_out})
        self.sent = True
        return None

    def collect(self, wait_s: float = 0.0) -> tuple[list[tuple[Fill, dict]], list[OrderFailed]]:
        """The live orders whose receipts have come, each with the decision that sent it, and those that
        failed (nothing on paper)."""
        fills, failed = self.broker.poll(wait_s)
        return [(fill, self.in_flight.pop(fill.order_id, SETTLED)) for fill in fills], failed

    def failed(self, seq: int, ts: int, pool_id: str | None, side: str | None, err: OrderFailed) -> None:
        self.stats["order_failures"] += 1
        log.error("%s", err)
        self.status.activity("order_failed", seq, ts, pool_id, {"side": side, "error": str(err)})
