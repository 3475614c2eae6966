"""The PROD profile's selection and its secrets, without servers: what QUANT_ENV=PROD picks, that every
secret stays an environment reference, and that .env.example lists every variable the code reads."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from orchestration.environment import Environment, executor_for, get_environment, resources_for
from quant.settings import Settings
from resources import ChromaStore, ParquetWarehouse, Warehouse

REPO = Path(__file__).resolve().parents[2]
INSTANCE = REPO / "orchestration" / "instance"
CODE = ["quant", "resources", "assets", "sensors", "orchestration", "live_runtime"]
READS = [r"os\.environ(?:\.get)?\(\s*\"([A-Z0-9_]+)\"", r"os\.environ\[\s*\"([A-Z0-9_]+)\"",
         r"EnvVar(?:\.int)?\(\s*\"([A-Z0-9_]+)\"", r"\benv(?:iron)?\[\s*\"([A-Z0-9_]+)\"\]",
         r"\benv(?:iron)?\.get\(\s*\"([A-Z0-9_]+)\"", r"\{env: ([A-Z0-9_]+)\}"]
NAMED = re.compile(r"^\s*([A-Z0-9_, ]*_ENV[A-Z0-9_, ]*)=(.*)$", re.M)  # TOKEN_ENV = "X"; A_ENV, B_ENV = "Y", "Z"


def variables_read(text: str) -> set[str]:
    named = {v for _, rhs in NAMED.findall(text) for v in re.findall(r"\"([A-Z0-9_]+)\"", rhs)}
    return named | {name for pattern in READS for name in re.findall(pattern, text)}


def test_prod_selects_parquet_chroma_server_and_celery(monkeypatch, tmp_path):
    monkeypatch.setenv("QUANT_ENV", "prod")
    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QUANT_WAREHOUSE_DIR", str(tmp_path / "lake"))
    assert get_environment() is Environment.PROD
    resources = resources_for(Environment.PROD, Settings.from_env())
    assert isinstance(resources["warehouse"], ParquetWarehouse)
    assert resources["warehouse"].directory == str(tmp_path / "lake")
    store = resources["vector_store"]
    assert isinstance(store, ChromaStore)
    assert [type(v).__name__ for v in (store.host, store.port)] == ["EnvVar", "IntEnvVar"]
    assert (store.host.env_var_name, store.port.env_var_name) == ("CHROMA_HOST", "CHROMA_PORT")
    assert executor_for(Environment.PROD).name == "celery"
    # the same resource keys as LOCAL: the assets cannot tell which profile runs
    local = resources_for(Environment.LOCAL, Settings.from_env())
    assert set(local) == set(resources) and type(local["warehouse"]) is Warehouse
    assert executor_for(Environment.LOCAL) is None


def test_prod_instance_and_celery_config_hold_no_secret():
    db = yaml.safe_load((INSTANCE / "prod" / "dagster.yaml").read_text())["storage"]["postgres"]["postgres_db"]
    assert all(isinstance(v, dict) and set(v) == {"env"} for k, v in db.items() if k != "scheme"), db
    celery = yaml.safe_load((INSTANCE / "prod" / "celery.yaml").read_text())["execution"]["config"]
    assert celery["broker"] == {"env": "CELERY_BROKER_URL"} and celery["backend"] == {"env": "CELERY_RESULT_BACKEND"}


def test_env_example_lists_every_variable_the_code_reads():
    listed = set(re.findall(r"^([A-Z0-9_]+)=", (REPO / ".env.example").read_text(), re.M))
    files = [p for d in CODE for p in (REPO / d).rglob("*") if p.suffix in (".py", ".yaml")]
    read = {name for p in files for name in variables_read(p.read_text())}
    assert {"QUANT_ENV", "DAGSTER_PG_PASSWORD", "CELERY_BROKER_URL", "QUANT_WAREHOUSE_DIR"} <= read
    assert read - listed == set(), f"read by the code but missing from .env.example: {sorted(read - listed)}"
