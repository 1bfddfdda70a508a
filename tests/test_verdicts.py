"""Behaviour verdicts: each bug across requests is named, with its fields, and its correct twin
stays `handled` in every row; the journal keeps multipart requests part by part."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mockserver.clientcheck import HANDLED, NOT_APPLICABLE, Report, check_client
from mockserver.engine.journal import BODY_LIMIT, Entry
from mockserver.engine.scenarios import Scenario, origin
from mockserver.verdicts import (
    ALTERED,
    DUPLICATED,
    HASTY,
    LINGERED,
    behaviour,
    request_fields,
    scenario_refused,
)
from tests import clients_behaviour as clients
from tests.conftest import Mock, wav

pytest_plugins = ["pytester"]
PROJECT_FIELDS = ["folder_id", "project_description", "project_name"]


def rows(report: Report) -> dict[str, Any]:
    return {row.scenario: row for row in report.rows}


def test_camb_sdk_retries_drop_the_project_fields() -> None:
    report = check_client("camb", clients.camb_sdk, only=["429", "503", "success"])
    found = rows(report)
    assert found["SUCCESS"].verdict == HANDLED
    for name in ("429", "503"):
        row = found[name]
        assert row.verdict == ALTERED, report.table()
        assert "without folder_id, project_description, project_name" in row.reason
        [finding] = row.behaviour
        assert finding["dropped"] == PROJECT_FIELDS and finding["after_status"] == int(name)
    data = json.loads(report.to_json())
    assert data["ok"] is False
    assert data["rows"][1]["behaviour"][0]["verdict"] == ALTERED


def test_camb_twin_is_handled_everywhere() -> None:
    """The matrix's time is a benchmark figure (`make bench`), not asserted here."""
    report = check_client("camb", clients.camb_sdk_plain)
    assert report.ok and all(row.verdict == HANDLED for row in report.rows), report.table()
    assert all(row.behaviour == [] for row in report.rows)


def test_polling_faster_than_the_pace_is_hasty() -> None:
    [row] = check_client("camb", clients.camb_hasty, only=["SUCCESS"]).rows
    assert row.verdict == HASTY
    [finding] = row.behaviour
    assert finding["pace"] == 1 and finding["polls"] == 61 and finding["too_fast"] == 60
    assert finding["intervals"][:3] == [0.5, 0.5, 0.5]
    assert "61 times, 60 of them less than 1 s apart (shortest 0.5 s)" in row.reason


def test_polling_after_the_end_lingers() -> None:
    [row] = check_client("camb", clients.camb_lingering, only=["SUCCESS"]).rows
    assert row.verdict == LINGERED
    [finding] = row.behaviour
    assert (finding["state"], finding["polls_after_end"]) == ("SUCCESS", 3)
    assert finding["seconds_after_end"] == 6


def test_a_create_sent_again_after_a_timeout_duplicates_the_job() -> None:
    [row] = check_client("neuralanalog", clients.resubmits_after_timeout, only=["completed"]).rows
    assert row.verdict == DUPLICATED
    [finding] = row.behaviour
    assert [job["id"] for job in row.jobs] == [finding["first_job"], finding["duplicate_job"]]
    assert "neuralanalog has no idempotency mechanism" in row.reason
    assert finding["first_job"] in row.reason and finding["duplicate_job"] in row.reason


def test_neuraldraft_resubmit_needs_the_same_idempotency_key() -> None:
    [row] = check_client("neuraldraft", clients.neuraldraft_resubmits, only=["completed"]).rows
    assert row.verdict == DUPLICATED and "without the same Idempotency-Key" in row.reason
    assert row.behaviour[0]["idempotency_header"] == "Idempotency-Key"
    twin = check_client("neuraldraft", clients.neuraldraft_idempotent)
    assert all(r.verdict == HANDLED for r in twin.rows if r.scenario in ("completed", "402"))
    assert all(r.behaviour == [] for r in twin.rows), twin.table()


def test_rows_the_flow_cannot_run_are_not_applicable() -> None:
    report = check_client(
        "neurolinker", clients.neurolinker_one_document, only=["COMPLETED", "Partial", "402"]
    )
    found = rows(report)
    assert [row.scenario for row in report.rows] == ["completed", "partial", "402"]
    assert found["partial"].verdict == NOT_APPLICABLE
    assert found["partial"].reason.endswith(
        "partial needs at least one completed and one failed document: failing=1 of 1 document(s)"
    )
    assert found["402"].verdict == HANDLED and found["402"].raised.startswith("NeuroLinkerAPI")
    assert report.ok
    assert report.table().endswith("all 2 scenarios handled; not applicable: partial")


# --- the pure functions, on entries made by hand ------------------------------------------------


def entry(number: int, time: float, method: str, path: str, status: int, **extra: Any) -> Entry:
    return Entry(f"req_{number}", time, "camb", "k", method, path, "", status=status, **extra)


def test_a_request_sooner_than_retry_after_is_hasty() -> None:
    form = "application/x-www-form-urlencoded"
    entries = [
        entry(1, 0.0, "POST", "/apis/audio-separation-results", 429, retry_after="5"),
        entry(2, 1.5, "POST", "/apis/audio-separation-results", 429, retry_after="5"),
        entry(3, 9.0, "POST", "/apis/audio-separation-results", 200),
    ]
    for item in entries:
        item.request_body, item.request_type = b"run_ids=1", form
    [finding] = behaviour("camb", entries)
    assert finding.verdict == HASTY
    assert finding.reason == (
        "sent POST /apis/audio-separation-results 1.5 s after a 429 that said Retry-After: 5"
    )
    assert finding.details["intervals"] == [1.5]


def test_changed_json_fields_are_named() -> None:
    first = entry(1, 0.0, "POST", "/apis/audio-separation-results", 503)
    retry = entry(2, 2.0, "POST", "/apis/audio-separation-results", 200)
    first.request_body, first.request_type = b'{"run_ids": [1, 2]}', "application/json"
    retry.request_body, retry.request_type = b'{"run_ids": [1]}', "application/json"
    [finding] = behaviour("camb", [first, retry])
    assert (finding.verdict, finding.details["changed"]) == (ALTERED, ["run_ids"])
    assert "with run_ids changed (req_1 -> req_2)" in finding.reason


def test_a_cut_body_is_not_compared() -> None:
    big = entry(1, 0.0, "POST", "/x", 500, request_type="application/json")
    big.request_body, big.request_size = b"{" * BODY_LIMIT, BODY_LIMIT * 2
    assert request_fields(big) is None


def test_only_the_mocks_own_scenario_refusal_is_not_applicable() -> None:
    refused = entry(1, 0.0, "POST", "/apis/audio-separation", 400)
    bound = Scenario("partial", {}, "key")
    said = f"{origin(bound)}: partial needs two documents"
    refused.response_body = json.dumps({"detail": said}).encode()
    assert scenario_refused("camb", [refused], bound) == (
        "the API cannot produce this scenario for the flow's request: partial needs two documents"
    )
    refused.response_body = b'{"detail": "X-Mock-Scenario: partial needs two documents"}'
    assert scenario_refused("camb", [refused], bound) is None  # a header of the flow's own
    refused.response_body = b'{"detail": "media_file is required"}'
    assert scenario_refused("camb", [refused], bound) is None


# --- the journal keeps multipart requests as their parts ----------------------------------------


def test_journal_records_multipart_parts_with_the_true_size(mock: Mock) -> None:
    media = wav(seconds=3.0)  # ~48 KB: far past the bytes the journal keeps
    assert len(media) > BODY_LIMIT
    answer = mock.client.post(
        "/camb/apis/audio-separation",
        headers=mock.headers("camb"),
        files={"media_file": ("mix.wav", media, "audio/wav")},
        data={"project_name": "Demo", "folder_id": "7"},
    )
    assert answer.status_code == 200
    [kept] = mock.state.journal.entries("camb", mock.key)
    assert kept.request_size > len(media) > len(kept.request_body)
    assert kept.as_dict()["request"] == {
        "parts": [
            {"name": "project_name", "size": 4, "value": "Demo"},
            {"name": "folder_id", "size": 1, "value": "7"},
            {
                "name": "media_file",
                "size": len(media),
                "filename": "mix.wav",
                "content_type": "audio/wav",
            },
        ]
    }
    assert kept.as_dict()["request_size"] == kept.request_size


def test_journal_keeps_a_broken_multipart_body_readable(mock: Mock) -> None:
    headers = mock.headers("camb", **{"Content-Type": "multipart/form-data; boundary=zz"})
    mock.client.post("/camb/apis/audio-separation", headers=headers, content=b"--zz\r\nbroken")
    [kept] = mock.state.journal.entries("camb", mock.key)
    assert kept.request_size == len(b"--zz\r\nbroken")
    assert isinstance(kept.as_dict()["request"]["parts"], list)


def test_journal_of_a_plain_json_request_is_unchanged(mock: Mock) -> None:
    httpx_body = {"run_ids": [1]}
    mock.client.post(
        "/camb/apis/audio-separation-results", headers=mock.headers("camb"), json=httpx_body
    )
    [kept] = mock.state.journal.entries("camb", mock.key)
    assert kept.as_dict()["request"] == httpx_body and kept.request_parts is None
    assert kept.request_size == len(kept.request_body) > 0


# --- the pytest plugin's teardown ---------------------------------------------------------------

BUSY_TESTS = """
import httpx
import pytest


def busy(mockserver):
    base, headers = mockserver.base_url("neuraldraft"), mockserver.headers("neuraldraft")
    mockserver.queue("neuraldraft", "completed; mode=poll")  # a phase per read, not per second
    job = httpx.post(base + "/images", json={"prompt": "fox"}, headers=headers).json()["id"]
    while httpx.get(f"{base}/jobs/{job}", headers=headers).json()["status"] != "completed":
        pass  # no sleep at all


def test_busy(mockserver):
    busy(mockserver)


@pytest.mark.mockserver_allow_behaviour
def test_busy_on_purpose(mockserver):
    busy(mockserver)
"""


def test_plugin_fails_a_test_whose_client_misbehaves_unless_marked(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_user=BUSY_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_busy*",
            "the client under test misbehaved across requests (1 finding):",
            "  neuraldraft: hasty: polled job job_* 3 times, 2 of them less than 1 s apart "
            "(shortest 0 s)",
            "(mark the test @pytest.mark.mockserver_allow_behaviour if that is intended)",
        ]
    )
