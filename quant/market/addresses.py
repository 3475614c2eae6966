"""Address validity per chain, checked once per distinct value so whole tables validate fast; Solana keys
made only of base58 digits (nearly all of them) are decoded vectorised, the rest one by one."""

from __future__ import annotations

import base58
import numpy as np
import pandas as pd
from eth_utils import to_checksum_address

_BASE58 = frozenset("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
_HEX = frozenset("0123456789abcdefABCDEF")


def is_solana_address(value: object) -> bool:
    """A string of base58 digits only (the decoder would strip whitespace) that decodes to exactly 32 bytes."""
    if not isinstance(value, str) or not 32 <= len(value) <= 44 or not _BASE58.issuperset(value):
        return False
    try:
        return len(base58.b58decode(value)) == 32
    except ValueError:
        return False


def is_evm_address(value: object) -> bool:
    """0x + 40 hex digits; mixed case must carry a valid EIP-55 checksum (eth_utils 6's `is_address` no longer
    checks it, so the checksum is recomputed here)."""
    if not isinstance(value, str) or len(value) != 42 or not value.startswith("0x") or not _HEX.issuperset(value[2:]):
        return False
    digits = value[2:]
    return digits.islower() or digits.isupper() or not any(c.isalpha() for c in digits) \
        or to_checksum_address(value) == value


VALIDATORS = {"solana": is_solana_address, "evm": is_evm_address}
_B58_DIGIT = np.full(256, 255, np.uint8)
_B58_DIGIT[np.frombuffer(b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", np.uint8)] = np.arange(58)


def solana_valid_batch(values: np.ndarray) -> np.ndarray:
    """`is_solana_address` for many values at once, with identical verdicts: strings of 32-44 base58 digits
    are decoded as 32-bit limbs in numpy (five digits per step: 58**5 < 2**30); anything else takes the
    scalar path."""
    values = np.asarray(values, dtype=object)
    n = len(values)
    out = np.zeros(n, dtype=bool)
    is_str = np.fromiter((isinstance(v, str) for v in values), bool, n)
    length = np.zeros(n, np.int64)
    length[is_str] = np.fromiter((len(v) for v in values[is_str]), np.int64, int(is_str.sum()))
    rows = np.flatnonzero(is_str & (length >= 32) & (length <= 44))
    if len(rows) == 0:
        return out
    cp = np.asarray(values[rows].tolist(), dtype="U44").view(np.uint32).reshape(len(rows), 44)
    digit = _B58_DIGIT[cp.astype(np.uint8)]  # code points above 127 wrap, but such rows fail `ascii` below
    used = np.arange(44) < length[rows, None]
    plain = (cp <= 127).all(axis=1) & ((digit < 58) | ~used).all(axis=1)
    slow = rows[~plain]
    out[slow] = [is_solana_address(v) for v in values[slow]]
    rows, digit, used, length = rows[plain], digit[plain], used[plain], length[rows[plain]]
    leading = (digit != 0) & used  # the decoder turns each leading '1' into a zero byte
    ones = np.where(leading.any(axis=1), np.argmax(leading, axis=1), length)
    # Right-align shorter keys behind zero digits (a leading zero digit adds nothing to the number).
    short = np.flatnonzero(length < 44)
    if len(short):
        src = np.arange(44) - (44 - length[short])[:, None]
        digit[short] = np.where(src >= 0, np.take_along_axis(digit[short], np.maximum(src, 0), axis=1), 0)
    d = np.ascontiguousarray(digit.T)  # digit-major, limb-major: vector ops on contiguous memory
    limbs = np.zeros((9, len(rows)), np.uint64)  # little-endian 32-bit limbs: room for 58**44 < 2**258
    for lo in (0, *range(4, 44, 5)):  # a group of four, then eight groups of five digits
        hi = 4 if lo == 0 else lo + 5
        chunk = np.zeros(len(rows), np.uint64)
        for j in range(lo, hi):
            chunk *= np.uint64(58)
            chunk += d[j]
        carry, mult = chunk, np.uint64(58 ** (hi - lo))
        for k in range(9):
            v = limbs[k] * mult + carry
            limbs[k] = v & np.uint64(0xFFFFFFFF)
            carry = v >> np.uint64(32)
    top = 8 - np.argmax(limbs[::-1] != 0, axis=0)  # index of the highest non-zero limb
    top_limb = limbs[top, np.arange(len(rows))]
    nbytes = np.where(limbs.any(axis=0), top * 4 + (np.floor(np.log2(np.maximum(top_limb, 1).astype(np.float64)))
                                                   .astype(np.int64) // 8 + 1), 0)
    out[rows] = ones + nbytes == 32
    return out


def valid_addresses(chain: pd.Series, address: pd.Series) -> np.ndarray:
    """Element-wise validity of `address` for the chain on the same row (unknown chains are invalid)."""
    out = np.zeros(len(address), dtype=bool)
    for c, check in VALIDATORS.items():
        m = (chain == c).to_numpy()
        if m.any():
            values = address[m]
            unique = pd.unique(values)
            ok = solana_valid_batch(unique) if c == "solana" else np.fromiter(map(check, unique), bool, len(unique))
            out[m] = values.map(dict(zip(unique, ok, strict=True))).to_numpy(dtype=bool)
    return out
