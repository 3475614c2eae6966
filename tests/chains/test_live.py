"""The live switch and the minimum-output rule shared by the execution adapters, with known answers."""

import pytest

from quant.chains.errors import ExecutionRefused
from quant.chains.live import amount_out_min, live_requested, require_live


@pytest.mark.parametrize("quote, expected, tolerance, want", [
    (1000, 0.01, 0.005, 985), (999, 0.0, 0.005, 994), (10**24, 0.003, 0.0, 997 * 10**21),
    (7, 0.0, 0.0, 7), (1, 0.1, 0.1, 0), (3 * 10**18 + 1, 0.0001, 0.0002, 2_999_100_000_000_000_000)])
def test_amount_out_min(quote, expected, tolerance, want):
    assert amount_out_min(quote, expected, tolerance) == want


@pytest.mark.parametrize("expected, tolerance", [(-0.01, 0.0), (0.0, -1e-9), (0.5, 0.5), (1.2, 0.0)])
def test_amount_out_min_rejects_impossible_cuts(expected, tolerance):
    with pytest.raises(ValueError, match=r"must be in \[0, 1\)"):
        amount_out_min(100, expected, tolerance)


@pytest.mark.parametrize("live, env, want", [
    (None, {}, False), (None, {"QUANT_LIVE": "1"}, True), (None, {"QUANT_LIVE": "true"}, False),
    (None, {"QUANT_LIVE": "0"}, False), (True, {}, True), (False, {"QUANT_LIVE": "1"}, False)])
def test_live_needs_an_explicit_yes(live, env, want):
    assert live_requested(live, env) is want


def test_require_live_says_what_is_missing():
    with pytest.raises(ExecutionRefused, match="swap refused: live mode is off"):
        require_live(False, object(), "swap", "hint")
    with pytest.raises(ExecutionRefused, match=r"swap refused: no signing key loaded \(set X\)"):
        require_live(True, None, "swap", "set X")
    require_live(True, object(), "swap", "hint")
