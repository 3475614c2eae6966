"""The risk guard: the one place that says whether an order may go out. Checked before every order.

States: ACTIVE (entries and exits), REDUCING (exits only), HALTED (positions are flattened, then nothing).
    HALTED   the kill switch (a file, written by the CLI or the API), or the daily loss limit (until the next
             market day). The kill switch stays until a person removes it.
    REDUCING a run of consecutive losing trades (for a cool-down of market time), or a volatile market.
Per order: at most `max_open_positions`, a notional cap, and no entry into a pool more volatile than the limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

from live_runtime.config import RiskLimits

US_PER_MIN = 60_000_000
US_PER_DAY = 24 * 60 * US_PER_MIN


class RiskState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class RiskGuard:
    def __init__(self, limits: RiskLimits, kill_file: Path):
        self.limits, self.kill_file = limits, Path(kill_file)
        self.day: int | None = None
        self.day_start_equity = 0.0
        self.day_halted = False
        self.consecutive_losses = 0
        self.cooldown_until_us = 0
        self.market_volatility = 0.0
        self.market_volatile = False
        self.killed = False
        self.reasons: list[str] = []

    @property
    def state(self) -> RiskState:
        if self.killed or self.day_halted:
            return RiskState.HALTED
        if self.cooldown_until_us or self.market_volatile:
            return RiskState.REDUCING
        return RiskState.ACTIVE

    def update(self, now_us: int, equity: float) -> RiskState:
        """Re-evaluate the breakers that depend on time, equity and the market: once per micro-batch."""
        day = now_us // US_PER_DAY
        if day != self.day:
            self.day, self.day_start_equity, self.day_halted = day, equity, False
        reasons = []
        self.killed = self.kill_file.exists()
        if self.killed:
            reasons.append(f"kill switch {self.kill_file}")
        loss = 1 - equity / self.day_start_equity if self.day_start_equity > 0 else 0.0
        if loss >= self.limits.daily_loss_limit:
            self.day_halted = True
        if self.day_halted:
            reasons.append(f"daily loss limit {self.limits.daily_loss_limit:.0%} reached (day loss {loss:.1%})")
        if self.cooldown_until_us and now_us >= self.cooldown_until_us:
            self.cooldown_until_us, self.consecutive_losses = 0, 0
        if self.cooldown_until_us:
            reasons.append(f"{self.consecutive_losses} consecutive losses: exits only until cool-down ends")
        self.market_volatile = self.market_volatility > self.limits.market_volatility_limit
        if self.market_volatile:
            reasons.append(f"market volatility {self.market_volatility:.3f} > {self.limits.market_volatility_limit}")
        self.reasons = reasons
        return self.state

    def check_entry(self, notional: float, pool_volatility: float, open_positions: int, cash: float) -> str | None:
        """None when an entry may go out, else the reason it may not."""
        if self.kill_file.exists():  # read again at the order itself: a kill must not wait for the batch
            self.killed = True
        if self.state is not RiskState.ACTIVE:
            return f"risk state {self.state}: {'; '.join(self.reasons) or 'kill switch'}"
        if open_positions >= self.limits.max_open_positions:
            return f"{open_positions} open positions (limit {self.limits.max_open_positions})"
        if notional > self.limits.max_order_notional + 1e-12:
            return f"notional {notional:.4f} over the per-order cap {self.limits.max_order_notional}"
        if notional > cash:
            return f"notional {notional:.4f} over the cash {cash:.4f}"
        if pool_volatility != pool_volatility:
            return "pool volatility unknown (too few snapshots): no entry"
        if pool_volatility > self.limits.max_volatility:
            return f"pool volatility {pool_volatility:.3f} over {self.limits.max_volatility}"
        return None

    def exit_reason(self, position_return: float) -> str | None:
        if position_return <= -self.limits.stop_loss:
            return f"stop-loss: {position_return:.1%} <= -{self.limits.stop_loss:.0%}"
        if position_return >= self.limits.take_profit:
            return f"take-profit: {position_return:.1%} >= {self.limits.take_profit:.0%}"
        if self.state is RiskState.HALTED:
            return "flatten: risk state HALTED"
        return None

    def on_close(self, pnl: float, now_us: int) -> None:
        self.consecutive_losses = self.consecutive_losses + 1 if pnl < 0 else 0
        if self.consecutive_losses >= self.limits.max_consecutive_losses and not self.cooldown_until_us:
            self.cooldown_until_us = now_us + int(self.limits.loss_cooldown_min * US_PER_MIN)

    PERSISTED = ("day", "day_start_equity", "day_halted", "consecutive_losses", "cooldown_until_us",
                 "market_volatility", "market_volatile", "reasons")

    def persisted(self) -> dict:
        """What a restart needs to carry on exactly (journalled in each checkpoint)."""
        return {k: getattr(self, k) for k in self.PERSISTED}

    def restore(self, saved: dict) -> None:
        for k in self.PERSISTED:
            if k in saved:
                setattr(self, k, saved[k])

    def observe_volatility(self, volatilities: Iterable[float]) -> None:
        """The market's volatility: an exponential average over snapshots in market order (so it does not
        depend on how the stream was cut into batches), NaN (too young to know) skipped. A pool counts at most
        at the per-pool entry limit: about half of all launches crash 90% within their first hour
        (MARKET_FACTS), so one crashing launch is ordinary, already barred from entry, and must not move the
        market's gauge tenfold; the breaker measures how much of the market is wild, not how wild one pool is."""
        v, cap = self.market_volatility, self.limits.max_volatility
        for x in volatilities:
            if x == x:
                v = 0.98 * v + 0.02 * min(x, cap)
        self.market_volatility = v

    def describe(self) -> dict:
        return {"state": str(self.state), "reasons": self.reasons, "consecutive_losses": self.consecutive_losses,
                "day_start_equity": self.day_start_equity,
                "market_volatility": self.market_volatility, "limits": {k: v for k, v in vars(self.limits).items()}}
