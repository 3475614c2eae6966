"""The scanner's and funding graph's calls against the simulator's truth. For evaluation only: nothing that
scores wallets may import this module.

Rule detection (martingale, market maker) is measured by applying each rule to every profiled wallet, so a
rule is judged on its own, not hidden behind an earlier stage that rejected the wallet for something else;
how many of them the funnel itself rejected under that rule is reported beside it."""

from __future__ import annotations

import pandas as pd
import polars as pl

from quant.wallets.scanner.config import ScannerConfig
from quant.wallets.scanner.rules import STAGE2, Rule, with_sizing

RULES = {r.code: r for r in STAGE2}


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def precision_recall(flagged: pd.Series, truth: pd.Series) -> dict:
    tp = int((flagged & truth).sum())
    return {"flagged": int(flagged.sum()), "true": int(truth.sum()), "true_positives": tp,
            "precision": _ratio(tp, int(flagged.sum())), "recall": _ratio(tp, int(truth.sum()))}


def rule_flags(profiles: pl.DataFrame, rule: Rule, cfg: ScannerConfig) -> pd.Series:
    return profiles.select(rule.fails(cfg).fill_null(False)).to_series().to_pandas()


def evaluate_scanner(profiles: pl.DataFrame, scores: pl.DataFrame, truth_wallets: pd.DataFrame,
                     cfg: ScannerConfig) -> dict:
    """TARGET precision and false-positive rate, smart-money recall, and per-rule detection figures."""
    arche = profiles.select("wallet").to_pandas().merge(
        truth_wallets[["address", "archetype"]], left_on="wallet", right_on="address", how="left")["archetype"]
    calls = scores.select("wallet", "classification", "decided_by").to_pandas().merge(
        truth_wallets[["address", "archetype"]], left_on="wallet", right_on="address", how="left")
    target = calls.classification == "TARGET"
    smart = calls.archetype == "smart_money"
    tp = int((target & smart).sum())
    out = {
        "wallets": len(calls), "targets": int(target.sum()), "watchlist": int((calls.classification == "WATCHLIST").sum()),
        "target_precision": _ratio(tp, int(target.sum())),
        "target_false_positive_rate": _ratio(int((target & ~smart).sum()), int(target.sum())),
        "smart_money": int(smart.sum()), "smart_money_recall": _ratio(tp, int(smart.sum())),
        "smart_money_recall_with_watchlist": _ratio(int((smart & calls.classification.isin(["TARGET", "WATCHLIST"])).sum()),
                                                    int(smart.sum())),
        "target_archetypes": calls[target].archetype.value_counts().to_dict(),
    }
    sized = with_sizing(profiles, cfg)
    for code, archetype in (("MARTINGALE", "martingale"), ("MARKET_MAKER", "market_maker")):
        flags = rule_flags(sized, RULES[code], cfg)
        stats = precision_recall(flags, arche == archetype)
        stats["rejected_by_rule_in_funnel"] = int((calls.decided_by == code).sum())
        out[code.lower()] = stats
    return out


def evaluate_rings(clusters: pd.DataFrame, truth_wallets: pd.DataFrame) -> dict:
    """A planted ring is recalled when one predicted ring cluster holds at least half of its members; a
    predicted ring is correct when at least half of its members come from one planted ring."""
    rings = truth_wallets[truth_wallets.ring_id >= 0][["address", "ring_id"]]
    predicted = clusters[clusters.is_ring] if len(clusters) else clusters
    members = (predicted[["cluster_id", "members"]].explode("members").rename(columns={"members": "address"})
               if len(predicted) else pd.DataFrame({"cluster_id": [], "address": []}))
    overlap = members.merge(rings, on="address").groupby(["cluster_id", "ring_id"]).size().rename("shared").reset_index()
    ring_size = rings.groupby("ring_id").size()
    cluster_size = predicted.set_index("cluster_id")["size"] if len(predicted) else pd.Series(dtype=float)
    overlap["of_ring"] = overlap.shared / overlap.ring_id.map(ring_size)
    overlap["of_cluster"] = overlap.shared / overlap.cluster_id.map(cluster_size)
    recalled = overlap[overlap.of_ring >= 0.5].ring_id.nunique()
    correct = overlap[overlap.of_cluster >= 0.5].cluster_id.nunique()
    return {"planted_rings": int(len(ring_size)), "predicted_rings": int(len(predicted)),
            "ring_recall": _ratio(recalled, len(ring_size)), "ring_precision": _ratio(correct, len(predicted)),
            "clusters": int(len(clusters))}
