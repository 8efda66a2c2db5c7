"""Shared fixtures: real servers in subprocesses, real Chromium through Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import DEMO_DIR, ServerProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator:
    """Start servers on demand: `server_factory([dirs], **kwargs)`; all stop at the end."""
    started: list[ServerProcess] = []

    def _start(slide_dirs=None, data_dir: Path | None = None, **kwargs) -> ServerProcess:
        data = data_dir or tmp_path / f"data{len(started)}"
        server = ServerProcess(slide_dirs or [DEMO_DIR], data, **kwargs)
        started.append(server)
        return server.start()

    yield _start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory) -> Iterator[ServerProcess]:
    """One server on the bundled demo slide, shared by a test module."""
    server = ServerProcess([DEMO_DIR], tmp_path_factory.mktemp("demo-data")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh browser page (own context: cookies, storage) of 1280×800."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()
