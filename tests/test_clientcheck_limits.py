"""The client check's limits judge each row by itself: a thread an earlier row left polling
does not make a later row hasty, a poll loop pausing in short slices runs on to its own
timeout, a hung row says what shows of its timeout, an async flow blocked on a real wait is
told it never slept, `--json` stays JSON when a subprocess writes to stdout, `only` may be one
string."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from mockserver import clientcheck
from mockserver.cli import main
from mockserver.clientcheck import HANDLED, HUNG, MAX_STILL, check_client
from mockserver.verdicts import LINGERED
from mockserver.virtualtime import DEFAULT_MAX_SLEEPS as MAX_SLEEPS
from tests import clients_neuralanalog as clients

LINK = {"url": "https://example.com/a.mp3"}


def _na(base_url: str, api_key: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"X-API-Key": api_key})


def _polls(
    base_url: str, api_key: str, pause: Callable[[], None], deadline: Callable[[], bool]
) -> str:
    """Create a Neural Analog job, poll it, `pause` between polls until `deadline()`."""
    with _na(base_url, api_key) as http:
        audio_id = str(http.post("/from-link", json=LINK).json()["audio_id"])
        while (status := http.get(f"/status/audio/{audio_id}").json()["status"]) != "completed":
            if status == "failed":
                raise RuntimeError(f"{audio_id} failed")
            if deadline():
                raise TimeoutError(f"{audio_id} still {status}")
            pause()
        return audio_id


def _every_5_s(base_url: str, api_key: str) -> str:
    return _polls(base_url, api_key, functools.partial(time.sleep, 5), lambda: False)


# --- a thread an earlier row left behind ----------------------------------------------------------


def test_a_thread_an_earlier_row_left_polling_does_not_make_a_later_row_hasty() -> None:
    """The first row's flow leaves a thread polling with its key; it sends more than
    `MAX_STILL` requests while the second row's clock stands still. They are not the second
    row's: it used to be stopped as `hasty` for them."""
    go, done, rows = threading.Event(), threading.Event(), []

    def poll_on(base_url: str, api_key: str, audio_id: str) -> None:
        go.wait(30)
        with _na(base_url, api_key) as http:  # real time: the thread is in no row
            for _ in range(MAX_STILL + 50):
                http.get(f"/status/audio/{audio_id}")
        done.set()

    def flow(base_url: str, api_key: str) -> str:
        rows.append(api_key)
        if len(rows) == 1:
            audio_id = _every_5_s(base_url, api_key)
            poller = threading.Thread(target=poll_on, args=(base_url, api_key, audio_id))
            poller.daemon = True  # should the second row never come
            poller.start()
            return audio_id
        go.set()
        done.wait(30)  # a real wait: the clock stands still meanwhile
        time.monotonic()  # a look at the clock, where the bound is checked
        return _every_5_s(base_url, api_key)

    report = check_client("neuralanalog", flow, only=["completed", "failed"])
    assert done.is_set()
    assert [(row.verdict, row.requests) for row in report.rows] == [(HANDLED, 6), (HANDLED, 6)]


# --- sleeping in slices, or next to nothing ------------------------------------------------------


def test_a_poll_loop_pausing_in_short_slices_reaches_its_own_timeout() -> None:
    """A wait of 50 s in 0.1 s slices (a progress spinner) and a timeout of 2100 s: more than
    `MAX_SLEEPS` sleeps, all moving the clock. It used to be stopped as hung at 2000 s."""

    def slices() -> None:
        for _ in range(500):
            time.sleep(0.1)

    def flow(base_url: str, api_key: str) -> str:
        deadline = time.monotonic() + 2100
        return _polls(base_url, api_key, slices, lambda: time.monotonic() > deadline)

    [row] = check_client("neuralanalog", flow, budget=2400, only=["stalled"]).rows
    assert row.verdict == HANDLED
    assert row.raised is not None and row.raised.startswith("TimeoutError")
    assert 2100 <= row.virtual_seconds < 2200


@pytest.mark.parametrize("seconds", [0, 1e-9])
def test_a_loop_sleeping_next_to_nothing_is_stopped_as_hung(seconds: float) -> None:
    def flow(base_url: str, api_key: str) -> None:
        while True:
            time.sleep(seconds)

    [row] = check_client("neuralanalog", flow, only=["completed"]).rows
    assert row.verdict == HUNG
    assert row.reason.startswith(
        f"slept {MAX_SLEEPS} times in a row for {MAX_SLEEPS * seconds:.3g} s in all (a loop "
        f"that sleeps next to nothing; the bound is {MAX_SLEEPS} sleeps averaging under 0.1 ms)"
    )


# --- what a hung row says of the flow's timeout ---------------------------------------------------

NO_TIMEOUT = "the code sleeping when it ran out read no clock virtual time moves, so it has no "
LONGER = "the code sleeping when it ran out reads the virtual clock, so a timeout it has is longer"


def test_a_flow_without_a_timeout_is_told_it_may_have_none() -> None:
    [row] = check_client("neuralanalog", _every_5_s, budget=100, only=["stalled"]).rows
    assert row.verdict == HUNG
    assert NO_TIMEOUT + "timeout (add one) or one on a clock virtual time does not" in row.reason


def test_a_flow_with_a_timeout_longer_than_the_budget_is_told_to_raise_it() -> None:
    def flow(base_url: str, api_key: str) -> str:
        deadline = time.monotonic() + 900
        return _polls(base_url, api_key, lambda: time.sleep(5), lambda: time.monotonic() > deadline)

    [row] = check_client("neuralanalog", flow, budget=100, only=["stalled"]).rows
    assert row.verdict == HUNG
    assert row.reason.endswith(
        LONGER
        + " than the budget (raise --budget, or shorten the timeout) or it has none (add one)"
    )


def test_an_sdk_waiting_longer_than_the_budget_is_told_to_raise_it() -> None:
    """neurolinker-sdk's wait reads its deadline on `time.time`, in the SDK's code, not the
    flow's: it used to be told its timeout was on a real clock."""
    pytest.importorskip("neurolinker_sdk", reason="neurolinker-sdk is not installed")
    from neurolinker_sdk import NeuroLinker

    def flow(base_url: str, api_key: str) -> str:
        with NeuroLinker(token=api_key, base_url=base_url) as client:
            extraction = client.extraction
            uid = extraction.extract_request_uid(
                extraction.extract(documents=[("a.pdf", b"%PDF-1.4\n%%EOF\n")])
            )
            extraction.wait_for_request(uid, timeout_s=900)
            return str(uid)

    [row] = check_client("neurolinker", flow, budget=300, only=["stalled"]).rows
    assert row.verdict == HUNG and LONGER in row.reason


def test_polls_of_an_ended_job_are_counted_once_in_the_table() -> None:
    """The hung reason counts the requests after the end; the `lingered` finding on the same
    job, the polls after the answer that showed it: one fewer. The table says it once."""
    [row] = check_client("neuralanalog", clients.waits_for_completed, only=["failed"]).rows
    assert row.verdict == HUNG and row.reason.startswith("gave up only after asking")
    [finding] = row.behaviour
    assert finding["verdict"] == LINGERED  # in --json still
    assert row.why() == row.reason


# --- an async flow blocked on a real wait --------------------------------------------------------


def test_an_async_flow_blocked_on_a_real_wait_is_told_it_never_slept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """httpx's own `asyncio.sleep(0)` calls are scheduling points, not sleeps on virtual time:
    they used to hide why the flow's clock stood still."""
    monkeypatch.setattr(clientcheck, "STOP_GRACE", 0.2)  # it waits in select, calling nothing
    held: list[tuple[threading.Thread, Callable[[], Any]]] = []

    async def flow(base_url: str, api_key: str) -> None:
        async with httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": api_key}) as http:
            await http.post("/from-link", json=LINK)
            released = asyncio.Event()
            release = functools.partial(
                asyncio.get_running_loop().call_soon_threadsafe, released.set
            )
            held.append((threading.current_thread(), release))
            await released.wait()  # for what never comes, in the check

    try:
        [row] = check_client("neuralanalog", flow, wall_limit=0.3, only=["completed"]).rows
    finally:
        for thread, release in held:  # let the flow left behind end
            release()
            thread.join(10)
            assert not thread.is_alive()
    assert row.verdict == HUNG
    assert row.reason.endswith(
        "still in_progress; it never slept on virtual time, so its job's clock stood still: a "
        "wait on real time (threading.Event.wait, a lock's timeout, select) does not move it"
    )


# --- --json and only ----------------------------------------------------------------------------


def prints_through_a_subprocess(base_url: str, api_key: str) -> str:
    """A flow driving a command-line tool, whose output goes to the inherited stdout."""
    subprocess.run([sys.executable, "-c", "print('from the child')"], check=True)
    return "done"


def test_json_output_is_not_spoilt_by_a_subprocess(capfd: pytest.CaptureFixture[str]) -> None:
    flow = f"{__name__}:prints_through_a_subprocess"
    code = main(["check-client", "--api", "neuralanalog", flow, "--json", "--only", "completed"])
    out, err = capfd.readouterr()
    assert code == 1  # it claimed success without a job
    assert json.loads(out)["rows"][0]["scenario"] == "completed"
    assert "from the child" in err


@pytest.mark.parametrize("only", ["completed", "COMPLETED, failed"])
def test_only_may_be_one_string(only: str) -> None:
    def flow(base_url: str, api_key: str) -> None:
        raise RuntimeError("no call made")

    report = check_client("neuralanalog", flow, only=only)
    assert [row.scenario for row in report.rows] == ["completed", "failed"][: only.count(",") + 1]


def test_out_of_time_is_raised_only_where_it_reaches_the_client() -> None:
    """Raised in a callback the event loop runs, OutOfTime was logged and lost: a task waiting
    on that callback waited for ever, and the flow's thread never ended (a flaky hang of the
    async flow above, at whichever call the limit was looked at)."""
    seen: dict[str, bool] = {}

    def callback() -> None:
        seen["callback"] = clientcheck.reaches_the_client(_here())

    async def flow() -> None:
        seen["task"] = clientcheck.reaches_the_client(_here())
        asyncio.get_running_loop().call_soon(callback)
        await asyncio.sleep(0)

    asyncio.run(flow())
    seen["sync"] = clientcheck.reaches_the_client(_here())
    assert seen == {"task": True, "callback": False, "sync": True}


def _here() -> Any:
    """The frame of the caller, as a trace function is given it on its call."""
    return inspect.currentframe().f_back  # type: ignore[union-attr]
