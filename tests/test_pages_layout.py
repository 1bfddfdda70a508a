"""Long text a client sent, on the admin pages a person reads in a 1280 px window (a real
headless browser, as `tests/test_dashboard.py` drives it): a 3,000-character failure message
made the dashboard 33,671 px wide and the job's page as wide, a 2,000-character unknown field
4,769 px through the contract violations it broke."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mockserver import ServerConfig, create_app
from mockserver.fixtures.server import MockServer
from mockserver.live import LiveServer
from tests.test_dashboard import TENANTS, WIDTH
from tests.test_dashboard import browser as browser  # the fixture, shared

LINK = {"url": "https://e.com/a-long-name.wav"}
LONG = 3000


@pytest.fixture
def server() -> Iterator[tuple[MockServer, list[str]]]:
    """A live server with long text of every kind a client sends a page: in a scenario, its
    failure message, an unknown field of a body; and the IDs of its jobs."""
    app = create_app(ServerConfig(clock="manual", seed=3))
    with LiveServer(app) as live:
        mock = MockServer(app, live.url, TENANTS[0])
        with mock.client("neuralanalog") as client:
            scenario = {"X-Mock-Scenario": "failed; message=" + "X" * LONG}
            made = [client.post("/from-link", json=LINK, headers=scenario)]
            made.append(client.post("/from-link", json=LINK | {"f" * 2000: 1}))
            made.append(client.post("/from-link", json=LINK | {"url": LINK["url"] + "z" * LONG}))
        assert all(answer.status_code == 200 for answer in made), [a.text for a in made]
        ids = [str(answer.json()["audio_id"]) for answer in made]
        mock.advance(3600)  # the failed ones show their message
        yield mock, ids


def test_long_client_text_wraps_inside_a_1280_px_window(
    browser: object, server: tuple[MockServer, list[str]]
) -> None:
    mock, ids = server
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})  # type: ignore[attr-defined]
    page.goto(mock.url + "/__mock__/dashboard")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    for link in page.locator("a.long").all():  # a long text leaves the IDs their width
        box = link.bounding_box()
        assert box is not None and box["width"] > 150, box
    for job in ids:
        page.goto(f"{mock.url}/__mock__/jobs/{job}/page")
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH, job
