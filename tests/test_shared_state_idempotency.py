"""A Neural Draft Idempotency-Key claimed by a request still running is a lease in real time,
on every store: a worker killed mid-request (kill -9: no cleanup, no renewal) frees the key
for a retry once its lease lapses, though the manual clock stands still, while a slow
request that is alive renews its claim and keeps the key. A key's answer recorded after the
clock's time (the clock was set back since) has not happened yet: the key is unused then.

Real time is a clock handed to each guard (`wall`) and moved here by hand."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import pytest
from starlette.responses import Response

from mockserver.apis.neuraldraft.guards import (
    LEASE_SECONDS,
    REPLAYED_HEADER,
    STILL_RUNNING,
    Idempotency,
    Stored,
)
from mockserver.errors import ApiError
from mockserver.stores import StateStore
from tests.conftest import Mock

API, TENANT, KEY = "neuraldraft", "acme", "order-42"
CREATED_AT, SET_BACK_TO = 1000.0, 900.0  # server times: a key's first answer, the clock after
RENEWED_WITHIN = 10.0  # real seconds: a renewal due at once that never comes fails the test


def created(runs: list[str], name: str) -> Callable[[], Awaitable[Response]]:
    async def create() -> Response:
        runs.append(name)
        return Response(f'{{"id": "{name}"}}'.encode(), 201, media_type="application/json")

    return create


def held(claimed: asyncio.Event, release: asyncio.Event) -> Callable[[], Awaitable[Response]]:
    """A request that has claimed the key and runs until `release` is set."""

    async def run() -> Response:
        claimed.set()
        await release.wait()
        return Response(b'{"id": "slow"}', 201, media_type="application/json")

    return run


async def refused(guard: Idempotency, runs: list[str]) -> tuple[int, str]:
    with pytest.raises(ApiError) as error:
        await guard.run(TENANT, KEY, "same", 0.0, created(runs, "retry"))
    return error.value.status, error.value.detail


def test_a_key_claimed_by_a_killed_worker_is_free_once_its_lease_lapses(
    stores: tuple[StateStore, StateStore],
) -> None:
    """The dying worker never renews nor cleans up again. A retry at once finds the request
    still in flight (it may only be slow): 409; one after the lease runs, on a clock that
    stood still at the claim's server time all along."""
    wall = [time.time()]
    dying = Idempotency(stores[0], API, renew_every=3600.0)
    restarted = Idempotency(stores[1], API, wait=0.0, wall=lambda: wall[0])
    runs: list[str] = []

    async def scenario() -> Response:
        claimed = asyncio.Event()
        worker = asyncio.create_task(
            dying.run(TENANT, KEY, "same", 0.0, held(claimed, asyncio.Event()))
        )
        await claimed.wait()
        assert await refused(restarted, runs) == (409, STILL_RUNNING)
        wall[0] += LEASE_SECONDS + 1
        answer = await restarted.run(TENANT, KEY, "same", 0.0, created(runs, "retry"))
        worker.cancel()
        with suppress(asyncio.CancelledError):
            await worker
        return answer

    answer = asyncio.run(scenario())
    assert (answer.status_code, answer.body) == (201, b'{"id": "retry"}')
    assert runs == ["retry"]
    replayed = asyncio.run(restarted.run(TENANT, KEY, "same", 0.0, created(runs, "again")))
    assert (replayed.body, replayed.headers[REPLAYED_HEADER]) == (b'{"id": "retry"}', "true")


def test_a_slow_request_renews_its_claim_and_keeps_its_key_past_the_lease(
    stores: tuple[StateStore, StateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lease after the claim, the slow request has renewed it: the retry still waits for
    (here: at once refuses with 409) the running request, then replays its answer."""
    wall = [time.time()]
    slow = Idempotency(stores[0], API, wall=lambda: wall[0], renew_every=0.0)
    other = Idempotency(stores[1], API, wait=0.0, wall=lambda: wall[0])
    renewed = asyncio.Event()
    real_update = stores[0].update

    def update(at: str, change: Callable[[Any], Any]) -> Any:
        kept = real_update(at, change)
        if isinstance(kept, Stored) and not kept.status and kept.lapses_at > wall[0]:
            renewed.set()
        return kept

    runs: list[str] = []

    async def scenario() -> tuple[Response, tuple[int, str], Response]:
        claimed, release = asyncio.Event(), asyncio.Event()
        request = asyncio.create_task(slow.run(TENANT, KEY, "same", 0.0, held(claimed, release)))
        await claimed.wait()
        wall[0] += LEASE_SECONDS + 1  # the first lease is over
        monkeypatch.setattr(stores[0], "update", update)
        await asyncio.wait_for(renewed.wait(), RENEWED_WITHIN)  # a failure, not a hang
        still = await refused(other, runs)
        release.set()
        first = await request
        return first, still, await other.run(TENANT, KEY, "same", 0.0, created(runs, "retry"))

    first, still, replayed = asyncio.run(scenario())
    assert still == (409, STILL_RUNNING)
    assert runs == []
    assert replayed.body == first.body == b'{"id": "slow"}'
    assert replayed.headers[REPLAYED_HEADER] == "true"


def test_an_answer_recorded_after_the_clock_set_back_to_is_not_replayed(
    stores: tuple[StateStore, StateStore],
) -> None:
    """A request that read a running clock a moment before the first one (it began no earlier
    in real time) is the same request, concurrent: replayed. A retry after the clock was set
    back before the first answer finds the key unused: it runs, and its answer is the one
    replayed from then on, also once the clock passes the first answer's time again."""
    wall = [time.time()]
    first = Idempotency(stores[0], API, wall=lambda: wall[0])
    other = Idempotency(stores[1], API, wall=lambda: wall[0])
    runs: list[str] = []

    def sent(now: float, name: str) -> Response:
        return asyncio.run(other.run(TENANT, KEY, "same", now, created(runs, name)))

    asyncio.run(first.run(TENANT, KEY, "same", CREATED_AT, created(runs, "first")))
    concurrent = sent(CREATED_AT - 0.001, "concurrent")
    wall[0] += 1
    retried = sent(SET_BACK_TO, "retry")
    assert (concurrent.body, concurrent.headers[REPLAYED_HEADER]) == (b'{"id": "first"}', "true")
    assert (retried.status_code, retried.body) == (201, b'{"id": "retry"}')
    assert REPLAYED_HEADER not in retried.headers
    for now in (SET_BACK_TO, CREATED_AT + 1):
        replayed = sent(now, "again")
        assert (replayed.body, replayed.headers[REPLAYED_HEADER]) == (b'{"id": "retry"}', "true")
    assert runs == ["first", "retry"]


def test_a_request_running_since_before_the_clock_set_back_to_leaves_its_key(
    stores: tuple[StateStore, StateStore],
) -> None:
    """At the time set, the request still running had not been sent: the retry runs at once
    (no wait, no 409), and the first one's late answer does not replace the retry's."""
    wall = [time.time()]
    slow = Idempotency(stores[0], API, wall=lambda: wall[0], renew_every=3600.0)
    other = Idempotency(stores[1], API, wait=0.0, wall=lambda: wall[0])
    runs: list[str] = []

    async def scenario() -> tuple[Response, Response]:
        claimed, release = asyncio.Event(), asyncio.Event()
        request = asyncio.create_task(
            slow.run(TENANT, KEY, "same", CREATED_AT, held(claimed, release))
        )
        await claimed.wait()
        wall[0] += 1
        retried = await other.run(TENANT, KEY, "same", SET_BACK_TO, created(runs, "retry"))
        release.set()
        return await request, retried

    first, retried = asyncio.run(scenario())
    assert (first.body, retried.body) == (b'{"id": "slow"}', b'{"id": "retry"}')
    assert REPLAYED_HEADER not in retried.headers
    replayed = asyncio.run(other.run(TENANT, KEY, "same", SET_BACK_TO, created(runs, "again")))
    assert (replayed.body, replayed.headers[REPLAYED_HEADER]) == (b'{"id": "retry"}', "true")
    assert runs == ["retry"]


def test_a_retry_after_the_clock_set_back_makes_a_job_that_exists_then(mock: Mock) -> None:
    """The tester's repro over HTTP: the retry no longer replays a job its API answers 404 for."""
    images = "/neuraldraft/v1/images"
    headers = mock.headers("neuraldraft", **{"Idempotency-Key": "order-7"})
    now = mock.client.get("/__mock__/clock").json()["now"]
    first = mock.client.post(images, headers=headers, json={"prompt": "x"})
    mock.client.post("/__mock__/clock/set", json={"time": now - 100})
    again = mock.client.post(images, headers=headers, json={"prompt": "x"})
    assert first.status_code == again.status_code == 202
    assert "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    read = mock.client.get(f"/neuraldraft/v1/jobs/{again.json()['id']}", headers=headers)
    assert read.status_code == 200
