"""The poll cache: a status poll is answered from its last rendering until the job could have
changed, and never across tenants, faults, scenarios or a job that moves per read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import ServerConfig, create_app
from mockserver.engine.clock import ManualClock
from tests.conftest import ConformanceCheck, Mock, make_mock

LINK = {"url": "https://example.com/a.wav"}
ND = "/neuraldraft/v1"
AUDIO_SECONDS = 20.0  # an import: 5 s receiving, 15 s analysing (default profile)
BLOG = {"type": "ai", "topic": "Tea"}


def imported(mock: Mock, **headers: str) -> str:
    created = mock.client.post(
        "/neuralanalog/from-link", headers=mock.headers("neuralanalog", **headers), json=LINK
    )
    assert created.status_code == 200, created.text
    return created.json()["audio_id"]


def poll(mock: Mock, audio_id: str, key: str | None = None, **headers: str) -> httpx.Response:
    return mock.client.get(
        f"/neuralanalog/status/audio/{audio_id}",
        headers=mock.headers("neuralanalog", key, **headers),
    )


def test_a_repeated_poll_is_answered_from_the_cache_and_journalled(mock: Mock) -> None:
    audio_id = imported(mock)
    first, second = poll(mock, audio_id), poll(mock, audio_id)
    assert len(mock.state.polls) == 1
    assert first.content == second.content
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    polls = [e for e in mock.state.journal.entries() if e.path.startswith("/status/")]
    assert [(e.id, e.status) for e in polls] == [
        (first.headers["x-request-id"], 200),
        (second.headers["x-request-id"], 200),
    ]
    assert polls[1].response_body == second.content


def test_moving_the_clock_shows_the_transition_at_once(mock: Mock) -> None:
    audio_id = imported(mock)
    assert poll(mock, audio_id).json()["status_details"] == "Receiving audio"
    mock.advance(5)
    assert poll(mock, audio_id).json()["status_details"] == "Analysing audio"
    mock.advance(AUDIO_SECONDS)
    assert poll(mock, audio_id).json()["is_complete"] is True


def test_an_admin_transition_shows_at_once(mock: Mock) -> None:
    audio_id = imported(mock)
    assert poll(mock, audio_id).json()["status"] == "in_progress"
    forced = mock.client.post(
        f"/__mock__/jobs/{audio_id}/transition", json={"outcome": "failed", "message": "boom"}
    )
    assert forced.status_code == 200, forced.text
    answer = poll(mock, audio_id).json()
    assert (answer["status"], answer["error_message"]) == ("failed", "boom")


def test_a_reset_forgets_cached_answers(mock: Mock) -> None:
    audio_id = imported(mock)
    assert poll(mock, audio_id).status_code == 200
    assert mock.client.post("/__mock__/reset").status_code == 200
    assert poll(mock, audio_id).status_code == 404
    assert len(mock.state.polls) == 0


def test_a_cancel_shows_at_once(mock: Mock) -> None:
    headers = mock.headers("neuraldraft")
    created = mock.client.post(f"{ND}/blog-posts", headers=headers, json=BLOG)
    job_id = created.json()["id"]
    assert mock.client.get(f"{ND}/jobs/{job_id}", headers=headers).json()["status"] == "pending"
    cancelled = mock.client.post(f"{ND}/jobs/{job_id}/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    assert mock.client.get(f"{ND}/jobs/{job_id}", headers=headers).json()["status"] == "cancelled"


def test_a_cached_neural_draft_poll_counts_against_the_rate_limit(mock: Mock) -> None:
    headers = mock.headers("neuraldraft")
    job_id = mock.client.post(f"{ND}/blog-posts", headers=headers, json=BLOG).json()["id"]
    answers = [mock.client.get(f"{ND}/jobs/{job_id}", headers=headers) for _ in range(3)]
    assert len(mock.state.polls) == 1  # the second and third came from the cache
    assert answers[1].content == answers[2].content == answers[0].content
    # created, then polled thrice: each answer has its own count, in the handler's order
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["58", "57", "56"]
    assert [list(a.headers) for a in answers[1:]] == [list(answers[0].headers)] * 2


@pytest.fixture
def limited() -> Iterator[Mock]:
    yield from make_mock(rate_limit=2)


def test_a_poll_past_the_rate_limit_is_refused_even_when_cached(limited: Mock) -> None:
    headers = limited.headers("neuraldraft")
    job_id = limited.client.post(f"{ND}/blog-posts", headers=headers, json=BLOG).json()["id"]
    assert limited.client.get(f"{ND}/jobs/{job_id}", headers=headers).status_code == 200
    refused = limited.client.get(f"{ND}/jobs/{job_id}", headers=headers)
    assert refused.status_code == 429 and refused.headers["x-ratelimit-remaining"] == "0"
    limited.advance(60)
    again = limited.client.get(f"{ND}/jobs/{job_id}", headers=headers)
    assert again.status_code == 200 and again.headers["x-ratelimit-remaining"] == "1"


def test_another_tenant_never_gets_a_cached_answer(mock: Mock) -> None:
    audio_id = imported(mock)
    assert poll(mock, audio_id).status_code == 200
    assert poll(mock, audio_id, key="someone-else").status_code == 404


def test_links_follow_the_host_each_client_used(mock: Mock) -> None:
    audio_id = imported(mock)
    mock.advance(AUDIO_SECONDS)
    here = poll(mock, audio_id).json()["download_url"]
    there = poll(mock, audio_id, host="mock.example:9000").json()["download_url"]
    assert here.startswith("http://testserver/") and there.startswith("http://mock.example:9000/")


def test_a_post_that_only_reads_keeps_the_cached_answers(mock: Mock) -> None:
    audio_id = imported(mock)
    assert poll(mock, audio_id).status_code == 200
    reads = [
        ("camb", "/camb/apis/audio-separation-results", {"run_ids": [1, 2]}),
        ("neurolinker", "/neurolinker/api/v1/generate-schema", {"description": "the total"}),
        ("neurolinker", "/neurolinker/api/v1/documents/markdown", {"document_ids": ["nope"]}),
    ]
    for api, path, body in reads:
        answer = mock.client.post(path, headers=mock.headers(api), json=body)
        assert answer.status_code == 200, answer.text
        assert len(mock.state.polls) == 1, path
    imported(mock)  # a create may change what a poll shows: the kept answers go
    assert len(mock.state.polls) == 0


def test_an_injected_fault_still_fires_on_a_cached_poll(mock: Mock) -> None:
    audio_id = imported(mock)
    assert poll(mock, audio_id).status_code == 200
    rule = {"api": "neuralanalog", "fault": "500", "operation": "get_status"}
    added = mock.client.post("/__mock__/faults", json=rule)
    assert added.status_code in (200, 201), added.text
    assert poll(mock, audio_id).status_code == 500


def test_a_scenario_header_bypasses_the_cache(mock: Mock) -> None:
    audio_id = imported(mock)
    assert poll(mock, audio_id).status_code == 200
    faulted = poll(mock, audio_id, **{"X-Mock-Scenario": "completed; fault=500"})
    assert faulted.status_code == 500
    assert len(mock.state.polls) == 1


def test_a_per_poll_job_moves_on_every_read(mock: Mock) -> None:
    audio_id = imported(mock, **{"X-Mock-Scenario": "completed; mode=poll"})
    details = [poll(mock, audio_id).json()["status_details"] for _ in range(3)]
    assert details == ["Analysing audio", "Import completed", "Import completed"]
    assert len(mock.state.polls) == 0


class SilentClock(ManualClock):
    """Time that passes without telling anyone, as a running system clock's does."""

    def pass_time(self, seconds: float) -> None:
        real, virtual = self._anchor
        self._anchor = (real, virtual + seconds)


@pytest.fixture
def silent() -> Iterator[tuple[TestClient, SilentClock]]:
    clock = SilentClock()
    check = ConformanceCheck(create_app(ServerConfig(clock="manual"), clock=clock))
    with TestClient(check) as client:
        yield client, clock
    check.assert_clean()


def test_an_answer_expires_when_the_job_reaches_its_next_phase(
    silent: tuple[TestClient, SilentClock],
) -> None:
    client, clock = silent
    headers = {"X-API-Key": "k"}
    audio_id = client.post("/neuralanalog/from-link", headers=headers, json=LINK).json()["audio_id"]

    def details() -> Any:
        return client.get(f"/neuralanalog/status/audio/{audio_id}", headers=headers).json()

    assert details()["status_details"] == "Receiving audio"
    clock.pass_time(4.99)
    assert details()["status_details"] == "Receiving audio"
    clock.pass_time(0.01)
    assert details()["status_details"] == "Analysing audio"
    clock.pass_time(15)
    assert details()["is_complete"] is True


def test_a_running_job_shows_its_progress_move_on(silent: tuple[TestClient, SilentClock]) -> None:
    client, clock = silent
    headers = {"Authorization": "Bearer ndsk_test_k"}
    created = client.post(f"{ND}/blog-posts", headers=headers, json=BLOG).json()
    url = f"{ND}/jobs/{created['id']}"
    seen = []
    for _ in range(400):
        answer = client.get(url, headers=headers).json()
        seen.append(answer["progress"])
        if answer["status"] == "completed":
            break
        clock.pass_time(6)
    assert seen == sorted(seen) and seen[-1] == 100 and len(set(seen)) > 5


def test_a_transition_forced_in_python_shows_at_once(mock: Mock) -> None:
    audio_id = imported(mock)
    assert poll(mock, audio_id).json()["status"] == "in_progress"
    job = mock.state.store.lookup(audio_id)
    assert job is not None
    services = mock.check.app.state.services  # type: ignore[attr-defined]
    services["neuralanalog"].force_end(job, "failed", {})  # no clock.changed() after it
    assert poll(mock, audio_id).json()["status"] == "failed"
