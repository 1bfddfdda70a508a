"""Numbers in request text are ASCII digits: Python's int() and float() also read '٢', '２',
'+1' and '1_2', which the real services refuse (or a Content-Length that no server takes).

Every response is checked against its contract by the `mock` fixture.
"""

from __future__ import annotations

import json

import httpx
import pytest

from mockserver.stores import StoreError
from mockserver.stores.redis import RedisStore
from tests.conftest import Mock

NL = "/neurolinker/api/v1"
BATCH = "/camb/apis/audio-separation-results"
URLS = ["https://x.io/a.pdf", "https://x.io/b.pdf", "https://x.io/c.pdf"]
INVALID = (400, "Invalid HTTP request received.")  # what uvicorn answers a malformed head


def encoded(headers: dict[str, str]) -> dict[bytes, bytes]:
    """Headers as bytes: httpx sends a str value only in ASCII, and these hold other digits."""
    return {name.encode(): value.encode() for name, value in headers.items()}


def extract(mock: Mock, scenario: str) -> httpx.Response:
    headers = mock.headers("neurolinker", **{"X-Mock-Scenario": scenario})
    form = {"form": json.dumps({"documents_url": URLS})}
    return mock.client.post(f"{NL}/extract", headers=encoded(headers), data=form)


@pytest.mark.parametrize("failing", ["٢", "２", "۲"])
def test_a_failing_count_in_other_digits_is_no_number(mock: Mock, failing: str) -> None:
    """float() read `failing=٢` as 2: the request failed two documents of three."""
    answer = extract(mock, f"partial; failing={failing}")
    assert answer.status_code == 400
    assert answer.json()["detail"] == (
        f"X-Mock-Scenario: scenario option failing='{failing}' is not a number"
    )
    assert list(mock.state.store.jobs("neurolinker")) == []


@pytest.mark.parametrize(("failing", "status"), [("2.0", 200), ("1e0", 200), ("٢", 422)])
def test_a_forced_partial_reads_failing_as_a_header_does(
    mock: Mock, failing: str, status: int
) -> None:
    """`failing=2.0` passed the check and then int() refused it (a 422 quoting int()'s
    error), while a header's `failing=2.0` is 2; `failing=٢` was taken as 2."""
    request_id = extract(mock, "completed").json()["request_uid"]
    forced = mock.client.post(
        f"/__mock__/jobs/{request_id}/transition", json={"outcome": "partial", "failing": failing}
    )
    assert forced.status_code == status, forced.text
    if status == 422:
        assert "is not a number" in forced.json()["error"]
        return
    answer = mock.client.get(
        f"{NL}/request-status/{request_id}", headers=mock.headers("neurolinker")
    )
    failed = int(float(failing))
    assert [d["status"] for d in answer.json()["documents"]] == (
        ["completed"] * (len(URLS) - failed) + ["failed"] * failed
    )


def batch(mock: Mock, length: str) -> httpx.Response:
    body = b'{"run_ids": [1]}'
    headers = mock.headers("camb", **{"Content-Type": "application/json", "Content-Length": length})
    return mock.client.post(BATCH, headers=encoded(headers), content=body)


@pytest.mark.parametrize("length", ["+16", "1_6", "١٦", "１６", "-1", "abc", "16, 16", "0x10", ""])
def test_a_content_length_of_no_ascii_digits_is_refused_as_uvicorn_refuses_it(
    mock: Mock, length: str
) -> None:
    """int() read '+16' and '1_6' as 16, and '-1' or what it could not read ('abc', '١٦') as
    no body, which went to the app unmeasured. uvicorn answers each so before the app (but
    for '16, 16', which h11 takes as 16 and httptools refuses)."""
    answer = batch(mock, length)
    assert (answer.status_code, answer.text) == INVALID
    assert mock.state.journal.entries() == []
    # white space around a header's value is no part of it (RFC 9110 §5.5)
    assert batch(mock, " 016 ").json() == {}


def test_a_redis_database_of_other_digits_is_refused() -> None:
    """redis-py reads `/٣` as database 3, where the keys of another world may be."""
    with pytest.raises(StoreError, match="database '٣' is not a whole number"):
        RedisStore("redis://127.0.0.1:1/%D9%A3")
