"""The client check's words and edges: a crash named, the clocks virtual time moves, a JSON
report a flow's prints cannot spoil, a module that cannot load, a cancelled stalled job, polls
after an end, an interrupt and a run that checked nothing."""

from __future__ import annotations

import _thread
import asyncio
import datetime
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mockserver.cli import main
from mockserver.clientcheck import CRASHED, HANDLED, HUNG, NOT_APPLICABLE, check_client
from mockserver.verdicts import HASTY, LINGERED
from tests import clients_neuralanalog as clients
from tests.pdfs import written_pdf

SAMPLES = "tests.clients_neuralanalog"
LINK = {"url": "https://example.com/a.mp3"}
GIVE_UP = 300.0  # the flows' own timeout, virtual seconds


def _na(base_url: str, api_key: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"X-API-Key": api_key})


def _nd(api_key: str) -> httpx.Client:
    return httpx.Client(headers={"Authorization": f"Bearer {api_key}"})


# --- 1. a crash named, with the findings beside it ----------------------------------------------


def test_a_crash_names_the_exception_and_the_refused_field() -> None:
    def malformed(base_url: str, api_key: str) -> Any:
        with _na(base_url, api_key) as http:
            http.post("/from-link", json={"uri": LINK["url"]}).raise_for_status()

    [row] = check_client("neuralanalog", malformed, only=["completed"]).rows
    assert row.verdict == CRASHED
    assert row.reason.startswith(
        "raised on a flow that could succeed: HTTPStatusError: Client error '422 Unprocessable "
        "Entity' for url"
    )
    assert row.reason.endswith(
        "; the API refused POST /from-link (422): body.url: Field required; body.uri: unknown "
        "field 'uri': not in the contract (the real service ignores it)"
    )
    assert row.raised is not None and "/from-link" in row.raised  # past the old 120 characters


def test_a_crash_on_its_own_bug_names_what_it_raised() -> None:
    def typo(base_url: str, api_key: str) -> None:
        with _na(base_url, api_key) as http:
            http.post("/from-link", json={}).json()["audio_id"]

    [row] = check_client("neuralanalog", typo, only=["failed"]).rows
    assert row.reason == (
        "raised before starting a job: KeyError: 'audio_id'; the API refused POST /from-link "
        "(422): body.url: Field required"
    )


def test_the_table_lists_the_findings_beside_a_crash() -> None:
    report = check_client("neuralanalog", clients.ignores_retry_after, only=["429"])
    [row] = report.rows
    assert row.verdict == CRASHED and row.behaviour[0]["verdict"] == HASTY
    assert row.reason.startswith("raised on a flow that could succeed: ServiceError: POST ")
    line = report.table().splitlines()[4]
    assert line.endswith(f"{row.reason}; also hasty: {row.behaviour[0]['reason']}")


# --- 2. which clocks are virtual ----------------------------------------------------------------


def _deadline_flow(now: Any, limit: float) -> Any:
    """Polls with a 2 s pause until completed or failed, up to `limit` on the clock `now()`."""

    def flow(base_url: str, api_key: str) -> str:
        with _na(base_url, api_key) as http:
            audio_id = http.post("/from-link", json=LINK).json()["audio_id"]
            deadline = now() + limit
            while (state := http.get(f"/status/audio/{audio_id}").json()["status"]) not in (
                "completed",
                "failed",
            ):
                if now() > deadline:
                    raise TimeoutError(f"{audio_id} still {state}")
                time.sleep(2)
            return audio_id

    return flow


@pytest.mark.parametrize("clock", ["monotonic_ns", "time_ns", "perf_counter_ns"])
def test_the_ns_clocks_are_virtual(clock: str) -> None:
    flow = _deadline_flow(
        lambda: getattr(time, clock)(), GIVE_UP * 1e9
    )  # read by name, as code does
    [row] = check_client("neuralanalog", flow, only=["stalled"]).rows
    assert row.verdict == HANDLED
    assert row.raised is not None and row.raised.startswith("TimeoutError")
    assert GIVE_UP <= row.virtual_seconds < GIVE_UP + 5


def test_a_timeout_on_a_real_clock_is_named_in_the_hung_reason() -> None:
    flow = _deadline_flow(datetime.datetime.now, datetime.timedelta(seconds=GIVE_UP))
    [row] = check_client("neuralanalog", flow, budget=600, only=["stalled"]).rows
    assert row.verdict == HUNG
    assert row.reason.endswith(
        "still in_progress; the code sleeping when it ran out read no clock virtual time "
        "moves, so it has no timeout (add one) or one on a clock virtual time does not move "
        "(datetime, asyncio.wait_for, asyncio.timeout, loop.time, a clock bound as a default "
        "argument), which never fires here"
    )


def test_an_asyncio_timeout_is_on_a_real_clock_too() -> None:
    async def flow(base_url: str, api_key: str) -> str:
        async with httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": api_key}) as http:
            audio_id = (await http.post("/from-link", json=LINK)).json()["audio_id"]
            async with asyncio.timeout(GIVE_UP):
                while (await http.get(f"/status/audio/{audio_id}")).json()["status"] != "completed":
                    await asyncio.sleep(2)
            return audio_id

    [row] = check_client("neuralanalog", flow, budget=600, only=["stalled"]).rows
    assert row.verdict == HUNG and "asyncio.wait_for, asyncio.timeout" in row.reason


def test_a_flow_waiting_on_real_time_is_told_so() -> None:
    def flow(base_url: str, api_key: str) -> None:
        with _na(base_url, api_key) as http:
            audio_id = http.post("/from-link", json=LINK).json()["audio_id"]
            while http.get(f"/status/audio/{audio_id}").json()["status"] != "completed":
                threading.Event().wait(0.05)  # real time: the job's clock stands still

    [row] = check_client("neuralanalog", flow, wall_limit=0.3, only=["completed"]).rows
    assert row.verdict == HUNG
    assert row.reason.endswith(
        "still in_progress; it never slept on virtual time, so its job's clock stood still: a "
        "wait on real time (threading.Event.wait, a lock's timeout, select) does not move it"
    )


def test_sleeping_nan_raises_what_python_raises() -> None:
    def flow(base_url: str, api_key: str) -> None:
        time.sleep(float("nan"))

    [row] = check_client("neuralanalog", flow, only=["completed"]).rows
    assert row.raised == "ValueError: Invalid value NaN (not a number)"


# --- 3. --json is the JSON document alone -------------------------------------------------------


def chatty(base_url: str, api_key: str) -> Any:
    """`robust`, printing as it goes."""
    print("starting", base_url)
    return clients.robust(base_url, api_key)


def test_json_output_is_not_spoilt_by_the_flows_prints(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["check-client", "--api", "neuralanalog", f"{__name__}:chatty", "--json"]
    assert main([*args, "--only", "completed"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["ok"] is True
    assert err.startswith("starting http://")


# --- 4. a module that cannot load ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("def f(:\n", "SyntaxError: invalid syntax ({path}:1)"),
        ("x = undefined_name\n", "NameError: name 'undefined_name' is not defined"),
        ("raise RuntimeError('boom')\n", "RuntimeError: boom"),
        ("import sys\nsys.exit(3)\n", "SystemExit: 3"),
    ],
)
def test_a_module_that_breaks_on_import_cannot_load(
    source: str,
    error: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    module = tmp_path / "broken_flow_module.py"
    module.write_text(source)
    monkeypatch.syspath_prepend(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["check-client", "--api", "neuralanalog", "broken_flow_module:flow"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "mockserver check-client: cannot load broken_flow_module:flow: "
        f"{error.format(path=module)} (see mockserver check-client --help)\n"
    )


# --- 5. a stalled job cancelled -----------------------------------------------------------------


def _cancelling(pause: float, then_polls: int = 0, error: type[Exception] = TimeoutError) -> Any:
    """Creates a Neural Draft image, polls it every `pause` s up to its timeout, cancels it,
    polls `then_polls` more times and raises `error`."""

    def flow(base_url: str, api_key: str) -> str:
        with _nd(api_key) as http:
            job = http.post(f"{base_url}/images", json={"prompt": "A fox"}).json()["id"]
            deadline = time.monotonic() + GIVE_UP
            while (state := http.get(f"{base_url}/jobs/{job}").json()["status"]) in (
                "pending",
                "processing",
            ):
                if time.monotonic() > deadline:
                    http.post(f"{base_url}/jobs/{job}/cancel").raise_for_status()
                    for _ in range(then_polls):
                        time.sleep(pause)
                        http.get(f"{base_url}/jobs/{job}")
                    raise error(f"{job} still {state}")
                time.sleep(pause)
            return state

    return flow


def test_a_stalled_job_cancelled_before_giving_up_is_handled() -> None:
    [row] = check_client("neuraldraft", _cancelling(5), only=["stalled"]).rows
    assert (row.verdict, row.jobs[0]["state"]) == (HANDLED, "cancelled")
    assert row.reason.startswith("gave up on its job, which never finishes, and ended it cancelled")


def test_a_stalled_job_cancelled_after_one_long_wait_is_handled() -> None:
    [row] = check_client("neuraldraft", _cancelling(GIVE_UP + 1), only=["stalled"]).rows
    assert row.verdict == HANDLED and row.requests == 4


def test_polls_of_a_cancelled_job_count_from_the_cancel() -> None:
    [row] = check_client("neuraldraft", _cancelling(5, then_polls=4), only=["stalled"]).rows
    assert row.verdict == HUNG
    assert row.reason.startswith("gave up only after asking 5 times about its job after it ended")


# --- 6. a few polls after the end are lingering on every row -----------------------------------


def lingers(base_url: str, api_key: str) -> str:
    """Reports the end it saw, after three more looks at the job."""
    with _na(base_url, api_key) as http:
        audio_id = http.post("/from-link", json=LINK).json()["audio_id"]
        while (status := http.get(f"/status/audio/{audio_id}").json())["status"] == "in_progress":
            time.sleep(2)
        for _ in range(3):
            time.sleep(2)
            http.get(f"/status/audio/{audio_id}")
        if status["status"] != "completed":
            raise RuntimeError(status["error_message"])
        return audio_id


def test_a_few_polls_after_the_end_linger_on_a_failure_too() -> None:
    report = check_client("neuralanalog", lingers, only=["completed", "failed"])
    assert {row.scenario: row.verdict for row in report.rows} == {
        "completed": LINGERED,
        "failed": LINGERED,
    }
    assert report.rows[1].reason.endswith("3 more times over 6 s after it was seen failed")


def test_a_few_polls_after_a_cancel_linger() -> None:
    def flow(base_url: str, api_key: str) -> str:
        with _nd(api_key) as http:
            job = http.post(f"{base_url}/images", json={"prompt": "A fox"}).json()["id"]
            while (state := http.get(f"{base_url}/jobs/{job}").json()["status"]) in (
                "pending",
                "processing",
            ):
                time.sleep(5)
            for _ in range(3):
                time.sleep(2)
                http.get(f"{base_url}/jobs/{job}")
            if state != "completed":
                raise RuntimeError(state)
            return job

    [row] = check_client("neuraldraft", flow, only=["cancelled"]).rows
    assert row.verdict == LINGERED


# --- 7. an interrupt, a run that checked nothing -----------------------------------------------


@pytest.fixture
def sigint_raises() -> Iterator[None]:
    """SIGINT as Python sets it up in a terminal (a background job may have it ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    before = set(threading.enumerate())  # a flow an earlier test left behind never ends
    yield
    signal.signal(signal.SIGINT, previous)
    for thread in set(threading.enumerate()) - before:  # the flow, interrupted as it ended
        if thread.name == "clientcheck":
            thread.join()


def interrupts(base_url: str, api_key: str) -> None:
    """Ctrl-C while the flow runs: the main thread gets it once the flow is done."""
    _thread.interrupt_main()


@pytest.mark.usefixtures("sigint_raises")
def test_an_interrupt_is_one_line_and_exit_130(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["check-client", "--api", "neuralanalog", f"{__name__}:interrupts"]
    assert main([*args, "--only", "completed"]) == 130
    assert capsys.readouterr() == ("", "mockserver check-client: interrupted\n")


def one_document(base_url: str, api_key: str) -> Any:
    """A NeuroLinker extraction of one document: a `partial` cannot be made of it."""
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}) as http:
        files = [("documents", ("a.pdf", written_pdf("Invoice 1"), "application/pdf"))]
        http.post("/v1/extract", files=files, data={"form": "{}"}).raise_for_status()


def test_a_run_of_not_applicable_rows_alone_checked_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["check-client", "--api", "neurolinker", f"{__name__}:one_document"]
    assert main([*args, "--only", "partial"]) == 2
    out = capsys.readouterr().out
    assert NOT_APPLICABLE in out
    assert out.endswith(
        "\nnothing was checked: no scenario run applies to this flow; not applicable: partial\n"
    )
