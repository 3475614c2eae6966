"""Exact constant-product AMM math, as the on-chain programs compute it.

Raydium AMM v4 (`raydium-amm`, `processor.rs` swap_base_in): the trade fee is taken from the input and
rounded up, fee = ceil(a * 25 / 10000); out = floor(R_out * (a - fee) / (R_in + a - fee)).
Uniswap V2 (`UniswapV2Library.getAmountOut`): out = floor(a * 997 * R_out / (R_in * 1000 + a * 997)).

Liquidity, as each program mints and burns its LP token. Raydium v4 (`process_initialize2`, `process_deposit`
with the quote side fixed, `process_withdraw`): supply = isqrt(quote * base) of which 10**lp_decimals (the base
token's decimals) is never minted to the creator; a deposit of q quote takes ceil(q * base / quote) base and mints
floor(q * supply / quote); a withdrawal of l gets floor(l * reserve / supply) of each. Uniswap V2 (`UniswapV2Pair.
mint`/`burn`, the router's `quote`): supply = isqrt(a0 * a1) of which MINIMUM_LIQUIDITY = 1000 is locked; a deposit
of q quote takes floor(q * base / quote) base and mints min(q * supply / quote, base_in * supply / base); a
withdrawal as on Raydium.

Scalar functions take Python ints and are exact for any size (uint64 on Solana, uint112 on EVM).
The `*_vec` functions take numpy arrays: int64 arrays are exact while every reserve and amount stays below
2**53 (the simulator's Solana side), object arrays of Python ints are exact always (its EVM side).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

RAYDIUM_FEE_NUM, RAYDIUM_FEE_DEN = 25, 10_000
UNISWAP_FEE_NUM, UNISWAP_FEE_DEN = 3, 1_000
INT64_EXACT_LIMIT = 2**53


@dataclass(frozen=True)
class FeeModel:
    """A constant-product venue: its fee fraction and whether the fee is rounded up (Raydium) or implicit."""

    name: str
    fee_num: int
    fee_den: int

    @property
    def fee_fraction(self) -> float:
        return self.fee_num / self.fee_den


RAYDIUM_V4 = FeeModel("raydium_v4", RAYDIUM_FEE_NUM, RAYDIUM_FEE_DEN)
UNISWAP_V2 = FeeModel("uniswap_v2", UNISWAP_FEE_NUM, UNISWAP_FEE_DEN)


def _check(amount_in: int, reserve_in: int, reserve_out: int) -> None:
    if amount_in < 0:
        raise ValueError(f"amount_in must be >= 0, got {amount_in}")
    if reserve_in <= 0 or reserve_out <= 0:
        raise ValueError(f"reserves must be > 0, got reserve_in={reserve_in} reserve_out={reserve_out}")


def raydium_v4_fee(amount_in: int) -> int:
    """Raydium's trade fee on an input amount: ceil(a * 25 / 10000)."""
    return -(-amount_in * RAYDIUM_FEE_NUM // RAYDIUM_FEE_DEN)


def raydium_v4_amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    """Output of a Raydium AMM v4 SwapBaseIn for `amount_in`, given price reserves (vaults minus pending PnL)."""
    _check(amount_in, reserve_in, reserve_out)
    net = amount_in - raydium_v4_fee(amount_in)
    return reserve_out * net // (reserve_in + net)


def uniswap_v2_amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    """Output of a Uniswap V2 pair swap for `amount_in` (UniswapV2Library.getAmountOut)."""
    _check(amount_in, reserve_in, reserve_out)
    with_fee = amount_in * (UNISWAP_FEE_DEN - UNISWAP_FEE_NUM)
    return with_fee * reserve_out // (reserve_in * UNISWAP_FEE_DEN + with_fee)


def uniswap_v2_amount_in(amount_out: int, reserve_in: int, reserve_out: int) -> int:
    """Input needed for `amount_out` on Uniswap V2 (UniswapV2Library.getAmountIn)."""
    if not 0 < amount_out < reserve_out:
        raise ValueError(f"amount_out must be in (0, reserve_out={reserve_out}), got {amount_out}")
    _check(0, reserve_in, reserve_out)
    num = reserve_in * amount_out * UNISWAP_FEE_DEN
    den = (reserve_out - amount_out) * (UNISWAP_FEE_DEN - UNISWAP_FEE_NUM)
    return num // den + 1


def raydium_v4_amount_in(amount_out: int, reserve_in: int, reserve_out: int) -> int:
    """Smallest input whose Raydium SwapBaseIn output is at least `amount_out`.

    Solves the closed form for the net input, then walks the (monotone) integer output to the exact
    minimum, because the rounded-up fee makes the closed form off by a unit or two.
    """
    if not 0 < amount_out < reserve_out:
        raise ValueError(f"amount_out must be in (0, reserve_out={reserve_out}), got {amount_out}")
    _check(0, reserve_in, reserve_out)
    net = -(-reserve_in * amount_out // (reserve_out - amount_out))
    guess = -(-net * RAYDIUM_FEE_DEN // (RAYDIUM_FEE_DEN - RAYDIUM_FEE_NUM))
    while guess > 1 and raydium_v4_amount_out(guess - 1, reserve_in, reserve_out) >= amount_out:
        guess -= 1
    while raydium_v4_amount_out(guess, reserve_in, reserve_out) < amount_out:
        guess += 1
    return guess


def amount_out(venue: FeeModel, amount_in: int, reserve_in: int, reserve_out: int) -> int:
    """Output on either venue."""
    if venue is RAYDIUM_V4:
        return raydium_v4_amount_out(amount_in, reserve_in, reserve_out)
    return uniswap_v2_amount_out(amount_in, reserve_in, reserve_out)


def amount_in(venue: FeeModel, amount_out_wanted: int, reserve_in: int, reserve_out: int) -> int:
    """Input needed for a wanted output on either venue."""
    if venue is RAYDIUM_V4:
        return raydium_v4_amount_in(amount_out_wanted, reserve_in, reserve_out)
    return uniswap_v2_amount_in(amount_out_wanted, reserve_in, reserve_out)


def mid_price(reserve_base: float, reserve_quote: float, base_decimals: int = 0, quote_decimals: int = 0) -> float:
    """Quote per base in whole-token units: (R_quote / 10^qd) / (R_base / 10^bd)."""
    if reserve_base <= 0 or reserve_quote <= 0:
        raise ValueError(f"reserves must be > 0, got base={reserve_base} quote={reserve_quote}")
    return (reserve_quote / 10**quote_decimals) / (reserve_base / 10**base_decimals)


def price_impact(venue: FeeModel, amount_in_: int, reserve_in: int, reserve_out: int) -> float:
    """Shortfall of the execution price against the pre-trade mid, fee included: 1 - (out/in) / (R_out/R_in)."""
    out = amount_out(venue, amount_in_, reserve_in, reserve_out)
    if amount_in_ == 0:
        return 0.0
    return 1.0 - (out * reserve_in) / (amount_in_ * reserve_out)


# ---- vectorised, exact --------------------------------------------------------------------------------


def _floor_div_int64(num_a: np.ndarray, num_b: np.ndarray, den: np.ndarray) -> np.ndarray:
    """floor(a * b / den) for int64 a, b, den < 2**53, exact although a * b overflows int64.

    A float64 estimate is within a few units of the truth; the remainder a*b - q*den is computed in
    wrapping uint64 arithmetic (exact modulo 2**64, and small), then q is corrected until 0 <= r < den.
    """
    q = np.floor(num_a * (num_b / den)).astype(np.int64)
    au, bu, du = num_a.view(np.uint64), num_b.view(np.uint64), den.view(np.uint64)
    with np.errstate(over="ignore"):
        for _ in range(4):
            r = (au * bu - q.view(np.uint64) * du).view(np.int64)
            low, high = r < 0, r >= den
            if not (low.any() or high.any()):
                return q
            q = q - low.astype(np.int64) + high.astype(np.int64)
    raise ArithmeticError("int64 AMM correction did not converge: values exceed the exact range 2**53")


def _as_exact(*arrays: np.ndarray) -> bool:
    """True when every array is int64 within the exact range; object arrays use Python ints directly."""
    if all(a.dtype == object for a in arrays):
        return False
    for a in arrays:
        if a.dtype != np.int64:
            raise TypeError(f"AMM arrays must be int64 or object (Python int), got {a.dtype}")
        if a.size and (a.max() >= INT64_EXACT_LIMIT):
            raise OverflowError(f"int64 AMM inputs must stay below 2**53, got max {int(a.max())}")
    return True


def raydium_v4_amount_out_vec(a: np.ndarray, r_in: np.ndarray, r_out: np.ndarray) -> np.ndarray:
    """Vectorised `raydium_v4_amount_out`."""
    if not _as_exact(a, r_in, r_out):
        fee = -(-a * RAYDIUM_FEE_NUM // RAYDIUM_FEE_DEN)
        net = a - fee
        return r_out * net // (r_in + net)
    return raydium_v4_amount_out_int64(a, r_in, r_out)


def raydium_v4_amount_out_int64(a: np.ndarray, r_in: np.ndarray, r_out: np.ndarray) -> np.ndarray:
    """`raydium_v4_amount_out_vec` without the range check, for callers that keep values below 2**53."""
    net = a + (-a * RAYDIUM_FEE_NUM) // RAYDIUM_FEE_DEN  # a - ceil(a * 25 / 10000)
    return _floor_div_int64(r_out, net, r_in + net)


def uniswap_v2_amount_out_vec(a: np.ndarray, r_in: np.ndarray, r_out: np.ndarray) -> np.ndarray:
    """Vectorised `uniswap_v2_amount_out`; int64 inputs are widened to Python ints (R_in * 1000 overflows)."""
    if _as_exact(a, r_in, r_out):
        a, r_in, r_out = a.astype(object), r_in.astype(object), r_out.astype(object)
    with_fee = a * (UNISWAP_FEE_DEN - UNISWAP_FEE_NUM)
    return with_fee * r_out // (r_in * UNISWAP_FEE_DEN + with_fee)


def amount_out_vec(venue: FeeModel, a: np.ndarray, r_in: np.ndarray, r_out: np.ndarray) -> np.ndarray:
    """Vectorised output on either venue."""
    if venue is RAYDIUM_V4:
        return raydium_v4_amount_out_vec(a, r_in, r_out)
    return uniswap_v2_amount_out_vec(a, r_in, r_out)


def fee_vec(venue: FeeModel, a: np.ndarray) -> np.ndarray:
    """The fee charged on each input, in input units (Uniswap's implicit fee reported as floor(a*3/1000))."""
    if venue is RAYDIUM_V4:
        return -((-a * RAYDIUM_FEE_NUM) // RAYDIUM_FEE_DEN)
    return a * UNISWAP_FEE_NUM // UNISWAP_FEE_DEN


UNISWAP_MINIMUM_LIQUIDITY = 1000


def initial_liquidity(venue: FeeModel, base: int, quote: int, base_decimals: int) -> tuple[int, int]:
    """A new pool's LP supply and the part of it its creator receives."""
    supply = math.isqrt(base * quote)
    locked = 10**base_decimals if venue is RAYDIUM_V4 else UNISWAP_MINIMUM_LIQUIDITY
    if supply <= locked:
        raise ValueError(f"initial liquidity {supply} does not exceed the locked {locked} ({venue.name})")
    return supply, supply - locked


def deposit(venue: FeeModel, quote_in: int, base_reserve: int, quote_reserve: int, supply: int) -> tuple[int, int]:
    """Base taken and LP minted for depositing `quote_in` quote at the pool's ratio."""
    if venue is RAYDIUM_V4:
        return -(-quote_in * base_reserve // quote_reserve), quote_in * supply // quote_reserve
    base_in = quote_in * base_reserve // quote_reserve
    return base_in, min(quote_in * supply // quote_reserve, base_in * supply // base_reserve)


def withdraw(lp: int, base_reserve: int, quote_reserve: int, supply: int) -> tuple[int, int]:
    """Base and quote paid out for burning `lp` (both venues round down)."""
    return lp * base_reserve // supply, lp * quote_reserve // supply


def _raw(x: float, decimals: int) -> int:
    return int(np.floor(x * 10**decimals))


def round_trip(entry, exit_, quote_in: float) -> tuple[float, float]:
    """Quote spent and received for buying with `quote_in` at the `entry` snapshot's reserves (Raydium v4 fee and
    rounding) and selling at `exit_`'s. Snapshots carry base_reserve, quote_reserve and their decimals. Our buy stays
    in the pool until we sell, scaled by the share of its liquidity (sqrt k) still there."""
    bd, qd = int(entry.base_decimals), int(entry.quote_decimals)
    rb, rq = _raw(entry.base_reserve, bd), _raw(entry.quote_reserve, qd)
    a_in = _raw(quote_in, qd)
    got = raydium_v4_amount_out(a_in, rq, rb)
    xb, xq = _raw(exit_.base_reserve, bd), _raw(exit_.quote_reserve, qd)
    share = float(np.sqrt((xb / rb) * (xq / rq)))  # liquidity left, sqrt(k_exit / k_entry)
    xb_ours, xq_ours = max(xb - int(got * share), 1), xq + int(a_in * share)
    back = raydium_v4_amount_out(got, xb_ours, xq_ours) if got > 0 else 0
    return a_in / 10**qd, back / 10**qd


def round_trip_vec(entry_base: np.ndarray, entry_quote: np.ndarray, exit_base: np.ndarray, exit_quote: np.ndarray,
                   base_decimals: np.ndarray, quote_decimals: np.ndarray, quote_in: float) -> tuple[np.ndarray, np.ndarray]:
    """`round_trip` on many rows at once (Raydium v4, int64-exact below 2**53): reserves in token units at the
    entry and the exit, each row's decimals, the same `quote_in` for every row. Equal to the scalar version
    row by row (a test holds them equal)."""
    bscale, qscale = 10.0 ** np.asarray(base_decimals, float), 10.0 ** np.asarray(quote_decimals, float)
    rb, rq = np.floor(entry_base * bscale).astype(np.int64), np.floor(entry_quote * qscale).astype(np.int64)
    xb, xq = np.floor(exit_base * bscale).astype(np.int64), np.floor(exit_quote * qscale).astype(np.int64)
    a_in = np.floor(quote_in * qscale).astype(np.int64)
    if max(rb.max(initial=0), rq.max(initial=0), xb.max(initial=0), xq.max(initial=0)) + a_in.max(initial=0) >= INT64_EXACT_LIMIT:
        raise OverflowError("round_trip_vec: a reserve exceeds the int64-exact range 2**53; use round_trip")
    got = raydium_v4_amount_out_int64(a_in, rq, rb)
    share = np.sqrt((xb / rb) * (xq / rq))
    xb_ours = np.maximum(xb - (got * share).astype(np.int64), 1)
    xq_ours = xq + (a_in * share).astype(np.int64)
    back = raydium_v4_amount_out_int64(got, xb_ours, xq_ours)  # 0 where nothing was bought
    return a_in / qscale, back / qscale
