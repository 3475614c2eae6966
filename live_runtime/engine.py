"""The decision loop: events in, micro-batches of online features, the model cascade, the decision, the risk
guard, paper fills, the journal. One thread; the API reads what it publishes (live_runtime.status).

Per micro-batch (at most `max_batch` events, or what arrived within `max_wait_ms`):
1. swaps update the pools' flow and reserves; snapshots close each pool's interval (quant.features.online);
2. the cascade scores every snapshot (live_runtime.cascade) and returns the scored batch;
3. at each snapshot, in event order, the policy decides an exit or an entry (live_runtime.policy) and the
   engine books what the broker fills;
4. everything goes to the journal; labels resolve `horizon` snapshots later (live_runtime.outcomes).
"""

from __future__ import annotations

import logging
import threading
import time

from live_runtime.broker import Fill, PaperBroker
from live_runtime.cascade import Cascade, ScoredBatch
from live_runtime.config import RuntimeConfig
from live_runtime.events import SNAPSHOT, Event, Snapshot
from live_runtime.ingest import MarketState, within_window
from live_runtime.journal import RELEASED, Journal, Resume
from live_runtime.models import ModelWatcher
from live_runtime.orders import SETTLED, Orders
from live_runtime.outcomes import Outcomes
from live_runtime.policy import VOLATILITY, Policy, blocked_by_risk
from live_runtime.risk import RiskGuard
from live_runtime.sources import Orderer
from live_runtime.status import Status

log = logging.getLogger("live_runtime.engine")
DRAIN_ORDERS_S = 30.0  # at the end of a stream, how long to wait for live orders in flight


class Engine:
    def __init__(self, cfg: RuntimeConfig, source, watcher: ModelWatcher | None = None,
                 journal: Journal | None = None, resume: Resume | None = None, reorder_tolerance_s: float = 0.0,
                 broker: PaperBroker | None = None):
        self.cfg, self.source = cfg, source
        self.journal = journal or Journal(cfg.journal_dir)
        resume = resume or self.journal.resume()
        self.watcher = watcher or ModelWatcher(cfg.registry_dir, cfg.reload_check_s, cfg.compile_trees,
                                               wait=cfg.wait_for_champions)
        self.market = MarketState(cfg.idle_pool_h)
        self.features, self.pools = self.market.features, self.market.pools
        self.broker = broker or PaperBroker(cfg.starting_balance)  # live: an executor with the same book
        self.risk = RiskGuard(cfg.risk, cfg.kill_file)
        self.orderer = Orderer(reorder_tolerance_s)
        self.outcomes = Outcomes()
        self.cascade = Cascade(cfg, self.features, self.outcomes.learners)
        self.policy = Policy(cfg, self.risk, self.broker)
        self.status = Status(self.journal)
        self.position = resume.position
        for fill in resume.fills:
            self.broker.apply(fill)
        self.risk.restore(resume.checkpoint.get("risk", {}))
        self.resume = resume
        self._state = self.journal.load_state(resume.position) if resume.checkpoint else None
        if resume.position and self._state is None:
            log.warning("no saved state at event %d: the learners and the predictions awaiting their outcomes "
                        "start empty, so decisions after this restart may differ from an uninterrupted run",
                        resume.position)
        self.outcomes.restore(resume.checkpoint, self._state)
        self.processed = self.last_ts = 0
        self._next_publish = 0.0
        self._last_commit = time.monotonic()
        self._fills_pending = self.models_stale = False
        self._next_release_us = int(resume.checkpoint.get("next_release_us", 0))
        self.stats = {"events": 0, "snapshots": 0, "swaps": 0, "passed_cascade": 0, "expensive": 0, "decisions": 0,
                      "entries": 0, "exits": 0, "blocked": 0, "outcomes": 0, "error_drift_alarms": 0,
                      "pools_released": 0, "order_failures": 0}
        self.orders = Orders(self.broker, self.status, self.stats)
        for fill in self.broker.settle({f.order_id for f in resume.fills}):  # live orders a crash left unbooked
            self._book(fill, SETTLED)

    # ---- the loop ----------------------------------------------------------------------------------------

    def warm_up(self) -> int:
        """Replay the source's history into the pool states (no scoring, no trading, no journal). After a
        restart the history ends with the stream's events already processed: the pools released among them
        are released again after the same event, and what the journal's state file holds (the predictions
        awaiting their outcomes, the pools' sequences) goes back into the pools' slots, so the engine stands
        exactly where it stood at the checkpoint."""
        history, positions = self.source.history(), self.broker.positions
        stream_start = len(history) - self.position  # where the stream's processed events begin in it
        releases = {position: pools for position, pools in self.resume.releases if stream_start >= 0}
        for k, e in enumerate(history):
            self.market.apply(e)
            self.market.move(e)
            if e.kind == SNAPSHOT and e.pool_id in positions and e.ts_us > positions[e.pool_id].entry_ts_us:
                positions[e.pool_id].snapshots_held += 1
            if k - stream_start + 1 in releases:
                self.market.release(releases[k - stream_start + 1])
        self._forget_restarted()
        if self._state is not None:
            self.outcomes.restore_pending(self._state, self.features.slots)
            self.cascade.restore(self._state)
            self._state = None
        self.orderer.released_until = history[-1].ts_us if history else self.orderer.released_until
        return len(history)

    def run(self, stop: threading.Event | None = None, max_events: int | None = None,
            until_us: int | None = None) -> None:
        """Until the stream ends, `stop` is set, `max_events` have been processed or market time reaches
        `until_us`; then everything pending is resolved and committed."""
        stop = stop or threading.Event()
        wait_s = self.cfg.max_wait_ms / 1000
        while not stop.is_set():
            if max_events is not None and self.processed >= max_events:
                break
            if until_us is not None and self.last_ts >= until_us:
                break
            events = self.source.poll(self.cfg.max_batch, wait_s)
            arrival = time.perf_counter_ns()
            if events:
                self.orderer.push(events)
            done = not events and self.source.exhausted
            released = self.orderer.release(flush=done)
            if released:
                self.step(released, arrival)
            self._housekeeping()
            if done and not len(self.orderer):
                break
        self._collect_fills(wait_s=DRAIN_ORDERS_S)
        self.resolve_outcomes()
        self.commit()

    def step(self, events: list[Event], arrival_ns: int) -> None:
        """One micro-batch, in market-time order (cut where a pool has more snapshots than its window holds)."""
        for part in within_window(events):
            self._step(part, arrival_ns)

    def _step(self, events: list[Event], arrival_ns: int) -> None:
        """Two passes. The first brings every pool's features state to the end of the batch; all snapshots are
        then scored at once, each at its own row of its pool's window (exact: quant.features.online). The
        second walks the events again in order, moving reserves, and decides at each snapshot with what was
        known at that moment: its scores, the reserves of that moment, the positions and risk state so far."""
        snaps, slots, seqs = [], [], []
        for k, e in enumerate(events):
            slot = self.market.apply(e)
            if e.kind == SNAPSHOT:
                snaps.append(e)
                slots.append(slot)
                seqs.append(self.position + k)
        self._forget_restarted()
        # Waiting for champions: the pools follow the stream, nothing is scored or decided.
        batch = self._score(snaps, slots, seqs) if snaps and self.watcher.current is not None else None
        i = 0
        for e in events:
            self.market.move(e)
            if e.kind == SNAPSHOT and batch is not None:
                self._act(batch, i)
                i += 1
        self.position += len(events)
        self.processed += len(events)
        self.stats["events"] += len(events)
        self.stats["snapshots"] += len(snaps)
        self.stats["swaps"] += len(events) - len(snaps)
        self.last_ts = events[-1].ts_us
        if batch is not None:
            self._update_risk(seqs[-1], self.last_ts)
            self.status.batch_done(arrival_ns, batch.expensive, batch.cheap_done_ns)
        # After the decisions, so not in their latency; every batch, so the learners and voters' weights
        # change at the same events whatever the speed of the machine (a timer would make runs differ).
        self.resolve_outcomes()

    def _forget_restarted(self) -> None:
        """Pools whose window started afresh: their sequences and the predictions waiting for their next
        snapshots go too (the batch labels leave those null)."""
        for slot in self.market.take_restarted():
            self.outcomes.forget(slot)
            self.cascade.forget(slot)

    # ---- scoring, decisions, booking ---------------------------------------------------------------------

    def _score(self, snaps: list[Snapshot], slots: list[int], seqs: list[int]) -> ScoredBatch:
        batch = self.cascade.score(snaps, slots, seqs, self.watcher.current, self.market.quote_symbol,
                                   self.broker.positions)
        self.stats["passed_cascade"] += int(batch.passed.sum())
        self.stats["expensive"] += int(batch.expensive.sum())
        self.journal.add_predictions(batch.journal_columns())
        self.status.prediction(batch.top())
        self.outcomes.remember(batch, self.features)
        return batch

    def _act(self, batch: ScoredBatch, i: int) -> None:
        """The decision at one snapshot, in event order: exit a held pool, or consider an entry."""
        e, seq = batch.events[i], batch.seqs[i]
        if batch.tradable[i]:
            self.risk.observe_volatility((batch.x[i, VOLATILITY],))
        if self.broker.in_flight(e.pool_id):  # a live order for it has no receipt yet: nothing to decide till then
            return
        pos = self.broker.positions.get(e.pool_id)
        if pos is not None:
            if e.ts_us > pos.entry_ts_us:
                pos.snapshots_held += 1
                decision = self.policy.exit(e.pool_id, self.pools[e.pool_id], pos, float(batch.rug[i]),
                                            int(batch.action[i]), batch.models.agent is not None)
                if decision is not None:
                    self.status.decision(seq, e.ts_us, e.pool_id, decision)
                    self._order(e, seq, "sell", decision)
            return
        if batch.passed[i]:
            self._update_risk(seq, e.ts_us)  # breakers are checked before every order, on this moment's equity
            decision = self.policy.entry(batch, i, self.outcomes.voter_accuracy, self.models_stale)
            self.stats["decisions"] += 1
            self.stats["blocked"] += blocked_by_risk(decision)
            self.status.decision(seq, e.ts_us, e.pool_id, decision)
            if decision["action"] == "enter":
                self._order(e, seq, "buy", decision)

    def _order(self, e: Snapshot, seq: int, side: str, decision: dict) -> None:
        fill = self.orders.place(e, seq, side, decision, self.pools[e.pool_id])
        if fill is not None:
            self._book(fill, decision)

    def _book(self, fill: Fill, decision: dict) -> None:
        """Every fill, paper or live, at once or from a receipt, into the book, the risk guard and the journal."""
        pnl = self.broker.apply(fill)
        if fill.side == "sell":
            self.risk.on_close(pnl, fill.ts_us)
            self.stats["exits"] += 1
            decision = {**decision, "pnl": pnl}
        else:
            self.stats["entries"] += 1
        self.status.fill(fill, fill.pool_id in self.broker.positions, self.broker.cash, decision)
        self._fills_pending = True

    def _collect_fills(self, wait_s: float = 0.0) -> None:
        """Book the live orders whose receipts have come (between micro-batches)."""
        fills, failed = self.orders.collect(wait_s)
        for fill, decision in fills:
            self._book(fill, decision)
        for err in failed:
            self.orders.failed(self.position, self.last_ts, None, None, err)

    def _update_risk(self, seq: int, now: int) -> None:
        equity = self.broker.equity(self.pools)
        before = self.risk.state
        state = self.risk.update(now, equity)
        if state is not before:
            self.status.activity("risk", seq, now, None, {"state": str(state), "was": str(before),
                                                           "reasons": self.risk.reasons, "equity": equity})

    def resolve_outcomes(self) -> int:
        """Label the predictions whose horizon has passed; the alarms and outcomes go to the journal."""
        if self.watcher.current is None:
            return 0
        resolved = self.outcomes.resolve(self.watcher.current.versions)
        if resolved is None:
            return 0
        self.status.outcomes(resolved)
        self.stats["error_drift_alarms"] += len(resolved.alarms)
        self.stats["outcomes"] += resolved.count
        return resolved.count

    # ---- journal and publication -------------------------------------------------------------------------

    def commit(self) -> None:
        """A journal segment and its checkpoint, with everything that decides as of this event: the book (its
        fills), the risk guard, the voters and detectors, the release schedule in the checkpoint; the learners,
        the predictions awaiting their outcomes and the pools' sequences in the state file saved just before
        it. A restart from it is the uninterrupted run (tests/live/test_resume.py)."""
        equity = self.broker.equity(self.pools)
        self.journal.save_state(self.position, {**self.outcomes.state(), **self.cascade.state()})
        self.journal.commit({"position": self.position, "cash": self.broker.cash, "equity": equity,
                             "risk_state": str(self.risk.state), "risk": self.risk.persisted(),
                             "next_release_us": self._next_release_us,
                             "versions": self.watcher.current.versions if self.watcher.current else {},
                             **self.outcomes.checkpoint()}, self.last_ts)
        self.journal.prune_states(self.position)
        self._fills_pending = self.orders.sent = False
        self._last_commit = time.monotonic()

    def _housekeeping(self) -> None:
        self._collect_fills()
        now = time.monotonic()
        if self.last_ts >= self._next_release_us:  # hourly, in market time
            released = self.market.release_idle(self.last_ts, self.broker.positions)
            if released:  # journaled: a restart's warm-up releases them after the same event
                self.status.activity(RELEASED, self.position, self.last_ts, None, {"pools": released})
            self.stats["pools_released"] += len(released)
            self._forget_restarted()
            self._next_release_us = self.last_ts + 3_600_000_000
        if self.watcher.check():
            self.models_stale = self.watcher.current.oldest_age_h() > self.cfg.decision.max_model_age_h
        for ev in self.watcher.events:
            self.status.activity(ev["kind"], self.position, self.last_ts, None, ev)
        self.watcher.events.clear()
        if self._fills_pending or self.orders.sent or self.journal.rows_pending >= self.cfg.journal_flush_rows or (
                self.journal.rows_pending and now - self._last_commit >= self.cfg.journal_flush_s):
            self.commit()
        if now >= self._next_publish:
            self.publish()
            self._next_publish = now + 0.2

    def publish(self) -> None:
        """The picture the API serves (while waiting for champions: what it waits for instead of the models)."""
        picture = {
            "position": self.position, "market_ts": self.last_ts, "stats": dict(self.stats),
            **self.broker.snapshot(self.pools), "starting_balance": self.broker.starting_balance,
            "risk": self.risk.describe(),
            "source": self.source.health() if hasattr(self.source, "health") else {"state": "ok"},
            "mode": "live" if self.cfg.live else "paper"}
        models = self.watcher.current
        if models is None:
            picture |= {"models": {}, "waiting_for_champions": self.watcher.waiting}
        else:
            picture |= {
                "models": {name: {"version": v, "compiled": name.removesuffix("_model") in models.compiled}
                           for name, v in models.versions.items()},
                "models_stale": self.models_stale, "refused": dict(self.watcher.refused),
                "strategy": models.entries(),
                "online_learners": {k: v.describe() for k, v in self.outcomes.learners.items()},
                "voter_accuracy": dict(self.outcomes.voter_accuracy),
                "orderer": {"duplicates": self.orderer.duplicates, "late": self.orderer.late,
                            "held": len(self.orderer)}}
        self.status.publish(picture, self.last_ts)
