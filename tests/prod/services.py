"""The PROD profile's servers, started on loopback in temporary folders and stopped afterwards: PostgreSQL
(Debian's package; initdb and pg_ctl as the `postgres` user when run as root, which PostgreSQL refuses),
Redis, and Celery workers started as a deployment starts them (`dagster-celery worker start`)."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from orchestration.environment import CELERY_YAML
from tests.chroma_server import _free_port, running_server

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def pg_bindir() -> Path | None:
    """The newest installed PostgreSQL's programs (Debian keeps them out of PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def missing_servers() -> list[str]:
    """What the PROD test needs and this machine lacks (`make prod-services` installs it)."""
    missing = [] if pg_bindir() else ["PostgreSQL (initdb, pg_ctl)"]
    return missing + ([] if shutil.which("redis-server") else ["redis-server"])


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str
    db: str

    def env(self) -> dict[str, str]:
        """The variables orchestration/instance/prod/dagster.yaml reads."""
        return {"DAGSTER_PG_HOST": self.host, "DAGSTER_PG_PORT": str(self.port), "DAGSTER_PG_DB": self.db,
                "DAGSTER_PG_USERNAME": self.user, "DAGSTER_PG_PASSWORD": self.password}


@contextmanager
def running_postgres() -> Iterator[Postgres]:
    """A fresh cluster with password authentication, listening on 127.0.0.1 only."""
    bindir = pg_bindir()
    root = Path(tempfile.mkdtemp(prefix="quant-pg-"))  # outside pytest's root-only temp dir
    as_owner: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    password = os.urandom(12).hex()
    (root / "pw").write_text(password)
    if as_owner:
        shutil.chown(root / "pw", "postgres", "postgres")
    port = _free_port()
    data = root / "data"

    def run(*args: str) -> None:
        subprocess.run([*as_owner, *args], check=True, capture_output=True, cwd=root)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "quant", f"--pwfile={root / 'pw'}",
            "--auth=scram-sha-256", "-E", "UTF8", "--no-sync")
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "60", "-o",
            f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root} -c fsync=off", "start")
        subprocess.run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "quant", "dagster"],
                       check=True, capture_output=True, env={**os.environ, "PGPASSWORD": password})
        yield Postgres("127.0.0.1", port, "quant", password, "dagster")
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*as_owner, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                           capture_output=True, cwd=root)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def running_redis(path: Path) -> Iterator[int]:
    """A Redis server on loopback, nothing persisted; yields its port."""
    path.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    with running_server(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                         "--appendonly", "no", "--dir", str(path)], port, "redis-server") as p:
        yield p


class Worker:
    """One Celery worker (one process running steps), started by the dagster-celery CLI in its own session."""

    def __init__(self, name: str, env: dict[str, str], log: Path, config: Path = CELERY_YAML):
        self.name = name
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app", "-y", str(config),
                 "-n", name, "-i", "orchestration.definitions", "--loglevel", "WARNING", "--", "--concurrency=1"],
                env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def node(self, nodes: list[str]) -> str | None:
        return next((n for n in nodes if n.startswith(f"{self.name}@")), None)

    def stop(self) -> None:
        """Kill whatever is left of it (its own process group only)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=20)
