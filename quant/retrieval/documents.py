"""The documents of the three collections, rendered from the wallet tables: a wallet's behaviour and scanner
verdict (identity_tracking, plus its fingerprint in identity_behaviour), one funding connection, one
wallet-pool position. Words come from the profile's own figures through fixed thresholds (the scanner's
where it has one), so a text query finds wallets by what they did."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import polars as pl

from quant.retrieval.embedders import fingerprint
from quant.retrieval.vector_store import BEHAVIOUR, IDENTITY, SENTENCES, Docs, distinct_docs
from quant.wallets.funding_graph import member_wash_scores
from quant.wallets.scanner.config import ScannerConfig
from quant.wallets.scanner.rules import STAGE1, STAGE2, viral

RING_RADIUS = 0.5  # fingerprint distance at which similarity to a ring member reaches exp(-1)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")  # "2.9 hours" and "1.01." inside a sentence do not end it


def _pct(x) -> str:
    return "n/a" if x is None or pd.isna(x) else f"{100 * x:.0f}%"


def _duration(seconds) -> str:
    if seconds is None or pd.isna(seconds):
        return "n/a"
    s = float(seconds)
    return f"{s / 60:.0f} minutes" if s < 7200 else (f"{s / 3600:.1f} hours" if s < 172_800 else f"{s / 86400:.1f} days")


def rule_flags(df: pl.DataFrame, cfg: ScannerConfig) -> list[set[str]]:
    """Per row, the scanner rules (stage 1 and 2, and viral) that the profile fails, each judged on its own
    rather than behind the funnel's first rejection: the scanner's own definitions, not a second copy."""
    rules = [r for r in STAGE1 + STAGE2 if not r.fact]
    flags = df.select(*[r.fails(cfg).fill_null(False).alias(r.code) for r in rules],
                      viral(cfg).fill_null(False).alias("VIRAL"))
    cols = {c: flags[c].to_numpy() for c in flags.columns}
    return [{c for c, v in cols.items() if v[i]} for i in range(len(df))]


def behaviour_phrases(p: dict, flags: set[str], cfg: ScannerConfig) -> list[str]:
    """Plain-language statements a profile supports: the scanner rules it fails, and a few figures read
    through stated thresholds."""
    out = []
    g = lambda k, d=0.0: d if p.get(k) is None or pd.isna(p.get(k)) else p[k]  # noqa: E731
    if "MARTINGALE" in flags:
        out.append("Martingale sizing: doubles down after losses, raising its stake after a losing trade "
                   f"({_pct(g('chase_after_loss'))} of post-loss trades), chasing losses.")
    if "MARKET_MAKER" in flags:
        out.append("Market making: many short round trips on both sides at a near-even win rate and a thin "
                   "margin per trade, providing liquidity.")
    elif g("round_trips") >= cfg.mm_min_round_trips and g("avg_hold_s", 1e9) < 3600:
        out.append("Fast in-and-out trading: round trips closed within the hour.")
    if "SNIPER" in flags:
        out.append(f"Sniper bot: buys new pools within seconds of launch ({_pct(g('snipe_share'))} of buys).")
    if g("early_entry_share") >= 0.5 and g("rug_exposures") > 0 and g("rug_escape_share") >= 0.5:
        out.append("Buys early into new pools and exits before the rug pull: sells ahead of the collapse.")
    if g("trades") > 0 and g("buys") == 0:
        out.append("Sells tokens it never bought here: an allocation received off the market, as a pool's team "
                   "and insiders hold.")
    if "VIRAL" in flags:
        out.append("Viral: other wallets copy its buys right after it trades.")
    if "WASH_TRADING" in flags:
        out.append("Wash trading: trades against wallets of its own funding cluster.")
    if "GENERALIST" in flags:
        out.append(f"Generalist: spreads trades across {int(g('categories'))} token categories.")
    elif g("top_category_share") >= cfg.specialization_threshold:
        out.append(f"Specialist in {p.get('top_category')} tokens.")
    if g("round_trips") >= cfg.min_round_trips and g("win_rate") >= 0.6 and g("profit_per_trade") >= 0.1:
        out.append("Consistently profitable: high win rate and strong return per trade (smart money).")
    if "EXCESSIVE_DRAWDOWN" in flags:
        out.append("Deep drawdowns relative to capital staked.")
    return out


def identity_docs(profiles: pl.DataFrame, scores: pl.DataFrame, clusters: pd.DataFrame,
                  connections: pd.DataFrame, cfg: ScannerConfig | None = None) -> tuple[Docs, Docs]:
    """(identity_tracking docs, identity_behaviour docs): one per profiled wallet, same ids."""
    cfg = cfg or ScannerConfig()
    wash = member_wash_scores(clusters) if len(clusters) else pd.DataFrame({"wallet": [], "wash_score": []})
    rings = clusters[clusters.is_ring] if len(clusters) else clusters
    ring_of = {m: cid for cid, ms in zip(rings.cluster_id, rings.members, strict=True) for m in ms} if len(rings) else {}
    wash_of = wash.groupby("wallet").wash_score.max().to_dict()
    degree = pd.concat([connections.source, connections.target]).value_counts().to_dict() if len(connections) else {}
    fan_out = connections[connections.kind == "direct"].source.value_counts().to_dict() if len(connections) else {}
    neighbours: dict[str, set] = {}
    for s, t in zip(connections.source, connections.target, strict=True) if len(connections) else ():
        neighbours.setdefault(s, set()).add(t)
        neighbours.setdefault(t, set()).add(s)
    df = profiles.join(scores.select("wallet", "classification", "stage", "decided_by", "score", "confidence",
                                     "reasons"), on="wallet", how="left")
    df = df.join(pl.DataFrame({"wallet": list(wash_of), "wash_score": list(wash_of.values())},
                              schema={"wallet": pl.Utf8, "wash_score": pl.Float64}), on="wallet", how="left")
    vectors = fingerprint(df)
    flags = rule_flags(df, cfg)
    ring_rows = np.flatnonzero(df["wallet"].is_in(list(ring_of)).to_numpy())
    ring_vecs = vectors[ring_rows]
    records = df.drop("pnl_series", "post_loss_ratios", "post_win_ratios", strict=False).to_dicts()
    ids, texts, metas, addrs = [], [], [], []
    for i, p in enumerate(records):
        w = p["wallet"]
        p["wash_score"] = p.get("wash_score") or 0.0
        ring = ring_of.get(w)
        others = ring_vecs[[k for k, r in enumerate(ring_rows) if r != i]] if len(ring_vecs) else ring_vecs
        d = np.sqrt(np.nansum((others - vectors[i]) ** 2, axis=1)).min() if len(others) else np.inf
        ring_similarity = float(np.exp(-d / RING_RADIUS)) if np.isfinite(d) else 0.0
        kind = ("suspected_coordinated" if ring else "funding_source" if fan_out.get(w, 0) >= 3 else "trading_wallet")
        patterns = sorted(flags[i])
        cls = p.get("classification") or "UNSCORED"
        risk = ("critical" if ring or "WASH_TRADING" in patterns else
                "high" if p.get("stage") == "risk_behaviour" else
                "low" if cls == "TARGET" else "medium")
        days = max(p.get("age_days") or 0, 1 / 24)
        freq = (p.get("trades") or 0) / days
        avg_size = (p.get("staked") or 0) / max(p.get("round_trips") or 0, 1)
        phrases = behaviour_phrases(p, flags[i], cfg)
        text = (f"{kind.replace('_', ' ').capitalize()} on {p['chain']}. {p['trades']} trades ({freq:.0f} a day) in "
                f"{p['pools']} pools; top category {p.get('top_category')} ({_pct(p.get('top_category_share'))}). "
                f"Win rate {_pct(p.get('win_rate'))}, average hold {_duration(p.get('avg_hold_s'))}, "
                f"profit per trade {_pct(p.get('profit_per_trade'))}, average stake {avg_size:.2f}. "
                + " ".join(phrases)
                + f" Scanner verdict {cls} at {p.get('stage')} (decided by {p.get('decided_by')})"
                + (f"; failed {', '.join(patterns)}." if patterns else ".")
                + (f" Member of funding ring {ring}." if ring else ""))
        ids.append(w)
        texts.append(text)
        addrs.append([w])
        metas.append({"wallet": w, "chain": p["chain"], "identity_type": kind, "classification": cls,
                      "stage": p.get("stage"), "decided_by": p.get("decided_by"), "scanner_reasons": p.get("reasons"),
                      "confidence": p.get("confidence"), "risk_level": risk, "trading_frequency": round(freq, 4),
                      "avg_size": round(avg_size, 6), "coordination_score": p["wash_score"],
                      "ring_similarity": round(ring_similarity, 4), "pattern_matches": patterns,
                      "ring_id": ring or "", "network_degree": int(degree.get(w, 0)),
                      "ring_neighbour": bool(ring) or any(n in ring_of for n in neighbours.get(w, ()))})
    behaviour_docs = Docs(ids, texts, [{"wallet": m["wallet"], "chain": m["chain"]} for m in metas], addrs, vectors)
    return Docs(ids, texts, metas, addrs), behaviour_docs


def sentences(text: str) -> list[str]:
    return SENTENCE_END.split(text.strip())


def sentence_docs(docs: Docs) -> Docs:
    """Each distinct sentence of `docs` once. A text query then meets the one sentence that says what it asks,
    not a whole description whose figures (every wallet has them) dilute the mean-pooled vector."""
    return distinct_docs(x for text in docs.documents for x in sentences(text))


def identity_collections(profiles: pl.DataFrame, scores: pl.DataFrame, clusters: pd.DataFrame,
                         connections: pd.DataFrame) -> list[tuple[str, Docs, bool]]:
    """What the identity_tracking asset stores: (collection, documents, embedded from their text or not)."""
    text, behaviour = identity_docs(profiles, scores, clusters, connections)
    return [(IDENTITY, text, True), (SENTENCES, sentence_docs(text), True), (BEHAVIOUR, behaviour, False)]


def connection_docs(connections: pd.DataFrame, clusters: pd.DataFrame) -> Docs:
    """One document per funding connection (direct, indirect through `via`, or circular)."""
    wash = member_wash_scores(clusters) if len(clusters) else pd.DataFrame({"wallet": [], "wash_score": []})
    wash_of = wash.groupby("wallet").wash_score.max().to_dict()
    ids, texts, metas, addrs = [], [], [], []
    for c in connections.to_dict("records"):
        via = c.get("via") if isinstance(c.get("via"), str) else ""
        score = max(wash_of.get(c["source"], 0.0), wash_of.get(c["target"], 0.0))
        circular = c["kind"] == "circular"
        ids.append(f"{c['kind']}:{c['source']}:{c['target']}:{via}")
        span = (pd.Timestamp(c["last_ts"]) - pd.Timestamp(c["first_ts"])).total_seconds()
        # Addresses and exact figures live in the metadata: base58 keys cost dozens of word pieces each and
        # carry no meaning, and bucketed text lets alike connections share one embedding.
        texts.append(f"{c['kind'].capitalize()} funding" + (" through one intermediary" if via else "")
                     + f": {min(int(c['transfers']), 5)}{'+' if c['transfers'] > 5 else ''} transfers, "
                     f"{_size(c['amount'])} amount, over {_hold(span) if span > 0 else 'one moment'}."
                     + (" Part of a funding cycle: money returns to its origin." if circular else "")
                     + (f" Wash-trading score {'high' if score >= 0.5 else 'low'}." if score else ""))
        addrs.append([c["source"], c["target"]] + ([via] if via else []))
        metas.append({"source": c["source"], "target": c["target"], "relationship": c["kind"], "via": via,
                      "amount": float(c["amount"]), "transfers": int(c["transfers"]),
                      "time": pd.Timestamp(c["first_ts"]).isoformat(), "last_time": pd.Timestamp(c["last_ts"]).isoformat(),
                      "fee": float(c.get("fee") or 0.0), "circular": circular, "wash_score": float(score)})
    return Docs(ids, texts, metas, addrs)


# Relations: swaps(ts, chain, pool_id, wallet, side, amount_in, amount_out) and pools(pool_id, category).
POSITIONS = """
WITH s AS (
  -- Summed as decimals: a parallel sum of doubles differs between runs in its last bits, and a re-run
  -- that changes nothing must hash every document the same.
  SELECT wallet, chain, pool_id, ts, side = 'buy' AS buy,
         (CASE WHEN side = 'buy' THEN amount_in ELSE amount_out END)::DECIMAL(38, 12) AS quote,
         (CASE WHEN side = 'buy' THEN amount_out ELSE amount_in END)::DECIMAL(38, 12) AS base
  FROM swaps),
minute AS (
  SELECT pool_id, date_trunc('minute', ts) AS m, count(DISTINCT wallet) FILTER (buy) AS buyers, sum(quote) AS vol
  FROM s GROUP BY 1, 2),
pool_norm AS (SELECT pool_id, avg(buyers) AS avg_buyers, avg(vol) AS avg_vol FROM minute GROUP BY 1),
pos AS (
  SELECT wallet, pool_id, any_value(chain) AS chain, min(ts) FILTER (buy) AS entry, max(ts) AS last_ts,
         count(*) FILTER (buy) AS buys, count(*) FILTER (NOT buy) AS sells,
         coalesce(sum(quote) FILTER (buy), 0) AS quote_in, coalesce(sum(base) FILTER (buy), 0) AS base_in,
         coalesce(sum(quote) FILTER (NOT buy), 0) AS quote_out, coalesce(sum(base) FILTER (NOT buy), 0) AS base_out
  FROM s GROUP BY 1, 2)
SELECT pos.* REPLACE (quote_in::DOUBLE AS quote_in, base_in::DOUBLE AS base_in, quote_out::DOUBLE AS quote_out,
                      base_out::DOUBLE AS base_out),
       coalesce(p.category, 'unknown') AS category, coalesce(mi.buyers, 0) AS buyers_at_entry,
       n.avg_buyers, (mi.vol / n.avg_vol)::DOUBLE AS volume_ratio
FROM pos
LEFT JOIN (SELECT pool_id, any_value(category) AS category FROM pools GROUP BY 1) p USING (pool_id)
LEFT JOIN minute mi ON mi.pool_id = pos.pool_id AND mi.m = date_trunc('minute', pos.entry)
LEFT JOIN pool_norm n ON n.pool_id = pos.pool_id
ORDER BY wallet, pool_id
"""
COORDINATED_BUYERS = 3  # at least this many wallets buying the pool in the entry minute ...
COORDINATED_EXCESS = 3.0  # ... and this many times the pool's usual buyers per active minute
VOLUME_SPIKE = 3.0  # entry minute's volume over the pool's mean minute volume


def position_table(con) -> pd.DataFrame:
    """One row per wallet-pool position, with PnL and the coordinated-buying and volume-spike flags."""
    df = con.execute(POSITIONS).df()
    buy_px = df.quote_in / df.base_in.where(df.base_in > 0)
    sell_px = df.quote_out / df.base_out.where(df.base_out > 0)
    df["price"] = buy_px
    df["pnl_pct"] = 100 * (sell_px / buy_px - 1)
    df["trade_type"] = np.select(
        [df.buys == 0, df.sells == 0, df.base_out >= 0.99 * df.base_in], ["sell_only", "open", "round_trip"],
        "partial_exit")
    df["success"] = df.pnl_pct > 0
    df["coordinated_buying"] = (df.buyers_at_entry >= COORDINATED_BUYERS) & (
        df.buyers_at_entry >= COORDINATED_EXCESS * df.avg_buyers)
    df["volume_spike"] = df.volume_ratio.fillna(0) >= VOLUME_SPIKE
    df["hold_s"] = (df.last_ts - df.entry).dt.total_seconds()
    return df


def _size(quote) -> str:
    return next(name for name, top in STAKES if quote < top)


def _hold(seconds) -> str:
    return next(name for name, top in HOLDS if seconds < top) if seconds == seconds else "n/a"


def _tens(pct: float) -> str:
    tens = int(round(pct, -1))
    return f"{tens:+d}%" if tens else "0%"


STAKES = (("dust", 0.01), ("small", 0.1), ("medium", 1.0), ("large", 10.0), ("whale", float("inf")))
HOLDS = (("seconds", 120), ("minutes", 3600), ("hours", 86_400), ("days", float("inf")))


def position_docs(positions: pd.DataFrame) -> Docs:
    """The text names the pattern in words and buckets (stake size, hold, PnL to the nearest 10%), so
    positions alike read alike and are embedded once; exact figures are in the metadata, for filters."""
    ids, texts, metas, addrs = [], [], [], []
    for r in positions.to_dict("records"):
        pnl = r["pnl_pct"]
        has_pnl = pnl is not None and not pd.isna(pnl)
        kind = r["trade_type"].replace("_", " ")
        text = (f"{kind.capitalize()} in a {r['category']} pool: {_size(r['quote_in'])} stake, "
                f"{min(r['buys'], 5)}{'+' if r['buys'] > 5 else ''} buys and "
                f"{min(r['sells'], 5)}{'+' if r['sells'] > 5 else ''} sells"
                + (f", held for {_hold(r['hold_s'])}" if r["trade_type"] != "sell_only" else "")
                + (f"; {'profitable' if pnl > 0 else 'losing'} trade, PnL about {_tens(pnl)}" if has_pnl
                   else "")
                + "." + (" Coordinated buying: many wallets bought in the same minute." if r["coordinated_buying"]
                         else "")
                + (" Entered on a volume spike." if r["volume_spike"] else ""))
        ids.append(f"{r['wallet']}:{r['pool_id']}")
        texts.append(text)
        addrs.append([r["wallet"]])
        metas.append({"wallet": r["wallet"], "pool_id": r["pool_id"], "chain": r["chain"], "category": r["category"],
                      "trade_type": r["trade_type"], "buys": int(r["buys"]), "sells": int(r["sells"]),
                      "amount_in": float(r["quote_in"]), "amount_out": float(r["quote_out"]),
                      "price": float(r["price"]) if not pd.isna(r["price"]) else None,
                      "pnl_pct": round(float(pnl), 4) if has_pnl else None, "success": bool(r["success"]),
                      "coordinated_buying": bool(r["coordinated_buying"]), "volume_spike": bool(r["volume_spike"]),
                      "entry_time": pd.Timestamp(r["entry"]).isoformat() if not pd.isna(r["entry"]) else None})
    return Docs(ids, texts, metas, addrs)
