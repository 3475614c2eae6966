"""The runtime's configuration: decision thresholds, micro-batching, risk limits, where files live.

Risk limits are validated, not trusted: in live mode every breaker must be on and within hard bounds, so no
configuration value can switch one off (`RiskLimits.validate`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from quant.settings import data_dir

TOKEN_ENV = "LIVE_API_TOKEN"


class ConfigError(ValueError):
    """A configuration value that is missing, out of range, or would disable a safety limit."""


@dataclass(frozen=True)
class RiskLimits:
    max_open_positions: int = 3
    daily_loss_limit: float = 0.10  # fraction of the day's starting equity; HALTED for the rest of the day
    max_consecutive_losses: int = 4  # then REDUCING (exits only) for `loss_cooldown_min` of market time
    loss_cooldown_min: float = 60.0
    max_volatility: float = 0.25  # a pool's volatility_10 above this blocks entries in it
    # REDUCING while the recent snapshots' average volatility_10, each counted at most at max_volatility, is
    # above this (so it must be below max_volatility to ever trip)
    market_volatility_limit: float = 0.15
    max_order_notional: float = 1.0  # quote units (SOL) per order
    stop_loss: float = 0.20  # close a position that has lost this fraction
    take_profit: float = 0.30  # close a position that has gained this fraction

    # Hard bounds in live mode: (lowest allowed, highest allowed).
    LIVE_BOUNDS = {
        "max_open_positions": (1, 3), "daily_loss_limit": (0.001, 0.25), "max_consecutive_losses": (1, 10),
        "loss_cooldown_min": (1.0, 24 * 60.0), "max_volatility": (0.001, 1.0),
        "market_volatility_limit": (0.001, 1.0), "max_order_notional": (1e-9, 10.0), "stop_loss": (0.01, 0.5),
        "take_profit": (0.01, 5.0),
    }

    def validate(self, live: bool) -> RiskLimits:
        """Every limit a finite positive number; in live mode also inside LIVE_BOUNDS."""
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"risk limit {f.name} must be a finite number > 0, got {value!r}: "
                                  "a breaker cannot be switched off")
            lo, hi = self.LIVE_BOUNDS[f.name]
            if live and not lo <= value <= hi:
                raise ConfigError(f"risk limit {f.name}={value!r} is outside [{lo}, {hi}], "
                                  "which live mode does not allow")
        if self.market_volatility_limit >= self.max_volatility:
            raise ConfigError(f"risk limit market_volatility_limit={self.market_volatility_limit!r} must be below "
                              f"max_volatility={self.max_volatility!r}: pools count at most at that, so the "
                              "market breaker could never trip")
        return self


@dataclass(frozen=True)
class DecisionConfig:
    moon_threshold: float = 0.7  # enter only when P(moon) is above this ...
    rug_threshold: float = 0.3  # ... and P(rug) below this
    # The expensive models see only events the cheap ones rate at least this (None: the entry thresholds, so
    # no window is scored for an event the consensus already refuses; a lower gate scores more for the
    # voters' accuracy, at ~0.6 ms a window for the sequence model).
    cascade_moon_gate: float | None = None
    cascade_rug_gate: float | None = None
    vote_threshold: float = 0.5  # weighted share of yes-votes the sequence model and agents must give
    outlier_distance: float = 1.0  # reference ranges outside the training data that withholds an entry
    max_hold_snapshots: int = 10  # the label horizon: a position is closed when it has run out
    exit_rug_threshold: float = 0.6  # close a position when P(rug) rises above this
    online_weight: float = 0.3  # the online learner's share of the blended probability
    max_model_age_h: float = 7 * 24.0  # older champions stop new entries (exits still run)

    @property
    def gates(self) -> tuple[float, float]:
        """(P(moon) at least, P(rug) at most) to reach the expensive stage."""
        return (self.moon_threshold if self.cascade_moon_gate is None else self.cascade_moon_gate,
                self.rug_threshold if self.cascade_rug_gate is None else self.cascade_rug_gate)


@dataclass(frozen=True)
class RuntimeConfig:
    data_dir: Path
    registry_dir: Path
    journal_dir: Path
    quote_symbol: str = "SOL"  # the account's currency: only pools quoted in it are traded
    starting_balance: float = 10.0
    max_batch: int = 256  # a micro-batch closes at this many events ...
    max_wait_ms: float = 1.0  # ... or when its first event has waited this long
    reorder_tolerance_s: float = 2.0  # late events within this much market time are applied in order
    journal_flush_rows: int = 100_000
    journal_flush_s: float = 2.0
    reload_check_s: float = 0.5
    # A pool without a snapshot for this long (market time) starts afresh when it returns, as the batch
    # features do for a pool absent from the previous day; an hourly sweep frees such pools' slots (not held ones).
    idle_pool_h: float = 48.0
    compile_trees: bool = True  # serve the XGBoost champions compiled to native code (live_runtime/compiled.py)
    wait_for_champions: bool = True  # no champions yet: follow the stream, trade nothing, start when they appear
    live: bool = False  # real execution: needs an explicit flag, a key and every breaker in live bounds
    risk: RiskLimits = field(default_factory=RiskLimits)
    decision: DecisionConfig = field(default_factory=DecisionConfig)

    @property
    def kill_file(self) -> Path:
        return self.data_dir / "live" / "KILL"

    @staticmethod
    def from_env(data: Path | None = None, **overrides) -> RuntimeConfig:
        """Files under `data` (default: QUANT_DATA_DIR), then `overrides`; risk limits validated."""
        data = data_dir() if data is None else data
        cfg = RuntimeConfig(data_dir=data, registry_dir=data / "registry", journal_dir=data / "journal")
        cfg = replace(cfg, **overrides) if overrides else cfg
        cfg.risk.validate(cfg.live)
        return cfg
