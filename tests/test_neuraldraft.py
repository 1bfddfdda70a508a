"""Neural Draft: jobs on the manual clock, cancel, SSE, signed webhooks, idempotency, rate limits.

Every response is checked against `contracts/neuraldraft.yaml` by the `mock`/`live` fixtures.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any
from uuid import uuid4

import httpx
import pytest
from starlette.responses import Response

from mockserver import ServerConfig, apis, create_app
from mockserver.apis.neuraldraft.guards import (
    IDEMPOTENCY_TTL,
    STILL_RUNNING,
    WINDOW_SECONDS,
    Idempotency,
    Limits,
    RateLimiter,
)
from mockserver.apis.neuraldraft.posts import BlogPost, Registry, SocialPost
from mockserver.errors import ApiError
from mockserver.stores import MemoryStore, StateStore, key
from tests.conftest import Live, Mock, make_mock
from tests.encoding_store import EncodingStore, state_store
from tests.webhook_receiver import Receiver

__all__ = ["state_store"]  # the fixture: the tests on `mock` run on memory and encoded

BASE = "/neuraldraft/v1"
BLOG = {"type": "ai", "topic": "How to brew cold brew at home"}
PROBLEM = "application/problem+json"


def create(mock: Mock, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return mock.client.post(BASE + path, headers=mock.headers("neuraldraft", **headers), json=body)


def job(mock: Mock, job_id: str) -> dict[str, Any]:
    answer = mock.client.get(f"{BASE}/jobs/{job_id}", headers=mock.headers("neuraldraft"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def assert_problem(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """An RFC 7807 answer whose `instance` is the request id sent as X-Request-Id."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    body = answer.json()
    assert body["status"] == status and body["code"] == code
    assert body["type"] == f"https://api.neuraldraft.io/errors/{code}"
    assert body["instance"] == answer.headers["x-request-id"]
    return body


def blog_post(mock: Mock, scenario: str = "completed; after=100") -> str:
    created = create(mock, "/blog-posts", BLOG, **{"X-Mock-Scenario": scenario})
    assert created.status_code == 202, created.text
    return created.json()["id"]


# --- jobs on the clock ----------------------------------------------------------------------


def test_blog_post_moves_with_the_clock_and_completes_with_a_post(mock: Mock) -> None:
    created = create(mock, "/blog-posts", {**BLOG, "translate_to_all": True})
    assert created.status_code == 202
    body = created.json()
    assert re.fullmatch(r"job_[A-Za-z0-9]{12}", body["id"])
    assert (body["type"], body["status"], body["progress"], body["message"]) == (
        "blog_post.generate",
        "pending",
        0,
        "Queued",
    )
    names = [step["name"] for step in body["steps"]]
    assert names == ["research", "write", "image", "translate", "seo"]

    seen_progress = []
    for _ in range(9):  # 420 s by default
        mock.advance(50)
        state = job(mock, body["id"])
        seen_progress.append(state["progress"])
        if state["status"] == "completed":
            break
        assert state["status"] == "processing"
        active = [s for s in state["steps"] if s["active"]]
        assert len(active) == 1
        index = names.index(active[0]["name"])
        assert all(s["completed"] for s in state["steps"][:index])
        assert not any(s["completed"] for s in state["steps"][index:])
    assert seen_progress == sorted(seen_progress) and len(set(seen_progress)) > 4
    assert state["status"] == "completed" and state["progress"] == 100
    assert all(s["completed"] and not s["active"] for s in state["steps"])
    result = state["result"]
    assert set(result) == {"post_id", "slug", "title"}
    assert result["slug"] == "how-to-brew-cold-brew-at-home"
    assert result["title"] == "How To Brew Cold Brew At Home"
    assert "error" not in state


def test_translate_step_is_skipped_unless_asked_for(mock: Mock) -> None:
    job_id = blog_post(mock, "completed; after=100")
    mock.advance(52)  # research + write take the first half of a plan without translation
    steps = {s["name"]: s for s in job(mock, job_id)["steps"]}
    mock.advance(30)
    later = {s["name"]: s for s in job(mock, job_id)["steps"]}
    assert steps["image"]["active"] or later["image"]["completed"]
    assert later["translate"]["completed"] or later["seo"]["active"]


@pytest.mark.parametrize(
    ("path", "body", "kept"),
    [
        ("/blog-posts", {**BLOG, "enable_research": False}, {"topic", "enable_research"}),
        ("/images", {"prompt": "Cold brew", "aspect_ratio": "4:3"}, {"prompt"}),
        ("/jobs", {"type": "website.generate", "name": "Brew"}, set()),
    ],
)
def test_a_job_keeps_the_fields_it_reads_not_the_whole_body(
    mock: Mock, path: str, body: dict[str, Any], kept: set[str]
) -> None:
    """A body padded with fields no contract names is answered, but the padding is not stored
    with the job (it would be, per job, up to the body limit)."""
    created = create(mock, path, {**body, "padding": "x" * 100_000})
    assert created.status_code == 202, created.text
    job_id = created.json().get("id") or created.json()["job_id"]
    tenant = apis.service_class("neuraldraft").api_key(mock.key)
    found = mock.state.store.get("neuraldraft", tenant, job_id)
    assert found is not None
    assert set(found.data) - {"result", "server_url", "timeline"} == kept


def test_image_completes_with_a_real_png_of_the_announced_size(mock: Mock) -> None:
    created = create(mock, "/images", {"prompt": "Cold brew", "aspect_ratio": "4:3"})
    assert created.status_code == 202
    assert [s["name"] for s in created.json()["steps"]] == ["generate", "upload"]
    mock.advance(60)
    result = job(mock, created.json()["id"])["result"]
    assert (result["width"], result["height"]) == (1920, 1440)
    assert result["key"].startswith("images/")
    png = mock.client.get(result["url"])
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png.content[16:24]) == (1920, 1440)


def test_social_post_answers_a_handle_and_echoes_its_platforms(mock: Mock) -> None:
    created = create(
        mock,
        "/jobs",
        {
            "type": "social_post.generate",
            "custom_title": "Cold brew",
            "platforms": ["twitter", "twitter"],
        },
    )
    assert created.status_code == 202
    handle = created.json()
    assert handle["status"] == "pending" and set(handle) == {"job_id", "status"}
    mock.advance(120)
    state = job(mock, handle["job_id"])
    assert state["type"] == "social_post.generate"
    assert state["result"]["title"] == "Cold brew"
    assert state["result"]["platforms"] == ["twitter"]
    social_id = state["result"]["social_post_id"]
    assert isinstance(social_id, int)
    read = mock.client.get(f"{BASE}/social-posts/{social_id}", headers=mock.headers("neuraldraft"))
    assert read.status_code == 200
    assert read.json()["data"] | {"content": None, "created_at": None, "updated_at": None} == {
        "id": social_id,
        "title": "Cold brew",
        "platforms": ["twitter"],
        "status": "published",
        "media_type": None,
        "content": None,
        "created_at": None,
        "updated_at": None,
    }


def test_content_translation_accepts_the_sdk_field_name(mock: Mock) -> None:
    created = create(mock, "/content/home.hero.title/translate", {"target_languages": ["fr", "de"]})
    assert created.status_code == 202
    body = created.json()
    assert body["type"] == "translation.batch"
    assert [s["name"] for s in body["steps"]] == ["fr", "de"]
    mock.advance(5)
    assert job(mock, body["id"])["message"] == "Translating to French"
    mock.advance(100)
    assert job(mock, body["id"])["result"] == {"keys_translated": 2, "locales": ["fr", "de"]}


def test_blog_post_translation_needs_a_finished_post(mock: Mock) -> None:
    missing = create(mock, "/blog-posts/999/translate", {"target_langs": ["fr"]})
    assert_problem(missing, 404, "not_found")
    not_an_id = create(mock, "/blog-posts/post_nope/translate", {"target_langs": ["fr"]})
    assert set(assert_problem(not_an_id, 422, "validation_failed")["errors"]) == {"id"}
    job_id = blog_post(mock)
    post_id = job(mock, job_id).get("result", {}).get("post_id", 1)
    running = create(mock, f"/blog-posts/{post_id}/translate", {"target_langs": ["fr"]})
    assert_problem(running, 404, "not_found")  # the post exists once its job completed
    mock.advance(200)
    post_id = job(mock, job_id)["result"]["post_id"]
    assert isinstance(post_id, int)
    body = {"target_langs": ["es"], "target_languages": ["it"], "source_lang": "en"}
    created = create(mock, f"/blog-posts/{post_id}/translate", body)
    assert created.status_code == 202
    mock.advance(60)
    assert job(mock, created.json()["id"])["result"] == {"keys_translated": 4, "locales": ["es"]}


# --- cancel ---------------------------------------------------------------------------------


def test_cancel_keeps_finished_steps_and_a_finished_job_is_a_conflict(mock: Mock) -> None:
    job_id = blog_post(mock, "completed; after=400")
    mock.advance(150)
    before = job(mock, job_id)
    cancelled = mock.client.post(
        f"{BASE}/jobs/{job_id}/cancel", headers=mock.headers("neuraldraft")
    )
    assert cancelled.status_code == 200
    body = cancelled.json()
    assert body["status"] == "cancelled" and body["message"] == "Cancelled"
    assert body["progress"] == before["progress"]
    done = [s["completed"] for s in before["steps"]]
    assert [s["completed"] for s in body["steps"]] == done and any(done)
    assert not any(s["active"] for s in body["steps"])
    assert "result" not in body and "error" not in body
    mock.advance(1000)
    assert job(mock, job_id) == body  # frozen
    again = mock.client.post(f"{BASE}/jobs/{job_id}/cancel", headers=mock.headers("neuraldraft"))
    assert "already cancelled" in assert_problem(again, 409, "conflict")["detail"]

    finished = blog_post(mock, "completed; after=10")
    mock.advance(10)
    late = mock.client.post(f"{BASE}/jobs/{finished}/cancel", headers=mock.headers("neuraldraft"))
    assert_problem(late, 409, "conflict")


# --- scenarios ------------------------------------------------------------------------------


def test_failed_scenario_with_code_and_message(mock: Mock) -> None:
    scenario = "failed; after=30; code=content_policy_violation; message=Not allowed"
    job_id = blog_post(mock, scenario)
    mock.advance(29)
    assert job(mock, job_id)["status"] == "processing"
    mock.advance(1)
    state = job(mock, job_id)
    assert state["status"] == "failed" and state["message"] == "Generation failed"
    assert state["error"] == {"code": "content_policy_violation", "message": "Not allowed"}
    assert 0 < state["progress"] < 100 and "result" not in state


def test_magic_inputs_name_outcomes_and_ordinary_words_do_not(mock: Mock) -> None:
    cancelled = create(mock, "/images", {"prompt": "mock-cancelled sunset"}).json()["id"]
    failed = create(mock, "/jobs", {"type": "social_post.generate", "custom_title": "mock-failed"})
    mockup = create(mock, "/blog-posts", {"type": "ai", "topic": "Design a mock-up in Figma"})
    assert mockup.status_code == 202
    mock.advance(3600)
    assert job(mock, cancelled)["status"] == "cancelled"
    assert job(mock, failed.json()["job_id"])["error"]["code"] == "upstream_unavailable"
    assert job(mock, mockup.json()["id"])["status"] == "completed"


def test_cancelled_scenario_stops_after_the_given_seconds(mock: Mock) -> None:
    job_id = blog_post(mock, "cancelled; after=120")
    mock.advance(119)
    assert job(mock, job_id)["status"] == "processing"
    mock.advance(1)
    state = job(mock, job_id)
    assert state["status"] == "cancelled"
    assert state["updated_at"] == "2026-01-01T00:02:00Z"
    assert [s["completed"] for s in state["steps"]][:2] == [True, False]


def test_stalled_never_finishes_and_poll_mode_moves_per_read(mock: Mock) -> None:
    stalled = blog_post(mock, "stalled")
    mock.advance(86_400)
    state = job(mock, stalled)
    assert state["status"] == "processing" and state["steps"][-1]["active"]

    created = create(mock, "/blog-posts", BLOG, **{"X-Mock-Scenario": "completed; mode=poll"})
    assert created.json()["status"] == "pending"
    reads = [job(mock, created.json()["id"]) for _ in range(5)]  # each read: one phase on
    assert [r["status"] for r in reads] == [*["processing"] * 4, "completed"]  # no translation
    assert [r["message"] for r in reads[:2]] == ["Researching the topic", "Writing the post"]


def test_out_of_credits_is_a_402_and_creates_no_job(mock: Mock) -> None:
    by_header = create(mock, "/images", {"prompt": "x"}, **{"X-Mock-Scenario": "out_of_credits"})
    assert assert_problem(by_header, 402, "out_of_credits")["title"] == "Out of credits"
    by_magic = create(mock, "/blog-posts", {"type": "ai", "topic": "mock-insufficient_credits"})
    assert_problem(by_magic, 402, "out_of_credits")  # either word; the server's code answers
    queued = mock.client.post(
        "/__mock__/scenarios",
        json={
            "api": "neuraldraft",
            "outcome": "insufficient_credits",
            "tenant": f"ndsk_test_{mock.key}",
        },
    )
    assert queued.status_code == 201
    assert_problem(create(mock, "/images", {"prompt": "x"}), 402, "out_of_credits")
    assert create(mock, "/images", {"prompt": "x"}).status_code == 202  # the queue is used up
    jobs = mock.client.get("/__mock__/jobs", params={"api": "neuraldraft"}).json()
    assert jobs["count"] == 1


def test_admin_transition_fails_a_running_job(mock: Mock) -> None:
    job_id = blog_post(mock)
    mock.advance(40)
    forced = mock.client.post(
        f"/__mock__/jobs/{job_id}/transition", json={"outcome": "failed", "code": "timeout"}
    )
    assert forced.status_code == 200
    assert job(mock, job_id)["error"]["code"] == "timeout"
    refused = mock.client.post(
        f"/__mock__/jobs/{blog_post(mock)}/transition", json={"outcome": "insufficient_credits"}
    )
    assert refused.status_code == 422


def test_live_and_test_keys_both_work_as_separate_tenants(mock: Mock) -> None:
    live_key = {"Authorization": f"Bearer ndsk_live_{mock.key}"}
    created = mock.client.post(f"{BASE}/images", headers=live_key, json={"prompt": "x"})
    assert created.status_code == 202
    job_id = created.json()["id"]
    assert mock.client.get(f"{BASE}/jobs/{job_id}", headers=live_key).status_code == 200
    other = mock.client.get(f"{BASE}/jobs/{job_id}", headers=mock.headers("neuraldraft"))
    assert_problem(other, 404, "not_found")


# --- server-sent events ---------------------------------------------------------------------


@dataclass
class Event:
    name: str
    data: dict[str, Any]


def read_events(live: Live, path: str, key: str, after_each: float = 0.0) -> Iterator[Event]:
    """Parse the stream; after each `progress` event, move the clock `after_each` seconds.

    A `progress` event closes each batch of changes (steps first, then progress), so the
    clock only moves once the client has seen everything the last move caused: no sleeping,
    and the same events in every run.
    """
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.stream("GET", live.url + path, headers=headers, timeout=10) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        name, data = "", ""
        for line in answer.iter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
            elif not line and name:
                yield Event(name, json.loads(data))
                if name == "progress" and after_each:
                    live.advance(after_each)
                name, data = "", ""


def start_live(live: Live, key: str, path: str, body: dict[str, Any], scenario: str) -> str:
    headers = {"Authorization": f"Bearer {key}", "X-Mock-Scenario": scenario}
    created = httpx.post(f"{live.url}{BASE}{path}", headers=headers, json=body)
    assert created.status_code == 202, created.text
    return created.json()["id"]


def test_stream_follows_the_clock_to_done(live: Live) -> None:
    key = f"ndsk_test_{uuid4().hex}"
    job_id = start_live(live, key, "/blog-posts", BLOG, "completed; after=100")
    events = list(read_events(live, f"{BASE}/jobs/{job_id}/stream", key, after_each=10))
    names = [e.name for e in events]
    assert names[:6] == ["progress", "step", "step", "step", "step", "step"]
    assert events[0].data == {"progress": 0, "message": "Queued"}
    assert names[-1] == "done" and names.count("done") == 1 and "error" not in names
    assert set(events[-1].data["result"]) == {"post_id", "slug", "title"}
    progress = [e.data["progress"] for e in events if e.name == "progress"]
    assert progress == [0, 9, 19, 29, 39, 49, 59, 69, 79, 89, 100]
    moves = [
        (e.data["name"], "active" if e.data["active"] else "done")
        for e in events[6:]
        if e.name == "step"
    ]
    assert moves == [
        ("research", "active"),
        ("research", "done"),
        ("write", "active"),
        ("write", "done"),
        ("image", "active"),
        ("image", "done"),
        ("translate", "done"),  # not asked for: done at once, never active
        ("seo", "active"),
        ("seo", "done"),
    ]


def test_stream_ends_with_an_error_event_for_a_failed_job(live: Live) -> None:
    key = f"ndsk_test_{uuid4().hex}"
    scenario = "failed; after=20; code=content_policy_violation; message=Nope"
    job_id = start_live(live, key, "/images", {"prompt": "x"}, scenario)
    events = list(read_events(live, f"{BASE}/jobs/{job_id}/stream", key, after_each=5))
    assert events[-1] == Event("error", {"code": "content_policy_violation", "message": "Nope"})
    # a finished job: the snapshot and the final event at once, then the stream closes
    replay = list(read_events(live, f"{BASE}/jobs/{job_id}/stream", key))
    assert [e.name for e in replay] == ["progress", "step", "step", "error"]


def test_cancel_wakes_an_open_stream(live: Live) -> None:
    key = f"ndsk_test_{uuid4().hex}"
    job_id = start_live(live, key, "/images", {"prompt": "x"}, "completed; after=100")
    live.advance(10)
    events: list[Event] = []
    for event in read_events(live, f"{BASE}/jobs/{job_id}/stream", key):
        events.append(event)
        if len(events) == 3:  # the snapshot: progress and both steps
            cancel = httpx.post(
                f"{live.url}{BASE}/jobs/{job_id}/cancel", headers={"Authorization": f"Bearer {key}"}
            )
            assert cancel.status_code == 200
    assert events[-1] == Event("error", {"code": "cancelled", "message": "The job was cancelled."})
    assert Event("step", {"name": "generate", "completed": False, "active": False}) in events


def test_an_admin_transition_ends_an_open_stream_at_once(live: Live) -> None:
    key = f"ndsk_test_{uuid4().hex}"
    job_id = start_live(live, key, "/images", {"prompt": "x"}, "completed; after=100")
    events: list[Event] = []
    for event in read_events(live, f"{BASE}/jobs/{job_id}/stream", key):
        events.append(event)
        if len(events) == 3:  # the snapshot; the clock never moves in this test
            forced = httpx.post(
                f"{live.url}/__mock__/jobs/{job_id}/transition",
                json={"outcome": "failed", "code": "timeout", "message": "Too slow"},
            )
            assert forced.status_code == 200
    assert events[-1] == Event("error", {"code": "timeout", "message": "Too slow"})


def test_stream_errors_are_problems_before_any_event(live: Live) -> None:
    key = f"ndsk_test_{uuid4().hex}"
    missing = httpx.get(
        f"{live.url}{BASE}/jobs/job_000000000000/stream", headers={"Authorization": f"Bearer {key}"}
    )
    assert_problem(missing, 404, "not_found")
    assert_problem(httpx.get(f"{live.url}{BASE}/jobs/job_000000000000/stream"), 401, "unauthorized")


# --- webhooks -------------------------------------------------------------------------------


def verify(secret: str, headers: dict[str, str], body: bytes) -> int:
    """Check the signature as a receiver would; returns its timestamp."""
    match = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", headers["x-neural-draft-signature"])
    assert match, headers["x-neural-draft-signature"]
    expected = hmac.new(secret.encode(), match[1].encode() + b"." + body, hashlib.sha256)
    assert hmac.compare_digest(expected.hexdigest(), match[2])
    return int(match[1])


def register(mock: Mock, url: str, events: list[str]) -> dict[str, Any]:
    answer = create(mock, "/webhook-endpoints", {"url": url, "events": events})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_webhook_is_signed_and_retried_after_a_failure(mock: Mock) -> None:
    with Receiver([500]) as receiver, Receiver([]) as bystander:
        endpoint = register(mock, receiver.url, ["blog_post.published"])
        assert re.fullmatch(r"whsec_[A-Za-z0-9]{36}", endpoint["signing_secret"])
        register(mock, bystander.url, ["image.generated"])
        job_id = blog_post(mock, "completed; after=60")
        mock.advance(59)
        assert receiver.received == []
        mock.advance(1)  # the job completes: the first attempt is made before advance returns
        assert len(receiver.received) == 1
        headers, body = receiver.received[0]
        # `t` is the real time of sending, not the server clock's (2026-01-01 here): the
        # docs' verifier refuses a `t` more than 300 s from the receiver's `Date.now()`
        first_t = verify(endpoint["signing_secret"], headers, body)
        assert abs(first_t - time.time()) <= 300
        event = json.loads(body)
        assert headers["x-neural-draft-event"] == event["type"] == "blog_post.published"
        assert re.fullmatch(r"whd_[A-Za-z0-9]{12}", headers["x-neural-draft-delivery"])
        assert event["data"]["job"]["id"] == job_id
        assert event["data"]["blog_post"]["id"] == event["data"]["job"]["result"]["post_id"]
        assert event["data"]["job"]["status"] == "completed"
        assert event["created_at"] == "2026-01-01T00:01:00Z"
        listed = mock.client.get(f"{BASE}/webhook-endpoints", headers=mock.headers("neuraldraft"))
        assert listed.json()["data"][0]["last_delivery_status"] == "failed"

        mock.advance(29)
        assert len(receiver.received) == 1
        mock.advance(1)  # 30 s after the failed attempt
        assert len(receiver.received) == 2
        retry_headers, retry_body = receiver.received[1]
        assert retry_body == body
        assert retry_headers["x-neural-draft-delivery"] == headers["x-neural-draft-delivery"]
        assert abs(verify(endpoint["signing_secret"], retry_headers, retry_body) - first_t) <= 300
        mock.advance(86_400)
        assert len(receiver.received) == 2  # succeeded: no more attempts
        assert bystander.received == []
        listed = mock.client.get(f"{BASE}/webhook-endpoints", headers=mock.headers("neuraldraft"))
        assert listed.json()["data"][0]["last_delivery_status"] == "success"
        assert listed.json()["data"][0]["last_delivery_at"] == "2026-01-01T00:01:30Z"


def test_webhook_retries_follow_the_schedule_then_stop(mock: Mock) -> None:
    with Receiver([503] * 10) as receiver:
        register(mock, receiver.url, ["image.generated"])
        create(mock, "/images", {"prompt": "x"}, **{"X-Mock-Scenario": "completed; after=10"})
        times = []
        for delay in (10, 30, 120, 600, 3600, 21_600, 86_400):
            mock.advance(delay - 1)  # not a second early
            times.append(len(receiver.received))
            mock.advance(1)
            times.append(len(receiver.received))
        assert times == [0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 6]
        listed = mock.client.get(f"{BASE}/webhook-deliveries", headers=mock.headers("neuraldraft"))
        [delivery] = listed.json()["data"]
        assert (delivery["status"], delivery["attempts"], delivery["response_status"]) == (
            "failed",
            6,
            503,
        )
        assert delivery["next_retry_at"] is None and delivery["delivered_at"] is None


def deliveries(mock: Mock) -> list[dict[str, Any]]:
    listed = mock.client.get(f"{BASE}/webhook-deliveries", headers=mock.headers("neuraldraft"))
    assert listed.status_code == 200, listed.text
    return listed.json()["data"]


def test_one_long_clock_move_makes_every_attempt_due_in_it_at_its_own_time(
    mock: Mock,
) -> None:
    """A move of hours makes every retry that falls due in it (not one per move), each at
    its due time: the next one waits from the last attempt, not from the move's end."""
    with Receiver([503] * 10) as receiver:
        register(mock, receiver.url, ["image.generated"])
        create(mock, "/images", {"prompt": "x"}, **{"X-Mock-Scenario": "completed; after=10"})
        mock.advance(10)  # attempt 1 at 00:00:10
        mock.advance(1000)  # attempts 2, 3, 4 at 00:00:40, 00:02:40, 00:12:40
        [delivery] = deliveries(mock)
        assert (len(receiver.received), delivery["attempts"]) == (4, 4)
        assert delivery["next_retry_at"] == "2026-01-01T01:12:40Z"  # 1 h after 00:12:40
        mock.advance(28_800)  # attempts 5 and 6 at 01:12:40 and 07:12:40; none after
        [delivery] = deliveries(mock)
        assert (len(receiver.received), delivery["attempts"]) == (6, 6)
        assert (delivery["status"], delivery["next_retry_at"]) == ("failed", None)
    with Receiver([503]) as receiver:
        endpoint = register(mock, receiver.url, ["image.generated"])
        create(mock, "/images", {"prompt": "y"}, **{"X-Mock-Scenario": "completed; after=10"})
        mock.advance(3600)  # fails at 08:17:00, succeeds 30 s later
        delivered = [d for d in deliveries(mock) if d["endpoint_id"] == endpoint["id"]]
        assert [(d["attempts"], d["delivered_at"]) for d in delivered] == [
            (2, "2026-01-01T08:17:30Z")
        ]


def test_a_long_move_makes_the_attempts_of_all_deliveries_in_time_order(mock: Mock) -> None:
    with Receiver([503] * 20) as receiver:
        register(mock, receiver.url, ["image.generated"])
        for after in (10, 100):
            scenario = {"X-Mock-Scenario": f"completed; after={after}"}
            create(mock, "/images", {"prompt": f"at {after}"}, **scenario)
        mock.advance(1000)
        # the first event's attempts at 10, 40, 160, 760 s; the second's at 100, 130, 250, 850
        sent = [json.loads(body)["created_at"] for _, body in receiver.received]
        assert sent == [
            "2026-01-01T00:00:10Z",
            "2026-01-01T00:00:10Z",
            "2026-01-01T00:01:40Z",
            "2026-01-01T00:01:40Z",
            "2026-01-01T00:00:10Z",
            "2026-01-01T00:01:40Z",
            "2026-01-01T00:00:10Z",
            "2026-01-01T00:01:40Z",
        ]


def test_on_a_running_clock_an_attempt_is_made_when_it_is_sent(mock: Mock) -> None:
    """Only a manual clock, standing still while an attempt waited, makes it at its due
    time; a running clock's attempt is made now (a slow receiver delays the next one)."""
    assert mock.client.app.app.state.services["neuraldraft"].webhooks._sent_at(5.0) == 5.0
    running = create_app(ServerConfig(clock="system")).state.services["neuraldraft"]
    assert running.webhooks._sent_at(5.0) == pytest.approx(time.time(), abs=60)


def test_an_event_describes_its_job_as_it_stood_at_the_events_time(mock: Mock) -> None:
    """Two languages land in one clock move: the first one's event shows the job still at
    work on the second, as it was then, not as it is when the dispatcher makes the event."""
    with Receiver([]) as receiver:
        register(mock, receiver.url, ["content.changed"])
        created = create(mock, "/content/home.title/translate", {"target_langs": ["fr", "de"]})
        assert created.status_code == 202, created.text
        mock.advance(100)
        french, german = (json.loads(body) for _, body in receiver.received)
        assert (french["data"]["lang"], german["data"]["lang"]) == ("fr", "de")
        at_first, at_last = french["data"]["job"], german["data"]["job"]
        assert (at_first["status"], at_first["updated_at"]) == ("processing", french["created_at"])
        assert [(s["completed"], s["active"]) for s in at_first["steps"]] == [
            (True, False),
            (False, True),
        ]
        assert at_first["progress"] < 100 and "result" not in at_first
        assert (at_last["status"], at_last["updated_at"]) == ("completed", german["created_at"])
        assert french["created_at"] < german["created_at"]


def test_a_transition_delivers_its_webhook_at_once(mock: Mock) -> None:
    with Receiver([]) as receiver:
        register(mock, receiver.url, ["social_post.failed"])
        created = create(mock, "/jobs", {"type": "social_post.generate"})
        job_id = created.json()["job_id"]
        mock.advance(10)
        forced = mock.client.post(f"/__mock__/jobs/{job_id}/transition", json={"outcome": "failed"})
        assert forced.status_code == 200
        assert len(receiver.received) == 1  # before the transition answered, no clock move
        event = json.loads(receiver.received[0][1])
        assert (event["type"], event["data"]["job"]["id"]) == ("social_post.failed", job_id)
        assert event["data"]["social_post"]["status"] == "failed"


def test_a_webhook_aimed_at_the_mock_itself_is_answered_while_the_clock_moves(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mockserver")
    key = f"ndsk_test_{uuid4().hex}"
    headers = {"Authorization": f"Bearer {key}"}
    target = f"{live.url}{BASE}/jobs/job_{uuid4().hex[:12]}/cancel"  # no key: 401, no change
    endpoint = httpx.post(
        f"{live.url}{BASE}/webhook-endpoints",
        headers=headers,
        json={"url": target, "events": ["image.generated"]},
    ).json()
    start_live(live, key, "/images", {"prompt": "x"}, "completed; after=5")
    moved = httpx.post(f"{live.url}/__mock__/clock/advance", json={"seconds": 5}, timeout=30)
    assert moved.status_code == 200
    # answered by the server while its own clock move was running (not a timed-out attempt)
    outcomes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("delivery")]
    assert outcomes == [f"delivery {outcomes[0].split()[1]} to {target} -> 401"]
    deleted = httpx.delete(f"{live.url}{BASE}/webhook-endpoints/{endpoint['id']}", headers=headers)
    assert deleted.status_code == 204  # no retries left behind for later tests


def test_webhook_endpoint_crud_and_pausing(mock: Mock) -> None:
    with Receiver([]) as receiver:
        endpoint = register(mock, receiver.url, ["image.generated"])
        h = mock.headers("neuraldraft")
        path = f"{BASE}/webhook-endpoints/{endpoint['id']}"
        paused = mock.client.patch(path, headers=h, json={"is_active": False})
        assert paused.status_code == 200
        assert paused.json()["is_active"] is False and "signing_secret" not in paused.json()
        create(mock, "/images", {"prompt": "x"})
        mock.advance(120)
        assert receiver.received == []
        assert mock.client.patch(path, headers=h, json={"is_active": True}).status_code == 200
        create(mock, "/images", {"prompt": "y"})
        mock.advance(120)
        assert len(receiver.received) == 1
        assert mock.client.delete(path, headers=h).status_code == 204
        assert_problem(mock.client.delete(path, headers=h), 404, "not_found")
        assert_problem(mock.client.patch(path, headers=h, json={}), 404, "not_found")
        assert mock.client.get(f"{BASE}/webhook-endpoints", headers=h).json() == {"data": []}
        bad = create(mock, "/webhook-endpoints", {"url": "ftp://x", "events": ["nope"]})
        assert set(assert_problem(bad, 422, "validation_failed")["errors"]) == {"url", "events.0"}


def test_a_key_has_at_most_fifty_webhook_endpoints(mock: Mock) -> None:
    """Each event goes to each endpoint, so their number is bounded; a delete makes room, and
    another key is not affected."""
    h = mock.headers("neuraldraft")
    made = [register(mock, f"http://127.0.0.1:9/{n}", ["image.generated"]) for n in range(50)]
    refused = create(mock, "/webhook-endpoints", {"url": "http://x/", "events": ["order.paid"]})
    assert "at most 50 webhook endpoints" in assert_problem(refused, 400, "bad_request")["detail"]
    listed = mock.client.get(f"{BASE}/webhook-endpoints", headers=h).json()["data"]
    assert [e["id"] for e in listed] == [e["id"] for e in made]  # the refused one is not kept
    other = mock.headers("neuraldraft", key="another-key")
    body = {"url": "http://x/", "events": ["order.paid"]}
    assert (
        mock.client.post(f"{BASE}/webhook-endpoints", headers=other, json=body).status_code == 201
    )
    path = f"{BASE}/webhook-endpoints/{made[0]['id']}"
    assert mock.client.delete(path, headers=h).status_code == 204
    assert register(mock, "http://127.0.0.1:9/again", ["image.generated"])["id"]


@pytest.mark.parametrize(
    "url", ["http://[::1", "http://", "https://e.com:abc/", "http://a.com:99999", "http://a.com:0/"]
)
def test_a_webhook_url_no_delivery_could_reach_is_refused(mock: Mock, url: str) -> None:
    refused = create(mock, "/webhook-endpoints", {"url": url, "events": ["image.generated"]})
    assert set(assert_problem(refused, 422, "validation_failed")["errors"]) == {"url"}
    endpoint = register(mock, "http://127.0.0.1:9/", ["image.generated"])
    path = f"{BASE}/webhook-endpoints/{endpoint['id']}"
    patched = mock.client.patch(path, headers=mock.headers("neuraldraft"), json={"url": url})
    assert set(assert_problem(patched, 422, "validation_failed")["errors"]) == {"url"}
    listed = mock.client.get(f"{BASE}/webhook-endpoints", headers=mock.headers("neuraldraft"))
    assert [e["url"] for e in listed.json()["data"]] == ["http://127.0.0.1:9/"]


def test_a_webhook_url_takes_every_port_a_delivery_can_reach() -> None:
    with contextmanager(make_mock)() as mock:
        for url in ("http://a.com:1/", "http://a.com:65535/hooks", "https://a.com:08080"):
            register(mock, url, ["image.generated"])


def test_a_stored_url_httpx_cannot_read_fails_its_attempt_not_the_tick(mock: Mock) -> None:
    """An endpoint kept before URLs were checked (a shared store outlives a version): its
    delivery fails, and another key's delivery due on the same tick still goes out then."""
    webhooks = mock.client.app.app.state.services["neuraldraft"].webhooks
    tenant = f"ndsk_test_{mock.key}"
    with Receiver([]) as receiver:
        broken = webhooks.get(tenant, register(mock, receiver.url, ["image.generated"])["id"])
        assert broken is not None
        slot = webhooks._endpoint_key(tenant, broken.id)
        mock.state.backend.set(slot, replace(broken, url="http://[::1"))
        other = "another-key"
        body = {"url": receiver.url, "events": ["image.generated"]}
        headers = mock.headers("neuraldraft", key=other)
        assert mock.client.post(f"{BASE}/webhook-endpoints", headers=headers, json=body).is_success
        for key in (mock.key, other):
            scenario = {"X-Mock-Scenario": "completed; after=5"}
            image = {"prompt": "x"}
            headers = mock.headers("neuraldraft", key=key, **scenario)
            assert mock.client.post(f"{BASE}/images", headers=headers, json=image).is_success
        mock.advance(5)
        assert len(receiver.received) == 1  # the other key's, on this very tick
        [failed] = webhooks.deliveries(tenant)
        assert (failed.attempts, failed.status) == (1, "failed")  # retried on its schedule


def test_an_attempt_that_finds_its_endpoint_paused_can_be_retried(mock: Mock) -> None:
    """The endpoint paused between a tick's look at the due deliveries and the attempt (as a
    PATCH on another worker may): nothing is sent, and a retry later sends it."""
    webhooks = mock.client.app.app.state.services["neuraldraft"].webhooks
    tenant = f"ndsk_test_{mock.key}"
    with Receiver([500]) as receiver:
        endpoint = webhooks.get(tenant, register(mock, receiver.url, ["image.generated"])["id"])
        assert endpoint is not None
        create(mock, "/images", {"prompt": "x"}, **{"X-Mock-Scenario": "completed; after=5"})
        mock.advance(5)  # the first attempt fails: the next is due in 30 s
        slot = webhooks._endpoint_key(tenant, endpoint.id)
        mock.state.backend.set(slot, replace(endpoint, is_active=False))  # its retry not dropped
        mock.advance(30)
        [delivery] = webhooks.deliveries(tenant)
        assert (delivery.status, delivery.attempts, len(receiver.received)) == ("failed", 1, 1)
        mock.state.backend.set(slot, endpoint)
        path = f"{BASE}/webhook-deliveries/{delivery.id}/retry"
        assert mock.client.post(path, headers=mock.headers("neuraldraft")).status_code == 202
        mock.advance(1)
        assert len(receiver.received) == 2
        assert [(d.status, d.attempts) for d in webhooks.deliveries(tenant)] == [("success", 2)]


def test_a_tick_reads_no_job_that_ended_and_made_its_events(mock: Mock) -> None:
    """A job that ended and whose events were made is settled: later ticks do not look at it
    again, so a tick costs what the running jobs cost (it read every job kept, each second
    on the system clock). A running job is looked at until it ends and its event goes out."""
    webhooks = mock.client.app.app.state.services["neuraldraft"].webhooks
    happened, looked = webhooks.happened, []

    def looking(job: Any, now: float) -> Any:
        looked.append(job.id)
        return happened(job, now)

    webhooks.happened = looking
    with Receiver([]) as receiver:
        register(mock, receiver.url, ["image.generated"])
        soon, later = (
            create(
                mock, "/images", {"prompt": "x"}, **{"X-Mock-Scenario": f"completed; after={t}"}
            ).json()["id"]
            for t in (10, 100)
        )
        mock.advance(10)
        assert len(receiver.received) == 1
        looked.clear()
        mock.advance(10)
        assert looked == [later]
        mock.advance(80)
        assert len(receiver.received) == 2
        looked.clear()
        mock.advance(1)
        assert looked == []
        events = [json.loads(body)["data"]["job"]["id"] for _, body in receiver.received]
        assert events == [soon, later]


def test_the_settled_jobs_the_store_forgot_are_forgotten_too(state_store: Any) -> None:
    """Past the job store's capacity the oldest ended jobs go; so do their settled marks and
    the marks of their events (they would pile up for as long as the server runs)."""
    with contextmanager(make_mock)(state_store, store_capacity=2) as mock:
        tenant = f"ndsk_test_{mock.key}"
        register(mock, "http://127.0.0.1:9/hooks", ["image.generated"])
        made, held = [], []
        for _ in range(5):
            headers = {"X-Mock-Scenario": "completed; after=1"}
            made.append(create(mock, "/images", {"prompt": "x"}, **headers).json()["id"])
            mock.advance(1)
            settled = mock.state.backend.entries(key(tenant, "neuraldraft", "settled-jobs"))
            held.append(sorted(made.index(job_id) for job_id in settled))
        # past 2 marks, those of the jobs the store no longer holds (0 and 1) are dropped,
        # with the marks of the events they made
        assert held == [[0], [0, 1], [0, 1, 2], [2, 3], [2, 3, 4]]
        assert [made.index(job_id) for job_id in mock.state.store.ids(tenant)] == [3, 4]
        events = [key(tenant, "neuraldraft", "event", f"{i}:image.generated:") for i in made]
        assert [mark is not None for mark in mock.state.backend.get_many(events)] == [
            False, False, True, True, True
        ]  # fmt: skip


def test_admin_reset_forgets_webhook_endpoints(mock: Mock) -> None:
    register(mock, "http://127.0.0.1:9/hooks", ["image.generated"])
    assert mock.client.post("/__mock__/reset").status_code == 200
    listed = mock.client.get(f"{BASE}/webhook-endpoints", headers=mock.headers("neuraldraft"))
    assert listed.json() == {"data": []}


# --- idempotency and rate limits ------------------------------------------------------------


def test_idempotency_key_replays_the_first_answer_for_a_day(mock: Mock) -> None:
    key = {"Idempotency-Key": "order-1"}
    first = create(mock, "/images", {"prompt": "x"}, **key)
    again = create(mock, "/images", {"prompt": "x"}, **key)
    assert first.status_code == again.status_code == 202
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    other = create(mock, "/images", {"prompt": "different"}, **key)
    assert_problem(other, 409, "idempotency_conflict")
    mock.advance(86_400)
    fresh = create(mock, "/images", {"prompt": "x"}, **key)
    assert fresh.json()["id"] != first.json()["id"]
    jobs = mock.client.get("/__mock__/jobs", params={"api": "neuraldraft"}).json()
    assert jobs["count"] == 2


def test_idempotency_does_not_store_errors_and_is_per_key(mock: Mock) -> None:
    key = {"Idempotency-Key": "retry-me"}
    assert create(mock, "/images", {}, **key).status_code == 400
    assert create(mock, "/images", {"prompt": "x"}, **key).status_code == 202
    other_tenant = mock.client.post(
        f"{BASE}/images",
        headers={"Authorization": f"Bearer ndsk_live_{mock.key}", **key},
        json={"prompt": "x"},
    )
    assert other_tenant.status_code == 202 and "idempotent-replayed" not in other_tenant.headers
    long_key = create(mock, "/images", {"prompt": "x"}, **{"Idempotency-Key": "k" * 256})
    assert_problem(long_key, 400, "bad_request")


def test_one_idempotency_key_runs_once_across_workers() -> None:
    """Two workers' guards on one shared store: while the first request with a key runs, the
    second, past its wait, gets the 409; once it answered, the replay; a day later, a new run."""
    store = EncodingStore()
    one, other = Idempotency(store, "neuraldraft"), Idempotency(store, "neuraldraft", wait=0.0)
    runs: list[str] = []

    async def created() -> Response:
        runs.append("created")
        return Response(b'{"id": 1}', 201, media_type="application/json")

    async def first() -> Response:
        with pytest.raises(ApiError) as refused:
            await other.run("t", "k", "same", 0.0, created)
        assert (refused.value.status, refused.value.detail) == (409, STILL_RUNNING)
        return await created()

    async def scenario() -> list[bytes]:
        answers = [await one.run("t", "k", "same", 0.0, first)]
        answers.append(await other.run("t", "k", "same", 10.0, created))  # replayed
        answers.append(await other.run("t", "k", "same", IDEMPOTENCY_TTL, created))  # expired
        return [answer.body for answer in answers]

    assert asyncio.run(scenario()) == [b'{"id": 1}'] * 3
    assert runs == ["created", "created"]


def test_a_claim_left_by_a_failed_request_is_taken_by_the_next() -> None:
    store = EncodingStore()
    guard = Idempotency(store, "neuraldraft")

    async def broken() -> Response:
        raise RuntimeError("the worker failed mid-request")

    async def created() -> Response:
        return Response(b"{}", 201)

    async def scenario() -> int:
        with pytest.raises(RuntimeError):
            await guard.run("t", "k", "same", 0.0, broken)
        return (await guard.run("t", "k", "same", 0.0, created)).status_code

    assert asyncio.run(scenario()) == 201


def test_expired_answers_are_forgotten_as_new_ones_come() -> None:
    store = EncodingStore()
    guard = Idempotency(store, "neuraldraft")

    async def created() -> Response:
        return Response(b"{}", 201)

    async def answer(idempotency_key: str, now: float) -> None:
        await guard.run("t", idempotency_key, "same", now, created)

    asyncio.run(answer("old", 0.0))
    asyncio.run(answer("new", IDEMPOTENCY_TTL + 1))
    assert store.get(key("t", "neuraldraft", "idempotent", "old")) is None
    assert store.get(key("t", "neuraldraft", "idempotent", "new")) is not None


def test_posts_are_numbered_per_tenant_and_the_oldest_go_past_the_capacity() -> None:
    posts: Registry[SocialPost] = Registry(EncodingStore(), "neuraldraft", "social", 2)
    for tenant in ("a", "b", "a", "a"):
        posts.add(tenant, lambda number: SocialPost(number, "Tea", ["x"], None, "job_1"))
    assert [post.id for post in posts.all("a")] == [2, 3]  # a's first and b's went
    assert posts.all("b") == [] and posts.get("a", 1) is None
    assert posts.get("a", 3) == SocialPost(3, "Tea", ["x"], None, "job_1")


def test_workers_count_one_rate_window() -> None:
    store = EncodingStore()
    one, other = (RateLimiter(3, True, store, "neuraldraft") for _ in range(2))
    remaining = [limiter.hit("t", 0.0).remaining for limiter in (one, other, one)]
    assert remaining == [2, 1, 0]
    with pytest.raises(ApiError) as refused:
        other.hit("t", 1.0)
    assert refused.value.status == 429
    assert other.hit("t", WINDOW_SECONDS + 0.5).remaining == 2


@pytest.fixture
def limited(state_store: StateStore | None) -> Iterator[Mock]:
    yield from make_mock(state_store, rate_limit=3)


START = 1_767_225_600  # the manual clock's start


def test_rate_limit_answers_429_with_retry_after(limited: Mock) -> None:
    h = limited.headers("neuraldraft")
    seen = []
    for _ in range(3):
        answer = limited.client.get(f"{BASE}/webhook-endpoints", headers=h)
        assert answer.status_code == 200
        assert answer.headers["x-ratelimit-limit"] == "3"
        seen.append((answer.headers["x-ratelimit-remaining"], answer.headers["x-ratelimit-reset"]))
        limited.advance(10)
    # the window slides: each request fully refills 60 s after it was made
    assert seen == [("2", str(START + 60)), ("1", str(START + 70)), ("0", str(START + 80))]
    refused = limited.client.get(f"{BASE}/webhook-endpoints", headers=h)
    assert_problem(refused, 429, "rate_limited")
    assert refused.headers["retry-after"] == "30"  # when the oldest request leaves the window
    assert refused.headers["x-ratelimit-remaining"] == "0"
    other = limited.headers("neuraldraft", key="someone-else")
    assert limited.client.get(f"{BASE}/webhook-endpoints", headers=other).status_code == 200
    limited.advance(30)
    again = limited.client.get(f"{BASE}/webhook-endpoints", headers=h)
    assert again.status_code == 200 and again.headers["x-ratelimit-remaining"] == "0"


def test_a_wrong_method_with_a_key_counts_and_says_so(limited: Mock) -> None:
    """Every authenticated answer carries the headers: a 405 or 404 with a valid key too
    (it had none), and counts against the window; without a valid key it is not counted."""
    h = limited.headers("neuraldraft")
    wrong = limited.client.delete(f"{BASE}/images", headers=h)
    assert_problem(wrong, 405, "method_not_allowed")
    assert wrong.headers["x-ratelimit-remaining"] == "2"
    unknown = limited.client.get(f"{BASE}/nowhere", headers=h)
    assert_problem(unknown, 404, "not_found")
    assert unknown.headers["x-ratelimit-remaining"] == "1"
    anonymous = limited.client.delete(f"{BASE}/images")
    assert anonymous.status_code == 405 and "x-ratelimit-remaining" not in anonymous.headers
    assert limited.client.get(f"{BASE}/webhook-endpoints", headers=h).status_code == 200
    assert_problem(limited.client.delete(f"{BASE}/images", headers=h), 429, "rate_limited")


def test_rate_limit_headers_count_the_documented_60_when_not_enforced(mock: Mock) -> None:
    h = mock.headers("neuraldraft")
    answers = [mock.client.get(f"{BASE}/webhook-endpoints", headers=h) for _ in range(61)]
    assert all(a.status_code == 200 for a in answers)
    assert {a.headers["x-ratelimit-limit"] for a in answers} == {"60"}
    remaining = [int(a.headers["x-ratelimit-remaining"]) for a in answers]
    assert remaining == [*range(59, -1, -1), 0]
    mock.advance(60)
    fresh = mock.client.get(f"{BASE}/webhook-endpoints", headers=h)
    assert fresh.headers["x-ratelimit-remaining"] == "59"
    assert fresh.headers["x-ratelimit-reset"] == str(START + 120)
    errors = create(mock, "/images", {})  # errors carry the headers too
    assert errors.status_code == 400 and errors.headers["x-ratelimit-remaining"] == "58"


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "ndsk_test_abc", "Basic ndsk_test_abc", "Bearer sk_test_abc", "Bearer ndsk_live_"],
)
def test_bad_keys_are_401(mock: Mock, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    answer = mock.client.get(f"{BASE}/jobs/job_000000000000", headers=headers)
    assert_problem(answer, 401, "unauthorized")


def test_refused_key_from_config_is_403() -> None:
    for mock in make_mock(keys={"ndsk_live_revoked": {"status": 403}}):
        answer = mock.client.get(
            f"{BASE}/webhook-endpoints", headers={"Authorization": "Bearer ndsk_live_revoked"}
        )
        assert_problem(answer, 403, "forbidden")


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{bad", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"", "application/json"),
        (b"topic=x", "application/x-www-form-urlencoded"),
        (b'{"type": "ai", "topic": "x"}', "text/plain"),
    ],
)
def test_bodies_that_are_not_json_objects_are_400(
    mock: Mock, content: bytes, content_type: str
) -> None:
    headers = mock.headers("neuraldraft", **{"Content-Type": content_type})
    answer = mock.client.post(f"{BASE}/blog-posts", headers=headers, content=content)
    assert "errors" not in assert_problem(answer, 400, "bad_request")


@pytest.mark.parametrize(
    ("path", "body", "fields"),
    [
        ("/blog-posts", {"type": "robot", "topic": "", "title": "T"}, {"type", "topic"}),
        ("/blog-posts", {"type": "ai", "topic": "x", "style": "bold"}, {"style"}),
        (
            "/blog-posts",
            {"type": "ai", "topic": 5, "secondary_keywords": [1]},
            {"topic", "secondary_keywords.0"},
        ),
        ("/images", {"prompt": "x", "aspect_ratio": "wide"}, {"aspect_ratio"}),
        ("/jobs", {"type": "video.generate", "platforms": ["x"]}, {"type", "platforms.0"}),
        ("/content/k/translate", {"target_langs": []}, {"target_langs"}),
        ("/webhook-endpoints", {"url": "ftp://x", "events": []}, {"url", "events"}),
    ],
)
def test_422_names_each_field(
    mock: Mock, path: str, body: dict[str, Any], fields: set[str]
) -> None:
    problem = assert_problem(create(mock, path, body), 422, "validation_failed")
    assert problem["title"] == "Validation failed"
    assert set(problem["errors"]) == fields
    assert all(messages and all(messages) for messages in problem["errors"].values())


def test_unknown_jobs_routes_and_scenarios(mock: Mock) -> None:
    h = mock.headers("neuraldraft")
    assert_problem(mock.client.get(f"{BASE}/jobs/job_000000000000", headers=h), 404, "not_found")
    unknown = mock.client.get(f"{BASE}/nothing-here", headers=h)
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith(PROBLEM)
    bogus = create(mock, "/images", {"prompt": "x"}, **{"X-Mock-Scenario": "exploded"})
    assert_problem(bogus, 400, "bad_request")
    bad_after = create(mock, "/images", {"prompt": "x"}, **{"X-Mock-Scenario": "failed; after=-1"})
    assert_problem(bad_after, 400, "bad_request")


def test_post_ids_are_not_job_ids(mock: Mock) -> None:
    job_id = blog_post(mock, "completed; after=10")
    mock.advance(10)
    post_id = job(mock, job_id)["result"]["post_id"]
    h = mock.headers("neuraldraft")
    assert_problem(mock.client.get(f"{BASE}/jobs/post:{post_id}", headers=h), 404, "not_found")


def test_odd_inputs_never_get_a_5xx(mock: Mock) -> None:
    h = mock.headers("neuraldraft")
    odd_bodies: list[bytes] = [
        b"null",
        b'"text"',
        b"{" * 5000,
        b'{"type": "ai", "topic": "\\u0000"}',
        json.dumps({"type": "ai", "topic": "x" * 100_000}).encode(),
        b"\xff\xfe",
    ]
    paths = ["/blog-posts", "/images", "/jobs", "/content/x/translate", "/webhook-endpoints"]
    for path in paths:
        for content in odd_bodies:
            answer = mock.client.post(
                BASE + path, headers={**h, "Content-Type": "application/json"}, content=content
            )
            assert answer.status_code < 500, (path, content[:20], answer.text)
    for method in ("PUT", "DELETE", "PATCH"):
        answer = mock.client.request(method, f"{BASE}/jobs/job_000000000000", headers=h)
        assert 400 <= answer.status_code < 500


def test_strict_mode_refuses_like_the_handlers_do() -> None:
    for mock in make_mock(strict=True):
        h = mock.headers("neuraldraft", **{"Content-Type": "application/json"})
        broken = mock.client.post(f"{BASE}/blog-posts", headers=h, content=b"{bad")
        assert_problem(broken, 400, "bad_request")
        listed = mock.client.post(f"{BASE}/blog-posts", headers=h, content=b"[]")
        assert_problem(listed, 400, "bad_request")
        plain = {**h, "Content-Type": "text/plain"}
        wrong_type = mock.client.post(f"{BASE}/images", headers=plain, content=b"{}")
        assert_problem(wrong_type, 400, "bad_request")
        missing = mock.client.post(f"{BASE}/images", headers=h, content=b"{}")
        detail = assert_problem(missing, 400, "bad_request")["detail"]
        assert detail == "Missing required body field: prompt."


def _slug_of(mock: Mock, body: dict[str, Any]) -> str:
    made = create(mock, "/blog-posts", body)
    assert made.status_code == 201, made.text
    return str(made.json()["data"]["slug"])


def test_slugs_step_past_chosen_ones_and_a_forgotten_post_frees_its_slug() -> None:
    manual = {"type": "manual", "title": "Tea", "content": "<p>Tea</p>"}
    for mock in make_mock(store_capacity=3):
        assert _slug_of(mock, {**manual, "slug": "tea-2"}) == "tea-2"  # chosen by the client
        assert [_slug_of(mock, manual), _slug_of(mock, manual)] == ["tea", "tea-3"]
        found = mock.client.get(f"{BASE}/blog-posts/tea-3", headers=mock.headers("neuraldraft"))
        assert found.json()["data"]["id"] == 3
        _slug_of(mock, {**manual, "slug": "other"})  # past the capacity of 3: "tea-2" goes
        assert _slug_of(mock, {**manual, "slug": "tea-2"}) == "tea-2"


def test_rate_limit_headers_replace_any_the_answer_had_and_are_added_once() -> None:
    from mockserver.apis.neuraldraft import _add_headers

    limits = Limits(60, 59, 1_767_225_660)
    plain = Response(b"{}", media_type="application/json")
    _add_headers(plain, limits)
    assert plain.headers.getlist("x-ratelimit-remaining") == ["59"]
    assert dict(plain.headers) == {
        "content-length": "2",
        "content-type": "application/json",
        "x-ratelimit-limit": "60",
        "x-ratelimit-remaining": "59",
        "x-ratelimit-reset": "1767225660",
    }
    stale = Response(b"{}", headers={"X-RateLimit-Remaining": "1"})
    _add_headers(stale, limits)
    assert stale.headers.getlist("x-ratelimit-remaining") == ["59"]
    assert stale.headers["x-ratelimit-limit"] == "60"


def test_a_window_slides_in_place_and_stays_within_its_limit() -> None:
    limiter = RateLimiter(3, False, MemoryStore(), "neuraldraft")
    remaining = [limiter.hit("t", float(second)).remaining for second in range(5)]
    assert remaining == [2, 1, 0, 0, 0]
    assert limiter.hit("t", 1000.0).remaining == 2  # the window slid past


def test_a_create_refused_for_its_scenario_writes_no_post(mock: Mock) -> None:
    """A scenario option read while planning (`after=`) refuses the create with a 400 before
    its post is registered: the next post gets the first number and the plain slug."""
    refused = create(mock, "/blog-posts", BLOG, **{"X-Mock-Scenario": "failed; after=soon"})
    assert_problem(refused, 400, "bad_request")
    accepted = create(mock, "/blog-posts", BLOG, **{"X-Mock-Scenario": "completed; after=10"})
    assert accepted.status_code == 202, accepted.text
    mock.advance(60)
    result = job(mock, accepted.json()["id"])["result"]
    assert (result["post_id"], result["slug"]) == (1, "how-to-brew-cold-brew-at-home")


def test_generated_posts_are_numbered_as_written_and_a_failed_job_leaves_no_gap(
    mock: Mock,
) -> None:
    """A job's post is written when the job completed: listing the posts writes the due ones
    in the order their jobs completed, and a job that failed writes none."""
    tea = {**BLOG, "topic": "Tea"}
    slow = create(mock, "/blog-posts", tea, **{"X-Mock-Scenario": "completed; after=100"})
    fast = create(mock, "/blog-posts", tea, **{"X-Mock-Scenario": "completed; after=10"})
    failed = create(mock, "/blog-posts", tea, **{"X-Mock-Scenario": "failed; after=5"})
    h = mock.headers("neuraldraft")
    assert mock.client.get(f"{BASE}/blog-posts", headers=h).json()["data"] == []
    mock.advance(200)
    listed = mock.client.get(f"{BASE}/blog-posts", headers=h).json()["data"]
    assert [(post["id"], post["slug"]) for post in listed] == [(2, "tea-2"), (1, "tea")]
    slow_result = job(mock, slow.json()["id"])["result"]
    assert (slow_result["post_id"], slow_result["slug"]) == (2, "tea-2")
    assert job(mock, fast.json()["id"])["result"]["post_id"] == 1
    assert "result" not in job(mock, failed.json()["id"])
    assert_problem(mock.client.get(f"{BASE}/blog-posts/3", headers=h), 404, "not_found")
    service = mock.check.app.state.services["neuraldraft"]  # type: ignore[attr-defined]
    assert service.blog_posts.expected(service.api_key(mock.key)) == []  # none waited for


def test_a_job_read_first_writes_its_post_before_the_list_does(mock: Mock) -> None:
    first = create(mock, "/blog-posts", BLOG, **{"X-Mock-Scenario": "completed; after=100"})
    second = create(mock, "/blog-posts", BLOG, **{"X-Mock-Scenario": "completed; after=10"})
    mock.advance(200)
    assert job(mock, first.json()["id"])["result"]["post_id"] == 1  # asked for first
    assert job(mock, first.json()["id"])["result"]["post_id"] == 1  # and written once
    assert job(mock, second.json()["id"])["result"]["post_id"] == 2
    listed = mock.client.get(f"{BASE}/blog-posts", headers=mock.headers("neuraldraft"))
    assert [post["id"] for post in listed.json()["data"]] == [2, 1]


def _blog_posts(store: StateStore, capacity: int = 10) -> Registry[BlogPost]:
    return Registry(
        store,
        "neuraldraft",
        "blog-posts",
        capacity,
        name_of=lambda post: post.slug,
        source_of=lambda post: post.job_id,
    )


def _tea_by(job_id: str) -> Callable[[int, str], BlogPost]:
    return lambda number, slug: BlogPost.generated(number, slug, "Tea", 0.0, job_id)


def test_of_two_workers_writing_one_post_at_once_the_first_kept_wins() -> None:
    store = EncodingStore()
    posts = _blog_posts(store)
    posts.expect("t", "job_1")

    def meanwhile(number: int, slug: str) -> BlogPost:
        """While this worker makes post 1, another writes the same job's post."""
        other = posts.write_once(
            "t", "job_1", "tea", lambda n, s: BlogPost.generated(n, s, "Tea", 0.0, "job_1")
        )
        assert other == (2, "tea-2")
        return _tea_by("job_1")(number, slug)

    assert posts.write_once("t", "job_1", "tea", meanwhile) == (2, "tea-2")
    assert [(post.id, post.slug) for post in posts.all("t")] == [(2, "tea-2")]
    assert posts.named("t", "tea") is None  # the lost copy's slug is free again
    assert posts.expected("t") == []
    assert posts.write_once("t", "job_1", "tea", meanwhile) == (2, "tea-2")  # made no more


def test_a_name_claimed_by_a_worker_killed_before_its_record_is_taken_over() -> None:
    """`put_named` (images by key) waited for the claimer to add its record: a worker killed
    between the claim and the add left it spinning for ever."""
    posts = _blog_posts(MemoryStore())
    assert posts.claim("t", "tea")  # the killed worker's claim: no record follows
    done: list[BlogPost] = []
    worker = threading.Thread(
        target=lambda: done.append(
            posts.put_named("t", "tea", lambda n, old: _tea_by("job_1")(n, "tea"))
        ),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive(), "put_named spun on a claim no record followed"
    assert [(post.id, post.slug) for post in done] == [(1, "tea")]
    assert posts.named("t", "tea") == done[0]


def test_a_forgotten_post_lets_go_of_the_job_that_wrote_it() -> None:
    store = MemoryStore()
    posts = _blog_posts(store, capacity=1)
    for job_id in ("job_1", "job_2"):
        posts.write_once(
            "t", job_id, "tea", lambda n, s, j=job_id: BlogPost.generated(n, s, "Tea", 0.0, j)
        )
    assert store.get(key("t", "neuraldraft", "blog-posts", "by-source", "job_1")) is None
    assert store.get(key("t", "neuraldraft", "blog-posts", "by-source", "job_2")) == [2, "tea-2"]
    assert [post.id for post in posts.all("t")] == [2]


# --- tags, translation bounds, ids written as 1.0, queued plan_required ----------------------


def manual(mock: Mock, **fields: Any) -> httpx.Response:
    return create(mock, "/blog-posts", {"title": "A", **fields})


def tags_of(answer: httpx.Response) -> list[tuple[int, str, str]]:
    assert answer.status_code in (200, 201), answer.text
    data = answer.json()["data"]
    tags = data if isinstance(data, list) else data["tags"]
    return [(tag["id"], tag["name"], tag["slug"]) for tag in tags]


def test_a_tag_has_one_id_wherever_it_shows(mock: Mock) -> None:
    """A post's tags and `GET /tags` agree; a name is the key's tag of its slug (any case),
    an id (the SDK's "Existing tag ids", `2.0` the JSON integer 2) an existing tag."""
    first = manual(mock, tags=["weekly", "changelog"])
    assert tags_of(first) == [(1, "weekly", "weekly"), (2, "changelog", "changelog")]
    second = manual(mock, tags=["Weekly", 2.0, "Änderung", "changelog", 3])
    assert second.status_code == 422  # tag 3 is made by this very post: not yet
    assert manual(mock, tags=[99]).json()["errors"] == {"tags.0": ["Tag 99 not found."]}
    second = manual(mock, tags=["Weekly", 2.0, "Änderung", "changelog"])
    assert tags_of(second) == [
        (1, "weekly", "weekly"),
        (2, "changelog", "changelog"),
        (3, "Änderung", "anderung"),
    ]
    assert tags_of(manual(mock, tags=[3, "日本", "!!"]))[0] == (3, "Änderung", "anderung")
    listed = tags_of(mock.client.get(f"{BASE}/tags", headers=mock.headers("neuraldraft")))
    assert [(tag_id, name) for tag_id, name, _ in listed] == [
        (5, "!!"),
        (2, "changelog"),
        (1, "weekly"),
        (3, "Änderung"),
        (4, "日本"),
    ]
    assert all(re.fullmatch(r"tag-[0-9a-f]{12}", slug) for _, _, slug in listed[:1] + listed[4:])
    other = mock.headers("neuraldraft", key="another-key")
    theirs = mock.client.post(f"{BASE}/blog-posts", headers=other, json={"title": "B", "tags": [1]})
    assert set(assert_problem(theirs, 422, "validation_failed")["errors"]) == {"tags.0"}
    found = mock.client.get(
        f"{BASE}/blog-posts", headers=mock.headers("neuraldraft"), params={"tag": "WEEKLY"}
    )
    assert len(found.json()["data"]) == 2


@pytest.mark.parametrize(
    ("tags", "field"), [([""], "tags.0"), (["ok", "  "], "tags.1"), (["ok", 0], "tags.1")]
)
def test_a_blank_tag_or_no_tag_id_is_a_422_naming_it(
    mock: Mock, tags: list[Any], field: str
) -> None:
    refused = manual(mock, tags=tags)
    assert set(assert_problem(refused, 422, "validation_failed")["errors"]) == {field}


def test_tags_are_at_most_fifty_of_at_most_a_hundred_characters(mock: Mock) -> None:
    """Any number was taken, each written once per key: a 1 MiB body held 250,000 tags."""
    assert manual(mock, tags=[f"t{n}" for n in range(50)] + ["x" * 100]).status_code == 422
    refused = manual(mock, tags=["x" * 101])
    assert set(assert_problem(refused, 422, "validation_failed")["errors"]) == {"tags.0"}
    many = manual(mock, tags=[f"t{n}" for n in range(51)])
    assert set(assert_problem(many, 422, "validation_failed")["errors"]) == {"tags"}
    assert manual(mock, tags=[f"t{n}" for n in range(49)] + ["x" * 100]).status_code == 201


def test_a_refused_tag_writes_nothing(mock: Mock) -> None:
    refused = manual(mock, tags=["kept?", 7])
    assert_problem(refused, 422, "validation_failed")
    assert tags_of(mock.client.get(f"{BASE}/tags", headers=mock.headers("neuraldraft"))) == []
    made = manual(mock, tags=["kept?"]).json()["data"]
    assert (made["id"], made["slug"]) == (1, "a")  # neither the post nor its slug was taken


def test_slugs_transliterate_accents_and_ligatures(mock: Mock) -> None:
    made = create(mock, "/blog-posts", {"title": "Änderung der Straße, Œuvre ﬁnal, Ærø Łódź"})
    assert made.json()["data"]["slug"] == "anderung-der-strasse-oeuvre-final-aero-lodz"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"target_langs": ["fr"] * 51}, "target_langs"),
        ({"target_languages": [f"l{n}" for n in range(20_000)]}, "target_languages"),
        ({"target_langs": ["fr", "x" * 100_000]}, "target_langs.1"),
        ({"target_languages": ["x" * 36]}, "target_languages.0"),
        ({"target_langs": ["f r"]}, "target_langs.0"),
        ({"target_langs": ["fr"], "source_lang": "e/n"}, "source_lang"),
    ],
)
def test_translate_takes_at_most_50_languages_each_as_a_lang_path_takes_it(
    mock: Mock, body: dict[str, Any], field: str
) -> None:
    refused = create(mock, "/content/home.title/translate", body)
    assert set(assert_problem(refused, 422, "validation_failed")["errors"]) == {field}


def test_every_language_a_translate_takes_can_be_written_by_path(mock: Mock) -> None:
    post_id = manual(mock).json()["data"]["id"]
    langs = [f"l{n}-x_{n}" for n in range(49)] + ["pt-BR" + "x" * 30]
    started = create(mock, f"/blog-posts/{post_id}/translate", {"target_langs": langs})
    assert started.status_code == 202, started.text
    h = mock.headers("neuraldraft")
    for lang in (langs[0], langs[-1]):
        path = f"{BASE}/blog-posts/{post_id}/translations/{lang}"
        assert mock.client.put(path, headers=h, json={"title": "x"}).status_code == 200
    path = f"{BASE}/blog-posts/{post_id}/translations/f r"
    assert_problem(mock.client.put(path, headers=h, json={"title": "x"}), 422, "validation_failed")


def test_an_ai_post_id_written_as_1_0_is_post_1(mock: Mock) -> None:
    post_id = manual(mock, title="Five Things").json()["data"]["id"]
    started = create(mock, "/social-posts", {"ai": {"post_id": float(post_id)}})
    assert started.status_code == 202, started.text
    mock.advance(120)
    social_id = job(mock, started.json()["id"])["result"]["social_post_id"]
    read = mock.client.get(f"{BASE}/social-posts/{social_id}", headers=mock.headers("neuraldraft"))
    assert read.json()["data"]["title"] == "Five Things"
    refused = create(mock, "/social-posts", {"ai": {"post_id": 1.5}})
    assert set(assert_problem(refused, 422, "validation_failed")["errors"]) == {"ai.post_id"}


def queue(mock: Mock, outcome: str, tenant: str | None = None) -> None:
    body = {"api": "neuraldraft", "outcome": outcome}
    if tenant is not None:
        body["tenant"] = mock.headers("neuraldraft")["Authorization"].split()[1]
    assert mock.client.post("/__mock__/scenarios", json=body).status_code in (200, 201)


def test_a_queued_plan_required_waits_for_the_premium_video_it_refuses(mock: Mock) -> None:
    """Other creates leave it queued (as if nothing were queued for them): it is used up by
    the create it applies to, not by the first one."""
    queue(mock, "plan_required", tenant="mine")
    premium = {"prompt": "Drone shot over pines", "tier": "premium"}
    assert create(mock, "/images", {"prompt": "A pine"}).status_code == 202
    assert create(mock, "/videos", {"prompt": "Drone shot over pines"}).status_code == 202
    listed = mock.client.get("/__mock__/scenarios").json()
    assert [q["scenario"] for q in listed["queued"]] == ["plan_required"]
    assert_problem(create(mock, "/videos", premium), 402, "plan_required")
    assert create(mock, "/videos", premium).status_code == 202  # used up
    queue(mock, "plan_required", tenant="mine")
    queue(mock, "failed")  # any key's next job: passed over by no create
    image = create(mock, "/images", {"prompt": "A pine"}).json()
    mock.advance(60)
    assert job(mock, image["id"])["status"] == "failed"
    assert_problem(create(mock, "/videos", premium), 402, "plan_required")
