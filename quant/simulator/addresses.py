"""Addresses and transaction ids that look like real chains', generated vectorised.

Solana: base58 strings of 44 characters whose value is below 2**256, so each decodes to exactly 32 bytes
(a first digit of 1..15 keeps the value within [58**43, 16 * 58**43) < 2**256). Signatures: 88 digits with
a first digit of 1..4, decoding to 64 bytes. EVM: EIP-55 checksummed 20-byte addresses, 32-byte tx hashes.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from eth_utils import to_checksum_address

B58_ALPHABET = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58 = np.frombuffer(B58_ALPHABET, dtype=np.uint8)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _as_strings(chars: np.ndarray, as_arrow: bool):
    """Rows of ASCII bytes as Python strings, or as an Arrow string array (compact for millions of ids)."""
    n, width = chars.shape
    if as_arrow:
        fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, pa.py_buffer(chars.tobytes())])
        return fixed.cast(pa.large_binary()).cast(pa.large_string())  # 64-bit offsets: ids pass 2 GB
    return chars.view(f"S{width}").ravel().astype(str).astype(object)


def _base58_strings(rng: np.random.Generator, n: int, length: int, first_lo: int, first_hi: int,
                    as_arrow: bool = False):
    # One draw for the whole matrix keeps the stream prefix-stable: n rows are the first rows of n + k.
    digits = rng.integers(0, 58, size=(n, length), dtype=np.uint8)
    digits[:, 0] = first_lo + digits[:, 0] % (first_hi - first_lo + 1)
    return _as_strings(_B58[digits], as_arrow)


def solana_pubkeys(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` base58 public keys (32 bytes each)."""
    return _base58_strings(rng, n, 44, 1, 15)


def solana_signatures(rng: np.random.Generator, n: int, as_arrow: bool = False):
    """`n` base58 transaction signatures (64 bytes each)."""
    return _base58_strings(rng, n, 88, 1, 4, as_arrow)


def _hex_strings(rng: np.random.Generator, n: int, nbytes: int, as_arrow: bool = False):
    nibbles = rng.integers(0, 16, size=(n, 2 * nbytes), dtype=np.uint8)
    chars = np.concatenate([np.broadcast_to(np.frombuffer(b"0x", np.uint8), (n, 2)), _HEX[nibbles]], axis=1)
    return _as_strings(chars, as_arrow)


def evm_addresses(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` EIP-55 checksummed addresses."""
    return np.array([to_checksum_address(a) for a in _hex_strings(rng, n, 20)], dtype=object)


def evm_tx_hashes(rng: np.random.Generator, n: int, as_arrow: bool = False):
    """`n` 32-byte transaction hashes."""
    return _hex_strings(rng, n, 32, as_arrow)
