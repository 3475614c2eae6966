"""The real Uniswap V2 contracts on an anvil node over HTTP on loopback, read back through Dagster: switching
the configured source to `evm` runs the market assets unchanged, and the stored tables equal what was done."""

import dagster as dg
import duckdb
import pandas as pd
import pytest

from assets.market_data import market_assets as build_market_assets
from assets.partitions import daily_partitions_for
from quant.settings import Settings
from resources import ChainSource, RawStore, Warehouse
from tests.chains.conftest import DAY_2026_01_02
from tests.chains.uniswap import E18, scenario, setup_uniswap

PARTITIONS = daily_partitions_for(Settings.from_env())  # as orchestration.definitions builds them
market_assets = build_market_assets(PARTITIONS)

PARTITION = "2026-01-02"


@pytest.fixture(scope="module")
def traded(anvil):
    url, w3 = anvil
    u = setup_uniswap(w3)

    def advance(s):
        w3.provider.make_request("evm_increaseTime", [s])

    done = scenario(u, advance)
    advance(120)
    w3.provider.make_request("evm_mine", [])
    return url, w3, u, done


def evm_resource(url, u, confirmations=0):
    return ChainSource(kind="evm", rpc_url=url, factory=u.factory.address,
                       quote_tokens={u.tokens["USD"].address: "USD", u.weth.address: "ETH"},
                       usd_pairs={"ETH": u.pair("USD").address}, confirmations=confirmations, max_block_range=7)


def test_chain_clock_is_inside_the_partition(traded):
    _, w3, _, _ = traded
    t = w3.eth.get_block("latest")["timestamp"]
    assert DAY_2026_01_02 <= t < DAY_2026_01_02 + 86_400


def test_market_assets_materialize_from_anvil(traded, tmp_path):
    url, w3, u, done = traded
    resources = {"chain_source": evm_resource(url, u),
                 "warehouse": Warehouse(database=str(tmp_path / "warehouse.duckdb")),
                 "raw_store": RawStore(directory=str(tmp_path / "raw"))}
    result = dg.materialize(market_assets, resources=resources, partition_key=PARTITION)
    assert result.success
    checks = {(c.asset_key.path[-1], c.check_name): c.passed for c in result.get_asset_check_evaluations()}
    assert all(checks.values()), checks
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    swaps = con.execute("select * from swaps order by ts, tx_id").df()
    transfers = con.execute("select * from transfers").df()
    snaps = con.execute("select * from pool_snapshots").df()
    prices = con.execute("select * from cex_prices").df()
    con.close()
    by_tx = swaps.set_index("tx_id")
    assert set(by_tx.index) == {s["tx"] for s in done.swaps}
    for s in done.swaps:
        row = by_tx.loc[s["tx"]]
        assert (row.pool_id, row.wallet, row.side) == (s["pool"], s["wallet"], s["side"])
        assert (row.amount_in, row.amount_out) == (s["in"] / E18, s["out"] / E18)
        assert (row.reserve_base_before, row.reserve_quote_before) == (s["base_before"] / E18, s["quote_before"] / E18)
    got = sorted(transfers[["tx_id", "from_address", "to_address", "amount", "fee"]].values.tolist())
    assert got == sorted([t["tx"], t["from"], t["to"], t["value"] / E18, t["fee"] / E18] for t in done.transfers)
    assert set(snaps.pool_id) == set(done.pairs) and len(prices) > 0 and (prices.symbol == "ETH").all()
    last = snaps.sort_values("ts").groupby("pool_id").tail(1).set_index("pool_id")
    for tok in ("AAA", "BBB"):
        assert tuple(last.loc[u.pair(tok).address, ["base_reserve", "quote_reserve"]]) == \
            tuple(r / E18 for r in u.reserves(tok))


def test_confirmation_depth_hides_the_newest_blocks(traded):
    url, w3, u, done = traded
    day = pd.Timestamp(PARTITION), pd.Timestamp(PARTITION) + pd.Timedelta(days=1)
    src = evm_resource(url, u, confirmations=3).market()
    head = w3.eth.block_number
    seen = set(src.fetch("swaps", *day).tx_id)
    unsafe = {s["tx"] for s in done.swaps if w3.eth.get_transaction_receipt(s["tx"])["blockNumber"] > head - 3}
    assert unsafe and seen == {s["tx"] for s in done.swaps} - unsafe


def test_log_ranges_stay_within_the_configured_width(traded):
    url, w3, u, _ = traded
    src = evm_resource(url, u).market()
    src.registry.discover(w3.eth.block_number)
    from quant.chains.evm.logs import LogScanner
    scanner = LogScanner(src.rpc, max_range=7)
    list(scanner.scan(0, w3.eth.block_number, None, [[]]))
    assert all(hi - lo + 1 <= 7 for lo, hi in scanner.ranges) and scanner.ranges[-1][1] == w3.eth.block_number
