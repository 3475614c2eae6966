"""Pool features and labels, one daily partition at a time. A feature partition reads the previous day's
tail (enough snapshots per pool to fill every rolling window); a label partition reads the next day's head
(enough for the forward horizon), so features never see the future and labels are never cut short."""

import warnings

import dagster as dg
import pandas as pd
from pandera.errors import SchemaErrors

from quant.features import WINDOW, batch_features
from quant.features.labels import LabelConfig, build_labels
from quant.features.schema import FEATURE_SCHEMA
from resources import Warehouse

OWNER = "team:ml"
FEATURE_SCHEMA_CHECK = "feature_schema"
DAY = pd.Timedelta(days=1)

# The day's rows plus, per pool, the `n` rows of the neighbouring day nearest to it.
EDGE_SQL = """
SELECT * FROM pool_snapshots WHERE ts >= $start AND ts < $end
UNION ALL
SELECT * EXCLUDE (rank_) FROM (
    SELECT *, row_number() OVER (PARTITION BY pool_id ORDER BY ts {order}) AS rank_
    FROM pool_snapshots WHERE ts >= $edge_start AND ts < $edge_end
) WHERE rank_ <= $n
"""


def _snapshots_with_edge(warehouse: Warehouse, start, end, edge: str, n: int) -> pd.DataFrame:
    start, end = pd.Timestamp(start).tz_localize(None), pd.Timestamp(end).tz_localize(None)
    if edge == "previous":
        sql, bounds = EDGE_SQL.format(order="DESC"), (start - DAY, start)
    else:
        sql, bounds = EDGE_SQL.format(order="ASC"), (end, end + DAY)
    with warehouse.get_connection() as con:
        return con.execute(sql, {"start": start, "end": end, "edge_start": bounds[0], "edge_end": bounds[1],
                                 "n": n}).df()


# The first day has no previous day and the last no next one: those edges are simply empty.
with warnings.catch_warnings():  # allow_nonexistent_upstream_partitions is marked beta in 1.13
    warnings.simplefilter("ignore", dg.BetaWarning)
    WITH_PREVIOUS_DAY = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=0,
                                                      allow_nonexistent_upstream_partitions=True)
    WITH_NEXT_DAY = dg.TimeWindowPartitionMapping(start_offset=0, end_offset=1,
                                                  allow_nonexistent_upstream_partitions=True)


class LabelsConfig(dg.Config):
    horizon: int = LabelConfig().horizon  # snapshots ahead


def feature_assets(partitions: dg.PartitionsDefinition) -> tuple[dg.AssetsDefinition, dg.AssetsDefinition]:
    """pool_features and pool_labels, partitioned by `partitions` (assets.partitions.daily_partitions_for)."""

    @dg.asset(
        partitions_def=partitions, group_name="features", kinds={"duckdb", "polars"}, owners=[OWNER],
        deps=[dg.AssetDep("pool_snapshots", partition_mapping=WITH_PREVIOUS_DAY),
              dg.AssetDep("swaps", partition_mapping=WITH_PREVIOUS_DAY)],
        check_specs=[dg.AssetCheckSpec(FEATURE_SCHEMA_CHECK, asset="pool_features", blocking=True,
                                       description="Stored features honour the feature contract: types, ranges, "
                                                   "no infinities, nulls only where history is missing.")],
    )
    def pool_features(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        """Features of every pool snapshot of the day (quant.features), stored in DuckDB table pool_features."""
        start, end = context.partition_time_window
        snaps = _snapshots_with_edge(warehouse, start, end, "previous", WINDOW - 1)
        swaps = warehouse.read_window("swaps", pd.Timestamp(start) - DAY, end)
        feats = batch_features(snaps, swaps, since=start).to_pandas()
        warehouse.replace_window("pool_features", feats, start, end)
        stored = warehouse.read_window("pool_features", start, end)
        try:
            FEATURE_SCHEMA.validate(stored, lazy=True)
            ok, note = True, "stored features honour the contract"
        except SchemaErrors as err:  # the blocking check stops models from training on them
            ok, note = False, str(err)[:2000]
        return dg.MaterializeResult(
            metadata={"rows": len(feats), "pools": int(feats.pool_id.nunique()), "tail_rows_read": len(snaps) - len(feats),
                      "null_share": dg.MetadataValue.json(feats.drop(columns=["pool_id", "ts"]).isna().mean().round(4).to_dict())},
            check_results=[dg.AssetCheckResult(check_name=FEATURE_SCHEMA_CHECK, passed=ok,
                                               metadata={"rows_checked": len(stored), "note": note})],
        )


    @dg.asset(
        partitions_def=partitions, group_name="features", kinds={"duckdb", "polars"}, owners=[OWNER],
        deps=[dg.AssetDep("pool_snapshots", partition_mapping=WITH_NEXT_DAY)],
    )
    def pool_labels(context: dg.AssetExecutionContext, config: LabelsConfig, warehouse: Warehouse) -> dg.MaterializeResult:
        """Forward labels of every pool snapshot of the day (will_moon, will_rug, regime, bankable_return), in table
        pool_labels."""
        start, end = context.partition_time_window
        # horizon + 1: bankable_return enters at the next snapshot and exits `horizon` after it.
        snaps = _snapshots_with_edge(warehouse, start, end, "next", config.horizon + 1)
        labels = build_labels(snaps, LabelConfig(horizon=config.horizon)).to_pandas()
        lo, hi = pd.Timestamp(start).tz_localize(None), pd.Timestamp(end).tz_localize(None)
        labels = labels[(labels.ts >= lo) & (labels.ts < hi)].reset_index(drop=True)
        labels["horizon"] = config.horizon  # the purge gap the models need comes from here
        warehouse.replace_window("pool_labels", labels, start, end)
        known = labels.will_moon.notna()
        return dg.MaterializeResult(metadata={
            "rows": len(labels), "next_day_rows_read": len(snaps) - int(((snaps.ts >= lo) & (snaps.ts < hi)).sum()),
            "null_labels": int((~known).sum()),
            "will_moon_rate": float(labels.will_moon[known].mean()) if known.any() else float("nan"),
            "will_rug_rate": float(labels.will_rug[known].mean()) if known.any() else float("nan"),
            "bankable_win_rate": float((labels.bankable_return.dropna() > 0).mean()) if labels.bankable_return.notna().any() else float("nan"),
            "regimes": dg.MetadataValue.json(labels.regime.value_counts().to_dict()), "horizon": config.horizon,
        })

    return pool_features, pool_labels
