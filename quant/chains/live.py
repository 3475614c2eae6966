"""The live switch shared by the execution adapters, and the minimum output a swap may accept.

Execution is never the default: an adapter signs or sends only when live mode is asked for explicitly
(`live=True`, or `QUANT_LIVE=1` in the environment when the caller leaves `live` unset) and it holds a key.
Dry runs (quotes, eth_call, bundle and transaction simulation) need neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

from quant.chains.errors import ExecutionRefused
from quant.settings import ChainSettings

LIVE_ENV = "QUANT_LIVE"


def live_requested(live: bool | None = None, env: Mapping[str, str] | None = None) -> bool:
    """`live` when given (False always wins), else whether $QUANT_LIVE is exactly "1"."""
    if live is not None:
        return bool(live)
    return ChainSettings.from_env(env).live


def require_live(live: bool, key: object | None, what: str, key_hint: str) -> None:
    """Refuse `what` unless live mode is on and a key is loaded; the message says which is missing."""
    if not live:
        raise ExecutionRefused(f"{what} refused: live mode is off (pass live=True or set {LIVE_ENV}=1)")
    if key is None:
        raise ExecutionRefused(f"{what} refused: no signing key loaded ({key_hint})")


def amount_out_min(quote_out: int, expected_slippage: float = 0.0, tolerance: float = 0.005) -> int:
    """The least output to accept for a swap quoted at `quote_out` (raw units): the quote less the slippage a
    model expects (price moving before inclusion) and a tolerance on top, both fractions of the quote, rounded
    down. Exact: the fractions are read from their decimal text, so 0.005 is 5/1000, not a binary float."""
    cut = Fraction(str(expected_slippage)) + Fraction(str(tolerance))
    if expected_slippage < 0 or tolerance < 0 or cut >= 1:
        raise ValueError(f"slippage {expected_slippage} + tolerance {tolerance} must be in [0, 1)")
    if quote_out < 0:
        raise ValueError(f"quote_out must be >= 0, got {quote_out}")
    return quote_out * (cut.denominator - cut.numerator) // cut.denominator
