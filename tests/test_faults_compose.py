"""Faults composed with the scenario machinery: a stall rule leaves the request's scenario to
be chosen, checked and used up as without it; a scenario the API refuses fires none of its
faults; a status no contract documents is refused; a rate draws alike after a reset."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from mockserver.apis import service_class
from mockserver.engine.journal import mask
from mockserver.faults import FaultBook
from mockserver.stores import StateStore
from tests.conftest import Mock, make_mock, wav
from tests.encoding_store import state_store

__all__ = ["state_store"]  # the fixture: the tests on `mock` run on memory and encoded

FAULTS = "/__mock__/faults"
QUEUE = "/__mock__/scenarios"
CREATES = {  # per API: its create request (path, request keywords) and where its ID is
    "neuralanalog": ("/neuralanalog/from-link", {"json": {"url": "https://x.io/a.mp3"}}),
    "neurolinker": (
        "/neurolinker/v1/extract",
        {"data": {"form": json.dumps({"documents_url": ["https://x.io/a.pdf", "https://x.io/b"]})}},
    ),
    "neuraldraft": ("/neuraldraft/v1/images", {"json": {"prompt": "A cup"}}),
}


def create(mock: Mock, api: str, scenario: str | None = None) -> httpx.Response:
    extra = {"X-Mock-Scenario": scenario} if scenario else {}
    headers = mock.headers(api, **extra)
    if api == "camb":
        files = {"media_file": ("take.wav", wav(), "audio/wav")}
        return mock.client.post("/camb/apis/audio-separation", headers=headers, files=files)
    path, sent = CREATES[api]
    return mock.client.post(path, headers=headers, **sent)


def add(mock: Mock, **rule: Any) -> httpx.Response:
    return mock.client.post(FAULTS, json=rule)


def fired(mock: Mock) -> list[dict[str, int]]:
    return [rule["fired"] for rule in mock.client.get(FAULTS).json()["faults"]]


def tenant(mock: Mock, api: str) -> str:
    """The test's key as `api` spells it (`nl_...` for NeuroLinker)."""
    return service_class(api).api_key(mock.key)


def jobs(mock: Mock, api: str) -> list[Any]:
    return list(mock.state.store.jobs(api, tenant(mock, api)))


# --- a stall rule composes with the request's scenario -----------------------------------------


@pytest.mark.parametrize(
    ("api", "scenario", "status"),
    [
        ("camb", "completed", 400),  # Neural Analog's word: Camb's are SUCCESS, ERROR...
        ("neuralanalog", "SUCCESS", 400),  # and the other way round
        ("neurolinker", "insufficient_credits", 402),
        ("neuraldraft", "out_of_credits", 402),
    ],
)
def test_a_stall_rule_leaves_the_scenario_checked(
    mock: Mock, api: str, scenario: str, status: int
) -> None:
    """The rule stood in for the scenario: all four were accepted and made a stalled job."""
    assert add(mock, fault="stall", tenant=tenant(mock, api)).status_code == 201
    assert create(mock, api, scenario).status_code == status
    assert jobs(mock, api) == []
    assert fired(mock) == [{}]  # no job was planned: the rule did not fire


def test_a_stall_rule_uses_up_the_queued_scenario(mock: Mock) -> None:
    """The queued `failed` stayed queued under the stalled job, and landed on the next one."""
    queued = {"api": "neuralanalog", "outcome": "failed", "tenant": mock.key, "message": "q"}
    assert mock.client.post(QUEUE, json=queued).status_code == 201
    assert add(mock, fault="stall", tenant=mock.key).status_code == 201
    stalled = create(mock, "neuralanalog").json()["audio_id"]
    assert mock.client.get(QUEUE).json()["queued"] == []
    mock.advance(100_000)
    status = f"/neuralanalog/status/audio/{stalled}"
    body = mock.client.get(status, headers=mock.headers("neuralanalog")).json()
    assert (body["status"], body["is_failed"]) == ("in_progress", False)
    assert fired(mock) == [{mask(mock.key): 1}]
    mock.client.delete(FAULTS)
    after = create(mock, "neuralanalog").json()["audio_id"]
    assert mock.client.get(f"/__mock__/jobs/{after}").json()["scenario"] == "completed"


def test_a_refused_create_uses_none_of_a_stall_rules_times(mock: Mock) -> None:
    assert add(mock, fault="stall", tenant=mock.key, times=1).status_code == 201
    assert create(mock, "camb", "completed").status_code == 400
    task = create(mock, "camb").json()["task_id"]
    mock.advance(100_000)
    status = f"/camb/apis/audio-separation/{task}"
    assert mock.client.get(status, headers=mock.headers("camb")).json()["status"] == "PENDING"


def test_a_stall_rule_stalls_every_job_of_a_request(mock: Mock) -> None:
    """A NeuroLinker request and its two documents: planned for their scenario, then stalled.
    `partial; failing=2` fails both documents, which `partial` cannot: it was a stalled job."""
    key = tenant(mock, "neurolinker")
    assert add(mock, fault="stall", tenant=key).status_code == 201
    assert create(mock, "neurolinker", "partial; failing=2").status_code == 400
    assert jobs(mock, "neurolinker") == []
    request = create(mock, "neurolinker", "partial").json()["request_uid"]
    mock.advance(100_000)
    status = f"/neurolinker/v1/request-status/{request}"
    body = mock.client.get(status, headers=mock.headers("neurolinker")).json()
    assert body["status"] == "processing"
    assert fired(mock) == [{mask(key): 1}]  # one create, counted once


# --- a scenario the API refuses fires none of its faults -----------------------------------------


def test_a_header_scenario_the_api_refuses_is_its_400_before_its_fault(mock: Mock) -> None:
    """Camb answered 503, 503, then the 400 the scenario deserved from the start."""
    answers = [create(mock, "camb", "completed; fault=503; times=2") for _ in range(3)]
    assert [answer.status_code for answer in answers] == [400, 400, 400]
    assert "unknown outcome 'completed' for camb" in answers[0].json()["detail"]


def test_a_key_bound_scenario_the_api_refuses_fires_no_fault(
    state_store: StateStore | None,
) -> None:
    """The docs' own binding (`completed; fault=500; times=2`) gave Camb two 500s first."""
    keys = {"flaky": {"scenario": "completed; fault=500; times=2"}}
    for mock in make_mock(state_store, keys=keys):
        mock.key = "flaky"
        assert 500 not in [create(mock, "camb").status_code for _ in range(3)]
        assert [create(mock, "neuralanalog").status_code for _ in range(3)] == [500, 500, 200]


# --- a status no contract documents is refused ------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"fault": "502"}, "status 502 would never fire: no operation of any API documents it"),
        (
            {"fault": "error", "status": 504, "api": "camb"},
            "status 504 would never fire: no operation of camb documents it (they document "
            "500, 503)",
        ),
        (
            {"fault": "429", "api": "camb", "operation": "get_openapi_schema"},
            "status 429 would never fire: no operation named in 'operation' "
            "(get_openapi_schema) documents it",
        ),
    ],
)
def test_a_status_no_operation_documents_is_refused(
    mock: Mock, rule: dict[str, Any], message: str
) -> None:
    """A 502 or 504 rule was taken, then never fired on any API."""
    refused = add(mock, **rule)
    assert refused.status_code == 422
    assert message in refused.json()["error"]
    assert mock.client.get(FAULTS).json()["faults"] == []


def test_a_header_fault_of_an_undocumented_status_is_a_400(mock: Mock) -> None:
    refused = create(mock, "neuralanalog", "completed; fault=502")
    assert refused.status_code == 400
    assert "status 502 would never fire" in refused.json()["detail"]
    queued = {"api": "camb", "outcome": "SUCCESS", "fault": "504"}
    assert mock.client.post(QUEUE, json=queued).status_code == 422


# --- a rate draws from the rule, not its ID ---------------------------------------------------


def test_a_rate_fires_alike_after_a_reset_renumbered_its_rule(mock: Mock) -> None:
    def pattern() -> str:
        rule = {"fault": "503", "api": "neuralanalog", "operation": "get_status", "rate": 0.5}
        assert add(mock, **rule).status_code == 201
        status = "/neuralanalog/status/audio/nope"
        headers = mock.headers("neuralanalog")
        return "".join(
            "x" if mock.client.get(status, headers=headers).status_code == 503 else "."
            for _ in range(40)
        )

    first = pattern()
    assert mock.client.post("/__mock__/reset").status_code == 200
    assert pattern() == first
    assert "x" in first and "." in first


def test_a_rate_draws_alike_whatever_the_rules_id() -> None:
    def draws(book: FaultBook) -> list[int | None]:
        rule = book.add({"fault": "500", "rate": 0.5})
        return [book.fire(rule, "camb", "k", 0.0) for _ in range(20)]

    later = FaultBook([{"fault": "latency"}], seed=3)  # its rule is fault-2, not fault-1
    assert draws(FaultBook(seed=3)) == draws(later)
