"""The API on a running engine: reads are open, control needs the bearer token from the environment."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from live_runtime.api import build_app
from live_runtime.engine import Engine
from live_runtime.sources import TableStream
from tests.live.conftest import live_config

# Enough of the forward day that some launch passes the cascade: on the issue-19 market with walk-away buyers the
# first 20,000 events hold none.
EVENTS = 60_000


def ran_engine(live_root, stream_events, work):
    events, history = stream_events
    e = Engine(live_config(live_root, work), TableStream(events[:EVENTS], history))
    e.warm_up()
    e.run()
    e.publish()
    return e


@pytest.fixture(scope="module")
def engine(live_root, stream_events, tmp_path_factory):
    """One run shared by the tests that only read it or are refused."""
    return ran_engine(live_root, stream_events, tmp_path_factory.mktemp("api"))


def test_reads_describe_the_running_engine(engine):
    client = TestClient(build_app(engine))
    assert client.get("/health").json()["ok"] is True
    status = client.get("/status").json()
    assert status["stats"]["events"] == EVENTS and status["mode"] == "paper"
    assert client.get("/models").json()["serving"]["moon_model"]["version"] == engine.watcher.current.moon.version
    assert client.get("/risk").json()["state"] == "ACTIVE"
    decisions = client.get("/decisions/recent").json()
    assert decisions and {"action", "reasons", "p_moon", "p_rug"} <= set(decisions[0])
    assert client.get("/predictions/recent").json()
    assert isinstance(client.get("/positions").json(), list)
    assert len(client.get("/equity").json()) >= 1
    assert "<canvas" in client.get("/").text


@pytest.mark.parametrize("path", ["/kill", "/retrain"])
def test_control_endpoints_need_the_token(engine, path, monkeypatch):
    client = TestClient(build_app(engine))
    monkeypatch.delenv("LIVE_API_TOKEN", raising=False)
    assert client.post(path).status_code == 503  # no token configured: control is off
    monkeypatch.setenv("LIVE_API_TOKEN", "s3cret")
    assert client.post(path).status_code == 401
    assert client.post(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post(path, headers={"Authorization": "s3cret"}).status_code == 401  # not a bearer header
    assert not engine.cfg.kill_file.exists()


def test_kill_with_the_token_halts_the_engine(live_root, stream_events, tmp_path, monkeypatch):
    engine = ran_engine(live_root, stream_events, tmp_path)  # its own: the kill switch stays engaged
    monkeypatch.setenv("LIVE_API_TOKEN", "s3cret")
    client = TestClient(build_app(engine))
    r = client.post("/kill", headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 200 and engine.cfg.kill_file.exists()
    engine.risk.update(engine.last_ts, engine.broker.equity(engine.pools))
    assert client.get("/risk").json()["state"] == "HALTED"


def test_retrain_reports_an_unreachable_dagster_clearly(engine, monkeypatch):
    monkeypatch.setenv("LIVE_API_TOKEN", "s3cret")
    monkeypatch.setenv("DAGSTER_GRAPHQL_URL", "http://127.0.0.1:9/graphql")
    r = TestClient(build_app(engine)).post("/retrain", headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 502 and "127.0.0.1:9" in r.json()["error"]


@pytest.mark.parametrize("body, status, reason", [
    (b"[1, 2]", 400, "must be a JSON object"),
    (b"\"2026-01-03\"", 400, "must be a JSON object"),
    (b"{not json", 400, "not JSON"),
    (b"[" * 100_000, 413, "at most 4096"),
    (b"{\"partition\": \"../../etc/passwd\"}", 400, "not a daily partition key"),
    (b"{\"partition\": \"2026-13-40\"}", 400, "not a daily partition key"),
    (b"{\"partition\": 20260103}", 400, "not a daily partition key"),
    (b"{\"partition\": \"2026-01-03\", \"run_config\": {}}", 400, "unknown fields"),
])
def test_retrain_refuses_a_bad_body_naming_what_is_wrong(engine, monkeypatch, body, status, reason):
    monkeypatch.setenv("LIVE_API_TOKEN", "s3cret")
    monkeypatch.setenv("DAGSTER_GRAPHQL_URL", "http://127.0.0.1:9/graphql")
    r = TestClient(build_app(engine)).post("/retrain", content=body,
                                           headers={"Authorization": "Bearer s3cret", "Content-Type": "application/json"})
    assert r.status_code == status and reason in r.json()["error"]


def test_retrain_passes_a_valid_partition_on(engine, monkeypatch):
    """A well-formed key gets past validation to Dagster (here unreachable: 502, not 400)."""
    monkeypatch.setenv("LIVE_API_TOKEN", "s3cret")
    monkeypatch.setenv("DAGSTER_GRAPHQL_URL", "http://127.0.0.1:9/graphql")
    r = TestClient(build_app(engine)).post("/retrain", json={"partition": "2026-01-03"},
                                           headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 502


def test_a_bind_beyond_loopback_needs_a_token(monkeypatch):
    from live_runtime.api import check_bind
    from live_runtime.config import ConfigError
    monkeypatch.delenv("LIVE_API_TOKEN", raising=False)
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        check_bind(host)
    for host in ("0.0.0.0", "::", "192.168.1.5", "example.com"):
        with pytest.raises(ConfigError, match="not a loopback address"):
            check_bind(host)
    monkeypatch.setenv("LIVE_API_TOKEN", "s3cret")
    check_bind("0.0.0.0")


def test_the_cli_refuses_a_public_bind_without_a_token_before_starting(monkeypatch):
    import subprocess
    import sys
    env = {k: v for k, v in __import__("os").environ.items() if k != "LIVE_API_TOKEN"}
    proc = subprocess.run([sys.executable, "-m", "live_runtime", "run", "--host", "0.0.0.0"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "not a loopback address" in proc.stderr and "Traceback" not in proc.stderr
