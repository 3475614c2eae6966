"""The real Uniswap V2 contracts on web3's in-process EVM (eth-tester): ingested tables equal what was done."""

import pandas as pd
import pytest
from web3 import EthereumTesterProvider, Web3

from quant.chains.evm.rpc import EvmRpc
from quant.chains.evm.source import UniswapV2Source
from quant.market.schemas import PoolSnapshot, Swap, Transfer
from tests.chains.uniswap import E18, scenario, setup_uniswap


@pytest.fixture(scope="module")
def chain():
    provider = EthereumTesterProvider()
    w3 = Web3(provider)
    t0 = w3.eth.get_block("latest")["timestamp"]
    u = setup_uniswap(w3)
    clock = {"t": t0 + 10}

    def advance(s):
        clock["t"] += s
        provider.ethereum_tester.time_travel(clock["t"])

    done = scenario(u, advance)
    advance(120)  # a later block, so the last snapshot minute comes after the last swap
    provider.ethereum_tester.mine_blocks(1)
    src = UniswapV2Source(EvmRpc(w3), u.factory.address, {u.tokens["USD"].address: "USD", u.weth.address: "ETH"},
                          usd_pairs={"ETH": u.pair("USD").address})
    return w3, u, done, src


def window(w3):
    last = w3.eth.get_block("latest")["timestamp"]
    return pd.Timestamp(0), pd.Timestamp(last + 1, unit="s")


def test_pairs_discovered_from_pair_created(chain):
    w3, u, done, src = chain
    assert set(src.tracked(w3.eth.block_number)) == set(done.pairs)


def test_swaps_match_what_was_done(chain):
    w3, u, done, src = chain
    df = src.fetch("swaps", *window(w3))
    Swap.validate(df)
    assert list(df.tx_id) == [s["tx"] for s in done.swaps]
    for row, s in zip(df.to_dict("records"), done.swaps, strict=True):
        assert (row["pool_id"], row["wallet"], row["side"]) == (s["pool"], s["wallet"], s["side"])
        assert (row["amount_in"], row["amount_out"]) == (s["in"] / E18, s["out"] / E18)
        assert (row["reserve_base_before"], row["reserve_quote_before"]) == (s["base_before"] / E18, s["quote_before"] / E18)
        assert row["fee"] == s["in"] / E18 * 0.003


def test_transfers_match_what_was_done(chain):
    w3, u, done, src = chain
    df = src.fetch("transfers", *window(w3))
    Transfer.validate(df)
    got = df[["tx_id", "from_address", "to_address", "amount", "fee"]].values.tolist()
    assert got == [[t["tx"], t["from"], t["to"], t["value"] / E18, t["fee"] / E18] for t in done.transfers]


def test_snapshots_follow_the_reserves(chain):
    """Every snapshot equals getReserves() at the last block at or before its time."""
    w3, u, done, src = chain
    start, end = window(w3)
    df = src.fetch("pool_snapshots", start, end + pd.Timedelta(hours=1))
    PoolSnapshot.validate(df)
    times = [w3.eth.get_block(n)["timestamp"] for n in range(w3.eth.block_number + 1)]
    assert df.ts.max() <= pd.Timestamp(times[-1], unit="s")
    pairs = {u.pair(t).address: t for t in ("AAA", "BBB", "USD")}
    for row in df.itertuples():
        block = max(n for n, t in enumerate(times) if t <= row.ts.timestamp())
        r0, r1, _ = u.pair(pairs[row.pool_id]).functions.getReserves().call(block_identifier=block)
        token0 = u.pair(pairs[row.pool_id]).functions.token0().call()
        base = row.base_mint
        rb, rq = (r0, r1) if token0 == base else (r1, r0)
        assert (row.base_reserve, row.quote_reserve) == (rb / E18, rq / E18)
    assert set(df.pool_id) == set(pairs) and len(df) > 6
    assert (df[df.pool_id == u.pair("USD").address].quote_symbol == "USD").all()


def test_volume_24h_is_the_quote_volume_so_far(chain):
    w3, u, done, src = chain
    start, end = window(w3)
    df = src.fetch("pool_snapshots", start, end + pd.Timedelta(hours=1))
    last = df.sort_values("ts").groupby("pool_id").tail(1).set_index("pool_id")
    pool = u.pair("AAA").address
    want = sum((s["in"] if s["side"] == "buy" else s["out"]) / E18 for s in done.swaps if s["pool"] == pool)
    assert last.loc[pool, "volume_24h"] == pytest.approx(want, rel=1e-12)


def test_cex_prices_from_the_usd_pair(chain):
    w3, u, done, src = chain
    start, end = window(w3)
    prices = src.fetch("cex_prices", start, end)
    snaps = src.fetch("pool_snapshots", start, end)
    usd = snaps[snaps.pool_id == u.pair("USD").address]
    assert (prices.symbol == "ETH").all() and len(prices) == len(usd)
    assert prices.price_usd.tolist() == usd.price.tolist()
    assert 2900 < prices.price_usd.iloc[0] < 3100
