"""The harder wallet signals, each a few vectorised passes over sorted arrays: pool collapses, copy counts,
category focus, the realised PnL curve and drawdown, sizing after losses and wins, funding sources."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from quant.wallets import segments

NEVER = np.iinfo(np.int64).max


def pool_timeline(pid: np.ndarray, t: np.ndarray, reserve: np.ndarray, open_t: np.ndarray,
                  fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Per pool: when it opened (`open_t`, or its first swap where that is NaN), and when it collapsed: the
    first swap after its highest quote reserve that sees less than `fraction` of it (NEVER if none). Rows in
    any order; pools are numbered 0..len(open_t)-1."""
    df = pl.DataFrame({"pid": pid, "t": t, "r": reserve})
    peaks = (df.group_by("pid").agg(pl.col("t").min().alias("first_t"), pl.col("r").max().alias("peak"),
                                    pl.col("t").get(pl.col("r").arg_max()).alias("peak_t")).sort("pid"))
    n = len(open_t)
    first_t, peak, peak_t = (np.full(n, np.nan) for _ in range(3))
    idx = peaks["pid"].to_numpy()
    first_t[idx], peak[idx], peak_t[idx] = (peaks[c].to_numpy() for c in ("first_t", "peak", "peak_t"))
    fell = (t > peak_t[pid]) & (reserve < fraction * peak[pid])
    collapse = np.full(n, NEVER, np.int64)
    hit = pl.DataFrame({"pid": pid[fell], "t": t[fell]}).group_by("pid").agg(pl.col("t").min())
    collapse[hit["pid"].to_numpy()] = hit["t"].to_numpy()
    return np.where(np.isnan(open_t), first_t, open_t), collapse


def copy_counts(pid: np.ndarray, t: np.ndarray, window_s: int) -> tuple[np.ndarray, np.ndarray]:
    """For each buy (any order): buys by anyone in the same pool in (t, t + w], and a baseline, the larger of
    [t - w, t) and (t + w, t + 2w]. Copiers arrive in a burst after their leader; ordinary flow (and a pool's
    launch rush, or fellow copiers of the same leader) shows up in the baseline as well. A wallet's own
    repeat buys count like anyone's, in both windows alike."""
    order = segments.packed_order(pid, t)
    pool = pid[order].astype(np.int64) << 32
    t_now = t[order].astype(np.int64)
    now = pool | t_now
    ss = np.searchsorted  # sorted queries into sorted keys: cache-friendly
    after = ss(now, now + window_s, "right") - ss(now, now, "right")
    later = ss(now, now + 2 * window_s, "right") - ss(now, now + window_s, "right")
    before = ss(now, now, "left") - ss(now, pool | np.maximum(t_now - window_s, 0), "left")
    out_after, out_base = np.empty(len(now)), np.empty(len(now))
    out_after[order], out_base[order] = after, np.maximum(before, later)
    return out_after, out_base


def category_focus(wid: np.ndarray, pool_code: np.ndarray, quote: np.ndarray, names: np.ndarray, n_w: int):
    """Per wallet: how many categories it traded, its top category by volume, and that category's share."""
    n_cat = len(names)
    volume = np.bincount(wid.astype(np.int64) * n_cat + pool_code, weights=quote,
                         minlength=n_w * n_cat).reshape(n_w, n_cat)
    total = volume.sum(axis=1)
    top = volume.argmax(axis=1)
    share = np.divide(volume.max(axis=1), total, out=np.full(n_w, np.nan), where=total > 0)
    return (volume > 0).sum(axis=1), names[top], share


@dataclass
class Curve:
    """Round trips sorted by (wallet, exit time), and per-wallet figures over them."""

    wid: np.ndarray
    exit_t: np.ndarray
    stake: np.ndarray
    ret: np.ndarray
    per_wallet: dict

    def columns(self) -> dict:
        return self.per_wallet


def realised_curve(wid, entry, exit_t, stake, ret, n_w: int) -> Curve:
    """Win rate, hold, profit per trade, realised PnL, its series and the largest drawdown from a peak of the
    cumulative realised PnL (as a share of the capital the wallet staked and in quote units)."""
    order = segments.packed_order(wid, exit_t, entry)
    wid, entry, exit_t, stake, ret = wid[order], entry[order], exit_t[order], stake[order], ret[order]
    pnl = ret * stake
    n = segments.group_count(wid, n_w)
    staked = segments.group_sum(stake, wid, n_w)
    new = segments.group_starts(wid)
    cum = segments.cumsum(pnl, new)
    norm = cum / staked[wid]
    drawdown = np.maximum(segments.cummax_bounded(norm, new), 0.0) - norm
    dd_share = np.full(n_w, np.nan)
    starts = np.flatnonzero(new)
    if len(starts):
        dd_share[wid[starts]] = np.maximum.reduceat(drawdown, starts)
    has = n > 0
    mean = lambda x: np.where(has, segments.group_sum(x, wid, n_w) / np.maximum(n, 1), np.nan)  # noqa: E731
    offsets = np.r_[0, np.cumsum(n)].astype(np.int64)
    per_wallet = {
        "round_trips": n, "win_rate": mean((ret > 0).astype(float)),
        "avg_hold_s": mean((exit_t - entry).astype(float)), "profit_per_trade": mean(ret),
        "realized_pnl": segments.group_sum(pnl, wid, n_w), "staked": staked,
        "drawdown_share": dd_share, "max_drawdown": np.where(has, dd_share * staked, np.nan),
        "pnl_series": _lists(offsets, cum),
    }
    return Curve(wid=wid, exit_t=exit_t, stake=stake, ret=ret, per_wallet=per_wallet)


def post_trade_sizing(buys: tuple[np.ndarray, np.ndarray, np.ndarray], curve: Curve, n_w: int) -> dict:
    """After each closed round trip, the wallet's next buy (in any pool) as a multiple of that trip's stake:
    the lists after losses and after wins (the scanner's PILLAR 2 reads them, see scanner_rules)."""
    b_wid, b_t, b_quote = buys
    keys = b_wid.astype(np.int64) << 32 | b_t
    query = curve.wid.astype(np.int64) << 32 | curve.exit_t
    nxt = np.searchsorted(keys, query, "right")
    ok = nxt < len(keys)
    ok[ok] = b_wid[nxt[ok]] == curve.wid[ok]
    ratio = np.where(ok, b_quote[np.minimum(nxt, len(keys) - 1)] / curve.stake, np.nan)
    out = {}
    for name, kept in (("post_loss", ok & (curve.ret < 0)), ("post_win", ok & (curve.ret > 0))):
        counts = segments.group_count(curve.wid[kept], n_w)
        out[f"{name}_instances"] = counts
        out[f"{name}_ratios"] = _lists(np.r_[0, np.cumsum(counts)].astype(np.int64), ratio[kept].astype(np.float32))
    return out


FUNDING = """
WITH first_in AS (
    SELECT to_address AS wallet, arg_min(from_address, ts) AS funded_by, min(ts) AS funded_ts
    FROM transfers GROUP BY to_address
), fan_out AS (
    SELECT from_address AS funded_by, count(DISTINCT to_address) AS funder_recipients FROM transfers GROUP BY 1
)
SELECT f.funded_by, coalesce(floor(epoch(f.funded_ts)) - $t0, 'NaN'::DOUBLE) AS funded_t,
       coalesce(o.funder_recipients, 0) AS funder_recipients,
       CASE WHEN f.funded_by IS NULL THEN 'none' WHEN o.funder_recipients >= $hub THEN 'hub' ELSE 'wallet' END
           AS funding_kind
FROM w_wallets w LEFT JOIN first_in f USING (wallet) LEFT JOIN fan_out o USING (funded_by)
ORDER BY w.wid
"""


def funding_sources(con: duckdb.DuckDBPyConnection, t0: int, hub_min_recipients: int) -> dict:
    """Per wallet (in w_wallets order): who sent its earliest incoming transfer, when (`funded_t`, seconds
    from t0, NaN if never), and whether that funder is a hub (an exchange-like address paying many wallets)
    or a single patron wallet; the text columns come as a polars frame under `table`."""
    table = pl.from_arrow(con.sql(FUNDING, params={"t0": t0, "hub": hub_min_recipients}).to_arrow_table())
    return {"funded_t": table["funded_t"].to_numpy(), "table": table.drop("funded_t")}


def _lists(offsets: np.ndarray, values: np.ndarray) -> pl.Series:
    return pl.from_arrow(pa.ListArray.from_arrays(pa.array(offsets), pa.array(values)))
