"""What the runtime learns from its own predictions: each is kept until its label resolves `horizon` snapshots
of its pool later (quant.features.labels, the training labels' definition), then feeds the online learners,
the voters' weights and the champions' error detectors, and goes to the journal's outcomes."""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

import numpy as np

from live_runtime.cascade import ScoredBatch
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

    def restore(self, checkpoint: dict, state: dict[str, np.ndarray] | None) -> None:
        """What the runtime learned online, as of the checkpoint it resumes from: the voters' weights and the
        detectors from the checkpoint, the learners from the state file saved at its position."""
        self.voter_accuracy.update(checkpoint.get("voter_accuracy", {}))
        for model, saved in checkpoint.get("error_detectors", {}).items():
            self.error_detectors[model].restore(saved)
        for name, learner in self.learners.items():
            prefix = f"learner.{name}."
            if state is not None and any(k.startswith(prefix) for k in state):
                learner.restore({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})

    def checkpoint(self) -> dict:
        return {"voter_accuracy": dict(self.voter_accuracy),
                "error_detectors": {m: d.state() for m, d in self.error_detectors.items()}}

    def state(self) -> dict[str, np.ndarray]:
        """The learners and the predictions still waiting for their labels (by pool id: a restart's pools
        may hold other slots), as arrays of the dtypes they were scored in."""
        out = {f"learner.{name}.{k}": v for name, learner in self.learners.items() for k, v in learner.state().items()}
        recs = [r for dq in self.pending.values() for r in dq]
        voted = [r.votes is not None for r in recs]
        out |= {"pending.pool_id": np.array([r.pool_id for r in recs], dtype=str),
                "pending.at": np.array([(r.number, r.seq, r.ts_us) for r in recs], np.int64).reshape(-1, 3),
                "pending.x": np.stack([r.x for r in recs]) if recs else np.zeros((0, len(FEATURES))),
                "pending.p_moon": np.array([r.p_moon for r in recs]), "pending.p_rug": np.array([r.p_rug for r in recs]),
                "pending.voted": np.array(voted, bool),
                "pending.p_opp": np.array([r.votes[0] for r in recs if r.votes is not None], np.float64),
                "pending.action": np.array([r.votes[1] for r in recs if r.votes is not None], np.int64)}
        return out

    def restore_pending(self, state: dict[str, np.ndarray], slots: dict[str, int]) -> None:
        """The predictions waiting for their labels, in their pools' slots as the warm-up gave them."""
        self.pending = {}
        votes = iter(zip(state["pending.p_opp"], state["pending.action"], strict=True))
        for i, pool_id in enumerate(state["pending.pool_id"].tolist()):
            number, seq, ts_us = (int(v) for v in state["pending.at"][i])
            vote = next(votes) if state["pending.voted"][i] else None
            self.pending.setdefault(slots[pool_id], deque()).append(
                Pending(number, seq, ts_us, pool_id, state["pending.x"][i], state["pending.p_moon"][i],
                        state["pending.p_rug"][i], vote))

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
