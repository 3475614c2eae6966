"""The run-failure sensor of the retraining job: every failed run is recorded in the warehouse table
`run_failures` (one row per run, re-recording replaces it) and handed to the alert hooks."""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg
import pandas as pd

from resources import Warehouse

FAILURES_DDL = """
CREATE TABLE IF NOT EXISTS run_failures (
    run_id VARCHAR PRIMARY KEY, job_name VARCHAR, partition_key VARCHAR, trigger VARCHAR, message VARCHAR,
    failed_at TIMESTAMP
)"""

Alert = Callable[[dict], None]


def record_failure(warehouse: Warehouse, failure: dict) -> None:
    """Insert or replace one failure row (keys of `run_failures`)."""
    with warehouse.get_connection() as con:
        con.execute(FAILURES_DDL)
        con.execute("INSERT OR REPLACE INTO run_failures VALUES (?, ?, ?, ?, ?, ?)",
                    [failure[k] for k in ("run_id", "job_name", "partition_key", "trigger", "message", "failed_at")])


def _message(context: dg.RunFailureSensorContext) -> str:
    """The run's failure line and each failed step's error, so the table says what broke."""
    steps = [f"{e.step_key}: {_root(e.step_failure_data.error).message.strip()}"
             for e in context.get_step_failure_events() if e.step_failure_data.error is not None]
    return " | ".join([context.failure_event.message or "", *steps])


def _root(error):
    """The innermost cause: Dagster wraps a step's exception in its own execution error."""
    while error.cause is not None:
        error = error.cause
    return error


def _trigger(tags) -> str:
    if "quant/trigger" in tags:
        return tags["quant/trigger"]
    return "schedule" if "dagster/schedule_name" in tags else "sensor" if "dagster/sensor_name" in tags else "manual"


def build_failure_sensor(job, alerts: tuple[Alert, ...] = (), name: str = "retrain_failure_sensor",
                         default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED) -> dg.SensorDefinition:
    """`alerts` is the hook point: each callable gets the failure record (Slack, PagerDuty, e-mail...)."""

    @dg.run_failure_sensor(name=name, monitored_jobs=[job], default_status=default_status,
                           description=f"Records failed `{job.name}` runs in run_failures and calls the alert hooks.")
    def _sensor(context: dg.RunFailureSensorContext, warehouse: Warehouse):
        run = context.dagster_run
        failure = {
            "run_id": run.run_id, "job_name": run.job_name,
            "partition_key": run.tags.get("dagster/partition"), "trigger": _trigger(run.tags),
            "message": _message(context)[:2000],
            "failed_at": pd.Timestamp.now(tz="UTC").tz_localize(None).to_pydatetime(),
        }
        record_failure(warehouse, failure)
        context.log.warning(f"{run.job_name} run {run.run_id} failed ({failure['partition_key']}): {failure['message'][:300]}")
        for alert in alerts:
            alert(failure)

    return _sensor
