"""What the journal and the API are told while the engine runs: every activity (decision, order, fill,
position, risk state, model swap) to the journal and the message stream; the published picture (replaced
whole, so readers never see half of an update), the recent decisions and predictions and the equity curve
(under `lock`); the snapshot latencies of the newest batches."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict

import numpy as np

from live_runtime.broker import Fill
from live_runtime.journal import Journal
from live_runtime.outcomes import Resolved


class Status:
    def __init__(self, journal: Journal):
        self.journal = journal
        self.lock = threading.Lock()
        self.published: dict = {}
        self.recent_decisions: deque = deque(maxlen=200)
        self.recent_predictions: deque = deque(maxlen=200)
        self.messages: deque = deque(maxlen=1000)  # (id, type, payload) for the server-sent events stream
        self.message_id = 0
        self.equity_curve: deque = deque(maxlen=2000)
        # The newest batches' snapshot latencies, arrival to decision: at the cheap stage for a snapshot the
        # cascade turns away (nothing later in the batch can change that), at the batch's end for the rest,
        # the rows of `expensive_rows`.
        self.latency_ms: deque[np.ndarray] = deque(maxlen=20_000)
        self.expensive_rows: deque[np.ndarray] = deque(maxlen=20_000)
        self.batch_end_ms: deque[float] = deque(maxlen=20_000)

    def activity(self, kind: str, seq: int, ts: int, pool_id: str | None, data: dict) -> None:
        self.journal.add(kind, seq, ts, pool_id, data)
        with self.lock:
            self.message_id += 1
            self.messages.append((self.message_id, kind, {"seq": seq, "ts": ts, "pool_id": pool_id, **data}))

    def decision(self, seq: int, ts: int, pool_id: str, decision: dict) -> None:
        self.activity("decision", seq, ts, pool_id, decision)
        with self.lock:
            self.recent_decisions.append({"seq": seq, "ts": ts, "pool_id": pool_id, **decision})

    def fill(self, fill: Fill, position_open: bool, cash: float, decision: dict) -> None:
        """A fill as the journal keeps it: the order, the fill, and the position it leaves."""
        self.activity("order", fill.seq, fill.ts_us, fill.pool_id, {"order_id": fill.order_id, "side": fill.side,
                                                                    "amount_in": fill.amount_in})
        self.activity("fill", fill.seq, fill.ts_us, fill.pool_id, asdict(fill))
        self.activity("position", fill.seq, fill.ts_us, fill.pool_id,
                      {"open": position_open, "cash": cash,
                       "reason": decision["reasons"][0] if decision.get("reasons") else "consensus"})

    def outcomes(self, resolved: Resolved) -> None:
        """Resolved outcomes to the journal, after the error-drift alarms they raised."""
        for seq, ts, alarm in resolved.alarms:
            self.activity("error_drift", seq, ts, None, alarm)
        self.journal.add_outcomes(resolved.columns)

    def prediction(self, row: dict) -> None:
        with self.lock:
            self.recent_predictions.append(row)

    def batch_done(self, arrival_ns: int, expensive: np.ndarray, cheap_done_ns: int) -> None:
        """A batch's snapshots are decided, now: the expensive rows now, the others when the cheap stage ended."""
        done = (time.perf_counter_ns() - arrival_ns) / 1e6
        self.latency_ms.append(np.where(expensive, done, (cheap_done_ns - arrival_ns) / 1e6))
        self.expensive_rows.append(expensive)
        self.batch_end_ms.append(done)

    def publish(self, picture: dict, market_ts: int) -> None:
        """The picture (with its `equity`) replaces the last one; the equity curve gets its point."""
        if market_ts:
            with self.lock:
                self.equity_curve.append((market_ts, picture["equity"]))
        self.published = {**picture, "latency_ms": self.recent_latency()}

    def recent_latency(self, batches: int = 500) -> dict:
        recent = list(self.latency_ms)[-batches:]
        if not recent:
            return {}
        lat = np.concatenate(recent)
        return {"p50": round(float(np.percentile(lat, 50)), 3), "p99": round(float(np.percentile(lat, 99)), 3)}

    def latencies(self, rows: str = "all") -> np.ndarray:
        """Kept snapshot latencies (ms): "all" at each one's decision; "expensive", the snapshots scored by the
        expensive stage (the ones that can lead to an order); "batch_end", every snapshot at its batch's end,
        as if the cascade's refusals waited for the rest."""
        if not self.latency_ms:
            return np.zeros(0)
        if rows == "batch_end":
            return np.concatenate([np.full(len(m), end) for m, end in zip(self.expensive_rows, self.batch_end_ms,
                                                                          strict=True)])
        lat = np.concatenate(self.latency_ms)
        return lat[np.concatenate(self.expensive_rows)] if rows == "expensive" else lat
