"""The dashboard as a person sees it: a real headless browser (Playwright driving Debian's
`chromium`) on a 1280 px wide window, against a live server with jobs of every API."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mockserver import ServerConfig, create_app
from mockserver.fixtures.server import MockServer
from mockserver.live import LiveServer

WIDTH = 1280
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# tenants as long as the pytest plugin's (t + 24 hex digits + a rerun suffix)
TENANTS = ("t0123456789abcdef01234567r2", "a-rather-long-customer-api-key-0001")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    playwright = pytest.importorskip("playwright.sync_api", reason="needs PyPI's playwright")
    executable = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if executable is None:
        pytest.skip("needs Debian's package chromium (apt-get install chromium)")
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def server() -> Iterator[MockServer]:
    """A live server with a running job of every API, for long tenant names."""
    app = create_app(ServerConfig(clock="manual", seed=3))
    with LiveServer(app) as live:
        for tenant in TENANTS:
            mock = MockServer(app, live.url, tenant)
            for api in ("neuralanalog", "camb", "neurolinker", "neuraldraft"):
                create(mock, api)
        yield MockServer(app, live.url, TENANTS[0])


def create(mock: MockServer, api: str) -> None:
    with mock.client(api) as client:
        if api == "neuralanalog":
            answer = client.post("/from-link", json={"url": "https://e.com/a-long-name.wav"})
        elif api == "camb":
            files = {"media_file": ("a.wav", b"RIFF0000WAVE", "audio/x-wav")}
            answer = client.post("/audio-separation", files=files)
        elif api == "neurolinker":
            form = json.dumps({"documents_url": ["https://e.com/a-long-document-name.pdf"]})
            answer = client.post("/api/v1/extract", data={"form": form})
        else:
            answer = client.post(
                "/jobs", json={"type": "social_post.generate", "custom_title": "Brew"}
            )
    assert answer.status_code < 300, (api, answer.text)


def test_the_dashboard_fits_1280_px_and_its_buttons_end_jobs(
    browser: object, server: MockServer, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})  # type: ignore[attr-defined]
    page.goto(server.url + "/__mock__/dashboard")
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    ends = page.locator(".actions button")
    shown = ends.count()
    assert shown == 2 * (2 + 4 + 4 + 4 + 3)  # each running job: every end word of its API
    for index in range(shown):
        box = ends.nth(index).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= WIDTH
    with page.expect_navigation():  # the page reloads once the admin API answered
        page.locator(".actions button", has_text="PAYMENT_REQUIRED").first.click()
    camb = [j for j in server.state.store.jobs("camb") if j.snapshot(server.now).terminal]
    assert [j.snapshot(server.now).state for j in camb] == ["PAYMENT_REQUIRED"]
    assert ends.count() == shown - 4
    with page.expect_navigation():
        page.locator("button", has_text="+1 h").click()
    assert "2026-01-01T01:00:00" in page.locator("p b").first.inner_text()
    page.screenshot(path=str(tmp_path / "after.png"), full_page=True)


def test_an_unknown_api_filter_says_so(server: MockServer) -> None:
    answer = httpx.get(server.url + "/__mock__/dashboard", params={"api": "neuralanalg"})
    assert answer.status_code == 404
    assert "no API named 'neuralanalg'" in answer.text.replace("&#x27;", "'")
    assert "camb, neuralanalog, neuraldraft, neurolinker" in answer.text
