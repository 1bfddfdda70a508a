"""`X-Mock-Scenario` sent twice on one request: the first was used and the second dropped
without a word. It is refused as an option given twice is, with each API's own 400."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Mock
from tests.test_admin import MAIN_CREATES

TWICE = [("X-Mock-Scenario", "failed"), ("X-Mock-Scenario", "completed; after=5")]
# each API's words for these outcomes
WORDS = {"camb": {"failed": "ERROR", "completed": "SUCCESS"}}


def create(mock: Mock, api: str, scenarios: list[tuple[str, str]]) -> httpx.Response:
    """The API's main create, sent with these `X-Mock-Scenario` headers (in its words)."""
    path, request = MAIN_CREATES[api]
    headers = [*mock.headers(api).items(), *[(n, spoken(api, v)) for n, v in scenarios]]
    return mock.client.post(path, headers=headers, **request)


def spoken(api: str, scenario: str) -> str:
    """`scenario` with its outcome in the words of `api`."""
    word, sep, options = scenario.partition(";")
    return WORDS.get(api, {}).get(word, word) + sep + options


def detail(answer: httpx.Response) -> str:
    """The message of an error in any of the four formats (FastAPI's, Neural Draft's)."""
    message: str = answer.json()["detail"]
    return message


@pytest.mark.parametrize("api", list(MAIN_CREATES))
def test_a_create_sending_the_header_twice_is_refused_with_the_apis_400(
    mock: Mock, api: str
) -> None:
    answer = create(mock, api, TWICE)
    assert answer.status_code == 400, answer.text
    first, second = (spoken(api, value) for _, value in TWICE)
    assert detail(answer) == (
        f"X-Mock-Scenario: the header is given twice ({first!r} and {second!r}): give it once"
    )
    assert mock.client.get("/__mock__/jobs").json()["jobs"] == []  # no job made
    entries = mock.client.get("/__mock__/journal").json()["entries"]
    assert [(e["id"], e["status"]) for e in entries] == [(answer.headers["x-request-id"], 400)]
    assert create(mock, api, TWICE[:1]).status_code in (200, 201, 202)  # once: taken


@pytest.mark.parametrize("api", list(MAIN_CREATES))
def test_the_header_twice_is_refused_also_where_faults_are_active(mock: Mock, api: str) -> None:
    """With a rule held the request takes the fault layer's path: the same refusal."""
    rule = {"fault": "latency", "delay": 0, "tenant": "someone else"}
    assert mock.client.post("/__mock__/faults", json=rule).status_code == 201
    answer = create(mock, api, [*TWICE[1:], ("X-Mock-Scenario", "failed; fault=503")])
    assert answer.status_code == 400, answer.text
    first, second = spoken(api, "completed; after=5"), spoken(api, "failed; fault=503")
    assert detail(answer) == (
        f"X-Mock-Scenario: the header is given twice ({first!r} and {second!r}): give it once"
    )


def test_the_header_many_times_is_refused_naming_the_first_two(mock: Mock) -> None:
    answer = create(mock, "neuralanalog", [*TWICE, *TWICE, ("X-Mock-Scenario", "failed")])
    assert answer.status_code == 400
    assert detail(answer) == (
        "X-Mock-Scenario: the header is given 5 times ('failed', 'completed; after=5', ...): "
        "give it once"
    )


def test_a_status_read_that_documents_no_400_ignores_the_header_twice(mock: Mock) -> None:
    """A status read takes no scenario, and its contract has no 400 to refuse it with: the
    headers are ignored, the fault the first named (once fired) included."""
    audio_id = create(mock, "neuralanalog", TWICE[:1]).json()["audio_id"]
    mock.advance(3600)
    auth = list(mock.headers("neuralanalog").items())
    for scenarios in (TWICE[::-1], [("X-Mock-Scenario", "completed; fault=503"), *TWICE]):
        read = mock.client.get(
            f"/neuralanalog/status/audio/{audio_id}", headers=[*auth, *scenarios]
        )
        assert read.status_code == 200, read.text
        assert read.json()["status"] == "failed"  # the job's scenario, from its create
