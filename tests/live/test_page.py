"""The status page in headless Chromium (Debian's package) while the runtime trades a paced stream: the
equity, the models, the risk state and decisions arriving live. QUANT_SCREENSHOTS=1 also refreshes the
README's screenshot."""

from __future__ import annotations

import os
import shutil
import socket
import threading
from pathlib import Path

import pytest

from live_runtime.api import serve
from live_runtime.engine import Engine
from live_runtime.sources import TableStream
from tests.live.conftest import live_config

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "images"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_page_shows_the_runtime_trading(live_root, stream_events, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs Debian's chromium package")
    from playwright.sync_api import expect, sync_playwright

    events, history = stream_events
    engine = Engine(live_config(live_root, tmp_path), TableStream(events, history, speed=1_500))
    engine.warm_up()
    stop = threading.Event()
    port = free_port()
    server = serve(engine, "127.0.0.1", port, stop)
    runner = threading.Thread(target=engine.run, args=(stop,), daemon=True)
    runner.start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/")
            expect(page.locator("#risk")).to_have_text("ACTIVE", timeout=20_000)
            expect(page.locator("#models .version").first).to_have_text(engine.watcher.current.moon.version)
            rows = page.locator("#decisions tbody tr")
            expect(rows.first).to_be_visible(timeout=30_000)
            first = rows.first.inner_text()
            page.wait_for_function(  # a newer decision arrives over the stream and goes on top
                "t => document.querySelector('#decisions tbody tr').innerText !== t", arg=first, timeout=30_000)
            page.wait_for_function("() => document.querySelector('#events').textContent.replace(/,/g, '') > 1000")
            assert float(page.locator("#equity").inner_text()) > 0
            page.wait_for_timeout(2_500)  # a couple of refreshes so the equity curve has points
            page.screenshot(path=str(tmp_path / "live-page.png"))
            browser.close()
    finally:
        stop.set()
        server.should_exit = True
        runner.join(timeout=30)
    if os.environ.get("QUANT_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "live-page.png", DOCS / "live-page.png")
