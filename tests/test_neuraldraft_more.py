"""Neural Draft: a wrong method on an image key with slashes, and the webhook events of a
job that moves one phase per status read (`mode=poll`).

Every response is checked against `contracts/neuraldraft.yaml` by the `mock` fixture.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import create_app
from mockserver.engine.clock import parse_time
from tests.conftest import Mock
from tests.webhook_receiver import Receiver

BASE = "/neuraldraft/v1"
URL = "http://testserver"
AUTH = {"Authorization": "Bearer ndsk_test_slash"}
PROBLEM = "application/problem+json"
POLL = {"X-Mock-Scenario": "completed; mode=poll"}


def send(mock: Mock, method: str, path: str, **extra: str) -> httpx.Response:
    return mock.client.request(method, BASE + path, headers=mock.headers("neuraldraft", **extra))


def create(mock: Mock, path: str, body: dict[str, Any], **extra: str) -> httpx.Response:
    answer = mock.client.post(BASE + path, headers=mock.headers("neuraldraft", **extra), json=body)
    assert answer.status_code in (201, 202), answer.text
    return answer


def shape(answer: httpx.Response) -> tuple[int, str, frozenset[str], dict[str, Any]]:
    """Status, media type, `Allow` and the problem without its `instance` (the request id)."""
    body = answer.json()
    assert body.pop("instance") == answer.headers["x-request-id"]
    allowed = frozenset(method.strip() for method in answer.headers["allow"].split(","))
    return answer.status_code, answer.headers["content-type"], allowed, body


@pytest.mark.parametrize("method", ["PATCH", "POST"])
@pytest.mark.parametrize("key", ["hero/background", "hero%2Fbackground", "blog/2026/hero"])
def test_a_wrong_method_on_a_key_with_slashes_is_the_405_of_a_key_without(
    mock: Mock, method: str, key: str
) -> None:
    """The contract's `{key}` spans segments; the router's took one, so a key with slashes
    answered a wrong method 404 where a key without one gets 405 and `Allow`."""
    without = shape(send(mock, method, "/images/hero.background"))
    assert without[:3] == (405, PROBLEM, {"GET", "HEAD", "PUT", "DELETE"})
    assert without[3]["code"] == "method_not_allowed"
    assert shape(send(mock, method, f"/images/{key}")) == without


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_an_empty_key_is_no_key_but_the_list_with_a_slash(method: str) -> None:
    """A key spans segments but is never empty: `/images/` is the list's path with a trailing
    slash (the router's redirect, as for every path), not a lookup or a 405 of the key ""."""
    with TestClient(create_app(), follow_redirects=False) as client:
        answer = client.request(method, BASE + "/images/", headers=AUTH)
    assert answer.status_code == 307
    assert answer.headers["location"] == URL + BASE + "/images"


def test_a_poll_mode_event_shows_its_job_as_the_read_that_made_it_happen(mock: Mock) -> None:
    """Three languages land in three status reads made at one clock time, before the clock
    move that sends their events: each event's job is what the read that landed its language
    answered (the mock showed the job after the last read, completed, in all three)."""
    with Receiver([]) as receiver:
        hooked = {"url": receiver.url, "events": ["content.changed"]}
        create(mock, "/webhook-endpoints", hooked)
        created = create(
            mock, "/content/home.title/translate", {"target_langs": ["fr", "de", "es"]}, **POLL
        )
        job_id = created.json()["id"]
        reads = [send(mock, "GET", f"/jobs/{job_id}").json() for _ in range(5)]
        assert [read["status"] for read in reads] == ["processing"] * 3 + ["completed"] * 2
        mock.advance(1)
        events = [json.loads(body) for _, body in receiver.received]
    assert [event["data"]["lang"] for event in events] == ["fr", "de", "es"]
    assert [event["data"]["job"] for event in events] == reads[1:4]
    assert [event["data"]["job"]["progress"] for event in events] == [33, 66, 100]


def test_a_poll_mode_translation_of_a_post_shows_each_language_as_it_landed(
    mock: Mock,
) -> None:
    """The same for a blog post's translation, whose post was written by a poll-mode job."""
    post_job = create(mock, "/blog-posts", {"type": "ai", "topic": "Cold brew"}, **POLL)
    job_id = post_job.json()["id"]
    done = [send(mock, "GET", f"/jobs/{job_id}").json() for _ in range(6)][-1]
    assert done["status"] == "completed", done
    post_id = done["result"]["post_id"]
    with Receiver([]) as receiver:
        create(
            mock, "/webhook-endpoints", {"url": receiver.url, "events": ["blog_post.translated"]}
        )
        translation = create(
            mock, f"/blog-posts/{post_id}/translate", {"target_langs": ["fr", "de"]}, **POLL
        )
        reads = [send(mock, "GET", f"/jobs/{translation.json()['id']}").json() for _ in range(4)]
        mock.advance(1)
        events = [json.loads(body) for _, body in receiver.received]
    assert [(e["data"]["lang"], e["data"]["blog_post"]["id"]) for e in events] == [
        ("fr", post_id),
        ("de", post_id),
    ]
    assert [event["data"]["job"] for event in events] == reads[1:3]
    assert events[0]["data"]["job"]["status"] == "processing"


def test_a_stalled_job_cancelled_late_ends_at_the_cancel(mock: Mock) -> None:
    """A stall lasts until something ends it: cancelled after an hour, the job shows the
    cancel's time and the step it was on unfinished (it was dated back to its plan's nominal
    length, ten minutes, that step shown completed)."""
    created = create(
        mock, "/blog-posts", {"type": "ai", "topic": "Cold brew"}, **{"X-Mock-Scenario": "stalled"}
    ).json()
    mock.advance(3600)
    running = send(mock, "GET", f"/jobs/{created['id']}").json()
    cancelled = send(mock, "POST", f"/jobs/{created['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    cancelled_at = parse_time(created["created_at"]) + 3600
    assert parse_time(cancelled["updated_at"]) == cancelled_at
    finished = [[step["completed"] for step in job["steps"]] for job in (running, cancelled)]
    assert finished[0] == finished[1] and not all(finished[1])  # none finished by the cancel
