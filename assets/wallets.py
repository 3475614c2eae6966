"""Wallet intelligence: profiles of every wallet that swapped, the three-stage scanner's scores, and the
funding graph's connections and clusters. Unpartitioned: each reads the stored market days it is told to
(`window_days`, counted back from the newest swap; 0 = all of them) and replaces its table."""

import time

import dagster as dg
import polars as pl
from pydantic import Field

from assets.common import WALLETS_OWNER, WalletWindow
from quant.wallets.funding_graph import FundingConfig, build_graph, with_wash_scores
from quant.wallets.profiles import build_profiles
from quant.wallets.scanner.config import ScannerConfig
from quant.wallets.scanner.stages import STAGES, scan
from resources import Warehouse
from resources.queries import window_views

PROFILES_COMPLETE = "every_swapping_wallet_profiled"
PROFILES_SANE = "profile_figures_in_range"
ONE_STAGE = "every_wallet_in_one_stage_with_reasons"
SOME_TARGETS = "targets_found"
CLUSTERS_FOUND = "clusters_found"
CONNECTIONS_TYPED = "connections_typed"


class FundingWindow(dg.Config):
    window_days: int = Field(default=0, ge=0, description="Days of transfers and swaps to read; 0 = all.")
    overrides: dict[str, float] = Field(default_factory=dict, description="FundingConfig fields to override: "
                                        + ", ".join(FundingConfig.__dataclass_fields__) + ".")


@dg.asset(
    group_name="wallets", kinds={"duckdb", "polars"}, owners=[WALLETS_OWNER],
    deps=["swaps", "transfers", "pool_snapshots"],
    check_specs=[
        dg.AssetCheckSpec(PROFILES_COMPLETE, asset="wallet_profiles", blocking=True,
                          description="One profile for every distinct wallet in the window's swaps."),
        dg.AssetCheckSpec(PROFILES_SANE, asset="wallet_profiles",
                          description="Shares within [0, 1], holds and ages non-negative, PnL finite."),
    ],
)
def wallet_profiles(context: dg.AssetExecutionContext, config: WalletWindow, warehouse: Warehouse) -> dg.MaterializeResult:
    """Per wallet: activity, category focus, round-trip performance, PnL series and drawdown, sizing after
    losses, copy followers, entry timing, funding source."""
    cfg = config.scanner()
    timings: dict[str, float] = {}
    t = time.perf_counter()
    with warehouse.get_connection() as con:
        window = window_views(con, config.window_days)
        profiles = build_profiles(con, cfg, timings=timings)
        swapping = con.execute("SELECT count(DISTINCT wallet) FROM swaps").fetchall()[0][0]
    warehouse.replace_table("wallet_profiles", profiles.to_arrow())
    seconds = time.perf_counter() - t
    invalid = profiles.filter(~pl.col("address_valid"))
    quarantined = warehouse.quarantine("wallet_profiles", "window", invalid.select("wallet", "chain").to_pandas()
                                       .assign(reason="invalid_address: the wallet fails its chain's address format"))
    if quarantined:
        context.log.warning(f"{quarantined} wallets with invalid addresses quarantined")
    sane = profiles.select(
        pl.col("top_category_share").is_between(0, 1).all() & pl.col("win_rate").fill_null(0.5).is_between(0, 1).all()
        & (pl.col("avg_hold_s").fill_null(0) >= 0).all() & (pl.col("age_days") >= 0).all()
        & pl.col("realized_pnl").is_finite().all()).item()
    return dg.MaterializeResult(
        metadata={**window, "wallets": len(profiles), "seconds": round(seconds, 3),
                  "step_seconds": {k: round(v, 3) for k, v in timings.items()},
                  "quarantined_invalid_addresses": quarantined,
                  "median_trades": float(profiles["trades"].median() or 0),
                  "wallets_with_round_trips": int((profiles["round_trips"] > 0).sum()),
                  "preview": dg.MetadataValue.md(profiles.drop("pnl_series", "post_loss_ratios", "post_win_ratios")
                                                 .head(5).to_pandas().to_markdown(index=False))},
        check_results=[
            dg.AssetCheckResult(check_name=PROFILES_COMPLETE, passed=len(profiles) == swapping,
                                metadata={"profiles": len(profiles), "wallets_in_swaps": swapping}),
            dg.AssetCheckResult(check_name=PROFILES_SANE, passed=bool(sane)),
        ],
    )


@dg.asset(
    group_name="wallets", kinds={"duckdb", "polars"}, owners=[WALLETS_OWNER],
    deps=["wallet_profiles", "funding_clusters"],
    check_specs=[
        dg.AssetCheckSpec(ONE_STAGE, asset="wallet_scores", blocking=True,
                          description="Every profiled wallet scored once, in exactly one stage, with reasons."),
        dg.AssetCheckSpec(SOME_TARGETS, asset="wallet_scores",
                          description="The scanner names at least one TARGET (a silent scanner is broken)."),
    ],
)
def wallet_scores(context: dg.AssetExecutionContext, config: WalletWindow, warehouse: Warehouse) -> dg.MaterializeResult:
    """Each wallet's stage, TARGET / WATCHLIST / REJECT call, score, confidence, deciding rule and audit trail."""
    cfg = config.scanner()
    with warehouse.get_connection() as con:
        profiles = con.sql("SELECT * FROM main.wallet_profiles").pl()
        clusters = con.sql("SELECT cluster_id, members, wash_score, is_ring FROM main.funding_clusters").df()
    profiles = with_wash_scores(profiles, clusters)
    t = time.perf_counter()
    result = scan(profiles, cfg)
    seconds = time.perf_counter() - t
    scores = result.scores
    warehouse.replace_table("wallet_scores", scores.to_arrow())
    counts = scores.group_by("classification").len().to_pandas().set_index("classification")["len"].to_dict()
    per_wallet = scores.group_by("wallet").len()
    stages_ok = (len(scores) == len(profiles) and per_wallet["len"].max() == 1
                 and scores["stage"].is_in(list(STAGES)).all() and (scores["reasons"].str.len_chars() > 0).all())
    targets = scores.filter(pl.col("classification") == "TARGET").sort("score", descending=True)
    return dg.MaterializeResult(
        metadata={"wallets": len(scores), "seconds": round(seconds, 3), "funnel": result.funnel(),
                  "classes": {k: int(v) for k, v in counts.items()},
                  "config": {k: getattr(cfg, k) for k in ScannerConfig.__dataclass_fields__},
                  "top_targets": dg.MetadataValue.md(targets.head(10).select(
                      "wallet", "score", "confidence", "reasons").to_pandas().to_markdown(index=False))},
        check_results=[
            dg.AssetCheckResult(check_name=ONE_STAGE, passed=bool(stages_ok),
                                metadata={"scores": len(scores), "profiles": len(profiles)}),
            dg.AssetCheckResult(check_name=SOME_TARGETS, passed=len(targets) > 0,
                                severity=dg.AssetCheckSeverity.WARN, metadata={"targets": len(targets)}),
        ],
    )


@dg.multi_asset(
    group_name="wallets",
    specs=[dg.AssetSpec("funding_connections", kinds={"duckdb"}, owners=[WALLETS_OWNER], deps=["transfers"],
                        description="Who paid whom: direct, indirect (one intermediary) and circular connections."),
           dg.AssetSpec("funding_clusters", kinds={"duckdb"}, owners=[WALLETS_OWNER], deps=["transfers", "swaps"],
                        description="Wallets behind a shared funder or a funding cycle, with wash-trading scores.")],
    check_specs=[
        dg.AssetCheckSpec(CONNECTIONS_TYPED, asset="funding_connections",
                          description="Every connection is direct, indirect or circular, between two addresses."),
        dg.AssetCheckSpec(CLUSTERS_FOUND, asset="funding_clusters",
                          description="Clusters have members, at least min_cluster_size each, scores in [0, 1]."),
    ],
)
def funding_graph(context: dg.AssetExecutionContext, config: FundingWindow, warehouse: Warehouse):
    """The funding graph from transfers (and, for wash scores, the members' swaps)."""
    cfg = FundingConfig().with_overrides(config.overrides)
    t = time.perf_counter()
    with warehouse.get_connection() as con:
        window = window_views(con, config.window_days)
        connections, clusters = build_graph(con, cfg)
    warehouse.replace_table("funding_connections", pl.from_pandas(connections).to_arrow())
    warehouse.replace_table("funding_clusters", pl.from_pandas(clusters).to_arrow())
    seconds = time.perf_counter() - t
    kinds = connections.kind.value_counts().to_dict()
    typed = connections.kind.isin(["direct", "indirect", "circular"]).all() and connections[["source", "target"]].notna().all().all()
    clusters_ok = bool(len(clusters) == 0 or ((clusters["size"] >= cfg.min_cluster_size).all()
                                               and clusters.wash_score.between(0, 1).all()))
    yield dg.MaterializeResult(
        asset_key="funding_connections",
        metadata={**window, "connections": len(connections), "by_kind": {k: int(v) for k, v in kinds.items()},
                  "seconds": round(seconds, 3)},
        check_results=[dg.AssetCheckResult(asset_key="funding_connections", check_name=CONNECTIONS_TYPED,
                                           passed=bool(typed), metadata={"by_kind": {k: int(v) for k, v in kinds.items()}})],
    )
    yield dg.MaterializeResult(
        asset_key="funding_clusters",
        metadata={**window, "clusters": len(clusters), "rings": int(clusters.is_ring.sum()) if len(clusters) else 0,
                  "clustered_wallets": int(clusters["size"].sum()) if len(clusters) else 0,
                  "config": {k: getattr(cfg, k) for k in FundingConfig.__dataclass_fields__},
                  "preview": dg.MetadataValue.md(clusters.drop(columns="members").head(10).to_markdown(index=False))},
        check_results=[dg.AssetCheckResult(asset_key="funding_clusters", check_name=CLUSTERS_FOUND,
                                           passed=clusters_ok, metadata={"clusters": len(clusters)})],
    )
