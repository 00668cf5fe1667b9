"""The console in a real browser: Debian's Chromium driven by Playwright, against the console
served by uvicorn on loopback, on SQLite and PostgreSQL data.

- every page renders and the links between them work (no JavaScript needed: the console has
  none, and the Content-Security-Policy would refuse any);
- hostile model output (``<script>``, ``<img onerror>``, a ``javascript:`` link) stays text:
  no element is created from it and nothing runs;
- a silence set with the console's form stops the next page.

With DRIFT_MONITOR_SCREENSHOTS=DIR the overview, target and incident pages are saved there
(that is how docs/console-*.png are made).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from drift_monitor.config import Config
from drift_monitor.storage.queries import Store
from drift_monitor.web.app import create_app
from drift_monitor.web.server import ConsoleServer
from tests.web.conftest import XSS_SCRIPT
from tests.web.seed import drift_round, seed

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get "
                       "install chromium); the console is not browser-tested"),
    pytest.mark.slow,  # a browser and a console server per module
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


class Served:
    def __init__(self, config: Config, store: Store, **kw: Any) -> None:
        self.server = ConsoleServer("127.0.0.1", 0, create_app(config, store, actions=True,
                                                               token=None, **kw))
        self.server.start()
        self.url = self.server.url

    def stop(self) -> None:
        self.server.stop()


def page_of(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  java_script_enabled=True)
    page = context.new_page()
    page.xss_dialogs = []  # type: ignore[attr-defined]
    page.on("dialog", lambda d: (page.xss_dialogs.append(d.message), d.dismiss()))
    return page


def in_thread(fn: Any, *args: Any) -> Any:
    """Playwright's sync API keeps an event loop in this thread; probe rounds need their own."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


def shot(page: Any, name: str) -> None:
    target = os.environ.get("DRIFT_MONITOR_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"console-{name}.png"))


def test_pages_navigation_and_a_console_silence(browser: Any, db_url: str,
                                                tmp_path: Path) -> None:
    config, store, result = in_thread(seed, tmp_path, db_url)
    assert result.drift
    served = Served(config, store)
    try:
        page = page_of(browser)
        page.goto(served.url + "/")
        assert page.locator("#targets").get_by_text("drifting").first.is_visible()
        shot(page, "overview")
        page.get_by_role("link", name="gpt35", exact=True).click()
        assert page.url.endswith("/targets/gpt35")
        assert page.locator("#charts svg.chart").count() == 5
        assert page.locator("#runs tbody tr").count() >= 5
        assert page.locator("#baselines").get_by_text("active").is_visible()
        assert page.locator("#probes tbody tr").count() > 10
        shot(page, "target")
        page.locator("#incidents a", has_text="#").last.click()
        assert "/incidents/" in page.url
        assert page.locator("#findings article").count() >= 1
        assert page.locator("#findings ins").count() >= 1  # the diff highlight
        # findings store clipped examples; the page shows the whole stored answers
        assert "more chars]" not in page.locator("#findings").inner_text()
        assert page.locator("#events").get_by_text("first_notification").is_visible()
        shot(page, "incident")
        page.goto(served.url + "/targets/gpt35")
        page.locator("#compare select[name=pinned]").select_option("quiet-bot")
        page.locator("#compare").get_by_role("button", name="Compare report").click()
        assert "/compare?" in page.url
        assert "quiet-bot" in page.content() and page.locator("h1").count() >= 1
        page.goto(served.url + f"/incidents/{store.incidents()[-1].id}")
        page.get_by_role("link", name="Digest").click()
        assert page.get_by_role("heading", name="Drift digest").is_visible()
        page.go_back()

        # the incident repeats (repeat_interval is 1s here) ...
        before = len(store.notifications())
        in_thread(drift_round, config, store)
        assert len(store.notifications()) > before
        # ... until a silence is set in the console
        form = page.locator("#silence-form")
        form.locator("select[name=dimension]").select_option("")
        form.locator("input[name=reason]").fill("known provider regression")
        form.locator("input[name=actor]").fill("browser-user")
        form.get_by_role("button", name="Silence").click()
        assert "silence" in page.locator(".notice").inner_text()
        assert page.get_by_text("silenced").first.is_visible()
        before = len(store.notifications())
        time.sleep(1.2)  # past repeat_interval: this round would repeat the alert
        again = in_thread(drift_round, config, store)
        assert again.drift
        assert len(store.notifications()) == before  # held back: nothing queued
        last = [store.incident_events(i.id)[-1].reason
                for i in store.incidents(status="open")]
        assert "silenced" in last and not set(last) - {"silenced", "already_notified"}
        page.goto(served.url + "/silences")
        assert page.locator("#silences").get_by_text("browser-user").is_visible()
        page.goto(served.url + "/?state=silenced")
        assert page.get_by_role("link", name="gpt35", exact=True).is_visible()
        assert page.xss_dialogs == []
    finally:
        served.stop()


def test_hostile_model_output_stays_text(browser: Any, config: Config, store: Store,
                                         hostile: int, clock: Any) -> None:
    served = Served(config, store, now=clock)
    try:
        page = page_of(browser)
        for path in ("/", "/targets/support-bot", f"/incidents/{hostile}", "/digest"):
            page.goto(served.url + path)
            assert page.evaluate("document.querySelectorAll('script').length") == 0, path
            assert page.evaluate("document.querySelectorAll('img').length") == 0, path
            assert page.evaluate(
                "document.querySelectorAll('a[href^=\"javascript\"]').length") == 0, path
            assert page.evaluate("window.__xss === undefined"), path
        page.goto(served.url + f"/incidents/{hostile}")
        text = page.locator("#findings").inner_text()
        assert XSS_SCRIPT in text
        assert "<img src=x onerror=" in text and 'href="javascript:' in text
        page.get_by_text("click me").first.click()  # it is text: clicking runs nothing
        assert page.evaluate("window.__xss === undefined")
        assert page.xss_dialogs == []
    finally:
        served.stop()
