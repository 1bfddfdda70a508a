"""The Neural Draft example client against the mock: polling, failures, cancel, streaming,
reading the post a job wrote."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from neuraldraft_client import GenerationFailed, NeuralDraft

from mockserver.fixtures.plugin import InProcessMockServer, MockServer
from mockserver.virtualtime import VirtualTime

API = "neuraldraft"


@pytest.fixture
def client(mockserver: MockServer) -> Iterator[NeuralDraft]:
    client = NeuralDraft(mockserver.api_key(API), mockserver.base_url(API))
    yield client
    client.close()


def test_writes_a_blog_post(
    client: NeuralDraft, mockserver: MockServer, virtual_time: VirtualTime
) -> None:
    job = client.write_blog_post("How to brew cold brew at home")
    result = client.wait(job["id"])

    assert job["status"] == "pending" and job["type"] == "blog_post.generate"
    assert result["slug"] == "how-to-brew-cold-brew-at-home"
    assert virtual_time.sleeps >= 2  # it polled while the job ran, on the virtual clock
    post = client.blog_post(result["post_id"])
    assert (post["id"], post["title"], post["status"]) == (
        result["post_id"],
        result["title"],
        "published",
    )


def test_reports_a_failed_job(
    client: NeuralDraft, mockserver: MockServer, virtual_time: VirtualTime
) -> None:
    mockserver.queue(API, "failed", message="The model is overloaded")
    job = client.write_blog_post("Cold brew")

    with pytest.raises(GenerationFailed, match="overloaded"):
        client.wait(job["id"])


def test_cancel_keeps_finished_steps(client: NeuralDraft, mockserver: MockServer) -> None:
    job = client.write_blog_post("Cold brew")
    mockserver.advance(90)  # past the research step, into the writing
    cancelled = client.cancel(job["id"])

    assert cancelled["status"] == "cancelled"
    assert [s["name"] for s in cancelled["steps"] if s["completed"]] == ["research"]
    with pytest.raises(GenerationFailed) as failure:
        client.wait(job["id"])
    assert failure.value.job["status"] == "cancelled"


def test_follows_the_event_stream_in_process(mockserver_asgi: InProcessMockServer) -> None:
    """The sync in-process transport streams: each clock move sends the next events."""
    client = NeuralDraft(
        mockserver_asgi.api_key(API),
        mockserver_asgi.base_url(API),
        transport=mockserver_asgi.transport,
    )
    job = client.write_blog_post("Cold brew")
    seen: list[str] = []
    for event, _data in client.events(job["id"]):
        seen.append(event)
        if event == "progress":
            mockserver_asgi.advance(15)  # the stream answers the move at once

    assert seen[0] == "progress" and "step" in seen
    assert seen[-1] == "done"
    assert mockserver_asgi.job(API, job["id"])["state"] == "completed"
