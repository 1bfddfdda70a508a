"""A job's pages tell its time as its API does: its instants as the API writes them, and no
signed page for a job its API says does not exist yet (the clock set back before it)."""

from __future__ import annotations

import json
import re
from datetime import datetime

from tests.conftest import Mock

ADMIN = "/__mock__"
NL = "/neurolinker/v1"
START = datetime.fromisoformat("2026-01-01T00:00:00.250000+00:00").timestamp()


def extract(mock: Mock, scenario: str) -> str:
    headers = mock.headers("neurolinker", **{"X-Mock-Scenario": scenario})
    form = {"form": json.dumps({"documents_url": ["https://e.com/a.pdf"]})}
    answer = mock.client.post(f"{NL}/extract", headers=headers, data=form)
    assert answer.status_code == 200, answer.text
    return answer.json()["request_uid"]


def times(page: str) -> dict[str, str]:
    """A job page's Created and Finished."""
    return dict(re.findall(r"<td>(Created|Finished)</td><td>([^<]*)</td>", page))


def test_a_signed_page_is_a_404_while_its_job_does_not_exist_yet(mock: Mock) -> None:
    """Set back before the job's creation, the clock made its API answer 404, while the
    signed page the API had handed out went on showing it "processing"."""
    mock.state.clock.set(START + 3600)
    request_id = extract(mock, "completed; after=5")
    headers = mock.headers("neurolinker")
    status = f"{NL}/request-status/{request_id}"
    link = mock.client.get(status, headers=headers).json()["job_page_url"]
    assert mock.client.get(link).status_code == 200
    mock.state.clock.set(START)
    assert mock.client.get(status, headers=headers).status_code == 404
    gone = mock.client.get(link)
    assert gone.status_code == 404 and gone.headers["content-type"].startswith("text/html")
    assert "no job page at this link" in gone.text and request_id not in gone.text
    # the admin's own page shows every job the admin API lists, as its JSON does
    assert mock.client.get(f"{ADMIN}/jobs/{request_id}/page").status_code == 200
    assert mock.client.get(f"{ADMIN}/jobs/{request_id}").status_code == 200
    mock.state.clock.set(START + 3600)
    assert mock.client.get(link).status_code == 200


def test_pages_show_a_jobs_times_as_its_api_writes_them(mock: Mock) -> None:
    """A NeuroLinker request's API says `...00:00:02.750000+00:00`: its page said
    `...00:00:02Z`, the dashboard `...00:00:00Z` for its creation."""
    mock.state.clock.set(START)
    request_id = extract(mock, "completed; after=2.5")
    mock.advance(10)
    headers = mock.headers("neurolinker")
    status = mock.client.get(f"{NL}/request-status/{request_id}", headers=headers).json()
    page = mock.client.get(f"{ADMIN}/jobs/{request_id}/page").text
    assert times(page) == {"Created": status["started_at"], "Finished": status["completed_at"]}
    assert times(page)["Finished"] == "2026-01-01T00:00:02.750000+00:00"
    dashboard = mock.client.get(f"{ADMIN}/dashboard", params={"api": "neurolinker"}).text
    assert f"<td>{status['started_at']}</td>" in dashboard
    # a document's page writes its instants as its API does, ending in `Z`
    document = status["documents"][0]["result"]
    document_id = status["documents"][0]["document_id"]
    shown = times(mock.client.get(f"{ADMIN}/jobs/{document_id}/page").text)
    assert shown["Finished"] == document["completed_at"]
    assert shown["Finished"].endswith("Z")
    # an API of whole seconds: whole seconds
    headers = mock.headers("neuralanalog")
    created = mock.client.post(
        "/neuralanalog/from-link", headers=headers, json={"url": "https://x/a.wav"}
    ).json()["audio_id"]
    audio = mock.client.get(f"/neuralanalog/status/audio/{created}", headers=headers).json()
    page = mock.client.get(f"{ADMIN}/jobs/{created}/page").text
    assert times(page)["Created"] == audio["created_at"] == "2026-01-01T00:00:10Z"
