"""Wallet profiles from swaps and transfers: DuckDB reads and keys the rows, numpy and polars do the rest in
one sort and a few vectorised passes (no Python loop per wallet, pool or trade).

The connection must hold three relations (tables or views):
  swaps(ts, chain, pool_id, wallet, side, amount_in, amount_out, reserve_quote_before)
  pools(pool_id, category, open_ts)      -- pools missing here get category 'unknown' and open at first swap
  transfers(ts, from_address, to_address)
Wallets and pools are joined on a 64-bit hash of their address (a collision among a million wallets has
odds of about 3e-8) and numbered densely; profiles carry the address out."""

from __future__ import annotations

import time

import duckdb
import numpy as np
import pandas as pd
import polars as pl

from quant.market.addresses import valid_addresses
from quant.wallets import segments
from quant.wallets.round_trips import pair_fifo
from quant.wallets.scanner.config import ScannerConfig
from quant.wallets.scanner.rules import with_sizing
from quant.wallets.signals import (
    NEVER,
    category_focus,
    copy_counts,
    funding_sources,
    pool_timeline,
    post_trade_sizing,
    realised_curve,
)

KEYS = """
CREATE OR REPLACE TEMP TABLE w_wallets AS
SELECT h, wallet, chain, (row_number() OVER (ORDER BY h) - 1)::INT AS wid
FROM (SELECT hash(wallet) AS h, any_value(wallet) AS wallet, min(chain) AS chain FROM swaps GROUP BY 1);
CREATE OR REPLACE TEMP TABLE w_pools AS
SELECT s.h, s.pool_id, coalesce(p.category, 'unknown') AS category,
       coalesce(epoch(p.open_ts) - $t0, 'NaN'::DOUBLE) AS open_t, (row_number() OVER (ORDER BY s.h) - 1)::INT AS pid
FROM (SELECT hash(pool_id) AS h, any_value(pool_id) AS pool_id FROM swaps GROUP BY 1) s
LEFT JOIN (SELECT pool_id, any_value(category) AS category, min(open_ts) AS open_ts FROM pools GROUP BY 1) p
USING (pool_id);
"""

TRADES = """
SELECT w.wid, p.pid, (floor(epoch(s.ts)) - $t0)::INT AS t, (s.side = 'buy')::UTINYINT AS is_buy,
       CASE WHEN s.side = 'buy' THEN s.amount_in ELSE s.amount_out END AS quote,
       CASE WHEN s.side = 'buy' THEN s.amount_out ELSE s.amount_in END AS base,
       s.reserve_quote_before::FLOAT AS reserve
FROM swaps s JOIN w_wallets w ON hash(s.wallet) = w.h JOIN w_pools p ON hash(s.pool_id) = p.h
"""


def build_profiles(con: duckdb.DuckDBPyConnection, cfg: ScannerConfig | None = None,
                   as_of: pd.Timestamp | None = None, timings: dict | None = None) -> pl.DataFrame:
    """One row per wallet that swapped. `as_of` (default: the last swap) dates wallet ages; `timings`, when
    given, receives the seconds each step took."""
    cfg = cfg or ScannerConfig()
    clock = _Clock(timings)
    t0 = con.execute("SELECT floor(epoch(min(ts)))::BIGINT FROM swaps").fetchall()[0][0]
    if t0 is None:
        raise ValueError("no swaps in the window: nothing to profile")
    con.execute(KEYS, {"t0": t0})
    names = pl.from_arrow(con.sql("SELECT wallet, chain FROM w_wallets ORDER BY wid").to_arrow_table())
    pools = con.execute("SELECT category, open_t FROM w_pools ORDER BY pid").fetchnumpy()
    n_w = len(names)
    tr = _fetch(con, TRADES, {"t0": t0})
    _release_duckdb_memory(con)
    clock("load")

    # Wallet, pool, time; buys before sells within a second.
    order = segments.packed_order(tr["wid"], tr["pid"], tr["t"], 1 - tr["is_buy"])
    for c in tr:  # one column at a time, so only one extra column is alive
        tr[c] = tr[c][order]
    del order
    wid, pid, t, quote, base, reserve = (tr.pop(c) for c in ("wid", "pid", "t", "quote", "base", "reserve"))
    is_buy = tr.pop("is_buy").astype(bool)
    clock("sort")

    open_t, collapse_t = pool_timeline(pid, t, reserve, np.asarray(pools["open_t"], np.float64),
                                       cfg.collapse_fraction)
    del reserve
    copies, baseline = copy_counts(pid[is_buy], t[is_buy], cfg.copy_window_s)
    copier_count = segments.group_sum(copies, wid[is_buy], n_w)
    copy_baseline = segments.group_sum(baseline, wid[is_buy], n_w)
    clock("pool_signals")

    pairs = pair_fifo(segments.group_starts(wid, pid), is_buy)
    clock("pairing")

    wallet_rows = np.flatnonzero(segments.group_starts(wid))  # every numbered wallet has a swap
    first_trade, last_trade = np.minimum.reduceat(t, wallet_rows), np.maximum.reduceat(t, wallet_rows)
    category_names, pool_code = np.unique(np.asarray(pools["category"], dtype=str), return_inverse=True)
    categories, top_category, top_share = category_focus(wid, pool_code[pid], quote, category_names, n_w)
    buys = segments.group_count(wid[is_buy], n_w)
    delay = t[is_buy] - open_t[pid[is_buy]]
    buyer = wid[is_buy]
    early_share, snipe_share = (np.where(buys > 0, segments.group_sum((delay <= w).astype(float), buyer, n_w)
                                         / np.maximum(buys, 1), np.nan)
                                for w in (cfg.early_entry_s, cfg.snipe_window_s))
    del buyer
    exposed = np.flatnonzero(is_buy & (collapse_t[pid] != NEVER) & (t < collapse_t[pid]))
    exit_row = pairs.exit_of_row[exposed]
    escaped = exposed[(exit_row >= 0) & (t[np.maximum(exit_row, 0)] < collapse_t[pid[exposed]])]
    rug_exposures = segments.group_count(wid[exposed], n_w)
    rug_escapes = segments.group_count(wid[escaped], n_w)
    del exposed, exit_row, escaped, delay
    clock("activity")

    b, s = pairs.buy_row, pairs.sell_row
    ret = (quote[s] / base[s]) / (quote[b] / base[b]) - 1.0
    curve = realised_curve(wid[b], t[b], t[s], quote[b], ret, n_w)
    clock("performance")

    buy_rows = np.flatnonzero(is_buy)
    by_time = buy_rows[segments.packed_order(wid[buy_rows], t[buy_rows])]
    sizing = post_trade_sizing((wid[by_time], t[by_time], quote[by_time]), curve, n_w)
    performance = curve.per_wallet
    group_new = segments.group_starts(wid, pid)
    trades, n_pools = segments.group_count(wid, n_w), segments.group_count(wid[group_new], n_w)
    as_of_t = (int(pd.Timestamp(as_of).timestamp()) - t0) if as_of is not None else int(t.max())
    del buy_rows, by_time, curve, pairs, b, s, ret, wid, pid, t, quote, base, is_buy, group_new
    clock("post_trade_sizing")

    funding = funding_sources(con, t0, cfg.hub_min_recipients)
    _release_duckdb_memory(con)
    clock("funding")

    first_seen = np.fmin(first_trade.astype(np.float64), funding.pop("funded_t"))
    figures = pl.DataFrame({
        "trades": trades, "buys": buys, "pools": n_pools,
        "categories": categories, "top_category": top_category, "top_category_share": top_share,
        "first_seen": _to_time(first_seen + t0), "last_seen": _to_time(last_trade + t0),
        "age_days": (as_of_t - first_seen) / 86_400.0,
        **performance, **sizing,
        "copier_count": copier_count, "copy_baseline": copy_baseline,
        "copies_per_buy": np.where(buys > 0, (copier_count - copy_baseline) / np.maximum(buys, 1), np.nan),
        "early_entry_share": early_share, "snipe_share": snipe_share,
        "rug_exposures": rug_exposures,
        "rug_escape_share": np.where(rug_exposures > 0, rug_escapes / np.maximum(rug_exposures, 1), np.nan),
    }, nan_to_null=True)
    out = pl.concat([names, figures, funding["table"]], how="horizontal")
    clock("assemble")
    # Address validity is a fact about the wallet, checked once here; the scanner's first rule reads it.
    out = out.with_columns(address_valid=pl.Series(valid_addresses(names["chain"].to_pandas(),
                                                                   names["wallet"].to_pandas())))
    clock("addresses")
    out = with_sizing(out, cfg)  # how often the next stake after a loss (and a win) was > 1.5x: PILLAR 2's own
    clock("sizing")
    return out


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, params: dict) -> dict[str, np.ndarray]:
    """Columns of a query as numpy arrays, through Arrow (DuckDB's cheapest bulk path)."""
    table = con.sql(sql, params=params).to_arrow_table()
    out = {}
    for name in table.column_names:  # drop each Arrow column once copied, to keep one copy alive
        chunks = table.column(0).chunks
        table = table.remove_column(0)
        out[name] = np.concatenate([c.to_numpy(zero_copy_only=False) for c in chunks]) if chunks else np.empty(0)
        del chunks
    return out


def _release_duckdb_memory(con: duckdb.DuckDBPyConnection) -> None:
    """Hand back what DuckDB's allocator kept from a bulk query (freed Arrow buffers and cached pages: ~550 MB
    after the trades of 10M swaps) before the numpy and polars passes that need the memory. DuckDB purges when its memory limit is
    lowered; the caller's limit is restored at once."""
    limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    con.execute("SET memory_limit = '16MB'")
    con.execute(f"SET memory_limit = '{limit}'")


def _to_time(seconds: np.ndarray) -> np.ndarray:
    return pd.to_datetime(np.asarray(seconds, dtype=np.float64), unit="s").to_numpy()


class _Clock:
    def __init__(self, timings: dict | None):
        self.timings, self.t = timings, time.perf_counter()

    def __call__(self, step: str) -> None:
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[step] = self.timings.get(step, 0.0) + now - self.t
        self.t = now
