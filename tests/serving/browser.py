"""A real browser for the page tests: the app served by uvicorn on a free 127.0.0.1 port in a thread, and
Playwright driving the system Chromium (``/usr/bin/chromium``, installed by ``.ci/run``; Playwright downloads
nothing). Without the browser the page tests fail, or skip outside CI (``CREDITWATCH_REQUIRE_BROWSER``)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

CHROMIUM = os.environ.get("CREDITWATCH_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Serve `app` on a free port until the block ends; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def require_chromium() -> str:
    if shutil.which(CHROMIUM) is None and not os.path.exists(CHROMIUM):
        if os.environ.get("CREDITWATCH_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); CI runs these tests")
    return CHROMIUM


@contextmanager
def browser() -> Iterator[Any]:
    """A headless system Chromium under Playwright (one per test module is plenty)."""
    from playwright.sync_api import sync_playwright

    executable = require_chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=FLAGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def login(page: Any, base: str, token: str) -> None:
    """Sign in through the login form, as a person would."""
    page.goto(f"{base}/ui/login")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


SCREENSHOTS = "CREDITWATCH_SCREENSHOTS"


def screenshot(page: Any, name: str) -> None:
    """Save the page as ``<$CREDITWATCH_SCREENSHOTS>/<name>.png`` when that variable names a folder (``make
    screenshots`` sets it to ``docs/img``, so the documents show what the tests saw); otherwise do nothing,
    so a test run leaves the tree unchanged."""
    folder = os.environ.get(SCREENSHOTS)
    if not folder:
        return
    os.makedirs(folder, exist_ok=True)
    page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)
