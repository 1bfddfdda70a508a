"""Neural Draft's event stream against what the status read says: a job a reset forgot, or
that the clock was set back before, ends the stream as `not_found` and writes nothing; a
per-poll job's stream follows the status reads that move it.

Each test has an app of its own (a reset forgets every job of the server), on memory and on
the shared stores' encoding, reached in-process; the stream is read with a real timeout, so
a stream that does not follow fails the test instead of hanging it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from mockserver import ServerConfig, create_app
from mockserver.fixtures.transport import SyncASGITransport
from mockserver.state import MockState
from mockserver.stores import StateStore
from tests.conftest import ConformanceCheck
from tests.encoding_store import state_store

__all__ = ["state_store"]  # the fixture: each test runs on memory and encoded

BASE = "/neuraldraft/v1"
KEY = {"Authorization": "Bearer ndsk_test_streamlifecycle"}
READ_SECONDS = 5.0  # real seconds the stream may stay silent; it answers within half of one
GONE = ("error", {"code": "not_found", "message": "Job not found."})
Event = tuple[str, dict[str, Any]]


@dataclass
class Server:
    state: MockState
    http: httpx.Client  # on the server's root, with the test's key

    def create(self, path: str, body: dict[str, Any], scenario: str = "completed") -> str:
        created = self.http.post(BASE + path, json=body, headers={"X-Mock-Scenario": scenario})
        assert created.status_code == 202, created.text
        answer: dict[str, Any] = created.json()
        return str(answer["id"])

    def status(self, job_id: str) -> httpx.Response:
        return self.http.get(f"{BASE}/jobs/{job_id}")

    @contextmanager
    def stream(self, job_id: str) -> Iterator[Iterator[Event]]:
        """The job's stream as (event, data), comments left out."""
        path = f"{BASE}/jobs/{job_id}/stream"
        with self.http.stream("GET", path, timeout=READ_SECONDS) as answer:
            assert answer.status_code == 200
            yield _events(answer)


def _events(answer: httpx.Response) -> Iterator[Event]:
    name = ""
    for line in answer.iter_lines():
        if line.startswith("event:"):
            name = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            yield name, httpx.Response(200, content=line.removeprefix("data:")).json()


def take(events: Iterator[Event], count: int) -> list[Event]:
    return [next(events) for _ in range(count)]


@pytest.fixture
def server(state_store: StateStore | None) -> Iterator[Server]:
    app = create_app(ServerConfig(clock="manual", seed=5), store=state_store)
    check = ConformanceCheck(app)
    transport = SyncASGITransport(check)
    with httpx.Client(transport=transport, base_url="http://mockserver.test", headers=KEY) as http:
        yield Server(app.state.mock, http)
    transport.close()
    check.assert_clean()


def test_a_reset_ends_the_stream_of_the_job_it_forgot_and_no_post_is_written(
    server: Server,
) -> None:
    job_id = server.create("/blog-posts", {"type": "ai", "topic": "Ghost post"})
    with server.stream(job_id) as events:
        assert [name for name, _ in take(events, 6)] == ["progress", *["step"] * 5]
        assert server.http.post("/__mock__/reset").status_code == 200
        server.state.clock.advance(600)  # the forgotten job's whole run
        assert list(events) == [GONE]  # and the stream closed
    assert server.status(job_id).status_code == 404
    posts = server.http.get(f"{BASE}/blog-posts").json()
    assert posts["meta"]["total"] == 0
    manual = {"title": "Ghost post", "content": "x", "slug": "ghost-post"}
    made = server.http.post(f"{BASE}/blog-posts", json=manual)
    assert made.status_code == 201, made.text  # the slug is free, the first id unused
    assert (made.json()["data"]["id"], made.json()["data"]["slug"]) == (1, "ghost-post")


def test_a_reset_ends_the_stream_at_once_without_a_clock_move(server: Server) -> None:
    """A reset wakes every open stream: on the memory store it waited for its keep-alive."""
    job_id = server.create("/images", {"prompt": "A cup"})
    with server.stream(job_id) as events:
        take(events, 1)  # connected: its first progress frame
        assert server.http.post("/__mock__/reset").status_code == 200
        assert list(events)[-1:] == [GONE]


def test_the_clock_set_back_before_the_job_was_made_ends_its_stream(server: Server) -> None:
    made_at = server.state.now()
    job_id = server.create("/images", {"prompt": "A cup of coffee"})
    server.state.clock.advance(20)
    with server.stream(job_id) as events:
        snapshot = take(events, 3)  # progress, then a step each
        assert snapshot[0] == ("progress", {"progress": 47, "message": "Generating the image"})
        assert server.http.post("/__mock__/clock/set", json={"time": made_at - 3600}).is_success
        assert list(events) == [GONE]  # not the job going back to Queued
    assert server.status(job_id).status_code == 404  # the job does not exist yet


def test_a_per_poll_job_s_stream_follows_each_status_read_to_done(server: Server) -> None:
    """The clock never moves: each status read moves the job one phase on, and the stream
    sends that phase (its steps, then `progress` as the read shows it) before the next read."""
    job_id = server.create("/images", {"prompt": "A cup of coffee"}, "completed; mode=poll")
    shown: list[tuple[int, str]] = []
    with server.stream(job_id) as events:
        assert take(events, 3)[0] == ("progress", {"progress": 0, "message": "Queued"})
        status: dict[str, Any] = {"status": "pending"}
        while status["status"] != "completed":
            status = server.status(job_id).json()
            batch = []
            while not batch or batch[-1][0] != "progress":
                batch.append(next(events))
            assert batch[-1][1] == {"progress": status["progress"], "message": status["message"]}
            assert {name for name, _ in batch[:-1]} <= {"step"}
            shown.append((status["progress"], status["message"]))
        assert list(events) == [("done", {"result": status["result"]})]
    assert shown == [(0, "Generating the image"), (50, "Uploading the image"), (100, "Done")]
