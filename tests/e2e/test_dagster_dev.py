"""`dagster dev` as a user starts it: the UI lists the assets, checks and schedule, and a partition
launched through its GraphQL API (what the Materialize button calls) runs to success."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from dagster_graphql import DagsterGraphQLClient

from live_runtime.api import launch_retrain

ROOT = Path(__file__).resolve().parents[2]
QUERY = """{ workspaceOrError { ... on Workspace { locationEntries { name locationOrLoadError {
  ... on RepositoryLocation { repositories { name schedules { name cronSchedule }
    jobs { name } assetNodes { assetKey { path } assetChecksOrError { ... on AssetChecks { checks { name } } } } } }
  ... on PythonError { message } } } } } }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())["data"]


@pytest.fixture
def dagster_dev(tmp_path):
    port = _free_port()
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "orchestration" / "instance" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "QUANT_DATA_DIR": str(tmp_path / "data"),
           "QUANT_WORLD": "small", "QUANT_DAYS": "3",
           "QUANT_AUTOMATION": "off"}  # this test launches its own runs: no sensor may launch one beside them
    proc = subprocess.Popen([str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml",
                             "-h", "127.0.0.1", "-p", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                assert proc.poll() is None, "dagster dev exited during start-up"
                time.sleep(1)
        else:
            pytest.fail("dagster dev did not answer within 120 s")
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_ui_lists_assets_and_materializes_a_partition(dagster_dev):
    port = dagster_dev
    deadline = time.time() + 60
    while True:  # the code location loads in the background after the server answers
        entry = _graphql(port, QUERY)["workspaceOrError"]["locationEntries"][0]
        loaded = entry["locationOrLoadError"]
        if loaded or time.time() > deadline:
            break
        time.sleep(1)
    assert loaded and "repositories" in loaded, loaded
    repo = loaded["repositories"][0]
    assets = {"/".join(a["assetKey"]["path"]): a for a in repo["assetNodes"]}
    for table in ("pool_snapshots", "swaps", "transfers", "cex_prices"):
        checks = {c["name"] for c in assets[table]["assetChecksOrError"]["checks"]}
        assert checks == {"schema", "quarantine_rate"}
    assert {"name": "daily_ingest", "cronSchedule": "20 0 * * *"} in repo["schedules"]

    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    run_id = client.submit_job_execution("ingest_market", repository_location_name=entry["name"],
                                         repository_name=repo["name"], tags={"dagster/partition": "2026-01-02"})
    deadline = time.time() + 240
    status = None
    while time.time() < deadline:
        status = client.get_run_status(run_id).value
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(2)
    assert status == "SUCCESS"

    # The live runtime's POST /retrain goes through this: the retrain job launched over GraphQL, no Dagster import.
    launched = launch_retrain(f"http://127.0.0.1:{port}/graphql")
    assert launched["partition"] == "2026-01-03"  # the newest day of the 3-day world
    run_query = '{ runOrError(runId: "RUN") { ... on Run { jobName tags { key value } } } }'
    tags = _graphql(port, run_query.replace("RUN", launched["run_id"]))["runOrError"]
    assert tags["jobName"] == "retrain"
    assert {"key": "trigger", "value": "live_runtime"} in tags["tags"]

    # The UI renders in a browser (Debian's Chromium, headless): the asset catalog lists the assets.
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    from tests.live.test_page import CHROMIUM, DOCS, FLAGS
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"http://127.0.0.1:{port}/assets", wait_until="networkidle")
        page.get_by_text("cex_prices").first.wait_for(timeout=60_000)
        try:  # the first visit's newsletter dialog, when it appears
            page.get_by_role("button", name="Skip").click(timeout=8_000)
        except PlaywrightTimeout:
            pass
        page.wait_for_timeout(3_000)
        shot = Path(os.environ.get("PYTEST_TMP", "/tmp")) / "dagster-ui.png"
        page.screenshot(path=str(shot))
        browser.close()
    if os.environ.get("QUANT_SCREENSHOTS") == "1":
        shutil.copy(shot, DOCS / "dagster-ui.png")
