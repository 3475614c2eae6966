"""The PROD profile on this machine: PostgreSQL and Redis from Debian's packages and a Chroma server, all on
loopback; two Celery workers; the retrain job of the small world (QUANT_WORLD=small, three days) under PROD
gives the same champions, model files and evaluation figures as under LOCAL with the same seed, and the
funding graph's documents go to the Chroma server. Then a worker is stopped in the middle of a run (the run
finishes on the other), and the process running a step is killed (the run fails naming the step, nothing is
half-written, and re-executing it from the failure gives the same result), and every process of a worker is
killed at once, as when its machine is lost (another worker runs the step and the run succeeds). Skipped, with the reason, where
PostgreSQL or Redis is not installed (`make prod-services` installs them)."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from celery import Celery

from quant.models.registry import Registry
from quant.models.specs import SPECS
from quant.retrieval.vector_store import FUNDING, VectorStore
from resources import ParquetWarehouse, Warehouse
from tests.chroma_server import running_chroma
from tests.prod.services import CELERY_YAML, REPO, Worker, missing_servers, running_postgres, running_redis

# The world both profiles run: the small one (three days) in `make test`; `QUANT_PROD_WORLD=default` runs the
# default world (eight days), as `make prod-test-default` does.
WORLD = os.environ.get("QUANT_PROD_WORLD", "small")
DAYS = {"small": 3, "default": 8}[WORLD]
pytestmark = pytest.mark.timeout(600 if WORLD == "small" else 3600)
INSTANCE = REPO / "orchestration" / "instance"
TABLES = ["pool_features", "pool_labels", "pool_snapshots", "swaps"]
# Not compared between the two registries: when a version was written, the checkout it was written from
# (others commit to it while this test runs), and the sha256 of the training rows' bytes: polars rounds a
# rolling feature 1 ulp differently depending on how its input frame is chunked (see the no-look-ahead
# test), which differs between a DuckDB file and Parquet files. The data itself is compared to 1e-12 below,
# and so are the floats of the manifests (a reference histogram's edge is a quantile of those features).
NOT_COMPARED = {"created_at", "code_version", "data_fingerprint"}
# The workers' Redis visibility timeout: a lost worker's step goes to another after it. The deployed file's
# (two hours) is shortened so that the test need not wait; it stays longer than any step of the world here.
VISIBILITY_S = {"small": 45, "default": 300}[WORLD]


def differences(ours, theirs, path: str = "") -> list[str]:
    """Where two JSON-like values differ: floats beyond a relative 1e-12, anything else at all."""
    if isinstance(ours, dict) and isinstance(theirs, dict) and set(ours) == set(theirs):
        return [d for k in ours for d in differences(ours[k], theirs[k], f"{path}/{k}")]
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        return [d for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) for d in differences(a, b, f"{path}[{i}]")]
    if isinstance(ours, float) and isinstance(theirs, float) and math.isclose(ours, theirs, rel_tol=1e-12, abs_tol=1e-15):
        return []
    return [] if ours == theirs else [f"{path}: {ours!r} != {theirs!r}"]


def profile_env(tmp: Path, profile: str, worlds: Path, **extra: str) -> dict[str, str]:
    home = tmp / "dagster_home"
    home.mkdir(parents=True)
    (tmp / "data").mkdir()
    (tmp / "data" / "worlds").symlink_to(worlds)  # one simulated world for both profiles (built under a lock)
    shutil.copy(INSTANCE / ("prod" if profile == "PROD" else "") / "dagster.yaml", home / "dagster.yaml")
    drop = ("QUANT_", "DAGSTER_", "CELERY_", "CHROMA_")  # nothing of the caller's own profile leaks in
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**env, "QUANT_ENV": profile, "DAGSTER_HOME": str(home), "QUANT_DATA_DIR": str(tmp / "data"),
            "QUANT_WORLD": WORLD, "QUANT_DAYS": str(DAYS), "QUANT_SEED": "7", "QUANT_EMBEDDER": "hashing",
            "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO), "PATH": f"{Path(sys.executable).parent}:{env['PATH']}",
            **extra}


def run_job(env: dict[str, str], *args: str) -> dict:
    """The runner's result per action, with the tail of its log (for the messages of failed assertions)."""
    return finish(start_job(env, *args))


def start_job(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.prod.run_job", *args], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> dict:
    try:
        out, err = proc.communicate(timeout=400 if WORLD == "small" else 3000)
    except subprocess.TimeoutExpired:
        proc.kill()  # a run left waiting must not outlive the test
        raise
    assert proc.returncode == 0, f"runner exited {proc.returncode}: {err[-4000:]}"
    return {what: {**result, "log_tail": err[-3000:]} for what, result in json.loads(out.strip().splitlines()[-1]).items()}


def registry_state(data: Path) -> dict:
    """Per model: champion, versions, and each version's manifest without its creation time."""
    registry = Registry(data / "registry")
    return {m: {"champion": registry.champion(m),
                "versions": {v: {k: x for k, x in registry.manifest(m, v).items() if k not in NOT_COMPARED}
                             for v in registry.versions(m)}} for m in SPECS}


def worker_config(tmp: Path) -> Path:
    """The deployed Celery file with the visibility timeout shortened, and swept for every second."""
    config = yaml.safe_load(CELERY_YAML.read_text())
    config["execution"]["config"]["config_source"]["broker_transport_options"].update(
        visibility_timeout=VISIBILITY_S, unacked_restore_interval=1)
    path = tmp / "celery.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class Prod:
    env: dict[str, str]
    app: Celery
    workers: list[Worker]
    worker_config: Path
    first: dict | None = None  # the first retrain run's result
    funding: dict | None = None  # the funding graph's tables and documents

    @property
    def warehouse(self) -> ParquetWarehouse:
        return ParquetWarehouse(directory=self.env["QUANT_WAREHOUSE_DIR"])

    def nodes(self) -> list[str]:
        return [name for reply in self.app.control.ping(timeout=1.0) for name in reply]

    def wait_for(self, workers: list[Worker]) -> None:
        deadline = time.monotonic() + 120
        while not all(w.node(self.nodes()) for w in workers):
            assert all(w.proc.poll() is None for w in workers), [w.log.read_text()[-2000:] for w in workers]
            assert time.monotonic() < deadline, "the Celery workers did not answer a ping in 120 s"

    def running(self) -> list[tuple[str, str, int]]:
        """(step, worker, pid of the process running it) of every step running on a live worker. The reply
        comes as soon as every live worker has answered."""
        live = sum(w.proc.poll() is None for w in self.workers)
        active = self.app.control.inspect(timeout=1.0, limit=live).active() or {}
        return [(step, node, task["worker_pid"]) for node, tasks in active.items() for task in tasks
                for step in re.findall(r"step_keys_to_execute\W+([a-z_]+)",
                                       json.dumps([task["args"], task["kwargs"]]))]

    def warehouse_digest(self) -> dict[str, tuple[int, int]]:
        wh = self.warehouse
        return {t: (len(df), int(pd.util.hash_pandas_object(df, index=False).sum()))
                for t in TABLES for df in [wh.query(f"SELECT * FROM {t} ORDER BY ALL")]}


class LocalRun:
    """The retrain job under LOCAL (DuckDB file, SQLite instance, multiprocess executor), started at once
    and awaited when first needed, so that it overlaps the start of the PROD servers."""

    def __init__(self, tmp: Path, worlds: Path):
        self.env = profile_env(tmp, "LOCAL", worlds)
        self._proc = start_job(self.env, "prepare", "retrain")
        self._done: dict | None = None

    def __getitem__(self, key: str):
        if self._done is None:
            result = finish(self._proc)["retrain"]
            self._done = {"env": self.env, "result": result, "registry": registry_state(Path(self.env["QUANT_DATA_DIR"]))}
        return self._done[key]


@pytest.fixture(scope="module")
def worlds(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("worlds")


@pytest.fixture(scope="module")
def servers() -> None:
    missing = missing_servers()
    if missing:
        pytest.skip(f"PROD profile test needs {', '.join(missing)}: `make prod-services` installs them "
                    "from Debian's packages (apt-get was not available or failed)")


@pytest.fixture(scope="module")
def local(servers, tmp_path_factory, worlds):
    run = LocalRun(tmp_path_factory.mktemp("local"), worlds)
    yield run
    if run._proc.poll() is None:  # a PROD failure left it running
        run._proc.kill()
        run._proc.wait()


@pytest.fixture(scope="module")
def prod(servers, tmp_path_factory, local, worlds):
    tmp = tmp_path_factory.mktemp("prod")
    with running_postgres() as pg, running_redis(tmp / "redis") as redis, running_chroma(tmp / "chroma") as chroma:
        broker = f"redis://127.0.0.1:{redis}"
        env = profile_env(tmp, "PROD", worlds, **pg.env(), CELERY_BROKER_URL=f"{broker}/0", CELERY_RESULT_BACKEND=f"{broker}/1",
                          CHROMA_HOST="127.0.0.1", CHROMA_PORT=str(chroma),
                          QUANT_WAREHOUSE_DIR=str(tmp / "parquet-warehouse"))
        config = worker_config(tmp)
        workers = [Worker(name, env, tmp / f"{name}.log", config) for name in ("w1", "w2")]
        try:
            prod = Prod(env, Celery(broker=f"{broker}/0", backend=f"{broker}/1"), workers, config)
            prod.wait_for(workers)
            done = run_job(env, "prepare", "retrain", "funding")
            prod.first, prod.funding = done["retrain"], done["funding"]
            yield prod
        finally:
            for w in workers:
                w.stop()


def test_prod_retrain_gives_the_local_champions_models_and_figures(local, prod):
    result = prod.first
    assert result["success"] and result["executor"] == "celery", result
    # every step ran in a Celery worker, not in the process that launched the run
    assert sorted(result["workers"]) == sorted([*SPECS, "pool_features", "pool_labels", "model_evaluation",
                                                "model_promotion"])
    assert all(w.split("@")[0] in ("w1", "w2") for w in result["workers"].values()), result["workers"]
    assert result["champions"] == local["result"]["champions"] == {m: "v0001" for m in SPECS}
    assert result["evaluation"] and not differences(result["evaluation"], local["result"]["evaluation"])
    # the same model files (sha256), metrics, windows, row counts and reference histograms
    assert not differences(registry_state(Path(prod.env["QUANT_DATA_DIR"])), local["registry"])
    # from the same rows: every table of the Parquet warehouse equals the DuckDB file's (floats to 1e-12)
    duckdb_file = Warehouse(database=str(Path(local["env"]["QUANT_DATA_DIR"]) / "warehouse.duckdb"))
    for table in TABLES:
        ours, theirs = (wh.query(f"SELECT * FROM {table} ORDER BY ALL") for wh in (prod.warehouse, duckdb_file))
        pd.testing.assert_frame_equal(ours, theirs, check_exact=False, rtol=0, atol=1e-12)
    # and the warehouse really is Parquet files in the configured folder, one per table and day
    folder = Path(prod.env["QUANT_WAREHOUSE_DIR"])
    assert sorted(p.name for p in (folder / "pool_features").glob("*.parquet")) == [
        f"2026-01-{d:02d}.parquet" for d in range(1, DAYS + 1)]
    assert not (Path(prod.env["QUANT_DATA_DIR"]) / "warehouse.duckdb").exists()


def test_whole_tables_go_to_parquet_and_documents_to_the_chroma_server(prod):
    n = prod.funding["connections"]
    assert n > 0 and prod.funding["documents"] == n
    folder = Path(prod.env["QUANT_WAREHOUSE_DIR"])
    assert [p.name for p in (folder / "funding_connections").iterdir()] == ["table.parquet"]
    # asked of the server itself: the documents are there, not in a directory of the data folder
    server = VectorStore.http("127.0.0.1", int(prod.env["CHROMA_PORT"]))
    assert server.stats() == {FUNDING: n}
    assert not (Path(prod.env["QUANT_DATA_DIR"]) / "chroma").exists()


def test_a_worker_stopped_mid_run_leaves_the_run_to_the_other(local, prod):
    proc = start_job(prod.env, "retrain")
    node, _ = wait_for_step(prod, proc, "pool_features")
    # a warm stop of the worker running it (SIGTERM, `dagster-celery worker terminate`): it finishes the
    # step and takes no more
    stopped = next(w for w in prod.workers if w.node([node]))
    prod.app.control.broadcast("shutdown", destination=[node])
    result = finish(proc)["retrain"]
    assert stopped.proc.wait(timeout=60) is not None and stopped.node(prod.nodes()) is None
    assert result["success"], result
    # the stopped worker finished its step; the other worker ran every step after it
    assert result["workers"]["pool_features"] == node
    other = next(w for w in prod.workers if w is not stopped).node(prod.nodes())
    assert {result["workers"][s] for s in [*SPECS, "model_evaluation", "model_promotion"]} == {other}
    assert not differences(result["evaluation"], local["result"]["evaluation"])
    assert not differences(registry_state(Path(prod.env["QUANT_DATA_DIR"])), local["registry"])  # no new version


def test_a_killed_step_fails_the_run_clearly_and_a_retry_completes_it(local, prod):
    data = Path(prod.env["QUANT_DATA_DIR"])
    before, registry = prod.warehouse_digest(), registry_state(data)
    proc = start_job(prod.env, "retrain", "--only", "model_evaluation,model_promotion")  # on the models stored
    # the process running the evaluation (the longest step, seconds) dies: the OOM-killer, a crash
    _, pid = wait_for_step(prod, proc, "model_evaluation")
    os.kill(pid, signal.SIGKILL)
    failed = finish(proc)["retrain"]
    assert not failed["success"] and failed["status"] == "FAILURE", failed
    # the run says which step's worker was lost, and why
    said = " ".join([*failed["failed_steps"].values(), *failed["errors"]])
    assert re.search(r"\[model_evaluation\]: \S*WorkerLostError: Worker exited prematurely: signal 9", said), failed
    # nothing half-written: every table reads back as before, the registry is unchanged
    assert prod.warehouse_digest() == before
    assert registry_state(data) == registry
    retry = run_job(prod.env, "retrain", "--from-failure", failed["run_id"])["retrain"]
    assert retry["success"], json.dumps(retry)[:6000]
    assert not differences(retry["evaluation"], local["result"]["evaluation"])
    assert registry_state(data) == registry


def test_a_lost_worker_machine_leaves_its_step_to_another(local, prod, tmp_path):
    spare = Worker("w3", prod.env, tmp_path / "w3.log", prod.worker_config)
    prod.workers.append(spare)
    prod.wait_for([w for w in prod.workers if w.proc.poll() is None])
    proc = start_job(prod.env, "retrain", "--only", "model_evaluation,model_promotion")  # on the models stored
    node, _ = wait_for_step(prod, proc, "model_evaluation")
    # every process of the worker running it dies at once, as when its machine is lost: no warm stop, no
    # WorkerLostError from a surviving parent; its task was taken but never acknowledged
    lost = next(w for w in prod.workers if w.node([node]))
    lost.stop()
    survivor = next(w for w in prod.workers if w is not lost and w.proc.poll() is None).node(prod.nodes())
    result = finish(proc)["retrain"]
    assert result["success"], result
    # the survivor ran the lost step again once the visibility timeout passed, then the step after it
    assert {result["workers"][s] for s in ("model_evaluation", "model_promotion")} == {survivor}
    assert not differences(result["evaluation"], local["result"]["evaluation"])
    assert not differences(registry_state(Path(prod.env["QUANT_DATA_DIR"])), local["registry"])  # no new version


def wait_for_step(prod: Prod, proc: subprocess.Popen, step: str) -> tuple[str, int]:
    """The worker and the pid of the process running `step`, as soon as it runs."""
    deadline = time.monotonic() + 120
    while not (pids := [(node, pid) for running, node, pid in prod.running() if running == step]):
        assert proc.poll() is None, f"the run ended before {step} was seen running"
        assert time.monotonic() < deadline, f"{step} did not start on a worker in 120 s"
        time.sleep(0.05)
    return pids[0]
