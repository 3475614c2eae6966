"""Chain fixtures: an anvil node on 127.0.0.1 (from the npm package), started per module and always killed."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest
from web3 import HTTPProvider, Web3

ANVIL = Path(__file__).parent / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
DAY_2026_01_02 = 1767312000  # a partition of the default world (2026-01-01 + 8 days)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_anvil(timestamp: int):
    if not ANVIL.exists():
        pytest.fail(f"anvil missing at {ANVIL}: run `make chain-fixtures` (npm install in tests/chains)")
    port = free_port()
    proc = subprocess.Popen([str(ANVIL), "--host", "127.0.0.1", "--port", str(port), "--timestamp", str(timestamp),
                             "--chain-id", "31337", "--silent"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 10}))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"anvil exited: {proc.stderr.read().decode()[-500:]}")
        try:
            _ = w3.eth.block_number
            return proc, url, w3
        except Exception:  # noqa: BLE001 - not listening yet
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("anvil did not answer within 20 s")


@pytest.fixture(scope="module")
def anvil():
    proc, url, w3 = start_anvil(DAY_2026_01_02)
    try:
        yield url, w3
    finally:
        proc.kill()
        proc.wait(timeout=10)
