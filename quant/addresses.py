"""Address validity per chain, checked once per distinct value so whole tables validate fast."""

from __future__ import annotations

import base58
import numpy as np
import pandas as pd
from eth_utils import is_address


def is_solana_address(value: object) -> bool:
    """A base58 string that decodes to exactly 32 bytes."""
    if not isinstance(value, str) or not 32 <= len(value) <= 44:
        return False
    try:
        return len(base58.b58decode(value)) == 32
    except ValueError:
        return False


def is_evm_address(value: object) -> bool:
    """0x + 40 hex digits; mixed case must carry a valid EIP-55 checksum."""
    return isinstance(value, str) and is_address(value)


VALIDATORS = {"solana": is_solana_address, "evm": is_evm_address}


def valid_addresses(chain: pd.Series, address: pd.Series) -> np.ndarray:
    """Element-wise validity of `address` for the chain on the same row (unknown chains are invalid)."""
    out = np.zeros(len(address), dtype=bool)
    for c, check in VALIDATORS.items():
        m = (chain == c).to_numpy()
        if m.any():
            values = address[m]
            verdict = {v: check(v) for v in pd.unique(values)}
            out[m] = values.map(verdict).to_numpy(dtype=bool)
    return out
