"""Every threshold and window of the wallet scanner, in one frozen object.

Defaults follow the hand-tuned scanners quoted in MARKET_FACTS.md where a figure exists (specialization 50%
over 5+ categories, chasing at 1.5x on more than 20% of post-loss trades, market makers holding under 4 hours
at a 48-52% win rate and under 2% per trade); the rest are stated where they are set. Each field can be
overridden by an environment variable named RISK_<FIELD> (RISK_SPECIALIZATION_THRESHOLD, ...) and then by
explicit overrides (Dagster run config), in that order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from quant.settings import SCANNER_PREFIX, scanner_overrides

ENV_PREFIX = SCANNER_PREFIX


@dataclass(frozen=True)
class ScannerConfig:
    # Measurement windows used when profiling.
    copy_window_s: int = 300  # copiers follow within 30-300 s: a buy in this window after another's is a copy
    early_entry_s: int = 3600  # a buy within an hour of a pool's opening is an early entry
    snipe_window_s: int = 120  # a buy within two minutes of opening is a snipe: won by latency, not judgement
    collapse_fraction: float = 0.2  # a pool has collapsed once its quote reserve falls below 20% of its peak
    hub_min_recipients: int = 50  # a funder paying this many wallets is an exchange-like hub, not a patron
    # Stage 1: basic validation.
    min_trades: int = 6  # three round trips at the least: fewer says nothing about skill
    min_round_trips: int = 3
    min_age_days: float = 1.0
    specialization_threshold: float = 0.50
    generalist_min_categories: int = 5
    sniper_share: float = 0.5  # half of its buys within the snipe window: a launch bot, not a copyable judgement
    viral_copies_per_buy: float = 3.0  # excess buys by others right after this wallet's buys, per buy
    viral_min_buys: int = 3
    # Stage 2: risk behaviour.
    martingale_threshold: float = 1.5  # a next stake above this multiple of a losing one is chasing
    martingale_limit: float = 0.20  # reject when chasing exceeds this share of post-loss instances
    martingale_min_instances: int = 5  # a share of fewer post-loss trades moves in steps of 25% or more
    martingale_z: float = 1.64  # chasing must beat the limit by this many standard errors (one-sided 95%)
    # Chasing is measured against the same wallet's sizing after wins (its ordinary swings in stake); 0 gives
    # the published rule as stated, which flags any wallet whose stakes vary widely.
    martingale_baseline_weight: float = 1.0
    wash_score_limit: float = 0.5  # half of its trades answered by a funding-cluster member's opposite trade
    max_drawdown_share: float = 0.5  # realised drawdown above half of the capital staked is excessive
    mm_max_hold_s: float = 14_400.0
    mm_win_rate_low: float = 0.48
    mm_win_rate_high: float = 0.52
    mm_max_profit_per_trade: float = 0.02
    mm_min_round_trips: int = 10
    # Market making is all day: bots quoting a pool close hundreds of trips a day. Below 20 a day a near-even
    # win rate is any short-term trader's chance (10 of 20), not a pattern.
    mm_min_round_trips_per_day: float = 20.0
    # Stage 3: full score.
    weight_specialization: float = 0.35
    weight_risk: float = 0.40
    weight_structure: float = 0.25
    viral_penalty: float = 0.30
    target_profit_per_trade: float = 0.25  # a mean return per round trip worth full marks
    target_score: float = 0.70
    watchlist_score: float = 0.50
    evidence_trades: int = 20  # confidence reaches half at this many trades behind a call

    def with_overrides(self, overrides: Mapping[str, object]) -> ScannerConfig:
        """A copy with `overrides` applied; unknown names are an error, values take the field's type."""
        return apply_overrides(self, overrides)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None,
                 overrides: Mapping[str, object] | None = None) -> ScannerConfig:
        """Defaults, then RISK_<FIELD> environment variables, then explicit overrides."""
        environ = scanner_overrides() if environ is None else environ
        from_env = {f.name: environ[ENV_PREFIX + f.name.upper()] for f in fields(cls)
                    if ENV_PREFIX + f.name.upper() in environ}
        return apply_overrides(apply_overrides(cls(), from_env), overrides or {})


def apply_overrides(cfg, overrides: Mapping[str, object]):
    """Apply named overrides to any frozen config dataclass, casting each value to its field's type."""
    types = {f.name: type(getattr(cfg, f.name)) for f in fields(cfg)}
    unknown = sorted(set(overrides) - set(types))
    if unknown:
        raise ValueError(f"unknown {type(cfg).__name__} fields {unknown}; known: {sorted(types)}")
    cast = {k: types[k](float(v)) if types[k] is int else types[k](v) for k, v in overrides.items() if v is not None}
    return replace(cfg, **cast)
