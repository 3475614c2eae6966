"""The three-stage smart-money scanner. Each stage sees only the wallets the one before passed, and every
wallet leaves with the stage it ended in, a class (TARGET / WATCHLIST / REJECT), a confidence, the rule that
decided it and the audit trail of every rule it was put through with the value that rule saw.

  1 basic_validation: address format, trade count, age, PILLAR 1 specialization, launch sniping; viral flag
  2 risk_behaviour:   PILLAR 2 martingale sizing, wash trading (from the funding graph), excessive
                      drawdown, PILLAR 3 market-maker pattern
  3 full_score:       35% specialization + 40% risk behaviour + 25% market structure, minus the viral
                      penalty; TARGET at or above target_score, WATCHLIST at or above watchlist_score"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from quant.market.addresses import valid_addresses
from quant.wallets.scanner.config import ScannerConfig
from quant.wallets.scanner.rules import (
    STAGE1,
    STAGE2,
    Rule,
    evidence,
    risk_score,
    specialization_score,
    structure_score,
    viral,
    with_sizing,
)

STAGES = ("basic_validation", "risk_behaviour", "full_score")
INPUT = ["wallet", "chain", "address_valid", "trades", "buys", "round_trips", "age_days", "categories",
         "top_category_share", "snipe_share", "copies_per_buy", "post_loss_instances", "post_loss_ratios",
         "post_win_ratios", "wash_score", "drawdown_share", "avg_hold_s", "win_rate", "profit_per_trade",
         "early_entry_share", "rug_escape_share"]
OUTPUT = ["wallet", "chain", "stage", "classification", "score", "confidence", "decided_by", "reasons", "viral",
          "specialization_score", "risk_score", "structure_score"]


@dataclass
class StageReport:
    stage: str
    entered: int
    rejected: int
    seconds: float


@dataclass
class ScanResult:
    scores: pl.DataFrame
    stages: list[StageReport] = field(default_factory=list)

    def funnel(self) -> dict:
        return {s.stage: {"entered": s.entered, "rejected": s.rejected, "seconds": round(s.seconds, 4)}
                for s in self.stages}


def scan(profiles: pl.DataFrame, cfg: ScannerConfig | None = None) -> ScanResult:
    """Score every profiled wallet; the output has one row per input wallet, in no particular order.
    `profiles` may carry `wash_score` (the wallet's funding cluster's, see quant.wallets.funding_graph)."""
    cfg = cfg or ScannerConfig()
    result = ScanResult(scores=pl.DataFrame())
    done = []

    t = time.perf_counter()
    if "wash_score" not in profiles.columns:  # no funding graph joined: nobody is known to wash trade
        profiles = profiles.with_columns(wash_score=pl.lit(None, pl.Float64))
    if "address_valid" not in profiles.columns:  # profiles check it once per wallet; others get it here
        profiles = profiles.with_columns(address_valid=pl.Series(
            valid_addresses(profiles["chain"].to_pandas(), profiles["wallet"].to_pandas())))
    df = profiles.select(INPUT)  # what the rules read: the PnL series and the rest stay behind
    df, out = _apply_rules(df.with_columns(viral=viral(cfg)), STAGE1, cfg, "basic_validation", prior=None)
    done.append(out)
    result.stages.append(StageReport(STAGES[0], len(df) + len(out), len(out), time.perf_counter() - t))

    t = time.perf_counter()
    df, out = _apply_rules(with_sizing(df, cfg), STAGE2, cfg, "risk_behaviour", prior="reasons")
    done.append(out)
    result.stages.append(StageReport(STAGES[1], len(df) + len(out), len(out), time.perf_counter() - t))

    t = time.perf_counter()
    scored = _full_score(df, cfg)
    done.append(scored)
    rejected = int((scored["classification"] == "REJECT").sum())
    result.stages.append(StageReport(STAGES[2], len(scored), rejected, time.perf_counter() - t))
    result.scores = pl.concat([d.select(OUTPUT) for d in done], how="vertical_relaxed")
    return result


def _apply_rules(df: pl.DataFrame, rules: tuple[Rule, ...], cfg: ScannerConfig, stage: str,
                 prior: str | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Evaluate `rules` on every row; the first failing rule rejects. Returns (passed, rejected)."""
    fails = [r.fails(cfg).fill_null(False).alias(f"_f{i}") for i, r in enumerate(rules)]
    trail = [pl.concat_str([pl.lit(r.code + " "), pl.when(pl.col(f"_f{i}")).then(pl.lit("FAIL "))
                            .otherwise(pl.lit("ok ")), r.shown(cfg)]) for i, r in enumerate(rules)]
    if stage == "basic_validation":
        trail.append(pl.concat_str([pl.lit("VIRAL "), pl.when(pl.col("viral")).then(pl.lit("FLAG "))
                                    .otherwise(pl.lit("no ")), pl.lit("copies_per_buy="),
                                    pl.col("copies_per_buy").round(2).cast(pl.Utf8).fill_null("na")]))
    parts = ([pl.col(prior)] if prior else []) + trail
    lazy = df.lazy().with_columns(fails).with_columns(reasons=pl.concat_str(parts, separator="; "))
    decided = pl.lit(None, pl.Utf8)
    conf = pl.lit(None, pl.Float64)
    for i, r in reversed(list(enumerate(rules))):  # the first failing rule wins
        f = pl.col(f"_f{i}")
        decided = pl.when(f).then(pl.lit(r.code)).otherwise(decided)
        c = pl.lit(1.0) if r.fact else evidence(cfg) * (0.5 + 0.5 * r.margin(cfg))
        conf = pl.when(f).then(c).otherwise(conf)
    # Lazy, so polars evaluates the rules once and in parallel; one collect for both halves.
    df = lazy.with_columns(decided_by=decided, confidence=conf).collect()
    drop = [f"_f{i}" for i in range(len(rules))]
    # Only the output columns of the rejected are copied: at a million wallets every copy of the inputs counts.
    rejected = df.lazy().filter(pl.col("decided_by").is_not_null()).with_columns(
        stage=pl.lit(stage), classification=pl.lit("REJECT"), score=pl.lit(None, pl.Float64),
        specialization_score=pl.lit(None, pl.Float64), risk_score=pl.lit(None, pl.Float64),
        structure_score=pl.lit(None, pl.Float64)).select(OUTPUT).collect()
    passed = df.lazy().filter(pl.col("decided_by").is_null()).drop([*drop, "decided_by", "confidence"]).collect()
    return passed, rejected


def _full_score(df: pl.DataFrame, cfg: ScannerConfig) -> pl.DataFrame:
    df = df.with_columns(specialization_score=specialization_score(cfg), risk_score=risk_score(cfg),
                         structure_score=structure_score(cfg))
    raw = (cfg.weight_specialization * pl.col("specialization_score") + cfg.weight_risk * pl.col("risk_score")
           + cfg.weight_structure * pl.col("structure_score"))
    score = (raw - pl.when(pl.col("viral")).then(cfg.viral_penalty).otherwise(0.0)).clip(0, 1)
    df = df.with_columns(score=score)
    s = pl.col("score")
    cls = (pl.when(s >= cfg.target_score).then(pl.lit("TARGET"))
           .when(s >= cfg.watchlist_score).then(pl.lit("WATCHLIST")).otherwise(pl.lit("REJECT")))
    # Confidence: the sample's evidence times how far the score sits from the nearest class boundary.
    boundary = pl.min_horizontal((s - cfg.target_score).abs(), (s - cfg.watchlist_score).abs())
    return df.with_columns(
        stage=pl.lit("full_score"), classification=cls,
        decided_by=pl.when(pl.col("viral") & (raw >= cfg.watchlist_score) & (s < cfg.watchlist_score))
        .then(pl.lit("VIRAL_PENALTY")).otherwise(pl.lit("SCORE")),
        confidence=evidence(cfg) * (0.5 + 0.5 * (boundary / 0.1).clip(0, 1)),
        reasons=pl.concat_str([pl.col("reasons"), pl.lit("; SCORE "), s.round(3).cast(pl.Utf8),
                               pl.lit(" specialization="), pl.col("specialization_score").round(3).cast(pl.Utf8),
                               pl.lit(" risk="), pl.col("risk_score").round(3).cast(pl.Utf8),
                               pl.lit(" structure="), pl.col("structure_score").round(3).cast(pl.Utf8),
                               pl.when(pl.col("viral")).then(pl.lit(f" viral_penalty={cfg.viral_penalty}"))
                               .otherwise(pl.lit(""))]),
    )


def stage_counts(scores: pl.DataFrame) -> dict[str, int]:
    """How many wallets ended in each stage (every wallet ends in exactly one)."""
    counts = scores.group_by("stage").len()
    return {s: int(np.sum(counts.filter(pl.col("stage") == s)["len"].to_numpy())) for s in STAGES}
