"""Pages in a real headless Chromium (Debian's `chromium`, driven by Playwright).

Skipped with the reason when no Chromium is installed, unless CONDUCTOR_REQUIRE_BROWSER is set
(`.ci/run` installs Chromium and sets it), which turns the skip into a failure. With
CONDUCTOR_SCREENSHOTS set, the dashboard tests save the main pages to `docs/screenshots/`
(the README shows them).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import skip_unless_available
from tests.processes import Server

CHROMIUM = os.getenv("CONDUCTOR_CHROMIUM") or shutil.which("chromium") or ""
REASON = "browser tests need Chromium (apt install chromium, or set CONDUCTOR_CHROMIUM)"
# Without the background-networking flags Chromium keeps calling home, which this closed
# network refuses (shared environment notes).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def url(server: Server, path: str) -> str:
    """The address of `path` on the test's server."""
    return f"http://127.0.0.1:{server.port}{path}"


def created(server: Server, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST `body` to `path` (no key), which must answer 201; its answer."""
    status, answer = server.request("POST", path, body)
    assert status == 201, answer
    return dict(answer)


def screenshot(page: Page, name: str) -> None:
    """Save the page as `docs/screenshots/<name>.png` when CONDUCTOR_SCREENSHOTS is set."""
    if os.getenv("CONDUCTOR_SCREENSHOTS"):
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{name}.png")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    skip_unless_available(
        items, "tests/browser", bool(CHROMIUM), "CONDUCTOR_REQUIRE_BROWSER", REASON
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module scope: Playwright's sync API keeps an event loop running in this thread until it
    # stops, and later tests of other modules call asyncio.run().
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder: Path = tmp_path_factory.mktemp("browser")
    started = Server(folder / "data", folder / "server.log")
    yield started
    started.terminate()
