"""One row whose flow cannot be stopped (it spins without calling anything, or swallows
OutOfTime and loops) must not spoil the rows after it: their sleeps stay virtual and their
verdicts are their own."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from mockserver import clientcheck
from mockserver.clientcheck import HANDLED, HUNG, check_client

LINK = {"url": "https://example.com/a.mp3"}
WALL_LIMIT = 3.0  # real seconds: a later row sleeping for real (Retry-After 5 s) overruns it


@pytest.fixture(autouse=True)
def short_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flow left behind costs its row the grace too: keep it short."""
    monkeypatch.setattr(clientcheck, "STOP_GRACE", 0.2)


@pytest.fixture
def gate() -> Iterator[dict[str, bool]]:
    """Opened after the check: lets the stuck flows' threads end, so no thread spins on
    through the rest of the session."""
    state = {"open": False}
    before = set(threading.enumerate())  # not a flow another test left behind
    yield state
    state["open"] = True
    for thread in set(threading.enumerate()) - before:
        if thread.name == "clientcheck":
            thread.join(10)
            assert not thread.is_alive(), "a stuck flow did not end once released"


def _ask(http: httpx.Client, method: str, url: str, **kwargs: Any) -> Any:
    """Retry a 429 after its Retry-After, as a careful client does."""
    while True:
        answer = http.request(method, url, **kwargs)
        if answer.status_code != 429:
            answer.raise_for_status()
            return answer.json()
        time.sleep(float(answer.headers["Retry-After"]))


def _flow(on_failure: Callable[[httpx.Client, str], None]) -> Callable[[str, str], str]:
    """Create a job, poll it every 5 s; `on_failure` is what the flow does when it failed."""

    def flow(base_url: str, api_key: str) -> str:
        with httpx.Client(base_url=base_url, headers={"X-API-Key": api_key}) as http:
            audio_id = _ask(http, "POST", "/from-link", json=LINK)["audio_id"]
            while True:
                status = _ask(http, "GET", f"/status/audio/{audio_id}")["status"]
                if status == "completed":
                    return str(audio_id)
                if status == "failed":
                    on_failure(http, audio_id)
                    raise RuntimeError("the job failed")
                time.sleep(5)

    return flow


def _later_row_handled(flow: Callable[[str, str], str]) -> None:
    first, later = check_client(
        "neuralanalog", flow, wall_limit=WALL_LIMIT, only=["failed", "429"]
    ).rows
    assert (first.scenario, first.verdict) == ("failed", HUNG)
    assert (later.scenario, later.verdict, later.reason) == (
        "429",
        HANDLED,
        "claimed success; every job completed",
    )
    assert later.virtual_seconds >= 5  # its Retry-After was slept on the server's clock


def test_a_flow_spinning_on_a_failure_does_not_spoil_the_next_row(gate: dict[str, bool]) -> None:
    def spin(http: httpx.Client, audio_id: str) -> None:
        while not gate["open"]:  # calls nothing: nothing can stop it
            pass

    _later_row_handled(_flow(spin))


def test_a_flow_swallowing_out_of_time_does_not_spoil_the_next_row(
    gate: dict[str, bool],
) -> None:
    def swallow(http: httpx.Client, audio_id: str) -> None:
        while not gate["open"]:
            try:  # noqa: SIM105 - written as the client with a bare `except:` is
                time.sleep(60)
            except BaseException:
                pass

    _later_row_handled(_flow(swallow))


def test_a_flow_left_behind_sends_nothing_in_the_next_row(gate: dict[str, bool]) -> None:
    """Its requests would count against the next row's `MAX_STILL`: once its row is over,
    its HTTP client's clock reads raise, so it reaches the server no more."""
    sent: list[int] = []
    seen: dict[str, int] = {}

    def hammer(http: httpx.Client, audio_id: str) -> None:
        while not gate["open"]:
            try:
                http.get(f"/status/audio/{audio_id}")
                sent.append(1)
            except BaseException:
                pass

    failing = _flow(hammer)

    def flow(base_url: str, api_key: str) -> str:
        before = len(sent)
        try:
            return failing(base_url, api_key)
        finally:
            seen.setdefault("during the next row", len(sent) - before)

    _later_row_handled(flow)
    assert seen == {"during the next row": 0}
