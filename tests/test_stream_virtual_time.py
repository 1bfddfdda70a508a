"""Neural Draft's event stream read on virtual time: the stream moves the clock as the wait
would pass on the real service, on the block's budget, instead of hanging the test.

Each read runs in a thread of its own, joined with a real timeout: a stream that waits for a
clock nobody moves fails the test instead of hanging the run.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from mockserver.apis.neuraldraft import stream
from mockserver.engine.jobs import Job
from mockserver.fixtures.server import InProcessMockServer, MockServer
from mockserver.virtualtime import OutOfTime, VirtualTime

pytest_plugins = ["pytester"]

API = "neuraldraft"
BLOG = {"type": "ai", "topic": "Cold brew at home"}
JOIN_SECONDS = 30.0  # real seconds; a read that finishes takes milliseconds
COMMENT = "comment"


@pytest.fixture(params=["in-process", "live"])
def server(
    request: pytest.FixtureRequest, mockserver_asgi: InProcessMockServer, mockserver: MockServer
) -> MockServer:
    """Both ways a test reaches the one app (and its clock): its transports, or its port."""
    return mockserver_asgi if request.param == "in-process" else mockserver


def events(http: httpx.Client, job_id: str) -> Iterator[tuple[str, Any]]:
    """The stream's events as (name, data), and each comment as (COMMENT, text)."""
    with http.stream("GET", f"/jobs/{job_id}/stream", timeout=JOIN_SECONDS) as response:
        assert response.status_code == 200
        name = "message"
        for line in response.iter_lines():
            if line.startswith(":"):
                yield COMMENT, line
            elif line.startswith("event:"):
                name = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                yield name, json.loads(line.removeprefix("data:"))


def within_real_time(body: Callable[[], None]) -> None:
    """Run `body` in a thread (virtual time is entered there); fail, not hang, if it is still
    running after JOIN_SECONDS of real time."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            body()
        except BaseException as error:  # handed to the test's thread
            failure.append(error)

    thread = threading.Thread(target=run, name="stream-reader", daemon=True)
    thread.start()
    thread.join(JOIN_SECONDS)
    assert not thread.is_alive(), f"the read still waits after {JOIN_SECONDS:g} s of real time"
    if failure:
        raise failure[0]


def start(server: MockServer, scenario: str) -> tuple[httpx.Client, str, float]:
    """A blog post job on `scenario`; the client, the job's ID and the clock at its start."""
    server.queue(API, scenario)
    http = server.client(API)
    created = http.post("/blog-posts", json=BLOG)
    assert created.status_code == 202, created.text
    return http, created.json()["id"], server.now


def test_a_ten_minute_job_s_stream_ends_at_once_after_ten_virtual_minutes(
    server: MockServer,
) -> None:
    http, job_id, started = start(server, "completed; after=600")
    read: dict[str, Any] = {}

    def body() -> None:
        with server.virtual_time() as virtual:
            before = time.monotonic()
            read["seen"] = list(events(http, job_id))
            read["monotonic"] = time.monotonic() - before
        read["virtual"] = virtual

    within_real_time(body)
    seen, virtual = read["seen"], read["virtual"]
    names = [name for name, _ in seen]
    assert names[-1] == "done" and names.count("done") == 1 and COMMENT not in names
    percents = [data["progress"] for name, data in seen if name == "progress"]
    assert sorted(set(percents)) == list(range(100)) + [100]  # every change, in order
    assert percents == sorted(percents)
    # the wait passed as on the real service: the job's ten minutes, to a frame's precision
    assert server.job(API, job_id)["finished_at"] == started + 600
    assert virtual.waited == pytest.approx(600, abs=0.01)
    assert read["monotonic"] == pytest.approx(virtual.waited, abs=1e-6)
    assert server.now - started == pytest.approx(virtual.waited, abs=1e-6)
    assert (virtual.slept, virtual.sleeps, virtual.stopped) == (0.0, 0, None)


@pytest.mark.mockserver_budget(seconds=400)
def test_a_stalled_job_s_stream_closes_when_the_budget_runs_out(server: MockServer) -> None:
    """The stream closes at the budget's end, short of a last event, and the client's next
    clock read raises what stopped it: httpx reads the clock as it takes the answer (its
    cookies) and as it closes it (`elapsed`); the sleep is there in case it did not."""
    http, job_id, started = start(server, "stalled")
    read: dict[str, Any] = {"seen": []}

    def body() -> None:
        with pytest.raises(OutOfTime) as raised, server.virtual_time() as virtual:
            read["virtual"] = virtual
            for event in events(http, job_id):
                read["seen"].append(event)
            time.sleep(1)
        read["raised"] = raised.value

    within_real_time(body)
    virtual = read["virtual"]
    assert read["raised"] is virtual.stopped
    assert str(virtual.stopped) == (
        f"the event stream of job {job_id} was still waiting when the 400 s virtual budget ran out"
    )
    assert not {"done", "error"} & {name for name, _ in read["seen"]}
    assert (virtual.waited, virtual.slept) == (pytest.approx(400), 0)
    assert server.now == started + 400  # the clock stops at the budget's end
    assert server.job(API, job_id)["state"] == "processing"


def test_a_quiet_stream_sends_a_keep_alive_every_15_virtual_seconds(
    mockserver_asgi: InProcessMockServer,
) -> None:
    """Read at the stream itself, on the clock it moves: the stalled blog job reaches its
    last step and 99 % after about 315 s; from then on, a keep-alive per 15 s of quiet until
    the 400 s budget runs out, where the stream ends."""
    http, job_id, started = start(mockserver_asgi, "stalled")
    state, key = mockserver_asgi.state, mockserver_asgi.api_key(API)
    service = mockserver_asgi.app.state.services[API]
    virtual = VirtualTime(state.clock, 400)
    frames: list[tuple[str, float]] = []

    def current() -> Job:
        job = state.store.get(API, key, job_id)
        assert job is not None
        return job

    async def read() -> None:
        async for text in stream.events(current, state.clock, service.wakeup, lambda job: {}):
            frames.append((text, state.clock.now() - started))

    def body() -> None:
        close = state.clock.open_virtual(virtual)
        try:
            asyncio.run(read())
        finally:
            close()

    within_real_time(body)
    keepalives = [at for text, at in frames if text == stream.KEEPALIVE]
    last_text, last = frames[-1 - len(keepalives)]  # the keep-alives come last, and only
    assert '"progress":99' in last_text and 300 < last < 320
    assert keepalives == [pytest.approx(last + 15 * n) for n in range(1, len(keepalives) + 1)]
    assert last + 15 * len(keepalives) <= 400 < last + 15 * (len(keepalives) + 1)
    assert virtual.stopped is not None and state.clock.now() == started + 400


def test_a_stream_open_before_the_block_moves_on_once_it_opens(
    mockserver_asgi: InProcessMockServer,
) -> None:
    http, job_id, started = start(mockserver_asgi, "completed; after=300")
    read: dict[str, Any] = {}

    def body() -> None:
        stream = events(http, job_id)
        first = [next(stream) for _ in range(6)]  # progress, then each step: then it waits
        assert [name for name, _ in first] == ["progress", *["step"] * 5]
        with mockserver_asgi.virtual_time() as virtual:
            read["rest"] = list(stream)
        read["virtual"] = virtual

    within_real_time(body)
    assert read["rest"][-1][0] == "done"
    assert read["virtual"].waited == pytest.approx(300, abs=0.01)


def test_outside_virtual_time_the_stream_waits_for_the_clock_to_be_moved(
    mockserver_asgi: InProcessMockServer,
) -> None:
    """After a block has closed too: the stream moves nothing, the test moves the clock."""
    with mockserver_asgi.virtual_time():
        pass
    http, job_id, started = start(mockserver_asgi, "completed; after=300")
    read: dict[str, Any] = {"clock": []}

    def body() -> None:
        seen = []
        for name, data in events(http, job_id):
            seen.append((name, data))
            if name == "progress":  # each batch of changes ends with one: move the clock
                read["clock"].append(mockserver_asgi.now - started)
                mockserver_asgi.advance(30)
        read["seen"] = seen

    within_real_time(body)
    names = [name for name, _ in read["seen"]]
    assert names[-1] == "done" and COMMENT not in names
    assert read["clock"] == [30.0 * moves for moves in range(len(read["clock"]))]
    assert mockserver_asgi.job(API, job_id)["finished_at"] == started + 300


STALLED_STREAM = """
import json

import pytest


@pytest.mark.mockserver_budget(seconds=90)
def test_reads_a_stalled_job_s_stream(mockserver_asgi, virtual_time):
    mockserver_asgi.queue("neuraldraft", "stalled")
    http = mockserver_asgi.client("neuraldraft")
    job_id = http.post("/blog-posts", json={"type": "ai", "topic": "Cold brew"}).json()["id"]
    with http.stream("GET", f"/jobs/{job_id}/stream", timeout=30) as response:
        names = [line for line in response.iter_lines() if line.startswith("event:")]
    assert names[-1] == "event: done"  # never: the stream closed for want of time
"""


def test_the_virtual_time_fixture_reports_a_stalled_stream_as_hung(
    pytester: pytest.Pytester,
) -> None:
    """However the test goes on after the stream closed (here: an assertion), it fails with
    the `hung` verdict naming the stream, the budget and the job."""
    pytester.makepyfile(test_user=STALLED_STREAM)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(failed=1)
    result.stdout.re_match_lines(
        [
            r"hung: the event stream of job (\S+) was still waiting when the 90 s virtual "
            r"budget ran out; neuraldraft job \S+ still processing$"
        ]
    )
