"""Materialize every asset headlessly, with progress: the daily-partitioned ones day by day, then the
rest. Runs are recorded in $DAGSTER_HOME, so `dagster dev` shows them afterwards.

    python -m orchestration.materialize            # everything
    python -m orchestration.materialize --missing  # only what has not been materialized yet
"""

from __future__ import annotations

import argparse
import sys

import dagster as dg
from tqdm import tqdm

from orchestration.definitions import defs

# Step events would drown the progress bar; failures still print, and the UI has every event.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
PROMOTION = dg.AssetSelection.assets("model_promotion").upstream()


def _split(assets: list[dg.AssetsDefinition]):
    partitioned = [a for a in assets if a.partitions_def is not None]
    unpartitioned = [a for a in assets if a.partitions_def is None]
    return partitioned, unpartitioned


def _done_partitions(instance: dg.DagsterInstance, assets: list[dg.AssetsDefinition]) -> set[str]:
    """Partition keys every partitioned asset already has."""
    sets = [instance.get_materialized_partitions(key) for a in assets for key in a.keys]
    return set.intersection(*sets) if sets else set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Materialize every asset headlessly.")
    parser.add_argument("--missing", action="store_true", help="skip what is already materialized")
    args = parser.parse_args(argv)
    instance = dg.DagsterInstance.get()
    definitions = defs()
    # Observable source assets (the live journal) are observed, never materialized.
    assets = [a for a in definitions.assets if isinstance(a, dg.AssetsDefinition) and a.is_materializable]
    partitioned, unpartitioned = _split(assets)
    resources = definitions.resources
    # Market data for every day first: a day's labels read the head of the next day's snapshots.
    market = [a for a in partitioned if "market_data" in a.group_names_by_key.values()]
    derived = [a for a in partitioned if a not in market]
    done_days = 0
    for stage, stage_assets in (("market data", market), ("features and labels", derived)):
        if not stage_assets:
            continue
        keys = stage_assets[0].partitions_def.get_partition_keys()
        done = _done_partitions(instance, stage_assets) if args.missing else set()
        todo = [k for k in keys if k not in done]
        for key in tqdm(todo, desc=stage, unit="day"):
            result = dg.materialize(partitioned, partition_key=key, resources=resources, instance=instance,
                                    selection=[k for a in stage_assets for k in a.keys], raise_on_error=False,
                                    run_config=QUIET, tags={"launched_by": "make materialize"})
            if not result.success:
                print(f"{stage} for {key} failed; see the run in the Dagster UI", file=sys.stderr)
                return 1
        done_days += len(todo)
    pending = [a for a in unpartitioned
               if not args.missing or any(instance.get_latest_materialization_event(k) is None for k in a.keys)]
    # One run per asset, in dependency order, so the bar moves asset by asset (the agents and the sequence model
    # take minutes each); the champions first (models, evaluation, promotion): a live runtime started beside
    # the build trades as soon as they exist, not after the agents and the embeddings.
    graph = definitions.resolve_asset_graph()
    champions = PROMOTION.resolve(graph)
    order = {k: i for i, k in enumerate(graph.toposorted_asset_keys)}
    pending.sort(key=lambda a: (not set(a.keys) <= champions, min(order[k] for k in a.keys)))
    bar = tqdm(pending, desc="unpartitioned assets", unit="asset")
    for asset in bar:
        name = ", ".join(sorted(k.to_user_string() for k in asset.keys))
        bar.set_postfix_str(name)
        result = dg.materialize(assets, selection=list(asset.keys), resources=resources, instance=instance,
                                raise_on_error=False, run_config=QUIET, tags={"launched_by": "make materialize"})
        if not result.success:
            print(f"{name} failed; see the run in the Dagster UI", file=sys.stderr)
            return 1
    print(f"materialized {done_days} asset-days and {len(pending)} unpartitioned assets", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
