"""The agents' inputs, built from warehouse tables: pool paths with model scores, rule signals and TARGET
wallet buys; CEX-listed pools with their reference prices; and cross-listed token pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl

from quant.agents.arb_envs import PairPath
from quant.agents.market import PoolPath, cex_reference, cross_listed, pool_paths
from quant.evaluation.baselines import moon_rule, rug_rule
from quant.features import FEATURES
from quant.models.sequence import load_sequence_model, predict_frame
from quant.models.specs import MOON, RUG
from quant.models.train import predict
from quant.wallets.funding_graph import build_graph, with_wash_scores
from quant.wallets.profiles import build_profiles
from quant.wallets.scanner.config import ScannerConfig
from quant.wallets.scanner.stages import scan

NEW_POOL_AGE = pd.Timedelta(days=7)
SCORE_AND_SIGNAL = ("p_moon", "p_rug", "p_opportunity", "target_buys", "target_buy_quote")


def model_scores(registry, features: pd.DataFrame, score_from: pd.Timestamp) -> pd.DataFrame:
    """pool_id, ts, p_moon, p_rug (the XGBoost champions) and p_opportunity (the sequence champion) for the
    feature rows at or after `score_from`; earlier rows only give the sequence model its history."""
    f = features.sort_values(["pool_id", "ts"], kind="stable").reset_index(drop=True)
    rows = np.flatnonzero((f.ts >= score_from).to_numpy())
    out = f.loc[rows, ["pool_id", "ts"]].reset_index(drop=True)
    target = f.loc[rows]
    for name, spec in (("p_moon", MOON), ("p_rug", RUG)):
        loaded = registry.load(spec.name, expected_features=list(spec.features))
        out[name] = predict(loaded.booster, target, loaded.features)
    scorer = load_sequence_model(registry)
    out["p_opportunity"] = predict_frame(scorer, None, f, rows, scorer.seq_len)
    return out


def targets_before(con, end: pd.Timestamp, cfg: ScannerConfig | None = None) -> set[str]:
    """The scanner's TARGET wallets as of `end`: profiles, funding clusters (wash scores) and scan, all on the
    market before `end` only, so the period an agent is tested on never decides who is a TARGET (the stored
    wallet_scores read every day). `con`: a connection to the warehouse; temp views only, nothing written."""
    db = con.execute("SELECT current_database()").fetchall()[0][0]  # qualified, so views never read themselves
    before = f"ts < '{pd.Timestamp(end)}'::TIMESTAMP"
    con.execute(f'CREATE OR REPLACE TEMP VIEW swaps AS SELECT * FROM "{db}".main.swaps WHERE {before}')
    con.execute(f'CREATE OR REPLACE TEMP VIEW transfers AS SELECT * FROM "{db}".main.transfers WHERE {before}')
    con.execute('CREATE OR REPLACE TEMP VIEW pools AS SELECT pool_id, any_value(category) AS category, '
                f'min(pool_open_time) AS open_ts FROM "{db}".main.pool_snapshots WHERE {before} GROUP BY pool_id')
    cfg = cfg or ScannerConfig.from_env()
    profiles = build_profiles(con, cfg)
    _, clusters = build_graph(con)
    scores = scan(with_wash_scores(profiles, clusters), cfg).scores
    return set(scores.filter(pl.col("classification") == "TARGET")["wallet"].to_list())


def target_buys(swaps: pd.DataFrame, targets: set[str], snapshots: pd.DataFrame) -> pd.DataFrame:
    """pool_id, ts, target_buys, target_buy_quote: buys by TARGET wallets after the pool's previous
    snapshot and up to this one (the snapshot at a swap's second already includes it)."""
    buys = swaps[(swaps.side == "buy") & swaps.wallet.isin(targets)][["pool_id", "ts", "amount_in"]]
    snaps = snapshots[["pool_id", "ts"]].sort_values("ts")
    if buys.empty:
        return snaps.assign(target_buys=0.0, target_buy_quote=0.0)
    joined = pd.merge_asof(buys.sort_values("ts").rename(columns={"ts": "swap_ts"}),
                           snaps.rename(columns={"ts": "snap_ts"}), left_on="swap_ts", right_on="snap_ts",
                           by="pool_id", direction="forward")
    per = joined.dropna(subset=["snap_ts"]).groupby(["pool_id", "snap_ts"]).agg(
        target_buys=("amount_in", "size"), target_buy_quote=("amount_in", "sum")).reset_index()
    out = snaps.merge(per.rename(columns={"snap_ts": "ts"}), on=["pool_id", "ts"], how="left")
    return out.fillna({"target_buys": 0.0, "target_buy_quote": 0.0})


def new_pool_paths(snapshots: pd.DataFrame, features: pd.DataFrame, scores: pd.DataFrame,
                   signals: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> list[PoolPath]:
    """New Solana pools (opened less than NEW_POOL_AGE before the snapshot: not the long-lived CEX-listed
    ones) over [start, end), with scores, the hand-written rules and TARGET buys attached per snapshot."""
    s = snapshots[(snapshots.chain == "solana") & (snapshots.ts >= start) & (snapshots.ts < end)
                  & (snapshots.ts - snapshots.pool_open_time < NEW_POOL_AGE)]
    table = s.merge(features[["pool_id", "ts", *FEATURES]], on=["pool_id", "ts"], how="left")
    for extra in (scores, signals):  # either may be absent: an agent that does not see it gets zeros
        if extra is not None:
            table = table.merge(extra, on=["pool_id", "ts"], how="left")
    table = table.reindex(columns=[*table.columns, *(c for c in SCORE_AND_SIGNAL if c not in table.columns)])
    table = table.sort_values(["pool_id", "ts"], kind="stable").reset_index(drop=True)
    table["moon_rule"] = moon_rule(table).astype(np.float64)
    table["rug_rule"] = rug_rule(table).astype(np.float64)
    table["target_buy_share"] = table.target_buy_quote.fillna(0.0) / table.quote_reserve
    paths = pool_paths(table)
    by_pool = {k: g for k, g in table.groupby("pool_id", sort=False)}
    for p in paths:
        g = by_pool[p.pool_id]
        for col in ("p_moon", "p_rug", "p_opportunity", "moon_rule", "rug_rule", "target_buys", "target_buy_share"):
            p.extra[col] = g[col].fillna(0.0).to_numpy(np.float64)
        p.extra["since_target_buy"] = steps_since(p.extra["target_buys"] > 0)
    return paths


def steps_since(events: np.ndarray) -> np.ndarray:
    """Snapshots since the last True (0 on it), inf before the first."""
    idx = np.where(events, np.arange(len(events)), -1)
    last = np.maximum.accumulate(idx)
    return np.where(last >= 0, np.arange(len(events)) - last, np.inf)


def listed_paths(snapshots: pd.DataFrame, cex: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> list[PoolPath]:
    """The CEX-listed pools over [start, end) with token_usd and quote_usd per snapshot."""
    listed = cross_listed(snapshots, cex)
    s = snapshots[snapshots.pool_id.isin(set(listed.pool_id)) & (snapshots.ts >= start) & (snapshots.ts < end)]
    paths = pool_paths(s)
    info = listed.set_index("pool_id")
    for p in paths:
        p.extra["token_usd"], p.extra["quote_usd"] = cex_reference(p, cex, info.symbol[p.pool_id],
                                                                  info.quote_symbol[p.pool_id])
        p.extra["symbol"] = info.symbol[p.pool_id]
    return paths


def pair_paths(listed: list[PoolPath]) -> list[PairPath]:
    """Tokens pooled on both chains, cut to the snapshots both pools have."""
    by_symbol: dict[str, dict[str, PoolPath]] = {}
    for p in listed:
        by_symbol.setdefault(p.extra["symbol"], {})[p.chain] = p
    pairs = []
    for symbol, chains in sorted(by_symbol.items()):
        if set(chains) != {"solana", "evm"}:
            continue
        common = np.intersect1d(chains["solana"].ts, chains["evm"].ts)
        pairs.append(PairPath(symbol, _at(chains["solana"], common), _at(chains["evm"], common)))
    return pairs


def _at(p: PoolPath, ts: np.ndarray) -> PoolPath:
    i = np.searchsorted(p.ts, ts)
    return PoolPath(p.pool_id, p.chain, p.ts[i], [p.base_raw[j] for j in i], [p.quote_raw[j] for j in i],
                    p.base_decimals, p.quote_decimals, p.features[i],
                    {k: (v[i] if isinstance(v, np.ndarray) else v) for k, v in p.extra.items()})
