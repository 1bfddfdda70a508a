"""validate_response blames the field that is wrong when a schema has branches (`oneOf`,
`if`/`then`/`else`): the branch whose discriminator the body meets speaks, a field that must be
absent is said to be so at its own pointer, and no raw jsonschema words come through."""

from __future__ import annotations

from typing import Any

import pytest

from mockserver.contracts import load, validate_response
from mockserver.contracts.validate import NO_VALUE, NOT_PRESENT, check

CAMB_STATUS = "/apis/audio-separation/6f1c1b8e-0000-4000-8000-000000000000"
JOB = "/v1/jobs/job_abcdefghijkl"
FAILED_JOB = {
    "id": "job_abcdefghijkl",
    "type": "blog_post.generate",
    "status": "failed",
    "created_at": "2020-01-01T00:00:00Z",
    "updated_at": "2020-01-01T00:00:00Z",
    "progress": 40,
    "error": {"code": "generation_failed", "message": "x"},
}
COMPLETED_JOB = {
    **{k: v for k, v in FAILED_JOB.items() if k != "error"},
    "status": "completed",
    "progress": 100,
    "result": {"post_id": 1, "slug": "a", "title": "t"},
}


JSON_HEADERS = {"content-type": "application/json"}
ANY_REASON = "Input should be 'HARMFUL_CONTENT_DETECTED', 'VOICE_CONVERSION_ERROR', "


def _body_blame(api: str, path: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    found = validate_response(api, "GET", path, 200, body=body, headers=JSON_HEADERS)
    return [(v.pointer, v.message) for v in found if v.pointer.startswith("/body")]


@pytest.mark.parametrize(
    ("body", "blamed"),
    [
        (
            {"status": "SUCCESS", "run_id": None},
            ("/body/run_id", "Input should be a valid integer"),
        ),
        ({"status": "SUCCESS", "run_id": "7"}, ("/body/run_id", "Input should be a valid integer")),
        ({"status": "PENDING", "run_id": 3}, ("/body/run_id", "Input should be None")),
        ({"status": "TIMEOUT", "exception_reason": None}, ("/body/exception_reason", ANY_REASON)),
    ],
)
def test_a_camb_status_is_blamed_on_the_field_its_status_rules(
    body: dict[str, Any], blamed: tuple[str, str]
) -> None:
    """Not on `status`, as the first branch whose `status` it is not would have it."""
    found = _body_blame("camb", CAMB_STATUS, body)
    assert [(pointer, message[: len(blamed[1])]) for pointer, message in found] == [blamed]
    assert _body_blame("camb", CAMB_STATUS, {"status": "SUCCESS", "run_id": 7}) == []


def test_a_failed_jobs_result_is_said_to_be_absent_at_its_own_pointer() -> None:
    body = {**FAILED_JOB, "result": None}
    found = validate_response("neuraldraft", "GET", JOB, 200, body=body, headers=JSON_HEADERS)
    blamed = [v for v in found if v.pointer.startswith("/body")]
    assert [(v.pointer, v.message, v.kind) for v in blamed] == [
        ("/body/result", NOT_PRESENT, "extra_forbidden")
    ]


def test_a_completed_jobs_result_is_blamed_on_the_wrong_part_only() -> None:
    result = {"post_id": "1", "slug": "a", "title": "t"}
    body = {**COMPLETED_JOB, "result": result, "error": None}
    assert _body_blame("neuraldraft", JOB, body) == [
        ("/body/error", NOT_PRESENT),
        ("/body/result/post_id", "Input should be a valid integer"),
    ]
    assert _body_blame("neuraldraft", JOB, COMPLETED_JOB) == []


def test_a_false_schema_that_is_no_property_is_worded_too() -> None:
    operation = load("neuraldraft").by_id("get_job")
    schema = {"if": {"type": "object"}, "then": False}
    found = check(operation, schema, {"any": 1}, "body")
    assert [(v.pointer, v.message) for v in found] == [("/body", NO_VALUE)]


CAMB_STATUSES = "Input should be 'PENDING', 'SUCCESS', 'ERROR', 'TIMEOUT' or 'PAYMENT_REQUIRED'"
DOCUMENT_STATUS = "/api/v1/document-status/6f1c1b8e-0000-4000-8000-000000000001"
FAILED_DOCUMENT = {
    "success": True,
    "document_id": "6f1c1b8e-0000-4000-8000-000000000001",
    "request_id": "6f1c1b8e-0000-4000-8000-000000000002",
    "status": "failed",
    "file_name": "a.pdf",
    "file_type": "application/pdf",
    "file_size_bytes": 842,
    "total_pages": 2,
    "user_uid": "0SgkzsSoQjennuSJjogZXAIi0TKj",
    "started_at": "2026-01-01T00:00:00.000000Z",
    "completed_at": "2026-01-01T00:01:00.000000Z",
    "results": None,
    "error": "x",
    "document_page_url": None,
}
DOCUMENT_STATUSES = "Input should be 'pending', 'processing', 'completed' or 'failed'"


@pytest.mark.parametrize(
    ("api", "path", "body", "blamed"),
    [
        (
            "camb",
            CAMB_STATUS,
            {"status": "DONE", "run_id": None},
            ("/body/status", CAMB_STATUSES, "enum"),
        ),
        ("camb", CAMB_STATUS, {"status": 3, "run_id": 7}, ("/body/status", CAMB_STATUSES, "enum")),
        (
            "neurolinker",
            DOCUMENT_STATUS,
            {**FAILED_DOCUMENT, "status": "done"},
            ("/body/status", DOCUMENT_STATUSES, "enum"),
        ),
    ],
)
def test_a_discriminator_no_branch_takes_is_blamed_with_every_branchs_values(
    api: str, path: str, body: dict[str, Any], blamed: tuple[str, str, str]
) -> None:
    """Once, at its own pointer: not as the one branch that came closest, nor beside the
    field's own enum, nor with what any branch wants of the other fields."""
    found = validate_response(api, "GET", path, 200, body=body, headers=JSON_HEADERS)
    assert [(v.pointer, v.message, v.kind) for v in found if v.pointer.startswith("/body")] == [
        blamed
    ]


def test_a_field_a_response_may_not_hold_is_named_at_itself_with_its_value() -> None:
    """jsonschema says "Additional properties are not allowed ('extra' was unexpected)" at the
    object, with no value; the request side, and pydantic, name each field."""
    body = {**COMPLETED_JOB, "extra": 1, "result": {**COMPLETED_JOB["result"], "note": "n"}}
    found = validate_response("neuraldraft", "GET", JOB, 200, body=body, headers=JSON_HEADERS)
    assert [
        (v.pointer, v.message, v.value, v.kind) for v in found if v.pointer.startswith("/body")
    ] == [
        ("/body/extra", "Extra inputs are not permitted", 1, "extra_forbidden"),
        ("/body/result/note", "Extra inputs are not permitted", "n", "extra_forbidden"),
    ]
