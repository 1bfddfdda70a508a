"""Two workers on one store, their steps interleaved at the critical moment, on every store:
a 429 fault window opened by one is seen by the other, and a Neural Draft request that finds
the same request (same Idempotency-Key and body) in flight waits for its answer and replays it.

A race is made deterministic by a store method patched on the first worker's store object to
run the other worker once, just before or just after the real operation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from starlette.responses import Response

from mockserver.apis.neuraldraft.guards import (
    IDEMPOTENCY_CONFLICT,
    REPLAYED_HEADER,
    STILL_RUNNING,
    Idempotency,
    Stored,
)
from mockserver.errors import ApiError
from mockserver.faults.book import FaultBook
from mockserver.stores import StateStore

API, TENANT = "camb", "acme"
WINDOW = 5  # seconds of the 429 window: real time never closes it during a test


def meanwhile(
    monkeypatch: pytest.MonkeyPatch,
    store: StateStore,
    method: str,
    other: Callable[[], object],
    before: bool,
) -> list[object]:
    """Patch `store.method` to run `other` once, on its first call, before or after the real
    operation; returns the list that receives what `other` returned."""
    real = getattr(store, method)
    ran: list[object] = []

    def patched(*args: Any, **kwargs: Any) -> Any:
        if ran:  # once: `other` may call it too (on the memory store, one object)
            return real(*args, **kwargs)
        ran.append(None)
        if before:
            ran[0] = other()
        result = real(*args, **kwargs)
        if not before:
            ran[0] = other()
        return result

    monkeypatch.setattr(store, method, patched)
    return ran


def rate_limit(times: int) -> dict[str, object]:
    return {"fault": "429", "api": API, "retry_after": WINDOW, "times": times}


def workers(stores: tuple[StateStore, StateStore], times: int) -> tuple[FaultBook, FaultBook]:
    """Two workers' fault books, one config (one rate-limit rule), one store."""
    rules = [rate_limit(times)]
    return FaultBook(rules, store=stores[0]), FaultBook(rules, store=stores[1])


def fired(book: FaultBook) -> dict[str, int]:
    return book.describe()[0]["fired"]


def test_a_request_between_the_count_and_the_window_gets_the_429(
    stores: tuple[StateStore, StateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The firing worker has counted the one firing `times` allows: the other, arriving then,
    must see the window, not a used-up rule (it passed with a 200)."""
    mine, theirs = workers(stores, 1)
    rule = mine.rules[0]
    other = meanwhile(
        monkeypatch, stores[0], "incr", lambda: theirs.fire(rule, API, TENANT, 0.0), False
    )

    assert mine.fire(rule, API, TENANT, 0.0) == WINDOW
    assert other == [WINDOW]
    assert fired(mine) == {TENANT: 1}


def test_of_two_openers_one_opens_the_window_and_counts_it(
    stores: tuple[StateStore, StateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both find no window; the other opens it just before this one would: this one answers
    the other's 429, one firing is counted, and `times: 1` holds once it closed."""
    mine, theirs = workers(stores, 1)
    rule = mine.rules[0]
    other = meanwhile(
        monkeypatch, stores[0], "update", lambda: theirs.fire(rule, API, TENANT, 0.0), True
    )

    assert mine.fire(rule, API, TENANT, 1.0) == WINDOW - 1  # the other's window, a second on
    assert other == [WINDOW]
    assert fired(mine) == {TENANT: 1}
    assert mine.fire(rule, API, TENANT, WINDOW + 1.0) is None  # closed: no second window
    assert theirs.fire(rule, API, TENANT, WINDOW + 1.0) is None
    assert fired(theirs) == {TENANT: 1}


def test_an_expired_window_is_replaced_by_one_opener_and_times_stays_exact(
    stores: tuple[StateStore, StateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first window closed; both workers find it closed, the other reopens it first: this
    one gets its 429, and `times: 2` allows no third window."""
    mine, theirs = workers(stores, 2)
    rule = mine.rules[0]
    assert mine.fire(rule, API, TENANT, 0.0) == WINDOW
    reopen = WINDOW + 1.0
    other = meanwhile(
        monkeypatch, stores[0], "update", lambda: theirs.fire(rule, API, TENANT, reopen), True
    )

    assert mine.fire(rule, API, TENANT, reopen) == WINDOW
    assert other == [WINDOW]
    assert fired(mine) == {TENANT: 2}
    assert mine.fire(rule, API, TENANT, 2 * reopen) is None


def created(runs: list[bytes], body: bytes, status: int = 201) -> Callable[[], Any]:
    async def create() -> Response:
        runs.append(body)
        return Response(body, status, media_type="application/json")

    return create


def spy_in_flight(monkeypatch: pytest.MonkeyPatch, store: StateStore, seen: asyncio.Event) -> None:
    """Set `seen` when a read of the store finds a request in flight (an unanswered claim)."""
    real = store.get

    def get(at: str) -> Any:
        found = real(at)
        if isinstance(found, Stored) and not found.status:
            seen.set()
        return found

    monkeypatch.setattr(store, "get", get)


def in_flight(
    stores: tuple[StateStore, StateStore],
    monkeypatch: pytest.MonkeyPatch,
    first: Callable[[], Any],
    second: Callable[[Idempotency], Any],
    wait: float = 10.0,
) -> tuple[Response, Any]:
    """Run `first` as the first request with key `k`, held until `second` (on the other
    worker) found it in flight; returns both outcomes (the second's error, if it raised)."""
    mine, theirs = (
        Idempotency(stores[0], "neuraldraft"),
        Idempotency(stores[1], "neuraldraft", wait),
    )

    async def scenario() -> tuple[Response, Any]:
        claimed, seen, release = asyncio.Event(), asyncio.Event(), asyncio.Event()
        spy_in_flight(monkeypatch, stores[1], seen)

        async def held() -> Response:
            claimed.set()
            await release.wait()
            return await first()

        one = asyncio.create_task(mine.run("t", "k", "same", 0.0, held))
        await claimed.wait()
        two = asyncio.create_task(second(theirs))
        await seen.wait()
        release.set()
        answers = await asyncio.gather(one, two, return_exceptions=True)
        assert isinstance(answers[0], Response)
        return answers[0], answers[1]

    return asyncio.run(scenario())


def test_the_same_request_in_flight_is_waited_for_and_replayed(
    stores: tuple[StateStore, StateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[bytes] = []
    first, second = in_flight(
        stores,
        monkeypatch,
        created(runs, b'{"id": "job_1"}'),
        lambda guard: guard.run("t", "k", "same", 0.0, created(runs, b'{"id": "job_2"}')),
    )

    assert isinstance(second, Response), second
    assert (second.status_code, second.body) == (201, b'{"id": "job_1"}')
    assert second.headers[REPLAYED_HEADER] == "true"
    assert REPLAYED_HEADER not in first.headers
    assert runs == [b'{"id": "job_1"}']


def test_a_waiting_request_runs_itself_when_the_first_answers_an_error(
    stores: tuple[StateStore, StateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Errors are not stored: the waiting request runs, as a retry after the error would."""
    runs: list[bytes] = []
    first, second = in_flight(
        stores,
        monkeypatch,
        created(runs, b'{"error": "busy"}', 503),
        lambda guard: guard.run("t", "k", "same", 0.0, created(runs, b'{"id": "job_2"}')),
    )

    assert first.status_code == 503
    assert isinstance(second, Response), second
    assert (second.status_code, second.body) == (201, b'{"id": "job_2"}')
    assert REPLAYED_HEADER not in second.headers


def test_another_body_in_flight_is_the_idempotency_conflict_at_once(
    stores: tuple[StateStore, StateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[bytes] = []
    _, second = in_flight(
        stores,
        monkeypatch,
        created(runs, b"{}"),
        lambda guard: guard.run("t", "k", "other", 0.0, created(runs, b"{}")),
    )

    assert isinstance(second, ApiError)
    assert (second.status, second.code) == (409, IDEMPOTENCY_CONFLICT)
    assert runs == [b"{}"]


def test_past_the_bounded_wait_the_request_in_flight_is_a_409(
    stores: tuple[StateStore, StateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[bytes] = []
    _, second = in_flight(
        stores,
        monkeypatch,
        created(runs, b"{}"),
        lambda guard: guard.run("t", "k", "same", 0.0, created(runs, b"{}")),
        wait=0.0,
    )

    assert isinstance(second, ApiError)
    assert (second.status, second.detail) == (409, STILL_RUNNING)
    assert runs == [b"{}"]
