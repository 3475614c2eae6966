"""A Chroma server (`chroma run`) on a free loopback port, stopped in teardown: the production mode's store."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 60) -> None:
    """Until `port` on loopback accepts connections; fails if `proc` exits or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.2)


@contextmanager
def running_server(command: list[str], port: int, what: str) -> Iterator[int]:
    """Start a server process that listens on `port` on loopback; yields the port, stops it on exit."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc, what)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@contextmanager
def running_chroma(path: Path) -> Iterator[int]:
    """A Chroma server persisting under `path`; yields its port."""
    port = _free_port()
    exe = Path(sys.executable).with_name("chroma")
    with running_server([str(exe), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                        port, "chroma run") as p:
        yield p


@pytest.fixture
def chroma_server(tmp_path):
    """The port of a fresh Chroma server persisting under tmp_path."""
    with running_chroma(tmp_path / "server") as port:
        yield port
