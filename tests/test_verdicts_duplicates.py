"""`duplicated` on entries made by hand: the second job followed, the first never."""

from __future__ import annotations

import json
from itertools import count

from mockserver.engine.journal import Entry
from mockserver.verdicts import DUPLICATED, behaviour

ND = "neuraldraft"
POST = json.dumps({"type": "ai", "topic": "Cold brew"}).encode()
NUMBERS = count(1)


def create(job: str, body: bytes = POST) -> Entry:
    number = next(NUMBERS)
    return Entry(
        f"req_{number}",
        float(number),
        ND,
        "ndsk_test_k",
        "POST",
        "/v1/blog-posts",
        "",
        request_body=body,
        request_type="application/json",
        status=202,
        response_body=json.dumps({"id": job, "status": "queued"}).encode(),
        response_type="application/json",
    )


def poll(job: str) -> Entry:
    number = next(NUMBERS)
    return Entry(f"req_{number}", float(number), ND, "ndsk_test_k", "GET", f"/v1/jobs/{job}", "")


def found(*entries: Entry) -> list[tuple[str, str]]:
    findings = [f for f in behaviour(ND, entries) if f.verdict == DUPLICATED]
    return [(f.details["first_job"], f.details["duplicate_job"]) for f in findings]


def test_creates_followed_alike_are_no_duplicates() -> None:
    """Never asked about (followed by webhooks), or each asked about: the client had every
    answer. The first case used to be `duplicated`; the second followed and the first never
    is, and another body is another job."""
    assert found(create("job_a"), create("job_b")) == []
    assert found(create("job_a"), create("job_b"), poll("job_a"), poll("job_b")) == []
    assert found(create("job_a"), create("job_b"), poll("job_b")) == [("job_a", "job_b")]
    other = json.dumps({"type": "ai", "topic": "Tea"}).encode()
    assert found(create("job_a"), create("job_b", other), poll("job_b")) == []


def test_each_create_whose_answer_was_lost_names_the_job_followed() -> None:
    """Three creates, the third followed: the first two answers were lost."""
    entries = (create("job_a"), create("job_b"), create("job_c"), poll("job_c"))
    assert found(*entries) == [("job_a", "job_c"), ("job_b", "job_c")]
