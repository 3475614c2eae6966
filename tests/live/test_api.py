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
