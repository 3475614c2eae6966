"""Raydium AMM v4 decoders against recorded mainnet data, with the known values from realdata/README.md."""

import json

import pytest

from quant.chains.errors import BadAccount
from quant.chains.solana.layout import AMM_INFO_SIZE, TOKEN_PROGRAM, decode_amm_info, decode_token_account
from quant.chains.solana.ray_log import COIN_TO_PC, PC_TO_COIN, SWAP_BASE_IN, decode_ray_log
from quant.chains.solana.rpc import account_bytes
from quant.chains.solana.transactions import parse_swaps
from quant.market.amm import raydium_v4_amount_out
from tests.chains.solana_data import (
    MEME_TX,
    MSOL_USDC_TX,
    account_response,
    sol_usdc_account,
    tx_dir,
    tx_response,
)


def test_amm_info_decodes_to_known_values(realdata):
    data, wrapper = sol_usdc_account(realdata)
    info = decode_amm_info(data, wrapper["owner"])
    assert len(data) == AMM_INFO_SIZE
    assert (info.status, info.nonce, info.coin_decimals, info.pc_decimals) == (6, 254, 9, 6)
    assert (info.trade_fee_numerator, info.trade_fee_denominator) == (25, 10000)
    assert (info.swap_fee_numerator, info.swap_fee_denominator) == (25, 10000)
    assert (info.need_take_pnl_coin, info.need_take_pnl_pc) == (162834498, 12518360)
    assert str(info.coin_vault) == "DQyrAcCrDXQ7NeoqGgDCZwBvWDcYmFCjSb9JtteuvPpz"
    assert str(info.pc_vault) == "HLmqeL62xR1QoZ1HKKbXRrdN1p3phKpxRMb2VVopvBBz"
    assert str(info.coin_mint) == "So11111111111111111111111111111111111111112"
    assert str(info.pc_mint) == "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
    assert str(info.lp_mint) == "8HoQnePLqPj4M7PUDzfw8e3Ymdwgc7NLGnaTUapubyvu"
    assert str(info.market) == "8BnEgHoWFysVcuFFX7QztDmzuH8r5ZFvyP3sYwn1XTh6"
    assert info.lp_amount == 57482213984111
    assert info.trade_fee == 0.0025


@pytest.mark.parametrize("cut", [0, 1, 751])
def test_truncated_amm_info_is_a_clear_error(realdata, cut):
    data, _ = sol_usdc_account(realdata)
    with pytest.raises(BadAccount, match=f"752 bytes, got {cut}"):
        decode_amm_info(data[:cut], where="pool X")


def test_amm_info_owned_by_another_program_is_refused(realdata):
    data, _ = sol_usdc_account(realdata)
    with pytest.raises(BadAccount, match="not the Raydium AMM v4 program"):
        decode_amm_info(data, str(TOKEN_PROGRAM))


def test_recorded_vault_account_with_float_rent_epoch(realdata):
    """Real nodes behind JavaScript send rentEpoch 18446744073709552000; the client reads the data anyway."""
    env = account_response(realdata, MSOL_USDC_TX, "8JUjWjAyXTMB4ZXcV7nk3p6Gg1fWAAoSck7xekuyADKL")
    assert env["result"]["value"]["rentEpoch"] == 18446744073709552000
    acct = env["result"]["value"]
    tok = decode_token_account(account_bytes(acct, "vault"), acct["owner"])
    assert str(tok.mint) == "mSoLzYCxHdYgdzU16g5QSh3i5K3z3KZK7ytfqcJm7So"
    assert tok.amount > 0


def test_ray_log_fields():
    log = decode_ray_log("A3BQnQEAAAAAAAAAAAAAAAABAAAAAAAAABeDtAEAAAAAKiRAFr8AAACeJdzzHgAAAPa28AkAAAAA")
    assert (log.log_type, log.direction, log.limit) == (SWAP_BASE_IN, PC_TO_COIN, 0)
    assert (log.amount_in, log.amount_out) == (27086960, 166770422)
    assert (log.pool_coin, log.pool_pc) == (820712055850, 132940309918)


@pytest.mark.parametrize("sig", [MSOL_USDC_TX, MEME_TX])
def test_swaps_agree_with_ray_log_jupiter_and_the_formula(realdata, sig):
    (swap,) = parse_swaps(tx_response(realdata, sig))
    jup = json.loads((tx_dir(realdata, sig) / "swap-result-0.json").read_text())
    (hop,) = [e["data"] for e in jup["parsedEvents"] if e["data"]["amm"] == "675kPX9MHTjS2zt1qfr1NYHuzeLXfQM9H24wFSUt1Mp8"]
    assert (swap.amount_in, swap.amount_out) == (int(hop["inputAmount"]), int(hop["outputAmount"]))
    r_in, r_out = (swap.pool_coin_before, swap.pool_pc_before) if swap.coin_to_pc else \
        (swap.pool_pc_before, swap.pool_coin_before)
    assert raydium_v4_amount_out(swap.amount_in, r_in, r_out) == swap.amount_out
    assert swap.fee == -(-swap.amount_in * 25 // 10000)
    meta = tx_response(realdata, sig)["result"]["meta"]
    assert swap.wallet == tx_response(realdata, sig)["result"]["transaction"]["message"]["accountKeys"][0]["pubkey"]
    assert meta["err"] is None and swap.block_time == tx_response(realdata, sig)["result"]["blockTime"]


def test_known_swap_fields(realdata):
    (a,) = parse_swaps(tx_response(realdata, MSOL_USDC_TX))
    assert a.pool == "ZfvDXXUhZDzDVsapffUyXHj9ByCoPjP4thL6YXcZ9ix" and not a.coin_to_pc
    assert a.wallet == "4qLQDSpCwGJSig3tDvkfUbgW1TJWgeABpr5BtR3r3vZo"
    # A circular SOL -> USDC -> mSOL -> SOL route: the wallet's only net change is 85,236 lamports of wSOL
    # (Jupiter: 200,085,236 out for 200,000,000 in), the intermediate mints net to zero.
    assert a.owner_deltas == {"So11111111111111111111111111111111111111112": 85236}
    (b,) = parse_swaps(tx_response(realdata, MEME_TX))
    assert b.coin_to_pc is False and (b.pool_coin_before, b.pool_pc_before) == (69969583627864, 208000833657)
    assert COIN_TO_PC == 2


def test_log_and_instruction_count_mismatch_is_an_error(realdata):
    resp = tx_response(realdata, MSOL_USDC_TX)
    resp["result"]["meta"]["logMessages"] = [m for m in resp["result"]["meta"]["logMessages"] if "ray_log" not in m]
    with pytest.raises(Exception, match="1 Raydium swap instructions but 0 ray_log"):
        parse_swaps(resp)
