"""NeuroLinker per poll (`mode=poll`): documents are worked one after another, as on the
clock, whichever status a client reads; and a `failing=` out of range is refused with its
own range, a count of documents.

Every response is checked against `contracts/neurolinker.yaml` by the `mock` fixture, on the
memory store and on one that hands out copies, as the shared ones do.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mockserver.apis.neurolinker.models import MAX_DOCUMENTS
from mockserver.engine.clock import parse_time
from tests.conftest import Mock
from tests.encoding_store import state_store
from tests.pdfs import written_pdf

BASE = "/neurolinker/v1"
POLL = "completed; mode=poll"
__all__ = ["state_store"]  # the `mock` fixture's stores


def extract(mock: Mock, count: int, scenario: str) -> httpx.Response:
    files = [
        ("documents", (f"doc{i}.pdf", written_pdf(f"Document {i}"), "application/pdf"))
        for i in range(count)
    ]
    headers = mock.headers("neurolinker", **{"X-Mock-Scenario": scenario})
    return mock.client.post(f"{BASE}/extract", headers=headers, files=files, data={"form": "{}"})


def read(mock: Mock, path: str) -> dict[str, Any]:
    answer = mock.client.get(BASE + path, headers=mock.headers("neurolinker"))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def started(mock: Mock, count: int) -> tuple[str, list[str]]:
    """A per-poll request of `count` documents: its ID and its documents' IDs (read from the
    store: a status read would move them)."""
    answer = extract(mock, count, POLL)
    assert answer.status_code == 200, answer.text
    request_id: str = answer.json()["request_uid"]
    request = mock.state.store.lookup(request_id)
    assert request is not None
    return request_id, list(request.data["documents"])


def test_each_request_read_works_the_next_document_one_phase(mock: Mock) -> None:
    """The first read showed every document `processing` and the second all `completed`, all
    started at once: not one after another, as the page says documents are worked."""
    request_id, _ = started(mock, 3)
    seen, reads = [], []
    for _ in range(4):
        mock.advance(7)  # each read at its own time, to tell which read started what
        body = read(mock, f"/request-status/{request_id}")
        reads.append(mock.state.clock.now())
        seen.append((body["status"], [d["status"] for d in body["documents"]]))
    assert seen == [
        ("processing", ["processing", "pending", "pending"]),
        ("processing", ["completed", "processing", "pending"]),
        ("processing", ["completed", "completed", "processing"]),
        ("completed", ["completed", "completed", "completed"]),
    ]
    results = [d["result"] for d in body["documents"]]
    assert [parse_time(r["started_at"]) for r in results] == reads[:3]
    assert [parse_time(r["completed_at"]) for r in results] == reads[1:]
    assert parse_time(body["completed_at"]) == reads[3]


def test_a_document_read_moves_its_whole_request(mock: Mock) -> None:
    """Read on its own, the last document started on its first read, ahead of the others."""
    request_id, documents = started(mock, 3)
    last = [read(mock, f"/document-status/{documents[2]}")["status"] for _ in range(2)]
    assert last == ["pending", "pending"]
    body = read(mock, f"/request-status/{request_id}")
    assert [d["status"] for d in body["documents"]] == ["completed", "completed", "processing"]
    assert read(mock, f"/document-status/{documents[0]}")["status"] == "completed"
    assert read(mock, f"/request-status/{request_id}")["status"] == "completed"


@pytest.mark.parametrize(
    "failing", ["99999999999999999999", "1e30", str(MAX_DOCUMENTS), "400000000"]
)
def test_a_failing_count_out_of_range_is_refused_with_its_own_range(
    mock: Mock, failing: str
) -> None:
    """Past 315360000 `failing=` was held to `after=`'s range, seconds ("from 0 to
    315360000"); below, a count no request can hold was judged against this one alone."""
    answer = extract(mock, 2, f"partial; failing={failing}")
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert detail.startswith("X-Mock-Scenario: scenario option failing=")
    assert f"must be a positive integer up to {MAX_DOCUMENTS - 1}" in detail, detail
    assert "315360000" not in detail
    assert list(mock.state.store.jobs("neurolinker")) == []


@pytest.mark.parametrize("failing", ["-1", "nan", "inf"])
def test_a_failing_count_below_one_or_not_whole_is_refused_as_such(
    mock: Mock, failing: str
) -> None:
    """Also held to `after=`'s range first: "from 0 to 315360000" for these three."""
    answer = extract(mock, 2, f"partial; failing={failing}")
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert detail.endswith(" must be a positive integer"), detail
