"""The runtime's HTTP API and status page (Starlette, served by uvicorn on a thread of the runtime's process).

Reads are open on the loopback interface; `POST /kill` and `POST /retrain` need `Authorization: Bearer
<token>` with the token from $LIVE_API_TOKEN (no token configured: they refuse every request). The reads have
no auth, so a bind beyond loopback is refused unless a token is set (`check_bind`). `/retrain` takes at most
MAX_BODY bytes of JSON object, whose optional `partition` must be a daily partition key (YYYY-MM-DD).
`/retrain` launches Dagster's `retrain` job through Dagster's GraphQL API ($DAGSTER_GRAPHQL_URL, default
http://127.0.0.1:3000/graphql); the runtime never imports Dagster.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import re
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.routing import Route

from live_runtime.config import TOKEN_ENV, ConfigError
from quant.settings import LiveSettings

STATIC = Path(__file__).parent / "static"

WORKSPACE_QUERY = """{ workspaceOrError { ... on Workspace { locationEntries { name locationOrLoadError {
  ... on RepositoryLocation { repositories { name jobs { name } } } } } } } }"""
PARTITIONS_QUERY = """query($selector: PipelineSelector!) { pipelineOrError(params: $selector) {
  ... on Pipeline { partitionKeysOrError { ... on PartitionKeys { partitionKeys } } } } }"""
LAUNCH = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
  ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } ... on InvalidSubsetError { message } } }"""


MAX_BODY = 4096  # a /retrain body is {"partition": "YYYY-MM-DD"}: anything larger is not one
PARTITION = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def check_bind(host: str) -> None:
    """Refuse to serve beyond loopback without $LIVE_API_TOKEN: the read endpoints carry no auth."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        loopback = False
    if not loopback and not LiveSettings.from_env().api_token:
        raise ConfigError(f"--host {host} is not a loopback address and {TOKEN_ENV} is not set: the API's reads "
                          f"have no auth, so it serves beyond loopback only with a token (set {TOKEN_ENV}, or "
                          "bind 127.0.0.1 and put an authenticating proxy in front)")


async def read_partition(request: Request) -> str | None | JSONResponse:
    """The `partition` of a /retrain body (None when absent), or the 400/413 response naming what is wrong."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        return JSONResponse({"error": f"body of {declared} bytes: at most {MAX_BODY}"}, 413)
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            return JSONResponse({"error": f"body over {MAX_BODY} bytes"}, 413)
    if not raw.strip():
        return None
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        return JSONResponse({"error": f"body is not JSON: {err}"}, 400)
    if not isinstance(body, dict):
        return JSONResponse({"error": f"body must be a JSON object, got {type(body).__name__}"}, 400)
    unknown = sorted(set(body) - {"partition"})
    if unknown:
        return JSONResponse({"error": f"unknown fields {unknown}: the body takes only 'partition'"}, 400)
    partition = body.get("partition")
    if partition is None:
        return None
    if not isinstance(partition, str) or not PARTITION.fullmatch(partition) or not _is_date(partition):
        return JSONResponse({"error": f"partition={partition!r} is not a daily partition key (YYYY-MM-DD)"}, 400)
    return partition


def _is_date(key: str) -> bool:
    try:
        time.strptime(key, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def authorised(request: Request) -> JSONResponse | None:
    """None when the bearer token matches $LIVE_API_TOKEN, else the 401/503 response to send."""
    token = LiveSettings.from_env().api_token
    if not token:
        return JSONResponse({"error": f"{TOKEN_ENV} is not set on the runtime: control endpoints are off"}, 503)
    header = request.headers.get("authorization", "")
    given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        return JSONResponse({"error": "missing or wrong bearer token"}, 401,
                            headers={"WWW-Authenticate": "Bearer"})
    return None


def launch_retrain(graphql_url: str, partition: str | None = None, timeout_s: float = 30.0) -> dict:
    """Launch the `retrain` job for `partition` (default: its newest partition); returns the run id."""
    def call(query: str, variables: dict | None = None) -> dict:
        r = httpx.post(graphql_url, json={"query": query, "variables": variables or {}}, timeout=timeout_s)
        r.raise_for_status()
        body = r.json()
        if body.get("errors"):
            raise RuntimeError(f"GraphQL error: {body['errors'][0].get('message')}")
        return body["data"]

    for entry in call(WORKSPACE_QUERY)["workspaceOrError"]["locationEntries"]:
        for repo in (entry.get("locationOrLoadError") or {}).get("repositories", []):
            if any(j["name"] == "retrain" for j in repo["jobs"]):
                selector = {"repositoryLocationName": entry["name"], "repositoryName": repo["name"],
                            "pipelineName": "retrain"}
                break
        else:
            continue
        break
    else:
        raise RuntimeError(f"no code location at {graphql_url} has a `retrain` job")
    if partition is None:
        keys = call(PARTITIONS_QUERY, {"selector": selector})["pipelineOrError"]["partitionKeysOrError"]
        partition = keys["partitionKeys"][-1]
    params = {"selector": {k: v for k, v in selector.items() if k != "pipelineName"} | {"jobName": "retrain"},
              "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition},
                                             {"key": "trigger", "value": "live_runtime"}]}}
    result = call(LAUNCH, {"params": params})["launchRun"]
    if result["__typename"] != "LaunchRunSuccess":
        raise RuntimeError(f"launchRun: {result['__typename']}: {result.get('message') or result.get('errors')}")
    return {"run_id": result["run"]["runId"], "partition": partition}


def build_app(engine) -> Starlette:
    def published() -> dict:
        return engine.status.published or {}

    async def page(_):
        return FileResponse(STATIC / "index.html")

    async def health(_):
        p = published()
        source = p.get("source") or {"state": "ok"}
        return JSONResponse(_jsonable({"ok": source["state"] == "ok", "position": p.get("position"),
                                       "market_ts": p.get("market_ts"), "risk_state": str(engine.risk.state),
                                       "source": source}))

    async def status(_):
        return JSONResponse(_jsonable(published()))

    async def positions(_):
        return JSONResponse(_jsonable(published().get("positions", [])))

    async def decisions(_):
        with engine.status.lock:
            rows = list(engine.status.recent_decisions)
        return JSONResponse(_jsonable(rows[::-1]))

    async def predictions(_):
        with engine.status.lock:
            rows = list(engine.status.recent_predictions)
        return JSONResponse(_jsonable(rows[::-1]))

    async def models(_):
        current = engine.watcher.current
        if current is None:  # no champions yet: the page says what it waits for
            return JSONResponse({"serving": {}, "refused": engine.watcher.refused, "stale": False, "strategy": None,
                                 "waiting": engine.watcher.waiting})
        out = {name: {"version": v} for name, v in current.versions.items()}
        for name, m in (("moon_model", current.moon), ("rug_model", current.rug)):
            out[name].update(created_at=m.manifest.get("created_at"), metrics=m.manifest.get("metrics", {}))
        return JSONResponse(_jsonable({"serving": out, "refused": engine.watcher.refused,
                                       "stale": engine.models_stale, "strategy": current.entries()}))

    async def risk(_):
        return JSONResponse(_jsonable(engine.risk.describe()))

    async def equity(_):
        with engine.status.lock:
            curve = list(engine.status.equity_curve)
        return JSONResponse([{"ts": t, "equity": e} for t, e in curve])

    async def stream(request: Request):
        async def events():
            with engine.status.lock:
                last = max(0, engine.status.message_id - 50)  # a new page gets the latest, not the whole backlog
            while not await request.is_disconnected():
                with engine.status.lock:
                    new = [m for m in engine.status.messages if m[0] > last]
                for mid, kind, payload in new:
                    last = mid
                    yield f"id: {mid}\nevent: {kind}\ndata: {json.dumps(_jsonable(payload))}\n\n"
                p = published()
                yield ("event: status\ndata: " + json.dumps(_jsonable(
                    {k: p.get(k) for k in ("equity", "cash", "position", "market_ts", "stats", "positions")}
                    | {"risk_state": str(engine.risk.state)})) + "\n\n")
                await asyncio.sleep(0.5)
        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    async def kill(request: Request):
        if (refused := authorised(request)) is not None:
            return refused
        path = engine.cfg.kill_file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"killed through the API at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
        return JSONResponse({"killed": True, "kill_file": str(path)})

    async def retrain(request: Request):
        if (refused := authorised(request)) is not None:
            return refused
        partition = await read_partition(request)
        if isinstance(partition, JSONResponse):
            return partition
        url = LiveSettings.from_env().graphql_url
        try:
            launched = await asyncio.to_thread(launch_retrain, url, partition)
        except (httpx.HTTPError, RuntimeError, KeyError, IndexError) as err:
            return JSONResponse({"error": f"could not launch retrain through {url}: {err}"}, 502)
        return JSONResponse(launched)

    return Starlette(routes=[
        Route("/", page), Route("/health", health), Route("/status", status), Route("/positions", positions),
        Route("/decisions/recent", decisions), Route("/predictions/recent", predictions), Route("/models", models),
        Route("/risk", risk), Route("/equity", equity), Route("/stream", stream),
        Route("/kill", kill, methods=["POST"]), Route("/retrain", retrain, methods=["POST"]),
    ])


def serve(engine, host: str, port: int, stop: threading.Event) -> uvicorn.Server:
    """Start the API on a daemon thread; returns the server (set `should_exit` to stop it)."""
    check_bind(host)
    server = uvicorn.Server(uvicorn.Config(build_app(engine), host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="live-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.02)
    if not server.started:
        raise RuntimeError(f"the API did not start on {host}:{port}")
    return server
