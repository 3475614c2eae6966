"""AMM math: hand-computed cases, the real swaps recorded on mainnet, and the vectorised forms."""

from __future__ import annotations

import base64
import json
import struct

import numpy as np
import pytest

from quant.market import amm

SWAP_TOPIC = "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"
SYNC_TOPIC = "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1"


def test_raydium_output_by_hand():
    # fee = ceil(3999 * 25 / 10000) = ceil(9.9975) = 10; out = floor(20000 * 3989 / (10000 + 3989)) = 5703
    assert amm.raydium_v4_fee(3999) == 10
    assert amm.raydium_v4_amount_out(3999, 10_000, 20_000) == 5703
    # the fee rounds up even on a tiny input: 1 unit pays 1 unit of fee and buys nothing
    assert amm.raydium_v4_fee(1) == 1
    assert amm.raydium_v4_amount_out(1, 10_000, 20_000) == 0


def test_uniswap_output_by_hand():
    # floor(3999 * 997 * 20000 / (10000 * 1000 + 3999 * 997)) = floor(79740060000 / 13987003) = 5701
    assert amm.uniswap_v2_amount_out(3999, 10_000, 20_000) == 5701


def test_price_impact_and_mid_price_by_hand():
    # mid price: quote per base in whole tokens; 50 SOL (9 dp) against 1,000,000 tokens (6 dp)
    assert amm.mid_price(1_000_000 * 10**6, 50 * 10**9, 6, 9) == pytest.approx(5e-5)
    # out 5701 for 3999 at mid R_out/R_in = 2: shortfall 1 - (5701/3999)/2
    assert amm.price_impact(amm.UNISWAP_V2, 3999, 10_000, 20_000) == pytest.approx(1 - (5701 / 3999) / 2)
    assert amm.price_impact(amm.UNISWAP_V2, 0, 10_000, 20_000) == 0.0


@pytest.mark.parametrize("venue", [amm.RAYDIUM_V4, amm.UNISWAP_V2])
@pytest.mark.parametrize("wanted", [1, 7, 5_000, 19_999])
def test_inverse_is_the_smallest_sufficient_input(venue, wanted):
    r_in, r_out = 10_000_000, 20_000
    need = amm.amount_in(venue, wanted, r_in, r_out)
    assert amm.amount_out(venue, need, r_in, r_out) >= wanted
    assert amm.amount_out(venue, need - 1, r_in, r_out) < wanted


@pytest.mark.parametrize("bad", [(-1, 10, 10), (5, 0, 10), (5, 10, 0)])
def test_bad_inputs_name_the_value(bad):
    with pytest.raises(ValueError, match=r"-1|reserve"):
        amm.raydium_v4_amount_out(*bad)
    with pytest.raises(ValueError, match=r"amount_out"):
        amm.uniswap_v2_amount_in(20_000, 10_000, 20_000)


def _ray_logs(realdata):
    for tx in sorted((realdata / "solana" / "getTransaction").glob("*/tx-*.json")):
        logs = json.loads(tx.read_text())["result"]["meta"]["logMessages"]
        for line in logs:
            if "ray_log: " in line:
                yield base64.b64decode(line.split("ray_log: ")[1])


def test_raydium_matches_recorded_mainnet_swaps(realdata):
    """SwapBaseInLog: pool_coin/pool_pc are the vaults before the swap; out_amount is what was paid."""
    seen = 0
    for blob in _ray_logs(realdata):
        log_type, amount_in, _min_out, direction, _user_src, pool_coin, pool_pc, out = struct.unpack("<B7Q", blob)
        assert log_type == 3
        r_in, r_out = (pool_pc, pool_coin) if direction == 1 else (pool_coin, pool_pc)
        assert amm.raydium_v4_amount_out(amount_in, r_in, r_out) == out
        assert amm.raydium_v4_amount_in(out, r_in, r_out) <= amount_in
        seen += 1
    assert seen == 2


def _uniswap_swaps(realdata):
    """(amount_in, reserve_in, reserve_out, amount_out) per Swap, reserves from the Sync emitted with it."""
    logs = [json.loads(line) for line in (realdata / "evm").glob("*/expected_logs.json").__next__().open()]
    logs.sort(key=lambda lg: (lg["block_number"], lg["log_index"]))
    last_sync = {}
    for lg in logs:
        topic = lg["topics"][0] if lg["topics"] else None
        words = [int(lg["data"][2 + 64 * i: 2 + 64 * (i + 1)], 16) for i in range((len(lg["data"]) - 2) // 64)]
        if topic == SYNC_TOPIC:
            last_sync[lg["address"]] = (lg["transaction_hash"], words[0], words[1])
        elif topic == SWAP_TOPIC:
            a0_in, a1_in, a0_out, a1_out = words
            _tx, r0_after, r1_after = last_sync[lg["address"]]
            r0, r1 = r0_after - a0_in + a0_out, r1_after - a1_in + a1_out
            if a0_in and not a1_in:
                yield a0_in, r0, r1, a1_out
            elif a1_in and not a0_in:
                yield a1_in, r1, r0, a0_out


def test_uniswap_matches_recorded_mainnet_swaps(realdata):
    """65 of the 69 real swaps pay exactly the formula; the 4 called on the pair directly took less."""
    swaps = list(_uniswap_swaps(realdata))
    assert len(swaps) == 69
    exact = sum(amm.uniswap_v2_amount_out(a, r_in, r_out) == out for a, r_in, r_out, out in swaps)
    under = sum(amm.uniswap_v2_amount_out(a, r_in, r_out) > out for a, r_in, r_out, out in swaps)
    assert (exact, under) == (65, 4)


def test_vectorised_int64_is_exact_where_the_product_overflows():
    rng = np.random.default_rng(0)
    n = 20_000
    r_in = rng.integers(10**9, 2**52, n)
    r_out = rng.integers(10**9, 2**52, n)
    a = rng.integers(1, 2**50, n)
    got = amm.raydium_v4_amount_out_vec(a, r_in, r_out)
    want = [amm.raydium_v4_amount_out(int(x), int(y), int(z)) for x, y, z in zip(a, r_in, r_out, strict=True)]
    assert got.dtype == np.int64 and got.tolist() == want
    got_u = amm.uniswap_v2_amount_out_vec(a, r_in, r_out)
    assert got_u.tolist() == [amm.uniswap_v2_amount_out(int(x), int(y), int(z))
                              for x, y, z in zip(a, r_in, r_out, strict=True)]


def test_vectorised_python_ints_are_exact_at_18_decimals():
    a = np.array([3 * 10**18, 7 * 10**20], dtype=object)
    r_in = np.array([10**22, 5 * 10**23], dtype=object)
    r_out = np.array([2 * 10**26, 10**24], dtype=object)
    for fn_vec, fn in ((amm.uniswap_v2_amount_out_vec, amm.uniswap_v2_amount_out),
                       (amm.raydium_v4_amount_out_vec, amm.raydium_v4_amount_out)):
        assert list(fn_vec(a, r_in, r_out)) == [fn(x, y, z) for x, y, z in zip(a, r_in, r_out, strict=True)]


def test_vectorised_refuses_int64_beyond_the_exact_range():
    big = np.array([2**53], dtype=np.int64)
    with pytest.raises(OverflowError, match="2\\*\\*53"):
        amm.raydium_v4_amount_out_vec(big, big, big)


def test_liquidity_mint_and_burn_by_hand():
    # Raydium: supply = isqrt(1e15 * 1e9) = 1e12, of which 10**6 (the base's decimals) is never minted
    assert amm.initial_liquidity(amm.RAYDIUM_V4, 10**15, 10**9, 6) == (10**12, 10**12 - 10**6)
    assert amm.initial_liquidity(amm.UNISWAP_V2, 1000, 4000, 18) == (2000, 1000)  # MINIMUM_LIQUIDITY locked
    with pytest.raises(ValueError, match="initial liquidity 10 does not exceed the locked 1000"):
        amm.initial_liquidity(amm.UNISWAP_V2, 10, 10, 18)
    # 5 quote into (base 10, quote 7, supply 100): Raydium takes ceil(50/7) = 8 base, mints floor(500/7) = 71;
    # Uniswap's router takes floor(50/7) = 7 base and the pair mints min(500 // 7, 7 * 100 // 10) = 70
    assert amm.deposit(amm.RAYDIUM_V4, 5, 10, 7, 100) == (8, 71)
    assert amm.deposit(amm.UNISWAP_V2, 5, 10, 7, 100) == (7, 70)
    assert amm.withdraw(3, 10, 7, 9) == (3, 2)  # floor(30 / 9), floor(21 / 9)
