"""The funding graph: who paid whom, typed direct, indirect (through one intermediary) or circular (on a
cycle of up to `max_cycle_len` hops), clusters of wallets behind a shared funder or a cycle, and a
wash-trading score for clusters whose members trade the same pools against each other.

All set-based DuckDB SQL: Python loops only over path length and pruning rounds, never over edges. Hubs
(addresses paying or paid by at least `hub_min_degree` others: exchanges) are kept as direct connections but
never serve as intermediaries or cycle members, which would link everyone to everyone. The connection must
hold `transfers(ts, from_address, to_address, amount)` and, for wash scores,
`swaps(ts, pool_id, wallet, side)`."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd
import polars as pl

from quant.wallets.scanner.config import apply_overrides

MAX_ROUNDS = 64  # pruning and component labelling converge in far fewer rounds on real graphs


@dataclass(frozen=True)
class FundingConfig:
    hub_min_degree: int = 50
    min_cycle_len: int = 3  # a pair paying each other back is common; three or more hops is a loop by design
    max_cycle_len: int = 6  # wash rings of 3-5 wallets (and a margin)
    min_cluster_size: int = 3  # a funder and at least two wallets it funded
    wash_window_s: int = 300  # a member's trade answered by another member's opposite trade this soon
    wash_ring_score: float = 0.5  # clusters at or above this wash score are called rings

    def with_overrides(self, overrides) -> FundingConfig:
        return apply_overrides(self, overrides)


EDGES = """
CREATE OR REPLACE TEMP TABLE f_edges AS
SELECT from_address AS src, to_address AS dst, count(*) AS transfers, sum(amount) AS amount,
       min(ts) AS first_ts, max(ts) AS last_ts
FROM transfers WHERE from_address <> to_address GROUP BY 1, 2;
CREATE OR REPLACE TEMP TABLE f_hubs AS
SELECT address FROM (
    SELECT src AS address, count(*) AS degree FROM f_edges GROUP BY 1
    UNION ALL SELECT dst, count(*) FROM f_edges GROUP BY 1)
GROUP BY address HAVING max(degree) >= {hub};
CREATE OR REPLACE TEMP TABLE f_nodes AS
SELECT address, (row_number() OVER (ORDER BY address))::BIGINT AS node FROM (
    SELECT src AS address FROM f_edges UNION SELECT dst FROM f_edges) WHERE address NOT IN (SELECT address FROM f_hubs);
CREATE OR REPLACE TEMP TABLE f_core AS
SELECT a.node AS src, b.node AS dst, e.first_ts, e.last_ts
FROM f_edges e JOIN f_nodes a ON e.src = a.address JOIN f_nodes b ON e.dst = b.address;
"""

# Only nodes with both an inbound and an outbound core edge can lie on a cycle: strip the rest repeatedly.
PRUNE = """
CREATE OR REPLACE TEMP TABLE f_cyclic AS
SELECT * FROM f_cyclic WHERE src IN (SELECT dst FROM f_cyclic) AND dst IN (SELECT src FROM f_cyclic)
"""

# Paths that start at their smallest node, so each cycle is found once, from that node.
EXTEND = """
CREATE OR REPLACE TEMP TABLE f_paths AS
SELECT p.start, e.dst AS last, list_append(p.nodes, e.dst) AS nodes
FROM f_paths p JOIN f_cyclic e ON e.src = p.last
WHERE e.dst > p.start AND NOT list_contains(p.nodes, e.dst)
"""
CLOSE = """
INSERT INTO f_cycles
SELECT p.nodes FROM f_paths p JOIN f_cyclic e ON e.src = p.last AND e.dst = p.start
"""

# Shared funders: a non-hub address that sent the earliest inbound transfer of at least two wallets.
PATRONS = """
CREATE OR REPLACE TEMP TABLE f_patron AS
WITH first_in AS (SELECT to_address AS wallet, arg_min(from_address, ts) AS funder FROM transfers GROUP BY 1)
SELECT funder, wallet FROM first_in
WHERE funder NOT IN (SELECT address FROM f_hubs)
  AND funder IN (SELECT funder FROM first_in GROUP BY 1 HAVING count(*) >= 2)
"""


def build_graph(con: duckdb.DuckDBPyConnection, cfg: FundingConfig | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(connections, clusters): every connection with its kind, and every cluster with its members, kind,
    cycles and wash-trading score."""
    cfg = cfg or FundingConfig()
    con.execute(EDGES.format(hub=int(cfg.hub_min_degree)))
    find_cycles(con, cfg)
    connections = con.execute(_CONNECTIONS).df()
    clusters = _clusters(con, cfg)
    return connections, clusters


def find_cycles(con: duckdb.DuckDBPyConnection, cfg: FundingConfig) -> int:
    """Fill f_cycles (nodes) and f_cycle_edges (src, dst) with every cycle of min..max length in the core."""
    con.execute("CREATE OR REPLACE TEMP TABLE f_cyclic AS SELECT DISTINCT src, dst FROM f_core")
    _until_stable(con, PRUNE, "f_cyclic")
    con.execute("CREATE OR REPLACE TEMP TABLE f_cycles (nodes BIGINT[])")
    con.execute("CREATE OR REPLACE TEMP TABLE f_paths AS SELECT src AS start, dst AS last, [src, dst] AS nodes "
                "FROM f_cyclic WHERE dst > src")
    for length in range(2, cfg.max_cycle_len + 1):  # a path of `length` nodes closes into a `length`-cycle
        if length >= cfg.min_cycle_len:
            con.execute(CLOSE)
        if length < cfg.max_cycle_len:
            con.execute(EXTEND)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE f_cycle_edges AS
        SELECT DISTINCT nodes[i] AS src, nodes[CASE WHEN i = len(nodes) THEN 1 ELSE i + 1 END] AS dst
        FROM (SELECT nodes, unnest(range(1, len(nodes) + 1)) AS i FROM f_cycles)""")
    return con.execute("SELECT count(*) FROM f_cycles").fetchall()[0][0]


_CONNECTIONS = """
WITH named AS (
    SELECT a.address AS src, b.address AS dst FROM f_cycle_edges c
    JOIN f_nodes a ON a.node = c.src JOIN f_nodes b ON b.node = c.dst
), direct AS (
    SELECT e.src AS source, e.dst AS target,
           CASE WHEN n.src IS NULL THEN 'direct' ELSE 'circular' END AS kind, NULL::VARCHAR AS via,
           e.transfers, e.amount, e.first_ts, e.last_ts
    FROM f_edges e LEFT JOIN named n ON n.src = e.src AND n.dst = e.dst
), indirect AS (  -- money that moved on: into the intermediary before it left again
    SELECT a.src AS source, b.dst AS target, 'indirect' AS kind, a.dst AS via,
           least(a.transfers, b.transfers) AS transfers, least(a.amount, b.amount) AS amount,
           a.first_ts, b.last_ts
    FROM f_edges a JOIN f_edges b ON a.dst = b.src
    WHERE a.src <> b.dst AND a.first_ts <= b.last_ts
      AND a.dst NOT IN (SELECT address FROM f_hubs)
      AND NOT EXISTS (SELECT 1 FROM f_edges d WHERE d.src = a.src AND d.dst = b.dst)
)
SELECT * FROM direct UNION ALL SELECT * FROM indirect
"""


def _clusters(con: duckdb.DuckDBPyConnection, cfg: FundingConfig) -> pd.DataFrame:
    """Connected components of two strong ties: a non-hub funder and the wallets it funded first, and the
    edges of cycles. Components of at least `min_cluster_size` wallets are clusters."""
    con.execute(PATRONS)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE f_ties AS
        SELECT funder AS a, wallet AS b FROM f_patron
        UNION SELECT x.address, y.address FROM f_cycle_edges c
        JOIN f_nodes x ON x.node = c.src JOIN f_nodes y ON y.node = c.dst""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE f_label AS
        SELECT address, address AS label FROM (SELECT a AS address FROM f_ties UNION SELECT b FROM f_ties)""")
    step = """
        CREATE OR REPLACE TEMP TABLE f_label AS
        SELECT l.address, least(l.label, coalesce(min(n.label), l.label)) AS label
        FROM f_label l LEFT JOIN (
            SELECT t.a AS address, x.label FROM f_ties t JOIN f_label x ON x.address = t.b
            UNION ALL SELECT t.b, x.label FROM f_ties t JOIN f_label x ON x.address = t.a) n USING (address)
        GROUP BY l.address, l.label"""
    _until_stable(con, step, "f_label", changed="SELECT sum(hash(address, label)) FROM f_label")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE f_members AS
        SELECT l.address AS wallet, l.label AS cluster_id FROM f_label l
        WHERE l.label IN (SELECT label FROM f_label GROUP BY 1 HAVING count(*) >= {int(cfg.min_cluster_size)})""")
    return con.execute(_CLUSTER_TABLE, {"w": cfg.wash_window_s, "ring": cfg.wash_ring_score}).df()


# A member's trade counts as washed when another member of its cluster traded the same pool on the other
# side within the window; the score is the share of the members' trades that did.
_CLUSTER_TABLE = """
WITH cyc AS (
    SELECT DISTINCT m.cluster_id, f.nodes FROM f_cycles f, unnest(f.nodes) AS u(node)
    JOIN f_nodes n ON n.node = u.node JOIN f_members m ON m.wallet = n.address
), trades AS (
    SELECT m.cluster_id, s.wallet, s.pool_id, epoch(s.ts) AS t, s.side
    FROM swaps s JOIN f_members m ON m.wallet = s.wallet
), washed AS (
    SELECT a.cluster_id, a.wallet, a.pool_id, a.t, bool_or(b.wallet IS NOT NULL) AS hit
    FROM trades a LEFT JOIN trades b
      ON b.cluster_id = a.cluster_id AND b.pool_id = a.pool_id AND b.side <> a.side AND b.wallet <> a.wallet
     AND b.t BETWEEN a.t - $w AND a.t + $w
    GROUP BY a.cluster_id, a.wallet, a.pool_id, a.t, a.side
), wash AS (
    SELECT cluster_id, count(*) AS member_trades, avg(hit::INT) AS wash_score,
           count(DISTINCT pool_id) AS pools FROM washed GROUP BY 1
), funder AS (
    SELECT m.cluster_id, arg_max(p.funder, p.n) AS funder, max(p.n) AS funded
    FROM (SELECT funder, count(*) AS n FROM f_patron GROUP BY 1) p JOIN f_members m ON m.wallet = p.funder
    GROUP BY 1
)
SELECT m.cluster_id, CASE WHEN count(DISTINCT c.nodes) > 0 THEN 'circular' ELSE 'shared_funder' END AS kind,
       any_value(f.funder) AS funder, coalesce(any_value(f.funded), 0) AS funded_by_funder,
       count(DISTINCT m.wallet) AS size, list(DISTINCT m.wallet ORDER BY m.wallet) AS members,
       count(DISTINCT c.nodes) AS cycles, coalesce(any_value(w.member_trades), 0) AS member_trades,
       coalesce(any_value(w.pools), 0) AS pools, coalesce(any_value(w.wash_score), 0.0) AS wash_score,
       (count(DISTINCT c.nodes) > 0 OR coalesce(any_value(w.wash_score), 0) >= $ring) AS is_ring
FROM f_members m LEFT JOIN cyc c USING (cluster_id) LEFT JOIN wash w USING (cluster_id)
LEFT JOIN funder f USING (cluster_id)
GROUP BY m.cluster_id ORDER BY m.cluster_id
"""


def member_wash_scores(clusters: pd.DataFrame) -> pd.DataFrame:
    """One row per clustered wallet: its cluster, that cluster's wash score and whether it is a ring."""
    if clusters.empty:
        return pd.DataFrame({"wallet": [], "cluster_id": [], "wash_score": [], "is_ring": []})
    return (clusters[["cluster_id", "members", "wash_score", "is_ring"]].explode("members")
            .rename(columns={"members": "wallet"}).reset_index(drop=True))


def with_wash_scores(profiles: pl.DataFrame, clusters: pd.DataFrame) -> pl.DataFrame:
    """`profiles` with each wallet's funding cluster's `wash_score` (null outside clusters): what the scanner's
    wash-trading rule reads (quant.wallets.scanner.stages.scan)."""
    wash = pl.from_pandas(member_wash_scores(clusters)[["wallet", "wash_score"]]).with_columns(
        pl.col("wallet").cast(pl.Utf8), pl.col("wash_score").cast(pl.Float64))
    return profiles.join(wash.unique("wallet"), on="wallet", how="left")


def _until_stable(con, sql: str, table: str, changed: str | None = None) -> None:
    probe = changed or f"SELECT count(*) FROM {table}"
    before = con.execute(probe).fetchall()[0][0]
    for _ in range(MAX_ROUNDS):
        con.execute(sql)
        after = con.execute(probe).fetchall()[0][0]
        if after == before:
            return
        before = after
    raise RuntimeError(f"{table} did not settle in {MAX_ROUNDS} rounds")



