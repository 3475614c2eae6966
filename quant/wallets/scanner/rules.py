"""Every scanner rule, defined once, as polars expressions over wallet profiles (stage 2 and the score read
the sizing columns that `with_sizing` adds).

A rule names what it measured (`shown`, the value put in the audit trail), when it rejects (`fails`), and how
far past its threshold the wallet was (`margin`, 0 at the threshold, 1 when clearly past: confidence rises
with it). `fact` rules (address, trade count, age) are certain; the others are statistics of a sample."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from quant.wallets.scanner.config import ScannerConfig

C = pl.col


@dataclass(frozen=True)
class Rule:
    code: str
    fails: Callable[[ScannerConfig], pl.Expr]
    shown: Callable[[ScannerConfig], pl.Expr]
    margin: Callable[[ScannerConfig], pl.Expr]
    fact: bool = False


def _num(name: str, digits: int = 3) -> pl.Expr:
    return C(name).cast(pl.Float64).round(digits).cast(pl.Utf8).fill_null("na")


def _shown(*parts: str | pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit(p) if isinstance(p, str) else p for p in parts])


def _trips_per_day() -> pl.Expr:
    """Round trips per day over the wallet's active span, a day at the least."""
    return C("round_trips") / pl.max_horizontal(C("age_days"), pl.lit(1.0))


def _rel(value: pl.Expr, threshold: float, scale: float | None = None) -> pl.Expr:
    """Distance from a threshold in units of `scale` (default: the threshold itself), clipped to [0, 1]."""
    scale = abs(threshold) if scale is None else scale
    return ((value - threshold).abs() / max(scale, 1e-9)).clip(0, 1).fill_null(0)


def with_sizing(df: pl.DataFrame, cfg: ScannerConfig) -> pl.DataFrame:
    """Add PILLAR 2's measures, computed once from the post-trade stake ratios (see `chase_excess_low`)."""
    m = cfg.martingale_threshold
    counts = df.with_columns(
        _k_loss=C("post_loss_ratios").list.eval(pl.element() > m).list.sum().fill_null(0),
        _n_loss=C("post_loss_ratios").list.len().fill_null(0),
        _k_win=C("post_win_ratios").list.eval(pl.element() > m).list.sum().fill_null(0),
        _n_win=C("post_win_ratios").list.len().fill_null(0))
    return counts.with_columns(sizing_columns(cfg)).drop("_k_loss", "_n_loss", "_k_win", "_n_win")


def sizing_columns(cfg: ScannerConfig) -> list[pl.Expr]:
    """chase_after_loss / chase_after_win: share of next stakes above `martingale_threshold` times the last;
    chase_excess: after losses less `martingale_baseline_weight` times after wins (a wallet's ordinary size
    swings; weight 0 gives the published rule as stated); chase_excess_low: that less `martingale_z` standard
    errors, so chasing must beat the limit beyond what a sample this small shows by chance (shares smoothed
    with one pseudo-count each way for the error)."""
    k_l, n_l, k_w, n_w = C("_k_loss"), C("_n_loss"), C("_k_win"), C("_n_win")
    after_loss = pl.when(n_l > 0).then(k_l / n_l)
    after_win = pl.when(n_w > 0).then(k_w / n_w)
    w = cfg.martingale_baseline_weight
    excess = after_loss - w * after_win.fill_null(0)
    p_l, p_w = (k_l + 1) / (n_l + 2), (k_w + 1) / (n_w + 2)
    se = (p_l * (1 - p_l) / n_l.clip(1) + w * w * p_w * (1 - p_w) / (n_w + 2)).sqrt()
    return [after_loss.alias("chase_after_loss"), after_win.alias("chase_after_win"), excess.alias("chase_excess"),
            (excess - cfg.martingale_z * se).alias("chase_excess_low")]


STAGE1 = (
    Rule("INVALID_ADDRESS", lambda c: ~C("address_valid"),
         lambda c: _shown("address_valid=", C("address_valid").cast(pl.Utf8)), lambda c: pl.lit(1.0), fact=True),
    Rule("TOO_FEW_TRADES", lambda c: (C("trades") < c.min_trades) | (C("round_trips") < c.min_round_trips),
         lambda c: _shown("trades=", C("trades").cast(pl.Utf8), " round_trips=", C("round_trips").cast(pl.Utf8)),
         lambda c: pl.lit(1.0), fact=True),
    Rule("TOO_YOUNG", lambda c: C("age_days") < c.min_age_days,
         lambda c: _shown("age_days=", _num("age_days", 2)), lambda c: pl.lit(1.0), fact=True),
    # PILLAR 1: specialization.
    Rule("GENERALIST", lambda c: (C("top_category_share") < c.specialization_threshold)
         & (C("categories") >= c.generalist_min_categories),
         lambda c: _shown("top_share=", _num("top_category_share"), " categories=", C("categories").cast(pl.Utf8)),
         lambda c: _rel(C("top_category_share"), c.specialization_threshold, 0.25)),
    Rule("SNIPER", lambda c: C("snipe_share").fill_null(0) >= c.sniper_share,
         lambda c: _shown("snipe_share=", _num("snipe_share")), lambda c: _rel(C("snipe_share"), c.sniper_share, 0.5)),
)

STAGE2 = (
    # PILLAR 2: martingale sizing after losses.
    Rule("MARTINGALE", lambda c: (C("post_loss_instances") >= c.martingale_min_instances)
         & (C("chase_excess_low") > c.martingale_limit),
         lambda c: _shown("chase_after_loss=", _num("chase_after_loss"), " after_win=", _num("chase_after_win"),
                          " n=", C("post_loss_instances").cast(pl.Utf8), " excess_low=", _num("chase_excess_low")),
         lambda c: _rel(C("chase_excess_low"), c.martingale_limit)),
    # Trading the same pools against wallets that share its funding (a cluster from the funding graph).
    Rule("WASH_TRADING", lambda c: C("wash_score").cast(pl.Float64).fill_null(0) >= c.wash_score_limit,
         lambda c: _shown("wash_score=", _num("wash_score")), lambda c: _rel(C("wash_score"), c.wash_score_limit)),
    Rule("EXCESSIVE_DRAWDOWN", lambda c: C("drawdown_share").fill_null(0) > c.max_drawdown_share,
         lambda c: _shown("drawdown_share=", _num("drawdown_share")),
         lambda c: _rel(C("drawdown_share"), c.max_drawdown_share)),
    # PILLAR 3: market-maker pattern.
    Rule("MARKET_MAKER", lambda c: (C("round_trips") >= c.mm_min_round_trips)
         & (_trips_per_day() >= c.mm_min_round_trips_per_day) & (C("avg_hold_s") < c.mm_max_hold_s)
         & C("win_rate").is_between(c.mm_win_rate_low, c.mm_win_rate_high)
         & (C("profit_per_trade") < c.mm_max_profit_per_trade),
         lambda c: _shown("avg_hold_s=", _num("avg_hold_s", 0), " win_rate=", _num("win_rate"),
                          " profit_per_trade=", _num("profit_per_trade", 4),
                          " trips_per_day=", _trips_per_day().round(1).cast(pl.Utf8).fill_null("na")),
         lambda c: _rel(C("avg_hold_s"), c.mm_max_hold_s)),
)


def viral(cfg: ScannerConfig) -> pl.Expr:
    """The viral check: others pile into the same pools right after this wallet's buys."""
    return (C("copies_per_buy").fill_null(0) >= cfg.viral_copies_per_buy) & (C("buys") >= cfg.viral_min_buys)


def specialization_score(cfg: ScannerConfig) -> pl.Expr:
    t = cfg.specialization_threshold
    return ((C("top_category_share") - t) / (1 - t)).clip(0, 1).fill_null(0)


def risk_score(cfg: ScannerConfig) -> pl.Expr:
    """Win rate, profit per trade, drawdown and sizing discipline, equally weighted."""
    profit = (0.5 + C("profit_per_trade") / (2 * cfg.target_profit_per_trade)).clip(0, 1)
    drawdown = 1 - (C("drawdown_share") / cfg.max_drawdown_share).clip(0, 1)
    discipline = 1 - (C("chase_excess").fill_null(0) / cfg.martingale_limit).clip(0, 1)
    return pl.mean_horizontal(C("win_rate").fill_null(0), profit.fill_null(0), drawdown.fill_null(0), discipline)


def structure_score(cfg: ScannerConfig) -> pl.Expr:
    """Where and when it trades: early entries into new pools, and getting out before pools collapse
    (neutral 0.5 when it never held a pool that collapsed)."""
    return pl.mean_horizontal(C("early_entry_share").fill_null(0), C("rug_escape_share").fill_null(0.5))


def evidence(cfg: ScannerConfig) -> pl.Expr:
    """How much a sample of trades says: one half at `evidence_trades` trades."""
    return C("trades") / (C("trades") + cfg.evidence_trades)
