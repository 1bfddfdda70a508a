"""The docs' own `requests` snippets, run as written against a live mock (base URL swapped)."""

from __future__ import annotations

import ast
import contextlib
import io
import textwrap
import uuid

import pytest
import requests

from tests.conftest import Live

REAL_BASE = "https://api.neuralanalog.com"

STATUS_SNIPPET = """
import os
import requests
response = requests.get(
"https://api.neuralanalog.com/status/audio/00000000-0000-0000-0000-000000000000",
headers={"X-API-Key": os.environ["NEURALANALOG_API_KEY"]},
)
print(response.json())
"""

ARCHIVE_SNIPPET = """
import os
import requests
response = requests.post(
    "https://api.neuralanalog.com/download-archive",
    headers={"X-API-Key": os.environ["NEURALANALOG_API_KEY"]},
    json={
        "id": "00000000-0000-0000-0000-000000000000",
        "versions": [
            "original",
            "mastered",
        ],
        "format": "wav",
    },
)
print(response.json())
"""


def run_snippet(snippet: str, base_url: str) -> object:
    """Execute a docs snippet with the real host swapped for the mock; return what it printed."""
    code = textwrap.dedent(snippet).replace(REAL_BASE, base_url)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "<docs snippet>", "exec"), {})
    return ast.literal_eval(printed.getvalue())  # the snippets print a dict's repr


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = f"docs-{uuid.uuid4().hex}"
    monkeypatch.setenv("NEURALANALOG_API_KEY", key)
    return key


def test_status_snippet_as_written_reports_an_unknown_id(live: Live, key: str) -> None:
    printed = run_snippet(STATUS_SNIPPET, f"{live.url}/neuralanalog")
    assert printed == {"detail": "Audio 00000000-0000-0000-0000-000000000000 not found"}


def test_status_and_archive_snippets_follow_a_real_job(live: Live, key: str) -> None:
    base = f"{live.url}/neuralanalog"
    headers = {"X-API-Key": key}
    audio_id = requests.post(
        f"{base}/from-link", json={"url": "https://x/a.wav"}, headers=headers
    ).json()["audio_id"]
    with_id = lambda s: s.replace("00000000-0000-0000-0000-000000000000", audio_id)  # noqa: E731
    assert run_snippet(with_id(STATUS_SNIPPET), base)["status"] == "in_progress"
    live.advance(60)
    master = requests.post(f"{base}/master-audio", json={"audio_id": audio_id}, headers=headers)
    assert master.status_code == 200
    not_yet = run_snippet(with_id(ARCHIVE_SNIPPET), base)
    assert "mastered" in not_yet["detail"]
    live.advance(90)
    archive = run_snippet(with_id(ARCHIVE_SNIPPET), base)
    assert archive["download_url"].startswith(live.url)
    zipped = requests.get(archive["download_url"])
    assert zipped.status_code == 200 and zipped.headers["content-type"] == "application/zip"
    assert archive["expires_in_seconds"] == 86400
