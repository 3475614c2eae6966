"""The decision loop: events in, micro-batches of online features, the model cascade, the decision, the risk
guard, paper fills, the journal. One thread; the API reads what it publishes.

Per micro-batch (at most `max_batch` events, or what arrived within `max_wait_ms`):
1. swaps update the pools' flow and reserves; snapshots close each pool's interval (quant.features.online);
2. every snapshot is scored by the cheap models (XGBoost P(moon), P(rug)), blended with the online learner;
3. the events they pass (and only those) go to the expensive models: the sequence model over the pool's
   last feature vectors and the entry-timing agent;
4. open positions are checked for exits (stop-loss, take-profit, rug risk, the agent, the horizon);
   entries need the consensus, an in-range feature vector, a fresh model and the risk guard's yes;
5. everything goes to the journal; labels resolve `horizon` snapshots later and feed the online learner,
   the voters' weights and the journal's outcomes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import asdict

import numpy as np

from live_runtime.broker import Fill, OrderFailed, PaperBroker, PoolState
from live_runtime.config import RuntimeConfig
from live_runtime.journal import Journal, Resume
from live_runtime.models import ModelWatcher
from live_runtime.online_learner import OnlineLearner
from live_runtime.risk import RiskGuard
from live_runtime.sources import SNAPSHOT, SWAP, Orderer
from quant.drift import PageHinkley
from quant.features import FEATURES, OnlineFeatures
from quant.features.labels import LabelConfig, label_paths
from quant.features.online import EXTRA

log = logging.getLogger("live_runtime.engine")
VOLATILITY = FEATURES.index("volatility_10")
VOTERS = ("opportunity_model", "agent_entry_timing")
DRAIN_ORDERS_S = 30.0  # at the end of a stream, how long to wait for live orders in flight
SETTLED = {"reasons": ["settled from the chain after a restart"]}  # a live order sent before the restart


class Engine:
    def __init__(self, cfg: RuntimeConfig, source, watcher: ModelWatcher | None = None,
                 journal: Journal | None = None, resume: Resume | None = None, reorder_tolerance_s: float = 0.0,
                 broker: PaperBroker | None = None):
        self.cfg, self.source = cfg, source
        self.journal = journal or Journal(cfg.journal_dir)
        resume = resume or self.journal.resume()
        self.watcher = watcher or ModelWatcher(cfg.registry_dir, cfg.reload_check_s, cfg.compile_trees)
        self.features = OnlineFeatures()
        self.pools: dict[str, PoolState] = {}
        self.quote_symbol: dict[str, str] = {}
        self.broker = broker or PaperBroker(cfg.starting_balance)  # live: an executor with the same book
        self.risk = RiskGuard(cfg.risk, cfg.kill_file)
        self.orderer = Orderer(reorder_tolerance_s)
        self.labels = LabelConfig()
        n = len(FEATURES)
        self.learners = {"moon": OnlineLearner(n), "rug": OnlineLearner(n)}
        self.voter_accuracy = {v: 0.5 for v in VOTERS}
        # Page-Hinkley on each champion's squared errors as outcomes resolve. Calibrated on the small world's
        # stationary next day (17k outcomes): delta 0.05 and threshold 100 raise no alarm there for either
        # model, where the textbook 0.005 / 5 raised 22 on the moon model's errors.
        self.error_detectors = {m: PageHinkley(delta=0.05, threshold=100.0, min_samples=200)
                                for m in ("moon_model", "rug_model")}
        self.pending: dict[int, deque] = {}
        self.to_resolve: list[tuple] = []
        self.seq_hist = np.full((256, 1, n), np.nan)
        self.position = resume.position
        for fill in resume.fills:
            self.broker.apply(fill)
        self.risk.restore(resume.checkpoint.get("risk", {}))
        # What the runtime learned online, as of the checkpoint it resumes from: warm, not young, after a restart.
        self._learners_at: dict[str, int] = dict(resume.checkpoint.get("learners_at", {}))
        for name, learner in self.learners.items():
            state = self.journal.load_state(f"learner-{name}", self._learners_at.get(name, -1))
            if state is not None:
                learner.restore(state)
        self._saved_seen = {name: learner.seen for name, learner in self.learners.items()}
        self._learners_saved_t = time.monotonic()
        self.voter_accuracy.update(resume.checkpoint.get("voter_accuracy", {}))
        for model, state in resume.checkpoint.get("error_detectors", {}).items():
            vars(self.error_detectors[model]).update(state)
        self.processed = 0
        # The newest batches' snapshot latencies, arrival to decision: at the cheap stage for a snapshot the
        # cascade turns away (nothing later in the batch can change that), at the batch's end for the rest,
        # the rows of `expensive_rows`.
        self.latency_ms: deque[np.ndarray] = deque(maxlen=20_000)
        self.expensive_rows: deque[np.ndarray] = deque(maxlen=20_000)
        self.batch_end_ms: deque[float] = deque(maxlen=20_000)
        self.lock = threading.Lock()
        self.recent_decisions: deque = deque(maxlen=200)
        self.recent_predictions: deque = deque(maxlen=200)
        self.messages: deque = deque(maxlen=1000)  # (id, type, payload) for the server-sent events stream
        self.message_id = 0
        self.equity_curve: deque = deque(maxlen=2000)
        self.published: dict = {}
        self.last_ts = 0
        self._next_publish = 0.0
        self._last_commit = time.monotonic()
        self._fills_pending = False
        self.models_stale = False
        self.idle_us = int(cfg.idle_pool_h * 3600e6)
        self._next_release_us = 0
        self.stats = {"events": 0, "snapshots": 0, "swaps": 0, "passed_cascade": 0, "expensive": 0, "decisions": 0,
                      "entries": 0, "exits": 0, "blocked": 0, "outcomes": 0, "error_drift_alarms": 0,
                      "pools_released": 0, "order_failures": 0}
        self._in_flight: dict[str, dict] = {}  # live orders sent, by id: the decision that sent them
        for fill in self.broker.settle({f.order_id for f in resume.fills}):  # live orders a crash left unbooked
            self._book(fill, SETTLED)

    # ---- the loop ----------------------------------------------------------------------------------------

    def warm_up(self) -> int:
        """Replay the source's history into the pool states (no scoring, no trading, no journal)."""
        history = self.source.history()
        for e in history:
            self._apply(e)
            if e[1] == SNAPSHOT and e[3] in self.broker.positions and e[0] > self.broker.positions[e[3]].entry_ts_us:
                self.broker.positions[e[3]].snapshots_held += 1
        self.orderer.released_until = history[-1][0] if history else self.orderer.released_until
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
        self.commit(learners=True)

    def step(self, events: list[tuple], arrival_ns: int) -> None:
        """One micro-batch, in market-time order. A pool with more snapshots in it than the online features
        reach back (a single-pool replay) has the batch cut before the one too many."""
        counts: dict[str, int] = {}
        start = 0
        for k, e in enumerate(events):
            if e[1] == SNAPSHOT:
                c = counts.get(e[3], 0) + 1
                if c > EXTRA + 1:
                    self._step(events[start:k], arrival_ns)
                    start, counts, c = k, {}, 1
                counts[e[3]] = c
        self._step(events[start:], arrival_ns)

    def _step(self, events: list[tuple], arrival_ns: int) -> None:
        """Two passes. The first brings every pool's features state to the end of the batch; all snapshots are
        then scored at once, each at its own row of its pool's window (exact: quant.features.online). The
        second walks the events again in order, moving reserves, and decides at each snapshot with what was
        known at that moment: its scores, the reserves of that moment, the positions and risk state so far."""
        feats = self.features
        snaps = []
        for k, e in enumerate(events):
            slot = feats.slots.get(e[3])
            if slot is None:
                slot = feats.slot(e[3])
            if e[1] == SWAP:
                feats.add_swap(slot, e[4], e[5], e[6])
                continue
            self._restart_if_idle(slot, e[0])
            feats.add_snapshot(slot, e[0], e[4], e[5], e[6], e[7], e[8], e[9])
            if e[3] not in self.pools:
                self.pools[e[3]] = PoolState(e[11], e[5], e[6], e[12], e[13])
                self.quote_symbol[e[3]] = e[10]
            snaps.append((e, slot, self.position + k))
        scored = self._score(snaps) if snaps else None
        i = 0
        for e in events:
            pool = self.pools.get(e[3])
            if e[1] == SWAP:
                if pool is not None:
                    pool.base_reserve, pool.quote_reserve = e[7], e[8]
                continue
            pool.base_reserve, pool.quote_reserve = e[5], e[6]
            self._act(i, scored)
            i += 1
        self.position += len(events)
        self.processed += len(events)
        self.stats["events"] += len(events)
        self.stats["snapshots"] += len(snaps)
        self.stats["swaps"] += len(events) - len(snaps)
        self.last_ts = events[-1][0]
        if snaps:
            self._update_risk(snaps[-1][2], self.last_ts)
            done = (time.perf_counter_ns() - arrival_ns) / 1e6
            self.latency_ms.append(np.where(scored["expensive"], done, (scored["cheap_done_ns"] - arrival_ns) / 1e6))
            self.expensive_rows.append(scored["expensive"])
            self.batch_end_ms.append(done)
        # After the decisions, so not in their latency; every batch, so the learners and voters' weights
        # change at the same events whatever the speed of the machine (a timer would make runs differ).
        self.resolve_outcomes()

    def _apply(self, e: tuple) -> None:
        """An event into the pool states without scoring (warm-up)."""
        feats = self.features
        slot = feats.slots.get(e[3])
        if slot is None:
            slot = feats.slot(e[3])
        pool = self.pools.get(e[3])
        if e[1] == SWAP:
            feats.add_swap(slot, e[4], e[5], e[6])
            if pool is not None:
                pool.base_reserve, pool.quote_reserve = e[7], e[8]
            return
        self._restart_if_idle(slot, e[0])
        feats.add_snapshot(slot, e[0], e[4], e[5], e[6], e[7], e[8], e[9])
        if pool is None:
            self.pools[e[3]] = PoolState(e[11], e[5], e[6], e[12], e[13])
            self.quote_symbol[e[3]] = e[10]
        else:
            pool.base_reserve, pool.quote_reserve = e[5], e[6]

    def _restart_if_idle(self, slot: int, ts_us: int) -> None:
        feats = self.features
        if ts_us - feats.snapshot_ts[slot, -1] > self.idle_us and feats.snapshots_seen[slot]:
            self._restart_pool(slot)

    def _restart_pool(self, slot: int) -> None:
        """A pool back after more than `idle_pool_h` without a snapshot: its window starts afresh, and the
        predictions still waiting for its next snapshots are dropped (the batch labels leave them null)."""
        self.features.forget_history(slot)
        self.pending.pop(slot, None)
        if slot < len(self.seq_hist):
            self.seq_hist[slot] = np.nan

    def _release_idle_pools(self) -> None:
        """Free the slots of pools idle for longer than `idle_pool_h`, except held ones: memory follows the
        pools alive, not every pool ever seen."""
        feats, cutoff = self.features, self.last_ts - self.idle_us
        idle = [pid for pid, s in feats.slots.items()
                if feats.snapshots_seen[s] and feats.snapshot_ts[s, -1] < cutoff and pid not in self.broker.positions]
        for pool_id in idle:
            self._restart_pool(feats.release(pool_id))
            self.pools.pop(pool_id, None)
            self.quote_symbol.pop(pool_id, None)
        self.stats["pools_released"] += len(idle)

    # ---- scoring and decisions ---------------------------------------------------------------------------

    def _score(self, snaps: list[tuple]) -> dict:
        """Every snapshot of the batch through the cheap models; the expensive ones only where the cheap
        ones pass it or a position may need them."""
        cfg, dcfg = self.cfg, self.cfg.decision
        models = self.watcher.current
        n = len(snaps)
        slots = np.fromiter((s for _, s, _ in snaps), np.int64, n)
        back, later, first_passed = np.zeros(n, np.int64), {}, {}
        for i in range(n - 1, -1, -1):  # how many snapshots of the same pool come after it in the batch
            back[i] = later.get(slots[i], 0)
            later[slots[i]] = back[i] + 1
        x = self.features.features(slots, back)
        p_moon, p_rug = models.score(x)
        moon, moon_online = self.learners["moon"].blend(p_moon, x, dcfg.online_weight)
        rug, _ = self.learners["rug"].blend(p_rug, x, dcfg.online_weight)
        distance = models.outlier_distance(x)
        tradable = np.fromiter((self.quote_symbol[e[3]] == cfg.quote_symbol for e, _, _ in snaps), bool, n)
        moon_gate, rug_gate = dcfg.gates
        passed = tradable & (moon >= moon_gate) & (rug <= rug_gate)
        held = np.fromiter((e[3] in self.broker.positions for e, _, _ in snaps), bool, n)
        expensive = passed | held
        for i in range(n):  # a pool that may be entered earlier in this batch needs its later rows scored too
            slot = slots[i]
            if first_passed.get(slot, False):
                expensive[i] = True
            if passed[i]:
                first_passed[slot] = True
        cheap_done_ns = time.perf_counter_ns()  # the other snapshots' decisions (no entry) are final here
        p_opp = np.full(n, np.nan)
        action = np.full(n, -1, np.int64)
        if models.opportunity is not None:
            self._sequence_scores(slots, back, x, expensive, models.opportunity, p_opp)
        rows = np.flatnonzero(expensive)
        if rows.size and models.agent is not None:
            from quant.agents import entry_observation
            obs = entry_observation(x[rows], moon[rows], rug[rows], np.nan_to_num(p_opp[rows], nan=0.5),
                                    held[rows].astype(np.float64))  # positions as of the batch's start
            action[rows] = models.agent.act(obs)
        self.stats["passed_cascade"] += int(passed.sum())
        self.stats["expensive"] += int(expensive.sum())
        self._journal_predictions(snaps, x, p_moon, p_rug, moon, moon_online, rug, p_opp, action, distance, passed,
                                  models.versions)
        self._remember(snaps, slots, back, x, p_moon, p_rug, passed, p_opp, action)
        return {"snaps": snaps, "x": x, "moon": moon, "rug": rug, "p_opp": p_opp, "action": action,
                "distance": distance, "passed": passed, "tradable": tradable, "models": models,
                "expensive": expensive, "cheap_done_ns": cheap_done_ns}

    def _sequence_scores(self, slots, back, x, expensive, model, out) -> None:
        """Push each snapshot's features into its pool's sequence, oldest first, and score the expensive rows
        on the sequence as it stood at their own snapshot."""
        seq_len = model.seq_len
        if self.seq_hist.shape[1] != seq_len or self.seq_hist.shape[0] < len(self.features.inputs):
            grown = np.full((len(self.features.inputs), seq_len, x.shape[1]), np.nan)
            keep, rows = min(seq_len, self.seq_hist.shape[1]), min(len(self.seq_hist), len(grown))
            grown[:rows, -keep:] = self.seq_hist[:rows, -keep:]
            self.seq_hist = grown
        hist, windows, which = self.seq_hist, [], []
        for b in range(int(back.max()), -1, -1):  # one pool appears at most once per round
            rows = np.flatnonzero(back == b)
            hist[slots[rows], :-1] = hist[slots[rows], 1:]
            hist[slots[rows], -1] = x[rows]
            score = rows[expensive[rows]]
            if score.size:
                windows.append(hist[slots[score]].copy())
                which.append(score)
        if windows:
            out[np.concatenate(which)] = model.predict(np.concatenate(windows))

    def _act(self, i: int, scored: dict) -> None:
        """The decision at one snapshot, in event order: exit a held pool, or consider an entry."""
        e, _slot, seq = scored["snaps"][i]
        if scored["tradable"][i]:
            self.risk.observe_volatility((scored["x"][i, VOLATILITY],))
        if self.broker.in_flight(e[3]):  # a live order for it has no receipt yet: nothing to decide until then
            return
        pos = self.broker.positions.get(e[3])
        if pos is not None:
            if e[0] > pos.entry_ts_us:
                self._exit(e, seq, pos, float(scored["rug"][i]), int(scored["action"][i]))
            return
        if scored["passed"][i]:
            self._update_risk(seq, e[0])  # breakers are checked before every order, on this moment's equity
            self._entry(scored["snaps"][i], scored["x"][i], float(scored["moon"][i]), float(scored["rug"][i]),
                        float(scored["p_opp"][i]), int(scored["action"][i]), float(scored["distance"][i]),
                        scored["models"])

    def _update_risk(self, seq: int, now: int) -> None:
        equity = self.broker.equity(self.pools)
        before = self.risk.state
        state = self.risk.update(now, equity)
        if state is not before:
            self._activity("risk", seq, now, None, {"state": str(state), "was": str(before),
                                                    "reasons": self.risk.reasons, "equity": equity})

    def _entry(self, snap, x, moon, rug, p_opp, action, distance, models) -> None:
        (e, _slot, seq), dcfg = snap, self.cfg.decision
        votes, weights = {}, {}
        if models.opportunity is not None:
            votes["opportunity_model"] = bool(p_opp > 0.5)
        if models.agent is not None:
            from quant.agents import ENTER
            votes["agent_entry_timing"] = action == ENTER
        for v in votes:
            weights[v] = max(0.05, self.voter_accuracy[v])
        yes_share = sum(weights[v] for v in votes if votes[v]) / sum(weights.values()) if votes else 1.0
        reasons = []
        if not (moon > dcfg.moon_threshold and rug < dcfg.rug_threshold):
            reasons.append(f"consensus: P(moon) {moon:.3f} (needs > {dcfg.moon_threshold}), "
                           f"P(rug) {rug:.3f} (needs < {dcfg.rug_threshold})")
        if yes_share < dcfg.vote_threshold:
            reasons.append(f"vote: {yes_share:.2f} of the weight says enter (needs {dcfg.vote_threshold})")
        if distance > dcfg.outlier_distance:
            reasons.append(f"outlier: {distance:.2f} reference ranges outside the training data")
        if self.models_stale:
            reasons.append(f"stale models: older than {dcfg.max_model_age_h} h")
        confidence = float(np.clip((moon - dcfg.moon_threshold) / (1 - dcfg.moon_threshold), 0, 1)
                           * (1 - rug / dcfg.rug_threshold) * yes_share) if not reasons else 0.0
        notional = round(self.cfg.risk.max_order_notional * max(0.25, confidence), 9)
        if not reasons:
            veto = self.risk.check_entry(notional, float(x[VOLATILITY]), self.broker.open_count(),
                                         self.broker.available_cash())
            if veto:
                reasons.append(f"risk: {veto}")
        decision = {"action": "skip" if reasons else "enter", "reasons": reasons, "p_moon": moon, "p_rug": rug,
                    "p_opportunity": None if np.isnan(p_opp) else p_opp, "agent_action": action, "votes": votes,
                    "weights": weights, "yes_share": yes_share, "outlier_distance": distance,
                    "confidence": confidence, "notional": notional if not reasons else 0.0,
                    "risk_state": str(self.risk.state), "versions": models.versions}
        self.stats["decisions"] += 1
        if reasons and any(r.startswith("risk:") for r in reasons):
            self.stats["blocked"] += 1
        self._decision(seq, e[0], e[3], decision)
        if not reasons:
            try:
                fill = self.broker.buy(e[3], self.pools[e[3]], notional, e[0], seq)
            except OrderFailed as err:
                self._order_failed(seq, e, "buy", err)
                return
            if isinstance(fill, Fill):
                self._book(fill, decision)
            else:  # sent, in flight: booked when its receipt comes
                self._order_sent(fill, decision)

    def _exit(self, e: tuple, seq: int, pos, rug: float, action: int) -> None:
        pos.snapshots_held += 1
        value = self.broker.position_value(e[3], self.pools[e[3]])
        ret = value / pos.cost - 1
        reason = self.risk.exit_reason(ret)
        if reason is None and rug > self.cfg.decision.exit_rug_threshold:
            reason = f"rug risk: P(rug) {rug:.3f} > {self.cfg.decision.exit_rug_threshold}"
        if reason is None and self.watcher.current.agent is not None:
            from quant.agents import EXIT
            if action == EXIT:
                reason = "agent_entry_timing says exit"
        if reason is None and pos.snapshots_held >= self.cfg.decision.max_hold_snapshots:
            reason = f"horizon: held {pos.snapshots_held} snapshots"
        if reason is None:
            return
        decision = {"action": "exit", "reasons": [reason], "position_return": ret, "value": value, "p_rug": rug,
                    "risk_state": str(self.risk.state)}
        self._decision(seq, e[0], e[3], decision)
        try:
            fill = self.broker.sell_all(e[3], self.pools[e[3]], e[0], seq)
        except OrderFailed as err:  # the position stays open; the next snapshot decides again
            self._order_failed(seq, e, "sell", err)
            return
        if isinstance(fill, Fill):
            self._book(fill, decision)
        else:
            self._order_sent(fill, decision)

    def _book(self, fill: Fill, decision: dict) -> None:
        """Every fill, paper or live, at once or from a receipt, into the book, the risk guard and the journal."""
        pnl = self.broker.apply(fill)
        if fill.side == "sell":
            self.risk.on_close(pnl, fill.ts_us)
            self.stats["exits"] += 1
            decision = {**decision, "pnl": pnl}
        else:
            self.stats["entries"] += 1
        self._fill(fill, decision)

    def _order_failed(self, seq: int, e: tuple | None, side: str | None, err: OrderFailed) -> None:
        self.stats["order_failures"] += 1
        log.error("%s", err)
        ts, pool_id = (e[0], e[3]) if e is not None else (self.last_ts, None)
        self._activity("order_failed", seq, ts, pool_id, {"side": side, "error": str(err)})

    def _order_sent(self, order, decision: dict) -> None:
        self._in_flight[order.order_id] = decision
        self._activity("order_sent", order.seq, order.ts_us, order.pool_id,
                       {"order_id": order.order_id, "side": order.side, "tx_hash": order.tx_hash,
                        "amount_in_raw": order.amount_in, "min_out_raw": order.min_out})
        self._fills_pending = True  # an order sent is journaled at once, as a fill is

    def _collect_fills(self, wait_s: float = 0.0) -> None:
        """Book the live orders whose receipts have come (between micro-batches; nothing on paper)."""
        fills, failed = self.broker.poll(wait_s)
        for fill in fills:
            self._book(fill, self._in_flight.pop(fill.order_id, SETTLED))
        for err in failed:
            self._order_failed(self.position, None, None, err)

    # ---- outcomes ----------------------------------------------------------------------------------------

    def _remember(self, snaps, slots, back, x, p_moon, p_rug, passed, p_opp, action) -> None:
        """Keep each prediction until its label resolves, `horizon` snapshots of its pool later, then copy the
        price and reserve path it is labelled on out of the pool's window."""
        h = self.labels.horizon
        seen = self.features.snapshots_seen
        inputs = self.features.inputs
        width = inputs.shape[1]
        for i, (e, slot, seq) in enumerate(snaps):
            dq = self.pending.get(slot)
            if dq is None:
                dq = self.pending[slot] = deque()
            votes = (p_opp[i], action[i]) if passed[i] else None
            dq.append((int(seen[slot] - back[i]), seq, e[0], e[3], x[i], p_moon[i], p_rug[i], votes))
            if back[i]:
                continue  # the pool's last snapshot in the batch resolves what is due
            while dq and seen[slot] - dq[0][0] >= h:
                rec = dq.popleft()
                end = width - (int(seen[slot]) - rec[0] - h)  # the window row after the label's last one
                self.to_resolve.append((rec, inputs[slot, end - h - 1:end, 0].copy(),
                                        inputs[slot, end - h - 1:end, 2].copy()))

    def resolve_outcomes(self) -> int:
        """Label the predictions whose horizon has passed (quant.features.labels, the training labels' definition)."""
        if not self.to_resolve:
            return 0
        todo, self.to_resolve = self.to_resolve, []
        moon, rug = label_paths(np.stack([p for _, p, _ in todo]), np.stack([q for _, _, q in todo]), self.labels)
        recs = [r for r, _, _ in todo]
        x = np.stack([r[4] for r in recs])
        p_moon = np.array([r[5] for r in recs])
        p_rug = np.array([r[6] for r in recs])
        self.learners["moon"].observe(x, moon, p_moon)
        self.learners["rug"].observe(x, rug, p_rug)
        versions = self.watcher.current.versions
        for model, y, p in (("moon_model", moon, p_moon), ("rug_model", rug, p_rug)):
            detector = self.error_detectors[model]
            for i in detector.alarms((p - y) ** 2):
                self.stats["error_drift_alarms"] += 1
                self._activity("error_drift", recs[i][1], recs[i][2], None, {
                    "model": model, "version": versions[model], "detector": "page_hinkley",
                    "delta": detector.delta, "threshold": detector.threshold})
        good = (moon == 1) & (rug == 0)
        for rec, ok in zip(recs, good, strict=True):
            if rec[7] is None:
                continue
            p_opp, action = rec[7]
            if not np.isnan(p_opp):
                self._vote_outcome("opportunity_model", bool(p_opp > 0.5), ok)
            if action >= 0:
                from quant.agents import ENTER
                self._vote_outcome("agent_entry_timing", action == ENTER, ok)
        self.journal.add_outcomes({
            "seq": np.array([r[1] for r in recs], np.int64), "ts": np.array([r[2] for r in recs], np.int64),
            "pool_id": [r[3] for r in recs], "will_moon": moon, "will_rug": rug, "p_moon": p_moon, "p_rug": p_rug,
            "moon_version": [versions["moon_model"]] * len(recs), "rug_version": [versions["rug_model"]] * len(recs),
        })
        self.stats["outcomes"] += len(recs)
        return len(recs)

    def _vote_outcome(self, voter: str, said_enter: bool, good: bool) -> None:
        self.voter_accuracy[voter] = 0.98 * self.voter_accuracy[voter] + 0.02 * float(said_enter == good)

    # ---- journal and publication -------------------------------------------------------------------------

    def _journal_predictions(self, snaps, x, p_moon, p_rug, moon, moon_online, rug, p_opp, action, distance,
                             passed, versions) -> None:
        n = len(snaps)
        cols = {"seq": np.fromiter((s for _, _, s in snaps), np.int64, n),
                "ts": np.fromiter((e[0] for e, _, _ in snaps), np.int64, n),
                "pool_id": [e[3] for e, _, _ in snaps],
                "p_moon": p_moon.astype(np.float64), "p_rug": p_rug.astype(np.float64),
                "p_moon_online": moon_online, "p_moon_blended": np.asarray(moon, np.float64),
                "p_rug_blended": np.asarray(rug, np.float64), "p_opportunity": p_opp, "agent_action": action,
                "outlier_distance": distance, "passed_cascade": passed,
                "moon_version": [versions["moon_model"]] * n, "rug_version": [versions["rug_model"]] * n,
                "opportunity_version": [versions.get("opportunity_model", "")] * n,
                "agent_version": [versions.get("agent_entry_timing", "")] * n}
        for j, f in enumerate(FEATURES):
            cols[f] = x[:, j]
        self.journal.add_predictions(cols)
        i = int(np.argmax(moon))
        e = snaps[i][0]
        self.recent_predictions.append({"ts": e[0], "pool_id": e[3], "p_moon": float(moon[i]), "p_rug": float(rug[i]),
                                        "passed": bool(passed[i])})

    def _activity(self, kind: str, seq: int, ts: int, pool_id, data: dict) -> None:
        self.journal.add(kind, seq, ts, pool_id, data)
        with self.lock:
            self.message_id += 1
            self.messages.append((self.message_id, kind, {"seq": seq, "ts": ts, "pool_id": pool_id, **data}))

    def _decision(self, seq, ts, pool_id, decision: dict) -> None:
        self._activity("decision", seq, ts, pool_id, decision)
        with self.lock:
            self.recent_decisions.append({"seq": seq, "ts": ts, "pool_id": pool_id, **decision})

    def _fill(self, fill, decision: dict) -> None:
        self._activity("order", fill.seq, fill.ts_us, fill.pool_id, {"order_id": fill.order_id, "side": fill.side,
                                                                     "amount_in": fill.amount_in})
        self._activity("fill", fill.seq, fill.ts_us, fill.pool_id, asdict(fill))
        self._activity("position", fill.seq, fill.ts_us, fill.pool_id,
                       {"open": fill.pool_id in self.broker.positions, "cash": self.broker.cash,
                        "reason": decision["reasons"][0] if decision.get("reasons") else "consensus"})
        self._fills_pending = True

    def commit(self, learners: bool | None = None) -> None:
        """A journal segment and its checkpoint. The online learners are saved with it (before the checkpoint
        that names them) at most every `journal_flush_s`, or when `learners` says so: a fill's commit comes
        at once and often, and a learner restored a few seconds behind its checkpoint has only missed the
        outcomes in between (it is never ahead)."""
        equity = self.broker.equity(self.pools)
        now = time.monotonic()
        if learners if learners is not None else now - self._learners_saved_t >= self.cfg.journal_flush_s:
            self._learners_saved_t = now
            for name, learner in self.learners.items():
                if learner.seen != self._saved_seen[name]:  # unchanged since its last save: that file holds
                    self.journal.save_state(f"learner-{name}", self.position, learner.state())
                    self._saved_seen[name], self._learners_at[name] = learner.seen, self.position
        detectors = {m: {k: d.__dict__[k] for k in ("n", "mean", "cum", "min_cum")}
                     for m, d in self.error_detectors.items()}
        self.journal.commit({"position": self.position, "cash": self.broker.cash, "equity": equity,
                             "risk_state": str(self.risk.state), "risk": self.risk.persisted(),
                             "versions": self.watcher.current.versions, "voter_accuracy": dict(self.voter_accuracy),
                             "error_detectors": detectors, "learners_at": dict(self._learners_at)},
                            self.last_ts)
        self._fills_pending = False
        self._last_commit = time.monotonic()

    def _housekeeping(self) -> None:
        self._collect_fills()
        now = time.monotonic()
        if self.last_ts >= self._next_release_us:  # hourly, in market time
            self._release_idle_pools()
            self._next_release_us = self.last_ts + 3_600_000_000
        if self.watcher.check():
            self.models_stale = self.watcher.current.oldest_age_h() > self.cfg.decision.max_model_age_h
        for ev in self.watcher.events:
            self._activity(ev["kind"], self.position, self.last_ts, None, ev)
        self.watcher.events.clear()
        if self._fills_pending or self.journal.rows_pending >= self.cfg.journal_flush_rows or (
                self.journal.rows_pending and now - self._last_commit >= self.cfg.journal_flush_s):
            self.commit()
        if now >= self._next_publish:
            self.publish()
            self._next_publish = now + 0.2

    def publish(self) -> None:
        """A consistent picture for the API, replaced whole (readers never see half of an update)."""
        snap = self.broker.snapshot(self.pools)
        if self.last_ts:
            with self.lock:
                self.equity_curve.append((self.last_ts, snap["equity"]))
        models = self.watcher.current
        self.published = {
            "position": self.position, "market_ts": self.last_ts, "stats": dict(self.stats), **snap,
            "starting_balance": self.broker.starting_balance, "risk": self.risk.describe(),
            "models": {name: {"version": v, "compiled": name.removesuffix("_model") in models.compiled}
                       for name, v in models.versions.items()},
            "models_stale": self.models_stale, "refused": dict(self.watcher.refused),
            "online_learners": {k: v.describe() for k, v in self.learners.items()},
            "voter_accuracy": dict(self.voter_accuracy),
            "orderer": {"duplicates": self.orderer.duplicates, "late": self.orderer.late, "held": len(self.orderer)},
            "mode": "live" if self.cfg.live else "paper",
            "latency_ms": self._recent_latency(),
        }

    def _recent_latency(self, batches: int = 500) -> dict:
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
