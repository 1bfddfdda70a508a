"""Scenarios as a user steers them: an `after=` is honoured however long, an impossible
combination is refused naming the option, a key's scenario applies to the APIs that know it,
and a refusal names where its scenario came from."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mockserver import apis
from mockserver.service import ApiService
from tests.conftest import Mock, make_mock, wav

ND = "/neuraldraft/v1"
TWO_PDFS = {"form": '{"documents_url": ["https://e.com/a.pdf", "https://e.com/b.pdf"]}'}


def service(api: str) -> type[ApiService]:
    return apis.service_class(api)


def nd_image(mock: Mock, scenario: str | None = None, key: str | None = None) -> httpx.Response:
    extra = {"X-Mock-Scenario": scenario} if scenario else {}
    headers = mock.headers("neuraldraft", key, **extra)
    return mock.client.post(f"{ND}/images", headers=headers, json={"prompt": "A cup"})


def nd_job(mock: Mock, job_id: str) -> dict[str, Any]:
    answer = mock.client.get(f"{ND}/jobs/{job_id}", headers=mock.headers("neuraldraft"))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def na_create(mock: Mock, scenario: str | None = None, key: str | None = None) -> httpx.Response:
    extra = {"X-Mock-Scenario": scenario} if scenario else {}
    headers = mock.headers("neuralanalog", key, **extra)
    return mock.client.post("/neuralanalog/from-link", headers=headers, json={"url": "https://x/a"})


def camb_create(mock: Mock, key: str) -> httpx.Response:
    files = {"media_file": ("a.wav", wav(), "audio/wav")}
    return mock.client.post(
        "/camb/apis/audio-separation", headers=mock.headers("camb", key), files=files
    )


def nl_create(mock: Mock, scenario: str) -> httpx.Response:
    headers = mock.headers("neurolinker", **{"X-Mock-Scenario": scenario})
    return mock.client.post("/neurolinker/v1/extract", headers=headers, data=TWO_PDFS)


# --- after= is honoured by Neural Draft as by every API ---------------------------------------


@pytest.mark.parametrize("state", ["failed", "cancelled"])
def test_a_neural_draft_stop_later_than_the_job_is_honoured(mock: Mock, state: str) -> None:
    """An image lasts 40 s: `failed; after=1000` ended at 40 s (cut to the usual length), not
    1000 s after creation as `after=` says; its steps now stretch, as any API's do."""
    job_id = nd_image(mock, f"{state}; after=1000").json()["id"]
    mock.advance(999)
    assert nd_job(mock, job_id)["status"] == "processing"
    mock.advance(1)
    ended = nd_job(mock, job_id)
    assert ended["status"] == state and ended["updated_at"] == "2026-01-01T00:16:40Z"
    assert 0 < ended["progress"] < 100  # stopped part of the way, as without `after=`


# --- combinations that cannot apply are refused -----------------------------------------------


@pytest.mark.parametrize(
    ("api", "scenario", "words"),
    [
        ("neurolinker", "completed; failing=1", "failing= applies to partial only"),
        ("neurolinker", "stalled; failing=1", "failing= applies to partial only"),
        ("neuraldraft", "completed; code=x", "code= applies to failed only"),
        ("neuraldraft", "cancelled; code=x", "code= applies to failed only"),
        ("neuraldraft", "cancelled; message=x", "message= applies to failed only"),
        ("neuralanalog", "completed; message=x", "message= applies to failed only"),
        ("neurolinker", "stalled; message=x", "message= applies to failed, partial only"),
        ("neuralanalog", "completed; times=2", "times= describes a fault, and none is named"),
        ("neuralanalog", "completed; after=5; after=600", "after= is given twice"),
        ("neuralanalog", "completed; after=5; AFTER=5", "after= is given twice"),
    ],
)
def test_an_option_that_cannot_apply_is_a_400_naming_it(
    mock: Mock, api: str, scenario: str, words: str
) -> None:
    """Each was accepted and silently changed nothing (or the last `after=` won)."""
    if api == "neurolinker":
        answer = nl_create(mock, scenario)
    elif api == "neuraldraft":
        answer = nd_image(mock, scenario)
    else:
        answer = na_create(mock, scenario)
    assert answer.status_code == 400, answer.text
    assert words in answer.text and "X-Mock-Scenario: " in answer.text


def test_a_forced_end_with_an_option_of_another_outcome_is_refused(mock: Mock) -> None:
    request_id = nl_create(mock, "stalled").json()["request_uid"]
    forced = mock.client.post(
        f"/__mock__/jobs/{request_id}/transition", json={"outcome": "completed", "failing": 1}
    )
    assert forced.status_code == 422
    assert "failing= applies to partial only" in forced.json()["error"]


def test_neural_draft_names_every_word_it_knows(mock: Mock) -> None:
    answer = nd_image(mock, "bogus")
    assert answer.status_code == 400
    assert answer.json()["detail"].endswith(
        "known: completed, failed, cancelled, stalled, insufficient_credits, out_of_credits, "
        "plan_required"
    )


# --- a key's scenario applies to the APIs that know it ----------------------------------------


@pytest.fixture
def bound() -> Iterator[Mock]:
    yield from make_mock(
        keys={
            "camb-key": {"scenario": "ERROR; reason=SOURCE_TOO_LONG"},
            "ndsk_test_bound": {"scenario": "failed; after=10; code=content_policy_violation"},
        }
    )


def test_a_key_scenario_another_api_does_not_know_leaves_its_jobs_alone(bound: Mock) -> None:
    """Neural Analog answered every request with the key a 400 blaming an X-Mock-Scenario
    header never sent ("unknown outcome 'error' for neuralanalog")."""
    made = na_create(bound, key="camb-key")
    assert made.status_code == 200, made.text
    ours = camb_create(bound, "camb-key")
    assert ours.status_code == 200, ours.text
    bound.advance(3600)
    audio = bound.client.get(
        f"/neuralanalog/status/audio/{made.json()['audio_id']}",
        headers=bound.headers("neuralanalog", "camb-key"),
    )
    assert audio.json()["status"] == "completed"
    task = bound.client.get(
        f"/camb/apis/audio-separation/{ours.json()['task_id']}",
        headers=bound.headers("camb", "camb-key"),
    )
    assert task.json()["status"] == "ERROR"
    assert task.json()["exception_reason"] == "SOURCE_TOO_LONG"


def test_a_key_scenario_with_another_apis_option_is_for_that_api(bound: Mock) -> None:
    """`code=` is Neural Draft's: the key's `failed; code=...` fails its jobs, not Neural
    Analog's (which knows `failed`, not `code=`)."""
    key = "ndsk_test_bound"  # Neural Draft's key format makes it of "bound"
    job_id = nd_image(bound, key="bound").json()["id"]
    made = na_create(bound, key=key)
    assert made.status_code == 200, made.text
    bound.advance(10)
    nd_headers = bound.headers("neuraldraft", "bound")
    answer = bound.client.get(f"{ND}/jobs/{job_id}", headers=nd_headers)
    assert answer.json()["error"]["code"] == "content_policy_violation"
    audio = bound.client.get(
        f"/neuralanalog/status/audio/{made.json()['audio_id']}",
        headers=bound.headers("neuralanalog", key),
    )
    assert audio.json()["status"] == "in_progress"  # its usual length, not failed at 10 s


# --- Neural Draft's injected answers count against the rate window ----------------------------


def test_injected_5xx_answers_carry_and_count_the_rate_window(mock: Mock) -> None:
    """ "Every answer to an authenticated request carries X-RateLimit-*" and "every
    authenticated request counts, errors included": three injected 503s carried none and
    left the window at 59."""
    headers = mock.headers("neuraldraft")
    key = headers["Authorization"].removeprefix("Bearer ")
    rule = {"fault": "503", "api": "neuraldraft", "tenant": key, "times": 3}
    assert mock.client.post("/__mock__/faults", json=rule).status_code < 300
    remaining = []
    for _ in range(4):
        answer = mock.client.get(f"{ND}/tags", headers=headers)
        remaining.append((answer.status_code, answer.headers.get("X-RateLimit-Remaining")))
    assert remaining == [(503, "59"), (503, "58"), (503, "57"), (200, "56")]


def test_a_refusal_written_before_the_handler_counts_once() -> None:
    """A body past its limit is refused before any handler runs: that answer carried no
    window and did not count; it now does both, once."""
    for mock in make_mock(max_json_bytes=1024):
        headers = mock.headers("neuraldraft")
        big = mock.client.post(f"{ND}/images", headers=headers, json={"prompt": "x" * 2048})
        assert big.status_code == 413, big.text  # the status the operation documents
        assert big.headers["X-RateLimit-Remaining"] == "59"
        after = mock.client.get(f"{ND}/tags", headers=headers)
        assert after.headers["X-RateLimit-Remaining"] == "58"
