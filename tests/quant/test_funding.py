"""The funding graph on a hand-built set of transfers: ring detection, connection typing, hubs, clusters
behind a shared funder, and the wash-trading score."""

import duckdb
import pandas as pd
import pytest

from quant.wallets.funding_graph import FundingConfig, build_graph

T0 = pd.Timestamp("2026-01-01")


def transfers(*edges):
    return pd.DataFrame([dict(ts=T0 + pd.Timedelta(minutes=m), from_address=a, to_address=b, amount=1.0)
                         for a, b, m in edges])


RING3 = [("A", "B", 10), ("B", "C", 20), ("C", "A", 30)]
RING4 = [("D", "E", 10), ("E", "F", 20), ("F", "G", 30), ("G", "D", 40)]
RING7 = [(f"L{i}", f"L{(i + 1) % 7}", 10 + i) for i in range(7)]  # longer than max_cycle_len
CHAIN = [("X", "Y", 5), ("Y", "Z", 50), ("Q", "R", 60), ("R", "S", 7)]  # X->Z through Y; R->S left before Q->R
PATRON = [("P", "P1", 1), ("P", "P2", 2), ("P", "P3", 3)]
HUB = [("H", f"W{i}", 1) for i in range(60)] + [(f"W{i}", "H", 100) for i in range(3)]
PAIR = [("U", "V", 1), ("V", "U", 2)]


def swaps(rows):
    return pd.DataFrame([dict(ts=T0 + pd.Timedelta(seconds=s), pool_id=p, wallet=w, side=side)
                         for w, p, side, s in rows])


SWAPS = swaps([("A", "pool", "buy", 0), ("B", "pool", "sell", 60), ("C", "pool", "buy", 120), ("A", "pool", "sell", 180),
               ("P1", "p1", "buy", 0), ("P2", "p2", "sell", 30), ("P3", "p1", "buy", 60)])


@pytest.fixture(scope="module")
def graph():
    return _graph(FundingConfig())


def _graph(cfg):
    con = duckdb.connect()
    con.register("transfers", transfers(*RING3, *RING4, *RING7, *CHAIN, *PATRON, *HUB, *PAIR))
    con.register("swaps", SWAPS)
    connections, clusters = build_graph(con, cfg)
    return connections, clusters


def kind(connections, a, b):
    rows = connections[(connections.source == a) & (connections.target == b)]
    return set(rows.kind)


def test_cycles_up_to_the_configured_length_are_circular(graph):
    connections, _ = graph
    for a, b, _m in RING3 + RING4:
        assert kind(connections, a, b) == {"circular"}
    assert kind(connections, "L0", "L1") == {"direct"}  # a 7-cycle is beyond max_cycle_len = 6
    assert kind(connections, "U", "V") == {"direct"}  # two wallets paying each other back is not a ring


def test_longer_cycles_and_pairs_when_configured():
    connections, _ = _graph(FundingConfig(max_cycle_len=7, min_cycle_len=2))
    assert kind(connections, "L0", "L1") == {"circular"} and kind(connections, "U", "V") == {"circular"}


def test_direct_and_time_ordered_indirect(graph):
    connections, _ = graph
    assert kind(connections, "X", "Y") == {"direct"}
    xz = connections[(connections.source == "X") & (connections.target == "Z")]
    assert list(xz.kind) == ["indirect"] and list(xz.via) == ["Y"]
    assert kind(connections, "Q", "S") == set()  # R paid S before Q paid R: no money moved on


def test_hubs_are_never_intermediaries_or_cycle_members(graph):
    connections, clusters = graph
    assert kind(connections, "H", "W0") == {"direct"} and kind(connections, "W0", "H") == {"direct"}
    assert kind(connections, "W0", "W1") == set()  # not linked through the exchange
    assert not any("H" in m for m in clusters.members)


def test_rings_and_shared_funder_clusters(graph):
    _, clusters = graph
    by_members = {tuple(m): row for m, row in zip(clusters.members, clusters.itertuples(), strict=True)}
    ring = by_members[("A", "B", "C")]
    assert ring.kind == "circular" and ring.cycles == 1 and ring.is_ring
    assert ring.wash_score == pytest.approx(1.0)  # every trade answered by another member's opposite trade
    patron = by_members[("P", "P1", "P2", "P3")]
    assert patron.kind == "shared_funder" and patron.funder == "P" and patron.funded_by_funder == 3
    assert patron.wash_score == pytest.approx(0.0) and not patron.is_ring
    assert by_members[("D", "E", "F", "G")].is_ring
    assert len(clusters) == 3  # the 7-cycle, the chain and the pair form no cluster
