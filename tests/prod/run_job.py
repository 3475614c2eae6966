"""Run the retrain job under whichever profile QUANT_ENV selects, as a deployment's run worker does: the
job reconstructed from its code location (`orchestration.definitions`), on the instance in $DAGSTER_HOME,
with the profile's executor. Prints one JSON line, an object with one entry per action; a retrain's is the
run, its status, the steps that failed and why, the worker of each step, the champions and the evaluation
figures.

    python -m tests.prod.run_job prepare                  # market data of every day, features and labels of
                                                          # all but the last, in process (the job's inputs)
    python -m tests.prod.run_job retrain                  # the retrain job on the last day
    python -m tests.prod.run_job funding                  # the funding graph and its vector-store documents
    python -m tests.prod.run_job prepare retrain funding  # several, in one process
    python -m tests.prod.run_job retrain --only model_evaluation,model_promotion   # part of the job
    python -m tests.prod.run_job retrain --from-failure RUN_ID   # re-execute what did not succeed
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository

from assets.partitions import daily_partitions_for
from orchestration.definitions import defs as load_defs
from quant.models.specs import SPECS
from quant.settings import Settings

defs = load_defs()  # the Definitions the code location loads, from the same environment
daily_partitions = daily_partitions_for(Settings.from_env())

# The small world's windows (as tests/dagster/test_model_assets.py): two days train, one is held out. Other
# worlds run the job's own defaults.
WINDOWS = {"train_days": 2, "holdout_days": 1, "slippage_rows": 20_000}
RUN_CONFIG = ({"ops": {name: {"config": WINDOWS} for name in [*SPECS, "model_evaluation", "model_promotion"]}}
              if os.environ.get("QUANT_WORLD") == "small" else {})
# A run's own file path, the only figure that differs between two runs of the same data.
RUN_SPECIFIC = {"equity_curves_png"}


def prepare(instance: dg.DagsterInstance) -> dict:
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    days = daily_partitions.get_partition_keys()
    steps = [(day, ["pool_snapshots", "swaps", "transfers"]) for day in days]
    steps += [(day, [name]) for day in days[:-1] for name in ("pool_features", "pool_labels")]
    for day, selection in steps:
        dg.materialize(assets, partition_key=day, selection=selection, resources=defs.resources, instance=instance)
    return {"prepared": days}


def funding(instance: dg.DagsterInstance) -> dict:
    """The funding graph (whole tables, not daily partitions), then its documents in the vector store."""
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    selection = [dg.AssetKey("funding_connections"), dg.AssetKey("funding_clusters"),
                 dg.AssetKey(["embeddings", "funding_connections"])]
    result = dg.materialize(assets, selection=selection, resources=defs.resources, instance=instance)
    connections = defs.resources["warehouse"].query("SELECT count(*) AS n FROM funding_connections").n.iloc[0]
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.path[0] == "embeddings"]
    return {"connections": int(connections), "documents": event.materialization.metadata["documents"].value}


def retrain(instance: dg.DagsterInstance, from_failure: str | None, only: list[str] | None = None) -> dict:
    job = ReconstructableRepository.for_module("orchestration.definitions", "defs").get_reconstructable_job("retrain")
    day = daily_partitions.get_partition_keys()[-1]
    if from_failure:
        result = dg.execute_job(job, instance, reexecution_options=dg.ReexecutionOptions.from_failure(from_failure, instance))
    else:
        selection = [dg.AssetKey(name) for name in only] if only else None
        result = dg.execute_job(job, instance, run_config=RUN_CONFIG, tags={"dagster/partition": day},
                                asset_selection=selection)
    run = instance.get_run_by_id(result.run_id)
    failures = {e.step_key: e.event_specific_data.error.to_string()
                for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE}
    # what the run itself says when a step's worker was lost (no step failure event can come from it)
    errors = [f"{e.message} {e.event_specific_data.error.to_string()}" for e in result.all_events
              if e.event_type in (dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.ENGINE_EVENT)
              and getattr(e.event_specific_data, "error", None)]
    evaluation = {k: _plain(v.value) for event in result.asset_materializations_for_node("model_evaluation")
                  for k, v in event.metadata.items() if k not in RUN_SPECIFIC}
    workers = {e.step_key: e.event_specific_data.metadata["Celery worker"].value for e in result.all_events
               if e.event_type == dg.DagsterEventType.ENGINE_EVENT and "Celery worker" in e.event_specific_data.metadata}
    registry = defs.resources["model_registry"].registry()
    return {"run_id": result.run_id, "success": result.success, "status": run.status.value,
            "executor": job.get_definition().executor_def.name, "failed_steps": failures, "errors": errors, "workers": workers,
            "champions": {m: registry.champion(m) for m in SPECS}, "versions": {m: registry.versions(m) for m in SPECS},
            "evaluation": evaluation}


ACTIONS = {"prepare": lambda instance, *_: prepare(instance), "retrain": retrain,
           "funding": lambda instance, *_: funding(instance)}


def _plain(value):
    return json.loads(json.dumps(value, default=str))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="+", choices=list(ACTIONS), help="one or more, in order")
    parser.add_argument("--from-failure", metavar="RUN_ID")
    parser.add_argument("--only", metavar="ASSET,...", help="run these assets of the job, not all of it")
    args = parser.parse_args(argv)
    only = args.only.split(",") if args.only else None
    with dg.DagsterInstance.get() as instance:
        out = {what: ACTIONS[what](instance, args.from_failure, only) for what in args.what}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
