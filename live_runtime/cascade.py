"""The model cascade over one micro-batch of snapshots: every snapshot through the cheap models (XGBoost
P(moon), P(rug)) blended with the online learners, the gates, and the expensive models (the sequence model over
the pool's last feature vectors, the entry-timing agent) only where the cheap ones pass a snapshot or a
position may need them. The result is a `ScoredBatch`, one row per snapshot in event order."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from live_runtime.config import RuntimeConfig
from live_runtime.events import Snapshot
from live_runtime.models import ModelSet
from live_runtime.online_learner import OnlineLearner
from quant.agents import entry_observation
from quant.features import FEATURES, OnlineFeatures


@dataclass(frozen=True)
class ScoredBatch:
    """The scores of a batch's snapshots, row i for `events[i]` (the `seqs[i]`-th event of the stream)."""

    events: list[Snapshot]
    seqs: list[int]
    slots: np.ndarray
    back: np.ndarray  # how many snapshots of the same pool come after the row in the batch
    x: np.ndarray  # [rows, len(FEATURES)]
    p_moon: np.ndarray  # the champions' scores
    p_rug: np.ndarray
    moon: np.ndarray  # blended with the online learners
    moon_online: np.ndarray
    rug: np.ndarray
    distance: np.ndarray  # outlier distance from the training data
    tradable: np.ndarray  # quoted in the runtime's quote symbol
    passed: np.ndarray  # through the cheap gates
    held: np.ndarray  # a position open at the batch's start
    expensive: np.ndarray  # scored by the expensive models
    p_opp: np.ndarray  # the sequence model's P(opportunity), NaN where not scored
    action: np.ndarray  # the agent's action, -1 where not asked
    models: ModelSet
    cheap_done_ns: int  # perf_counter_ns when the rows the cascade turned away were decided

    def journal_columns(self) -> dict:
        """The predictions table's columns (Journal.add_predictions)."""
        n, versions = len(self.events), self.models.versions
        cols = {"seq": np.fromiter(self.seqs, np.int64, n),
                "ts": np.fromiter((e.ts_us for e in self.events), np.int64, n),
                "pool_id": [e.pool_id for e in self.events],
                "p_moon": self.p_moon.astype(np.float64), "p_rug": self.p_rug.astype(np.float64),
                "p_moon_online": self.moon_online, "p_moon_blended": np.asarray(self.moon, np.float64),
                "p_rug_blended": np.asarray(self.rug, np.float64), "p_opportunity": self.p_opp,
                "agent_action": self.action, "outlier_distance": self.distance, "passed_cascade": self.passed,
                "moon_version": [versions["moon_model"]] * n, "rug_version": [versions["rug_model"]] * n,
                "opportunity_version": [versions.get("opportunity_model", "")] * n,
                "agent_version": [versions.get("agent_entry_timing", "")] * n}
        for j, f in enumerate(FEATURES):
            cols[f] = self.x[:, j]
        return cols

    def top(self) -> dict:
        """The row with the highest blended P(moon), for the API's recent predictions."""
        i = int(np.argmax(self.moon))
        e = self.events[i]
        return {"ts": e.ts_us, "pool_id": e.pool_id, "p_moon": float(self.moon[i]), "p_rug": float(self.rug[i]),
                "passed": bool(self.passed[i])}


class Cascade:
    """Scores batches; holds each pool's sequence of feature vectors for the sequence model."""

    def __init__(self, cfg: RuntimeConfig, features: OnlineFeatures, learners: dict[str, OnlineLearner]):
        self.cfg, self.features, self.learners = cfg, features, learners
        self.seq_hist = np.full((256, 1, len(FEATURES)), np.nan)

    def forget(self, slot: int) -> None:
        """A pool starting afresh: its sequence is emptied."""
        if slot < len(self.seq_hist):
            self.seq_hist[slot] = np.nan

    def state(self) -> dict[str, np.ndarray]:
        """Each live pool's sequence, by pool id (a restart's warm-up may give the pool another slot)."""
        pools = [p for p, slot in self.features.slots.items() if slot < len(self.seq_hist)]
        rows = [self.features.slots[p] for p in pools]
        return {"sequence.pool_id": np.array(pools, dtype=str),
                "sequence.hist": self.seq_hist[rows] if rows else self.seq_hist[:0]}

    def restore(self, state: dict[str, np.ndarray]) -> None:
        hist = state["sequence.hist"]
        grown = np.full((max(len(self.seq_hist), self.features.capacity), *hist.shape[1:]), np.nan)
        for pool_id, row in zip(state["sequence.pool_id"].tolist(), hist, strict=True):
            grown[self.features.slots[pool_id]] = row
        self.seq_hist = grown

    def score(self, events: list[Snapshot], slots: list[int], seqs: list[int], models: ModelSet,
              quote_symbol: dict[str, str], positions) -> ScoredBatch:
        """Every snapshot through the cheap models; the expensive ones only where the cheap ones pass it or a
        position (in `positions`, as of the batch's start) may need them."""
        cfg, dcfg = self.cfg, self.cfg.decision
        n = len(events)
        slots = np.fromiter(slots, np.int64, n)
        back, later, first_passed = np.zeros(n, np.int64), {}, {}
        for i in range(n - 1, -1, -1):
            back[i] = later.get(slots[i], 0)
            later[slots[i]] = back[i] + 1
        x = self.features.features(slots, back)
        p_moon, p_rug = models.score(x)
        moon, moon_online = self.learners["moon"].blend(p_moon, x, dcfg.online_weight)
        rug, _ = self.learners["rug"].blend(p_rug, x, dcfg.online_weight)
        distance = models.outlier_distance(x)
        tradable = np.fromiter((quote_symbol[e.pool_id] == cfg.quote_symbol for e in events), bool, n)
        moon_gate, rug_gate = dcfg.gates
        passed = tradable & (moon >= moon_gate) & (rug <= rug_gate)
        held = np.fromiter((e.pool_id in positions for e in events), bool, n)
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
            obs = entry_observation(x[rows], moon[rows], rug[rows], np.nan_to_num(p_opp[rows], nan=0.5),
                                    held[rows].astype(np.float64))  # positions as of the batch's start
            action[rows] = models.agent.act(obs)
        return ScoredBatch(events, seqs, slots, back, x, p_moon, p_rug, moon, moon_online, rug, distance, tradable,
                           passed, held, expensive, p_opp, action, models, cheap_done_ns)

    def _sequence_scores(self, slots, back, x, expensive, model, out) -> None:
        """Push each snapshot's features into its pool's sequence, oldest first, and score the expensive rows
        on the sequence as it stood at their own snapshot."""
        seq_len, capacity = model.seq_len, self.features.capacity
        if self.seq_hist.shape[1] != seq_len or self.seq_hist.shape[0] < capacity:
            grown = np.full((capacity, seq_len, x.shape[1]), np.nan)
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
