"""The vectorised Solana check gives the scalar check's verdict on every kind of input."""

import base58
import numpy as np

from quant.market.addresses import is_solana_address, solana_valid_batch
from quant.simulator.addresses import solana_pubkeys

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def test_batch_matches_scalar_verdicts():
    rng = np.random.default_rng(3)
    keys = list(solana_pubkeys(rng, 300))
    values = keys + ["".join(rng.choice(list(ALPHABET), int(rng.integers(28, 47)))) for _ in range(300)]
    values += ["1" * int(z) + "".join(rng.choice(list(ALPHABET), 40)) for z in rng.integers(0, 5, 200)]
    values += [base58.b58encode(bytes(int(z)) + rng.bytes(n)).decode()  # 31, 32 and 33 bytes behind zero bytes
               for n in (31, 32, 33) for z in rng.integers(0, 3, 100)]
    values += ["1" * 32, "1" * 44, "1" * 31 + "2", "O" * 44, "abc", None, 5, keys[0] + " ", " " + keys[0],
               "é" * 40, keys[1][:43] + "\x00"]
    values = np.array(values, dtype=object)
    expected = np.array([is_solana_address(v) for v in values])
    assert 0.2 < expected.mean() < 0.8
    np.testing.assert_array_equal(solana_valid_batch(values), expected)
