"""Entry and exit decisions from a scored snapshot, on the book and the risk guard as they stand: each returns
the decision (a dict, journaled as it is, with every reason) and leaves placing the order to the engine.

An exit comes from the risk guard's stop-loss or take-profit, the rug risk, the agent or the horizon; an
entry needs the consensus of the cheap models, the weighted vote of the expensive ones, an in-range feature
vector, fresh models whose strategy beat not trading out of sample (model_evaluation's verdict) and the risk
guard's yes."""

from __future__ import annotations

import numpy as np

from live_runtime.broker import PaperBroker, PoolState, Position
from live_runtime.cascade import ScoredBatch
from live_runtime.config import RuntimeConfig
from live_runtime.risk import RiskGuard
from quant.agents import ENTER, EXIT
from quant.features import FEATURES

VOLATILITY = FEATURES.index("volatility_10")
VOTERS = ("opportunity_model", "agent_entry_timing")


class Policy:
    def __init__(self, cfg: RuntimeConfig, risk: RiskGuard, broker: PaperBroker):
        self.cfg, self.risk, self.broker = cfg, risk, broker

    def exit(self, pool_id: str, pool: PoolState, pos: Position, rug: float, action: int,
             has_agent: bool) -> dict | None:
        """The exit of a held pool at this snapshot, or None to keep it."""
        dcfg = self.cfg.decision
        value = self.broker.position_value(pool_id, pool)
        ret = value / pos.cost - 1
        reason = self.risk.exit_reason(ret)
        if reason is None and rug > dcfg.exit_rug_threshold:
            reason = f"rug risk: P(rug) {rug:.3f} > {dcfg.exit_rug_threshold}"
        if reason is None and has_agent and action == EXIT:
            reason = "agent_entry_timing says exit"
        if reason is None and pos.snapshots_held >= dcfg.max_hold_snapshots:
            reason = f"horizon: held {pos.snapshots_held} snapshots"
        if reason is None:
            return None
        return {"action": "exit", "reasons": [reason], "position_return": ret, "value": value, "p_rug": rug,
                "risk_state": str(self.risk.state)}

    def entry(self, batch: ScoredBatch, i: int, voter_accuracy: dict[str, float], models_stale: bool) -> dict:
        """Enter (with the notional to buy) or skip, and why, at row `i` of a batch that passed the cascade."""
        dcfg, models = self.cfg.decision, batch.models
        x, moon, rug = batch.x[i], float(batch.moon[i]), float(batch.rug[i])
        p_opp, action, distance = float(batch.p_opp[i]), int(batch.action[i]), float(batch.distance[i])
        votes, weights = {}, {}
        if models.opportunity is not None:
            votes["opportunity_model"] = bool(p_opp > 0.5)
        if models.agent is not None:
            votes["agent_entry_timing"] = action == ENTER
        for v in votes:
            weights[v] = max(0.05, voter_accuracy[v])
        yes_share = sum(weights[v] for v in votes if votes[v]) / sum(weights.values()) if votes else 1.0
        reasons = []
        if not (moon > dcfg.moon_threshold and rug < dcfg.rug_threshold):
            reasons.append(f"consensus: P(moon) {moon:.3f} (needs > {dcfg.moon_threshold}), "
                           f"P(rug) {rug:.3f} (needs < {dcfg.rug_threshold})")
        if yes_share < dcfg.vote_threshold:
            reasons.append(f"vote: {yes_share:.2f} of the weight says enter (needs {dcfg.vote_threshold})")
        if distance > dcfg.outlier_distance:
            reasons.append(f"outlier: {distance:.2f} reference ranges outside the training data")
        if models_stale:
            reasons.append(f"stale models: older than {dcfg.max_model_age_h} h")
        no_edge = models.no_edge()
        if no_edge:
            reasons.append(no_edge)
        confidence = float(np.clip((moon - dcfg.moon_threshold) / (1 - dcfg.moon_threshold), 0, 1)
                           * (1 - rug / dcfg.rug_threshold) * yes_share) if not reasons else 0.0
        notional = round(self.cfg.risk.max_order_notional * max(0.25, confidence), 9)
        if not reasons:
            veto = self.risk.check_entry(notional, float(x[VOLATILITY]), self.broker.open_count(),
                                         self.broker.available_cash())
            if veto:
                reasons.append(f"risk: {veto}")
        return {"action": "skip" if reasons else "enter", "reasons": reasons, "p_moon": moon, "p_rug": rug,
                "p_opportunity": None if np.isnan(p_opp) else p_opp, "agent_action": action, "votes": votes,
                "weights": weights, "yes_share": yes_share, "outlier_distance": distance,
                "confidence": confidence, "notional": notional if not reasons else 0.0,
                "risk_state": str(self.risk.state), "versions": models.versions}


def blocked_by_risk(decision: dict) -> bool:
    return any(r.startswith("risk:") for r in decision["reasons"])
