"""One behaviour suite on every store: two servers on one store are one world.

Each test builds two servers (two apps, two states, as two workers or two machines would be)
on the store `store_url` names, and checks that what one does the other sees. On the memory
store, which no second process can share, both names point at one server: the same suite
then pins today's behaviour.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from starlette.applications import Starlette
from starlette.testclient import TestClient

from mockserver import ServerConfig, apis, create_app
from mockserver.apis.neuraldraft import NeuralDraft
from mockserver.apis.neuraldraft.webhooks import CLAIM_SECONDS
from mockserver.fixtures.server import MockServer
from mockserver.state import CHANGES, CHANGES_PER_RESET, SEED, MockState
from mockserver.stores import StoreError, key, open_store, shown
from tests.conftest import ConformanceCheck, wav
from tests.pdfs import written_pdf
from tests.redis_servers import RedisServer
from tests.test_neuraldraft import Receiver

NA = "/neuralanalog"
CAMB = "/camb/apis"
NL = "/neurolinker/api/v1"
ND = "/neuraldraft/v1"
KEY = "shared-tenant"
LINK = {"url": "https://example.com/take.wav"}


@dataclass
class Server:
    """One server of the world, in-process, every answer checked against its contract."""

    app: Starlette
    client: TestClient
    check: ConformanceCheck
    neuraldraft: NeuralDraft

    @property
    def state(self) -> MockState:
        return self.app.state.mock  # type: ignore[no-any-return]

    def headers(self, api: str, **extra: str) -> dict[str, str]:
        service = apis.service_class(api)
        return {**service.auth_headers(service.api_key(KEY)), **extra}

    def get(self, api: str, path: str, **extra: str) -> httpx.Response:
        return self.client.get(path, headers=self.headers(api, **extra))

    def advance(self, seconds: float) -> None:
        answer = self.client.post("/__mock__/clock/advance", json={"seconds": seconds})
        assert answer.status_code == 200, answer.text


def start(url: str) -> Iterator[Server]:
    app = create_app(ServerConfig(clock="manual", seed=7, store=url))
    check = ConformanceCheck(app)
    with TestClient(check) as client:
        yield Server(app, client, check, app.state.services["neuraldraft"])
    app.state.mock.backend.close()
    check.assert_clean()


@pytest.fixture
def world(store_url: str) -> Iterator[tuple[Server, Server]]:
    """Two servers on one store (one server twice on the memory store)."""
    yield from two_servers(store_url)


@pytest.fixture
def shared_world(shared_store_url: str) -> Iterator[tuple[Server, Server]]:
    """Two servers on one store that other processes share."""
    yield from two_servers(shared_store_url)


def two_servers(store_url: str) -> Iterator[tuple[Server, Server]]:
    first = start(store_url)
    one = next(first)
    if store_url == "memory":
        yield one, one
    else:
        second = start(store_url)
        yield one, next(second)
        next(second, None)
    next(first, None)


def imported(server: Server, **extra: str) -> str:
    created = server.client.post(
        f"{NA}/from-link", headers=server.headers("neuralanalog", **extra), json=LINK
    )
    assert created.status_code == 200, created.text
    return str(created.json()["audio_id"])


# --- a job made through one server is the same job through the other ----------------------------


def test_an_import_is_polled_and_downloaded_through_the_other_server(
    world: tuple[Server, Server],
) -> None:
    one, other = world
    audio_id = imported(one)
    seen = other.get("neuralanalog", f"{NA}/status/audio/{audio_id}").json()
    assert seen["status"] not in ("completed", "failed")
    one.advance(600)  # the clock moved through one is the clock of both
    done = other.get("neuralanalog", f"{NA}/status/audio/{audio_id}")
    assert done.json()["status"] == "completed", done.text
    redirect = other.client.get(
        f"{NA}/download/audio/{audio_id}",
        headers=other.headers("neuralanalog"),
        follow_redirects=False,
    )
    assert redirect.status_code == 307, redirect.text
    file = one.client.get(redirect.headers["location"])  # signed by the other, served by one
    assert file.status_code == 200 and file.content[:4] == b"RIFF"


def test_a_separation_is_read_and_its_result_downloaded_through_the_other(
    world: tuple[Server, Server],
) -> None:
    one, other = world
    files = {"media_file": ("take.wav", wav(), "audio/x-wav")}
    created = one.client.post(f"{CAMB}/audio-separation", headers=one.headers("camb"), files=files)
    assert created.status_code == 200, created.text
    task_id = created.json()["task_id"]
    one.advance(3600)
    status = other.get("camb", f"{CAMB}/audio-separation/{task_id}").json()
    assert status["status"] == "SUCCESS", status
    urls = other.get("camb", f"{CAMB}/audio-separation-result/{status['run_id']}").json()
    assert one.client.get(urls["foreground_audio_url"]).content[:4] == b"fLaC"


def test_stems_split_through_one_are_read_through_the_other(world: tuple[Server, Server]) -> None:
    one, other = world
    audio_id = imported(one)
    one.advance(600)
    split = one.client.post(
        f"{NA}/create-stems",
        headers=one.headers("neuralanalog"),
        json={"audio_id": audio_id, "preset": "2_tracks"},
    )
    assert split.status_code == 200, split.text
    one.advance(600)
    done = other.get("neuralanalog", f"{NA}/status/stem_split/{split.json()['creation_id']}")
    stems = done.json()["stems"]
    assert [stem["name"] for stem in stems] == ["vocals", "instrumental"]
    stem = other.get("neuralanalog", f"{NA}/status/stem/{stems[0]['stem_id']}").json()
    assert stem["is_complete"] and stem["audio_id"] == audio_id


def test_documents_sent_through_one_are_read_through_the_other(
    world: tuple[Server, Server],
) -> None:
    one, other = world
    parts = [("documents", ("memo.pdf", written_pdf("Hello"), "application/pdf"))]
    sent = one.client.post(
        f"{NL}/extract", headers=one.headers("neurolinker"), files=parts, data={"form": "{}"}
    )
    assert sent.status_code == 200, sent.text
    one.advance(3600)
    status = other.get("neurolinker", f"{NL}/request-status/{sent.json()['request_uid']}").json()
    (document,) = status["documents"]
    answer = other.client.post(
        f"{NL}/documents/markdown",
        headers=other.headers("neurolinker"),
        json={"document_ids": [document["document_id"]]},
    )
    assert answer.status_code == 200, answer.text
    assert "Hello" in json.dumps(answer.json())


def test_a_cancel_through_one_is_the_answer_of_the_other(world: tuple[Server, Server]) -> None:
    one, other = world
    body = {"type": "ai", "topic": "Tea"}
    created = one.client.post(f"{ND}/blog-posts", headers=one.headers("neuraldraft"), json=body)
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    cancelled = other.client.post(
        f"{ND}/jobs/{job_id}/cancel", headers=other.headers("neuraldraft")
    )
    assert cancelled.status_code == 200, cancelled.text
    assert one.get("neuraldraft", f"{ND}/jobs/{job_id}").json()["status"] == "cancelled"


def test_an_admin_transition_through_one_ends_the_job_for_the_other(
    world: tuple[Server, Server],
) -> None:
    one, other = world
    audio_id = imported(one)
    forced = other.client.post(
        f"/__mock__/jobs/{audio_id}/transition", json={"outcome": "failed", "message": "Disk"}
    )
    assert forced.status_code == 200, forced.text
    status = one.get("neuralanalog", f"{NA}/status/audio/{audio_id}").json()
    assert status["status"] == "failed"


def test_a_kept_poll_answer_goes_when_another_server_writes(world: tuple[Server, Server]) -> None:
    """One keeps a running job's status answer (on SQLite too: it can tell when another
    process wrote); the other ends the job; one's next poll shows it ended."""
    one, other = world
    audio_id = imported(one)
    path = f"{NA}/status/audio/{audio_id}"
    polled = [one.get("neuralanalog", path).json()["status"] for _ in range(2)]
    assert polled == ["in_progress", "in_progress"]
    forced = other.client.post(
        f"/__mock__/jobs/{audio_id}/transition", json={"outcome": "failed", "message": "Disk"}
    )
    assert forced.status_code == 200, forced.text
    assert one.get("neuralanalog", path).json()["status"] == "failed"


def test_a_server_answers_a_repeated_poll_from_its_cache(shared_store_url: str) -> None:
    """While no other process changes jobs, a poll again is the kept answer: the request's
    values (the count of changes among them) and its journal entry are all it asks of the
    store (a first poll also reads the job)."""
    with contextmanager(start)(shared_store_url) as server:
        audio_id = imported(server)
        server.advance(600)
        path = f"{NA}/status/audio/{audio_id}"
        called = operations_of(server.state)
        first = server.get("neuralanalog", path)
        assert called == ["get_many", "get", "push_numbered"]  # values, the job, journal
        called.clear()
        again = server.get("neuralanalog", path)
        assert (again.status_code, again.content) == (200, first.content)
        assert called == ["get_many", "push_numbered"]


def test_a_kept_answer_outlives_the_other_servers_reads(
    shared_world: tuple[Server, Server],
) -> None:
    """The other server's polls write only their journal entries, and its admin reads (a
    dashboard refreshing) write nothing: no job changed, so this server goes on answering
    from what it kept (on SQLite too, where any commit used to drop it)."""
    one, other = shared_world
    audio_id = imported(one)
    one.advance(600)
    path = f"{NA}/status/audio/{audio_id}"
    first = one.get("neuralanalog", path)
    assert [other.get("neuralanalog", path).status_code for _ in range(3)] == [200] * 3
    for admin in ("/__mock__/dashboard", "/__mock__/jobs", "/__mock__/health"):
        assert other.client.get(admin).status_code == 200
    called = operations_of(one.state)
    again = one.get("neuralanalog", path)
    assert (again.status_code, again.content) == (200, first.content)
    assert called == ["get_many", "push_numbered"]


def test_a_change_that_cannot_be_counted_is_answered_as_the_error_it_is(
    shared_store_url: str,
) -> None:
    """A create whose count of changes cannot be written gets a 503 in the API's format (the
    store is unavailable), with its request ID, rather than an answer other workers might
    contradict."""
    with contextmanager(start)(shared_store_url) as server:
        state = server.state
        counted = state.backend.incr

        def incr(name: str, by: int = 1) -> int:
            if name == CHANGES:
                raise StoreError("the store went away")
            return counted(name, by)

        state.backend.incr = incr  # type: ignore[method-assign]
        created = server.client.post(
            f"{NA}/from-link", headers=server.headers("neuralanalog"), json=LINK
        )
        assert created.status_code == 503
        assert "the store went away" in created.text
        assert created.headers["x-request-id"].startswith("req_")


def test_a_kept_answer_goes_when_the_other_server_cancels(world: tuple[Server, Server]) -> None:
    one, other = world
    job_id = blog_post_job(one)
    path = f"{ND}/jobs/{job_id}"
    assert [one.get("neuraldraft", path).json()["status"] for _ in range(2)] == ["pending"] * 2
    cancelled = other.client.post(f"{path}/cancel", headers=other.headers("neuraldraft"))
    assert cancelled.status_code == 200, cancelled.text
    assert [one.get("neuraldraft", path).json()["status"] for _ in range(2)] == ["cancelled"] * 2


def test_a_kept_answer_goes_when_the_other_server_resets(world: tuple[Server, Server]) -> None:
    """The count of changes outlives the reset, moved past any value a server counting
    meanwhile could have seen: it cannot come back to a value this one saw before."""
    one, other = world
    audio_id = imported(one)
    path = f"{NA}/status/audio/{audio_id}"
    assert [one.get("neuralanalog", path).status_code for _ in range(2)] == [200, 200]
    counted = one.state.backend.get(CHANGES)
    assert other.client.post("/__mock__/reset").status_code == 200
    assert one.get("neuralanalog", path).status_code == 404
    if one.state.backend.shared:  # the reset moved the count on, and counted itself
        assert one.state.backend.get(CHANGES) == counted + CHANGES_PER_RESET + 1


def test_a_kept_answer_goes_when_a_test_ends_the_job_through_the_other_servers_fixture(
    world: tuple[Server, Server],
) -> None:
    one, other = world
    audio_id = imported(one)
    path = f"{NA}/status/audio/{audio_id}"
    assert [one.get("neuralanalog", path).json()["status"] for _ in range(2)] == ["in_progress"] * 2
    fixture = MockServer(other.app, "", KEY)
    fixture.transition("neuralanalog", audio_id, "failed", message="Disk")
    assert one.get("neuralanalog", path).json()["status"] == "failed"


def streamed(server: Server, job_id: str) -> tuple[threading.Event, threading.Event, list[str]]:
    """The job's event stream read through `server` in a thread: (set at its first event, set
    after its last, the event names so far)."""
    events: list[str] = []
    connected, ended = threading.Event(), threading.Event()

    def listen() -> None:
        with server.client.stream(
            "GET", f"{ND}/jobs/{job_id}/stream", headers=server.headers("neuraldraft")
        ) as stream:
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    events.append(line[7:])
                    connected.set()
                    if line[7:] in ("done", "error"):
                        break
        ended.set()

    threading.Thread(target=listen, daemon=True).start()
    assert connected.wait(10), "the stream sent nothing"
    return connected, ended, events


def blog_post_job(server: Server) -> str:
    body = {"type": "ai", "topic": "Tea"}
    created = server.client.post(
        f"{ND}/blog-posts", headers=server.headers("neuraldraft"), json=body
    )
    assert created.status_code == 202, created.text
    return str(created.json()["id"])


def test_an_open_stream_on_one_sees_the_clock_moved_through_the_other(
    world: tuple[Server, Server],
) -> None:
    one, other = world
    _, ended, events = streamed(other, blog_post_job(one))
    one.advance(3600)  # told through the store's notifications, not found by polling
    assert ended.wait(10), f"the stream did not end: {events}"
    assert events[-1] == "done"


def test_an_open_stream_on_one_ends_on_a_cancel_through_the_other(
    world: tuple[Server, Server],
) -> None:
    one, other = world
    job_id = blog_post_job(one)
    _, ended, events = streamed(other, job_id)
    cancelled = one.client.post(f"{ND}/jobs/{job_id}/cancel", headers=one.headers("neuraldraft"))
    assert cancelled.status_code == 200, cancelled.text
    assert ended.wait(10), f"the stream did not end: {events}"
    assert events[-1] == "error"


def hooked_image(endpoint_on: Server, image_on: Server, url: str) -> None:
    """A webhook endpoint for `image.generated` at `url`, made through one server, and an
    image job that completes 5 s from now, made through the other."""
    endpoint = {"url": url, "events": ["image.generated"]}
    made = endpoint_on.client.post(
        f"{ND}/webhook-endpoints", headers=endpoint_on.headers("neuraldraft"), json=endpoint
    )
    assert made.status_code == 201, made.text
    created = image_on.client.post(
        f"{ND}/images",
        headers=image_on.headers("neuraldraft", **{"X-Mock-Scenario": "completed; after=5"}),
        json={"prompt": "Tea"},
    )
    assert created.status_code == 202, created.text


def test_a_webhook_is_delivered_once_whichever_servers_tick(world: tuple[Server, Server]) -> None:
    one, other = world
    with Receiver([]) as receiver:
        hooked_image(one, other, receiver.url)
        one.advance(5)  # one delivers before the move is answered
        for server in (other, one):  # as each does when it hears of the move
            server.neuraldraft.webhooks.tick()
        assert len(receiver.received) == 1
        listed = other.get("neuraldraft", f"{ND}/webhook-deliveries").json()["data"]
        assert [(d["status"], d["attempts"]) for d in listed] == [("success", 1)]


def test_an_attempt_left_by_a_killed_worker_is_made_once_its_claim_lapses(
    tmp_path: Path,
) -> None:
    """A worker that dies between claiming an attempt and recording it leaves the claim: the
    restarted server leaves the attempt alone while the claim may still be in use, and makes
    it once the claim has lapsed (`CLAIM_SECONDS` of real time, moved here by hand)."""
    url = f"sqlite:///{tmp_path}/state.db"

    def killed(*args: Any) -> Any:
        raise RuntimeError("the worker's process ended here")

    with Receiver([]) as receiver:
        with contextmanager(start)(url) as dying:
            hooked_image(dying, dying, receiver.url)
            dying.neuraldraft.webhooks._post = killed  # type: ignore[method-assign]
            dying.advance(5)  # the attempt is claimed, then never sent nor recorded
        with contextmanager(start)(url) as restarted:
            dispatcher = restarted.neuraldraft.webhooks
            dispatcher.tick()
            assert receiver.received == []  # the claim is fresh: its attempt may be under way
            dispatcher.wall = lambda: time.time() + CLAIM_SECONDS + 1
            dispatcher.tick()
            dispatcher.tick()
            assert len(receiver.received) == 1
            listed = restarted.get("neuraldraft", f"{ND}/webhook-deliveries").json()["data"]
            assert [(d["status"], d["attempts"]) for d in listed] == [("success", 1)]


def test_posts_are_numbered_once_across_servers(world: tuple[Server, Server]) -> None:
    one, other = world
    made = [
        server.client.post(
            f"{ND}/blog-posts", headers=server.headers("neuraldraft"), json={"title": "Tea"}
        ).json()["data"]
        for server in (one, other, one)
    ]
    assert [(post["id"], post["slug"]) for post in made] == [(1, "tea"), (2, "tea-2"), (3, "tea-3")]
    read = other.get("neuraldraft", f"{ND}/blog-posts/tea-3").json()["data"]
    assert read["id"] == 3


def test_writes_to_one_post_at_once_through_both_servers_are_all_kept(
    world: tuple[Server, Server],
) -> None:
    """A translation written and a translate job started read the post, change it and write
    it back: two workers doing so at once each kept only their own change."""
    one, other = world
    made = one.client.post(
        f"{ND}/blog-posts", headers=one.headers("neuraldraft"), json={"title": "Tea"}
    )
    post = f"{ND}/blog-posts/{made.json()['data']['id']}"

    def write(server: Server, n: int) -> None:
        headers = server.headers("neuraldraft")
        put = server.client.put(f"{post}/translations/p{n}", headers=headers, json={"title": "x"})
        job = server.client.post(
            f"{post}/translate", headers=headers, json={"target_langs": [f"j{n}"]}
        )
        assert (put.status_code, job.status_code) == (200, 202), (put.text, job.text)

    threads = [threading.Thread(target=write, args=(s, n)) for n, s in enumerate((one, other) * 6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    one.advance(600)
    langs = {t["lang"] for t in other.get("neuraldraft", f"{post}/translations").json()["data"]}
    assert langs == {"en"} | {f"p{n}" for n in range(12)} | {f"j{n}" for n in range(12)}


def test_a_tag_named_through_both_servers_at_once_is_one_tag(
    world: tuple[Server, Server],
) -> None:
    """Posts naming one new tag at once through both servers make it once: one id, the one
    every post and `GET /tags` show (a post's tags were numbered per post)."""
    one, other = world
    made: list[dict[str, Any]] = []

    def write(server: Server, n: int) -> None:
        body = {"title": f"Post {n}", "tags": [f"t{n % 3}", "Weekly" if n % 2 else "weekly"]}
        answer = server.client.post(
            f"{ND}/blog-posts", headers=server.headers("neuraldraft"), json=body
        )
        assert answer.status_code == 201, answer.text
        made.append(answer.json()["data"])

    threads = [threading.Thread(target=write, args=(s, n)) for n, s in enumerate((one, other) * 6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tags = other.get("neuraldraft", f"{ND}/tags").json()["data"]
    assert sorted(tag["slug"] for tag in tags) == ["t0", "t1", "t2", "weekly"]
    assert len({tag["id"] for tag in tags}) == 4
    assert all(tag in tags for post in made for tag in post["tags"])


# --- queues, idempotency, faults, the journal: state of the world, not of one server -------------


def test_a_queued_outcome_is_used_once_whichever_server_creates(
    world: tuple[Server, Server],
) -> None:
    one, other = world
    queued = one.client.post(
        "/__mock__/scenarios",
        json={"api": "neuralanalog", "outcome": "failed", "tenant": KEY, "count": 1},
    )
    assert queued.status_code == 201, queued.text
    first, second = imported(other), imported(one)
    one.advance(600)
    words = [
        one.get("neuralanalog", f"{NA}/status/audio/{audio_id}").json()["status"]
        for audio_id in (first, second)
    ]
    assert words == ["failed", "completed"]
    assert other.client.get("/__mock__/scenarios").json()["queued"] == []


def test_an_idempotent_create_is_replayed_by_the_other_server(
    world: tuple[Server, Server],
) -> None:
    one, other = world
    body = {"type": "ai", "topic": "Tea"}
    headers = {"Idempotency-Key": "create-once"}
    first = one.client.post(
        f"{ND}/blog-posts", headers=one.headers("neuraldraft", **headers), json=body
    )
    again = other.client.post(
        f"{ND}/blog-posts", headers=other.headers("neuraldraft", **headers), json=body
    )
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    jobs = one.client.get("/__mock__/jobs", params={"api": "neuraldraft"}).json()
    assert jobs["count"] == 1


def test_a_fault_named_through_one_fires_on_the_others_status_reads(
    world: tuple[Server, Server],
) -> None:
    """A job's scenario names a fault through one server: the other, which has seen no
    fault named itself, still goes through the fault layer for it (and keeps no answer)."""
    one, other = world
    scenario = "completed; fault=503; operation=get_status; times=2"
    audio_id = imported(one, **{"X-Mock-Scenario": scenario})
    one.advance(600)
    path = f"{NA}/status/audio/{audio_id}"
    read = [other.get("neuralanalog", path).status_code for _ in range(3)]
    assert read == [503, 503, 200]


def test_a_fault_added_through_one_fires_on_the_other(world: tuple[Server, Server]) -> None:
    one, other = world
    added = one.client.post(
        "/__mock__/faults", json={"api": "neuralanalog", "fault": "503", "times": 1}
    )
    assert added.status_code == 201, added.text
    refused = other.client.post(f"{NA}/from-link", headers=other.headers("neuralanalog"), json=LINK)
    assert refused.status_code == 503
    assert imported(one)  # fired once, in the whole world


def test_the_journal_holds_the_requests_of_both_servers(world: tuple[Server, Server]) -> None:
    one, other = world
    audio_id = imported(one)
    other.get("neuralanalog", f"{NA}/status/audio/{audio_id}")
    journal = one.client.get("/__mock__/journal", params={"api": "neuralanalog"}).json()
    paths = [entry["path"] for entry in journal["entries"]]
    assert paths[-2:] == ["/from-link", f"/status/audio/{audio_id}"]


def test_a_reset_through_one_forgets_for_both_and_keeps_the_time(
    world: tuple[Server, Server],
) -> None:
    one, other = world
    audio_id = imported(one)
    one.advance(42)
    before = other.client.get("/__mock__/clock").json()["now"]
    assert one.client.post("/__mock__/reset").status_code == 200
    gone = other.get("neuralanalog", f"{NA}/status/audio/{audio_id}")
    assert gone.status_code == 404
    assert other.client.get("/__mock__/clock").json()["now"] == before
    # the ID counters outlive a reset: no ID a client may still hold comes back
    made = {imported(other), imported(one)}
    assert audio_id not in made and len(made) == 2
    assert one.client.post("/__mock__/reset").status_code == 200
    assert made.isdisjoint({imported(other), imported(one)})


def test_strict_mode_set_through_one_holds_on_the_other_and_after_a_reset(
    world: tuple[Server, Server],
) -> None:
    one, other = world
    assert one.client.post("/__mock__/strict", json={"strict": True}).status_code == 200
    assert one.client.post("/__mock__/reset").status_code == 200
    assert other.client.get("/__mock__/strict").json() == {"strict": True}
    refused = other.client.post(
        f"{NA}/from-link", headers=other.headers("neuralanalog"), json={"url": 5}
    )
    assert refused.status_code == 422, refused.text


def test_servers_started_without_a_seed_draw_from_one(shared_store_url: str) -> None:
    states = [
        MockState(ServerConfig(clock="manual"), open_store(shared_store_url)) for _ in range(2)
    ]
    try:
        assert states[0].ids.seed == states[1].ids.seed == states[1].faults.seed
    finally:
        for state in states:
            state.backend.close()


# --- what a restart keeps ---------------------------------------------------------------------


def test_a_restarted_server_finds_jobs_queues_and_time(shared_store_url: str) -> None:
    first = start(shared_store_url)
    server = next(first)
    audio_id = imported(server)
    server.advance(3)
    queued = server.client.post(
        "/__mock__/scenarios", json={"api": "neuralanalog", "outcome": "failed", "tenant": KEY}
    )
    assert queued.status_code == 201
    now = server.client.get("/__mock__/clock").json()["now"]
    next(first, None)  # the server is gone
    again = start(shared_store_url)
    server = next(again)
    assert server.client.get("/__mock__/clock").json()["now"] == now
    status = server.get("neuralanalog", f"{NA}/status/audio/{audio_id}")
    assert status.status_code == 200, status.text
    failing = imported(server)
    server.advance(600)
    assert server.get("neuralanalog", f"{NA}/status/audio/{failing}").json()["status"] == "failed"
    next(again, None)


def test_a_server_with_another_clock_is_refused_by_the_world(shared_store_url: str) -> None:
    first = start(shared_store_url)
    next(first)
    with pytest.raises(StoreError, match="the store's clock is manual, this server's system"):
        create_app(ServerConfig(clock="system", store=shared_store_url))
    next(first, None)


def test_health_names_the_store_and_hides_its_password(world: tuple[Server, Server]) -> None:
    one, _ = world
    health = one.client.get("/__mock__/health").json()
    assert health["store"] == one.state.config.store
    assert shown("rediss://app:s3cret@redis.internal:6380/0") == (
        "rediss://app:***@redis.internal:6380/0"
    )


def test_queued_outcomes_go_to_exactly_as_many_jobs_under_concurrent_creates(
    world: tuple[Server, Server],
) -> None:
    one, other = world
    queued = one.client.post(
        "/__mock__/scenarios",
        json={"api": "neuralanalog", "outcome": "failed", "tenant": KEY, "count": 5},
    )
    assert queued.status_code == 201, queued.text
    made: list[str] = []

    def create(server: Server) -> None:
        made.extend(imported(server) for _ in range(3))

    threads = [threading.Thread(target=create, args=(s,)) for s in (one, other) * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    one.advance(600)
    words = [one.get("neuralanalog", f"{NA}/status/audio/{a}").json()["status"] for a in made]
    assert len(set(made)) == 24  # no ID drawn twice
    assert words.count("failed") == 5 and words.count("completed") == 19


def test_a_tenant_named_like_the_server_wide_tag_stays_a_tenant(
    world: tuple[Server, Server],
) -> None:
    one, other = world
    headers = {"x-api-key": "*"}
    created = one.client.post(f"{NA}/from-link", headers=headers, json=LINK)
    assert created.status_code == 200, created.text
    jobs = other.client.get("/__mock__/jobs")
    assert jobs.status_code == 200 and jobs.json()["count"] == 1
    assert key("*", "job", "1") != key(None, "job", "1")


# --- what a request costs a shared store ----------------------------------------------------------

OPERATIONS = (
    "get", "get_many", "set", "add", "delete", "update", "incr", "push", "pop", "items",
    "length", "remove", "heads", "push_numbered", "write", "put", "fetch", "discard",
    "entries", "clear", "publish",
)  # fmt: skip


def _serving() -> bool:
    """Whether the caller is a request's task (not the thread hearing other servers' events,
    which reads the clock whenever another server moves it)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def operations_of(state: MockState) -> list[str]:
    """The names of the store operations requests to `state` call from now on (each one round
    trip on Redis; a store's own calls inside one are not counted)."""
    store, inside = state.backend, threading.local()
    called: list[str] = []
    for name in OPERATIONS:
        method = getattr(store, name)

        def counted(*args: object, _method: Any = method, _name: str = name, **kw: object) -> Any:
            if getattr(inside, "depth", 0):
                return _method(*args, **kw)
            if _serving():
                called.append(_name)
            inside.depth = 1
            try:
                return _method(*args, **kw)
            finally:
                inside.depth = 0

        setattr(store, name, counted)
    return called


def test_a_list_of_posts_reads_their_jobs_together(shared_world: tuple[Server, Server]) -> None:
    """Listing a key's posts reads the jobs that wrote them in one operation, however many."""
    one, other = shared_world

    def listed() -> tuple[int, list[str]]:
        other.get("neuraldraft", f"{ND}/blog-posts")  # writes the posts of the jobs that ended
        called = operations_of(other.state)
        answer = other.get("neuraldraft", f"{ND}/blog-posts")
        assert answer.status_code == 200, answer.text
        return len(answer.json()["data"]), list(called)

    blog_post_job(one)
    one.advance(3600)
    few = listed()
    for _ in range(3):
        blog_post_job(one)
    one.advance(3600)
    many = listed()
    assert (few[0], many[0]) == (1, 4)
    assert many[1] == few[1]


@pytest.mark.parametrize("count", [1, 4])
def test_a_request_status_reads_its_documents_together(
    shared_world: tuple[Server, Server], count: int
) -> None:
    """NeuroLinker's request status reads all of the request's documents in one operation (it
    made one read per document), so its cost is the same for one document and for four."""
    one, other = shared_world
    parts = [
        ("documents", (f"memo-{n}.pdf", written_pdf(f"Page {n}"), "application/pdf"))
        for n in range(count)
    ]
    sent = one.client.post(
        f"{NL}/extract", headers=one.headers("neurolinker"), files=parts, data={"form": "{}"}
    )
    assert sent.status_code == 200, sent.text
    one.advance(3600)
    called = operations_of(other.state)
    status = other.get("neurolinker", f"{NL}/request-status/{sent.json()['request_uid']}")
    assert len(status.json()["documents"]) == count
    assert called == ["get_many", "get", "get_many", "push_numbered"]  # values, request, docs


@pytest.mark.parametrize("count", [1, 3])
def test_the_results_of_several_runs_are_read_together(
    shared_world: tuple[Server, Server], count: int
) -> None:
    """Camb.ai's bulk results read every run asked for in one go (it read each run by its
    alias: three operations per run), so asking for three costs what asking for one does."""
    one, other = shared_world
    files = {"media_file": ("take.wav", wav(), "audio/x-wav")}
    tasks = []
    for _ in range(count):
        created = one.client.post(
            f"{CAMB}/audio-separation", headers=one.headers("camb"), files=files
        )
        assert created.status_code == 200, created.text
        tasks.append(created.json()["task_id"])
    one.advance(3600)
    runs = [other.get("camb", f"{CAMB}/audio-separation/{task}").json()["run_id"] for task in tasks]
    called = operations_of(other.state)
    answer = other.client.post(
        f"{CAMB}/audio-separation-results", headers=other.headers("camb"), json={"run_ids": runs}
    )
    assert answer.status_code == 200, answer.text
    assert sorted(answer.json()) == sorted(str(run) for run in runs)
    # the values, the runs by alias, the tasks they name, the journal: a POST that only reads
    # counts no change, so no worker drops its kept status answers for it
    assert called == ["get_many", "get_many", "get_many", "push_numbered"]


def test_a_request_is_planned_from_its_documents_without_reading_them_back(
    shared_world: tuple[Server, Server],
) -> None:
    """NeuroLinker's create plans the request from the documents it just made; it read each
    one back from the store by ID (two operations per document)."""
    one, _ = shared_world
    parts = [
        ("documents", (f"memo-{n}.pdf", written_pdf(f"Page {n}"), "application/pdf"))
        for n in range(3)
    ]
    called = operations_of(one.state)
    sent = one.client.post(
        f"{NL}/extract", headers=one.headers("neurolinker"), files=parts, data={"form": "{}"}
    )
    assert sent.status_code == 200, sent.text
    assert "get" not in called, called


def test_a_poll_costs_three_store_operations_and_a_create_six(
    shared_world: tuple[Server, Server],
) -> None:
    one, other = shared_world
    audio_id = imported(one)
    one.advance(600)
    called = operations_of(other.state)
    done = other.get("neuralanalog", f"{NA}/status/audio/{audio_id}")
    assert done.json()["status"] == "completed", done.text
    assert called == ["get_many", "get", "push_numbered"]  # values, the job, journal
    called.clear()
    imported(other)
    assert len(called) <= 6, called


def test_an_app_that_cannot_be_built_closes_the_store_it_opened(
    own_redis_server: RedisServer,
) -> None:
    """A store holding what no server wrote (here a seed that is not a number) fails the
    start after the store was opened: its connections and events thread go with it."""
    junk = open_store(own_redis_server.url)
    junk.set(SEED, "not a number")
    junk.close()
    watcher = redis.Redis.from_url(own_redis_server.url)
    with pytest.raises(ValueError, match="not a number"):
        create_app(ServerConfig(clock="manual", store=own_redis_server.url))
    assert len(watcher.client_list()) == 1  # the watcher alone
    watcher.close()
