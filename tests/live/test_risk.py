"""Every breaker of the risk guard, and the rule that no configuration value can switch one off in live mode."""

from __future__ import annotations

import math

import pytest

from live_runtime.config import ConfigError, RiskLimits, RuntimeConfig
from live_runtime.risk import US_PER_DAY, US_PER_MIN, RiskGuard, RiskState

DAY0 = 20_000 * US_PER_DAY


@pytest.fixture
def guard(tmp_path) -> RiskGuard:
    g = RiskGuard(RiskLimits(), tmp_path / "KILL")
    g.update(DAY0, 10.0)
    return g


def test_entries_pass_when_every_limit_is_clear(guard):
    assert guard.state is RiskState.ACTIVE
    assert guard.check_entry(1.0, 0.05, 0, 10.0) is None


def test_at_most_three_open_positions(guard):
    assert "3 open positions" in guard.check_entry(0.5, 0.05, 3, 10.0)


def test_per_order_notional_cap_and_cash(guard):
    assert "per-order cap" in guard.check_entry(1.01, 0.05, 0, 10.0)
    assert "over the cash" in guard.check_entry(0.5, 0.05, 0, 0.4)


def test_pool_volatility_breaker_blocks_volatile_and_unknown_pools(guard):
    assert "pool volatility" in guard.check_entry(0.5, 0.26, 0, 10.0)
    assert "pool volatility unknown" in guard.check_entry(0.5, math.nan, 0, 10.0)


def test_daily_loss_limit_halts_until_the_next_market_day(guard):
    assert guard.update(DAY0 + 60 * US_PER_MIN, 9.05) is RiskState.ACTIVE  # down 9.5%: inside the 10% limit
    assert guard.update(DAY0 + 61 * US_PER_MIN, 8.99) is RiskState.HALTED
    assert guard.update(DAY0 + 62 * US_PER_MIN, 9.5) is RiskState.HALTED  # a recovery does not lift it
    assert "daily loss limit" in guard.check_entry(0.5, 0.05, 0, 9.0)
    assert guard.update(DAY0 + US_PER_DAY, 9.5) is RiskState.ACTIVE  # a new day starts from its own equity


def test_consecutive_losses_reduce_for_the_cool_down(guard):
    now = DAY0 + US_PER_MIN
    for _ in range(3):
        guard.on_close(-0.01, now)
    guard.on_close(+0.01, now)  # a win resets the run
    for _ in range(4):
        guard.on_close(-0.01, now)
    assert guard.update(now, 10.0) is RiskState.REDUCING
    assert "consecutive losses" in guard.check_entry(0.5, 0.05, 0, 10.0)
    assert guard.update(now + 59 * US_PER_MIN, 10.0) is RiskState.REDUCING
    assert guard.update(now + 60 * US_PER_MIN, 10.0) is RiskState.ACTIVE


def test_market_volatility_breaker(guard):
    guard.observe_volatility([0.5] * 200)  # the average over snapshots rises past the limit
    assert guard.update(DAY0 + US_PER_MIN, 10.0) is RiskState.REDUCING
    guard.observe_volatility([0.01] * 400)
    assert guard.update(DAY0 + 2 * US_PER_MIN, 10.0) is RiskState.ACTIVE
    guard.observe_volatility([3.0, 0.02, 0.02, 0.02] * 100)  # one crashing launch among calm pools
    assert guard.market_volatility == pytest.approx(0.25 / 4 + 0.02 * 3 / 4, rel=0.1)
    assert guard.update(DAY0 + 3 * US_PER_MIN, 10.0) is RiskState.ACTIVE


def test_kill_file_halts_at_the_next_order_and_flattens(guard):
    guard.kill_file.write_text("stop")
    assert "HALTED" in guard.check_entry(0.5, 0.05, 0, 10.0)  # read at the order, not only per batch
    assert guard.exit_reason(0.0) == "flatten: risk state HALTED"
    guard.kill_file.unlink()
    assert guard.update(DAY0 + US_PER_MIN, 10.0) is RiskState.ACTIVE


def test_stop_loss_and_take_profit(guard):
    assert guard.exit_reason(-0.19) is None
    assert guard.exit_reason(-0.20).startswith("stop-loss")
    assert guard.exit_reason(0.31).startswith("take-profit")


@pytest.mark.parametrize("field,value", [("max_open_positions", 0), ("daily_loss_limit", math.inf),
                                         ("stop_loss", math.nan), ("max_order_notional", -1.0),
                                         ("max_consecutive_losses", None), ("market_volatility_limit", 0.3)])
def test_no_value_switches_a_breaker_off(field, value):
    with pytest.raises(ConfigError, match=field):
        RiskLimits(**{field: value}).validate(live=False)


@pytest.mark.parametrize("field,value", [("max_open_positions", 10), ("daily_loss_limit", 0.9),
                                         ("stop_loss", 0.99), ("max_order_notional", 1e6)])
def test_live_mode_keeps_every_limit_inside_its_hard_bounds(field, value, tmp_path, monkeypatch):
    RiskLimits(**{field: value}).validate(live=False)  # paper may explore
    with pytest.raises(ConfigError, match="live mode"):
        RiskLimits(**{field: value}).validate(live=True)
    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path))
    with pytest.raises(ConfigError):
        RuntimeConfig.from_env(live=True, risk=RiskLimits(**{field: value}))
