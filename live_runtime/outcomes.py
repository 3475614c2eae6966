"""What the runtime learns from its own predictions: each is kept until its label resolves `horizon` snapshots
of its pool later (quant.features.labels, the training labels' definition), then feeds the online learners,
the voters' weights and the champions' error detectors, and goes to the journal's outcomes."""

from __future__ import annotations

import time
from collections import deque
from typing import NamedTuple

import numpy as np

from live_runtime.cascade import ScoredBatch
from live_runtime.journal import Journal
from live_runtime.online_learner import OnlineLearner
from live_runtime.policy import VOTERS
from quant.agents import ENTER
from quant.drift import PageHinkley
from quant.features import FEATURES, OnlineFeatures
from quant.features.labels import LabelConfig, label_paths


class Pending(NamedTuple):
    """A prediction waiting for its label."""

    number: int  # its snapshot's number in the pool's window (OnlineFeatures.snapshots then)
    seq: int
    ts_us: int
    pool_id: str
    x: np.ndarray
    p_moon: float  # the champions' scores, as the model gave them
    p_rug: float
    votes: tuple[float, int] | None  # (P(opportunity), agent action) of a snapshot that passed the cascade


class Resolved(NamedTuple):
    """The outcomes of one resolution: the journal's columns and the error-drift alarms, in order."""

    count: int
    columns: dict
    alarms: list[tuple[int, int, dict]]  # (seq, ts_us, what the journal records)


class Outcomes:
    def __init__(self, labels: LabelConfig | None = None):
        self.labels = labels or LabelConfig()
        n = len(FEATURES)
        self.learners = {"moon": OnlineLearner(n), "rug": OnlineLearner(n)}
        self.voter_accuracy = {v: 0.5 for v in VOTERS}
        # Page-Hinkley on each champion's squared errors as outcomes resolve. Calibrated on the small world's
        # stationary next day (17.8k outcomes, the market of issue 19): delta 0.02 and threshold 50 raise no
        # alarm there for either model (30 raised one; the textbook 0.005 / 5 raised 24), and one alarm within
        # ~4,000 outcomes of a swap to a champion trained on noise (squared error 0.28 against 0.13).
        self.error_detectors = {m: PageHinkley(delta=0.02, threshold=50.0, min_samples=200)
                                for m in ("moon_model", "rug_model")}
        self.pending: dict[int, deque[Pending]] = {}
        self.to_resolve: list[tuple[Pending, np.ndarray, np.ndarray]] = []  # with its price and reserve path
        self.learners_at: dict[str, int] = {}
        self._saved_seen = {name: learner.seen for name, learner in self.learners.items()}
        self._saved_t = time.monotonic()

    def restore(self, journal: Journal, checkpoint: dict) -> None:
        """What the runtime learned online, as of the checkpoint it resumes from: warm, not young, after a
        restart."""
        self.learners_at = dict(checkpoint.get("learners_at", {}))
        for name, learner in self.learners.items():
            state = journal.load_state(f"learner-{name}", self.learners_at.get(name, -1))
            if state is not None:
                learner.restore(state)
        self._saved_seen = {name: learner.seen for name, learner in self.learners.items()}
        self._saved_t = time.monotonic()
        self.voter_accuracy.update(checkpoint.get("voter_accuracy", {}))
        for model, state in checkpoint.get("error_detectors", {}).items():
            self.error_detectors[model].restore(state)

    def checkpoint(self) -> dict:
        return {"voter_accuracy": dict(self.voter_accuracy),
                "error_detectors": {m: d.state() for m, d in self.error_detectors.items()},
                "learners_at": dict(self.learners_at)}

    def save_learners(self, journal: Journal, position: int, every_s: float, force: bool | None = None) -> None:
        """Save the learners that changed since their last save, when `force` says so or, if it says nothing,
        at most every `every_s` (before the checkpoint that names them)."""
        now = time.monotonic()
        if force if force is not None else now - self._saved_t >= every_s:
            self._saved_t = now
            for name, learner in self.learners.items():
                if learner.seen != self._saved_seen[name]:  # unchanged since its last save: that file holds
                    journal.save_state(f"learner-{name}", position, learner.state())
                    self._saved_seen[name], self.learners_at[name] = learner.seen, position

    def forget(self, slot: int) -> None:
        """A pool starting afresh: the predictions waiting for its next snapshots are dropped (the batch labels
        leave them null)."""
        self.pending.pop(slot, None)

    def remember(self, batch: ScoredBatch, features: OnlineFeatures) -> None:
        """Keep each prediction until its label resolves, `horizon` snapshots of its pool later, then copy the
        price and reserve path it is labelled on out of the pool's window."""
        h = self.labels.horizon
        back, x, p_moon, p_rug = batch.back, batch.x, batch.p_moon, batch.p_rug
        passed, p_opp, action = batch.passed, batch.p_opp, batch.action
        for i, (e, slot, seq) in enumerate(zip(batch.events, batch.slots.tolist(), batch.seqs, strict=True)):
            dq = self.pending.get(slot)
            if dq is None:
                dq = self.pending[slot] = deque()
            seen = features.snapshots(slot)
            votes = (p_opp[i], action[i]) if passed[i] else None
            dq.append(Pending(int(seen - back[i]), seq, e.ts_us, e.pool_id, x[i], p_moon[i], p_rug[i], votes))
            if back[i]:
                continue  # the pool's last snapshot in the batch resolves what is due
            while dq and seen - dq[0].number >= h:
                rec = dq.popleft()
                self.to_resolve.append((rec, *features.price_path(slot, rec.number, h + 1)))

    def resolve(self, versions: dict[str, str]) -> Resolved | None:
        """Label the predictions whose horizon has passed; the learners, voters and detectors learn from them."""
        if not self.to_resolve:
            return None
        todo, self.to_resolve = self.to_resolve, []
        moon, rug = label_paths(np.stack([p for _, p, _ in todo]), np.stack([q for _, _, q in todo]), self.labels)
        recs = [r for r, _, _ in todo]
        x = np.stack([r.x for r in recs])
        p_moon = np.array([r.p_moon for r in recs])
        p_rug = np.array([r.p_rug for r in recs])
        self.learners["moon"].observe(x, moon, p_moon)
        self.learners["rug"].observe(x, rug, p_rug)
        alarms = []
        for model, y, p in (("moon_model", moon, p_moon), ("rug_model", rug, p_rug)):
            detector = self.error_detectors[model]
            alarms += [(recs[i].seq, recs[i].ts_us, {"model": model, "version": versions[model],
                                                      "detector": "page_hinkley", "delta": detector.delta,
                                                      "threshold": detector.threshold})
                       for i in detector.alarms((p - y) ** 2)]
        good = (moon == 1) & (rug == 0)
        for rec, ok in zip(recs, good, strict=True):
            if rec.votes is None:
                continue
            p_opp, action = rec.votes
            if not np.isnan(p_opp):
                self._vote("opportunity_model", bool(p_opp > 0.5), ok)
            if action >= 0:
                self._vote("agent_entry_timing", action == ENTER, ok)
        columns = {
            "seq": np.array([r.seq for r in recs], np.int64), "ts": np.array([r.ts_us for r in recs], np.int64),
            "pool_id": [r.pool_id for r in recs], "will_moon": moon, "will_rug": rug, "p_moon": p_moon,
            "p_rug": p_rug, "moon_version": [versions["moon_model"]] * len(recs),
            "rug_version": [versions["rug_model"]] * len(recs)}
        return Resolved(len(recs), columns, alarms)

    def _vote(self, voter: str, said_enter: bool, good: bool) -> None:
        self.voter_accuracy[voter] = 0.98 * self.voter_accuracy[voter] + 0.02 * float(said_enter == good)
