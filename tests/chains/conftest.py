"""Chain fixtures: an anvil node on 127.0.0.1 (from the npm package), started per module and always killed."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from web3 import HTTPProvider, Web3

from tests.live.conftest import live_root  # noqa: F401 - the live runtime's registry (live execution tests)

FOUNDRY = Path(__file__).parent / "node_modules" / "@foundry-rs"
# npm installs only the binary package of this platform (the optionalDependencies of @foundry-rs/anvil).
ARCH = {"x86_64": "amd64", "amd64": "amd64", "arm64": "arm64", "aarch64": "arm64"}
OS = {"linux": "linux", "darwin": "darwin", "win32": "win32"}
DAY_2026_01_02 = 1767312000  # a partition of the default world (2026-01-01 + 8 days)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def anvil_binary() -> Path:
    """The anvil binary: $ANVIL_BIN if set, else the npm package of this OS and CPU in node_modules."""
    if os.environ.get("ANVIL_BIN"):
        path = Path(os.environ["ANVIL_BIN"])
        if not path.is_file():
            pytest.fail(f"ANVIL_BIN={path} is not a file")
        return path
    os_name, arch = OS.get(sys.platform), ARCH.get(platform.machine().lower())
    if os_name is None or arch is None:
        pytest.fail(f"no anvil npm package for {sys.platform}/{platform.machine()}: set ANVIL_BIN to a binary")
    exe = "anvil.exe" if os_name == "win32" else "anvil"
    path = FOUNDRY / f"anvil-{os_name}-{arch}" / "bin" / exe
    if not path.is_file():
        pytest.fail(f"anvil missing at {path}: run `make chain-fixtures` (npm install in tests/chains), "
                    "or set ANVIL_BIN")
    return path


def start_anvil(timestamp: int):
    binary = anvil_binary()
    port = free_port()
    proc = subprocess.Popen([str(binary), "--host", "127.0.0.1", "--port", str(port), "--timestamp", str(timestamp),
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


@pytest.fixture(scope="module")
def chain(anvil):
    """The two-pair Uniswap V2 market on the module's anvil node: (web3, the deployed contracts)."""
    from tests.chains.uniswap import two_pair_market

    _, w3 = anvil
    return w3, two_pair_market(w3)

