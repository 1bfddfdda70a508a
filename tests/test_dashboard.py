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
    # each running job: every word it can end in (a NeuroLinker request of one document
    # ends completed or failed, as its document: `partial` needs two; insufficient_credits
    # only refuses a create)
    assert shown == 2 * (2 + 4 + 2 + 2 + 3)
    for index in range(shown):
        box = ends.nth(index).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= WIDTH
    aborted: list[str] = []  # the reload cut the answer's body short (`net::ERR_ABORTED`)
    page.on("requestfailed", lambda request: aborted.append(request.url))
    with page.expect_navigation():  # the page reloads once the admin API answered
        page.locator(".actions button", has_text="PAYMENT_REQUIRED").first.click()
    camb = [j for j in server.state.store.jobs("camb") if j.snapshot(server.now).terminal]
    assert [j.snapshot(server.now).state for j in camb] == ["PAYMENT_REQUIRED"]
    assert ends.count() == shown - 4
    assert aborted == []
    with page.expect_navigation():
        page.locator("button", has_text="+1 h").click()
    assert "2026-01-01T01:00:00" in page.locator("p b").first.inner_text()
    page.screenshot(path=str(tmp_path / "after.png"), full_page=True)


def test_a_dashboard_opened_with_a_token_keeps_it_and_reports_any_error(
    browser: object, tmp_path: Path
) -> None:
    """Opened at `dashboard?token=T` its links dropped the token (401 each, the buttons alone
    sent it); a reply that is no JSON broke the click handler (no message, no reload); the
    page named no language, a button only its word, and the browser's favicon request was a
    404 in the console."""
    app = create_app(ServerConfig(clock="manual", seed=3, admin_token="s3cret"))
    with LiveServer(app) as live:
        create(MockServer(app, live.url, TENANTS[0]), "neuralanalog")
        [job] = app.state.mock.store.jobs("neuralanalog", TENANTS[0])
        page = browser.new_page(viewport={"width": WIDTH, "height": 900})  # type: ignore[attr-defined]
        failed: list[str] = []
        page.on("response", lambda answer: answer.status >= 400 and failed.append(answer.url))
        page.on("console", lambda line: line.type == "error" and failed.append(line.text))
        page.goto(live.url + "/__mock__/dashboard?token=s3cret")
        page.wait_for_load_state("networkidle")
        assert failed == []
        assert page.locator("html").get_attribute("lang") == "en"
        links = page.eval_on_selector_all("a", "links => links.map(link => link.href)")
        assert len(links) == 3  # the journal, the violations, the job's page
        for link in links:
            assert httpx.get(link, timeout=10).status_code == 200, link
        page.goto(links[-1])  # the job's page links the admin API's JSON with the token too
        summary = page.eval_on_selector("a", "link => link.href")
        assert httpx.get(summary, timeout=10).json()["id"] == job.id
        page.go_back()
        page.route(
            "**/transition",
            lambda route: route.fulfill(status=502, content_type="text/html", body="Bad gateway"),
        )
        said: list[str] = []
        page.on("dialog", lambda dialog: (said.append(dialog.message), dialog.accept()))
        end = page.get_by_role("button", name=f"end neuralanalog audio {job.id} as failed")
        with page.expect_navigation(timeout=10_000):
            end.click()
        assert said == ["Bad gateway"]


def test_an_unknown_api_filter_says_so(server: MockServer) -> None:
    answer = httpx.get(server.url + "/__mock__/dashboard", params={"api": "neuralanalg"})
    assert answer.status_code == 404
    assert "no API named 'neuralanalg'" in answer.text.replace("&#x27;", "'")
    assert "camb, neuralanalog, neuraldraft, neurolinker" in answer.text
