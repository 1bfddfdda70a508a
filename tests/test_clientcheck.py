"""The client check: the right verdict for robust and fragile Neural Analog clients, the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mockserver.cli import main
from mockserver.clientcheck import (
    CRASHED,
    HANDLED,
    HUNG,
    MAX_STILL,
    WALL_LIMIT,
    WRONG,
    Report,
    check_client,
)
from mockserver.verdicts import HASTY
from tests import clients_neuralanalog as clients

ROWS = ["completed", "failed", "latency", "429", "500", "503", "reset", "stalled", "variety"]
BUDGET = 600.0  # virtual seconds: well past the clients' own 300 s timeout


@pytest.fixture(autouse=True)
def stacks_of_a_hang() -> Iterator[None]:
    """A row stopped at its wall limit (60 s) is a flow blocked in real time; where each
    thread stood then is written to the test's output, so a rare hang in a full run says why
    (twice a flow sat in its first poll for a minute, never alone)."""
    faulthandler.dump_traceback_later(WALL_LIMIT - 15, exit=False)
    yield
    faulthandler.cancel_dump_traceback_later()


def verdicts(report: Report) -> dict[str, str]:
    return {row.scenario: row.verdict for row in report.rows}


def not_handled(report: Report) -> dict[str, str]:
    return {row.scenario: row.verdict for row in report.rows if row.verdict != HANDLED}


def test_robust_client_is_handled_everywhere() -> None:
    report = check_client("neuralanalog", clients.robust, budget=BUDGET)
    assert [row.scenario for row in report.rows] == ROWS
    assert report.ok, report.table()
    rows = {row.scenario: row for row in report.rows}
    assert rows["completed"].returned is not None and "bytes" in rows["completed"].returned
    assert rows["failed"].raised.startswith("JobFailed: Source audio is no longer available")
    assert rows["stalled"].raised.startswith("TimeoutError")
    assert rows["stalled"].virtual_seconds >= 300  # gave up on its own timeout
    assert rows["429"].virtual_seconds >= 10  # waited out two 5 s windows
    assert rows["latency"].virtual_seconds > rows["completed"].virtual_seconds
    assert all(len(row.jobs) == 1 for row in report.rows)  # no retry made a duplicate
    assert rows["500"].requests > rows["completed"].requests  # the retries are counted


def test_client_ignoring_retry_after_crashes_on_429_and_is_hasty_on_503() -> None:
    report = check_client("neuralanalog", clients.ignores_retry_after, budget=BUDGET)
    assert not_handled(report) == {"429": CRASHED, "503": HASTY}
    row = next(row for row in report.rows if row.scenario == "429")
    assert row.raised.startswith("ServiceError")
    assert row.requests == 3 and row.virtual_seconds < 5  # all inside the window
    assert row.jobs == []
    assert row.behaviour[0]["verdict"] == HASTY  # listed beside the outcome verdict
    hasty = next(row for row in report.rows if row.scenario == "503")
    assert "after a 503 that said Retry-After: 2" in hasty.reason


def test_client_taking_an_unknown_status_for_success_is_wrong_on_variety() -> None:
    report = check_client("neuralanalog", clients.unknown_status_is_success, budget=BUDGET)
    assert not_handled(report) == {"variety": WRONG}
    row = next(row for row in report.rows if row.scenario == "variety")
    assert "claimed success while its job was still in_progress" in row.reason


def test_client_returning_on_a_failure_is_wrong() -> None:
    report = check_client("neuralanalog", clients.failure_is_success, only=["completed", "failed"])
    assert verdicts(report) == {"completed": HANDLED, "failed": WRONG}
    assert "ended failed" in report.rows[1].reason


def test_client_polling_an_ended_job_until_its_timeout_hangs() -> None:
    report = check_client("neuralanalog", clients.waits_for_completed, only=["failed", "stalled"])
    assert verdicts(report) == {"failed": HUNG, "stalled": HANDLED}
    assert "after it ended failed" in report.rows[0].reason


def test_client_that_never_gives_up_hangs_at_the_budget() -> None:
    report = check_client(
        "neuralanalog", clients.never_gives_up, budget=200, only=["completed", "stalled"]
    )
    assert verdicts(report) == {"completed": HANDLED, "stalled": HUNG}
    stalled = report.rows[1]
    assert stalled.did == "still waiting when the 200 s virtual budget ran out"
    assert re.fullmatch(
        r"still waiting when the 200 s virtual budget ran out; neuralanalog job \S+ still \w+; "
        r"the code sleeping when it ran out reads the virtual clock, .*",
        stalled.reason,
    )
    assert stalled.virtual_seconds == 200


def test_client_polling_without_sleeping_is_hasty_and_its_twin_handled(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["check-client", "--api", "neuralanalog", "tests.clients_neuralanalog:never_sleeps"]
    assert main([*args, "--json", "--only", "completed,failed"]) == 1
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert {row["scenario"]: row["verdict"] for row in rows} == {
        "completed": HASTY,
        "failed": HASTY,
    }
    for row in rows:
        [finding] = row["behaviour"]
        assert finding["polls"] == MAX_STILL and finding["too_fast"] == MAX_STILL - 1
        assert finding["intervals"] == [0.0] * 10 and finding["pace"] == 1
        assert row["requests"] == MAX_STILL + 1  # the import, then the polls
        assert row["reason"] == (
            f"polled job {finding['job']} {MAX_STILL} times, {MAX_STILL - 1} of them less than "
            f"1 s apart (shortest 0 s); stopped: made {MAX_STILL + 1} requests without the "
            f"clock moving (a loop that never sleeps; the bound is {MAX_STILL})"
        )
        assert row["virtual_seconds"] == 0 and row["jobs"][0]["state"] == "in_progress"
    twin = check_client("neuralanalog", clients.robust, only=["completed", "failed"])
    assert verdicts(twin) == {"completed": HANDLED, "failed": HANDLED}


def test_client_that_never_ends_nor_asks_hangs_at_the_wall_limit() -> None:
    report = check_client("neuralanalog", clients.waits_forever, wall_limit=0.3, only=["completed"])
    assert verdicts(report) == {"completed": HUNG}
    [row] = report.rows
    assert row.did == "still running after 0.3 s of real time"
    assert row.reason == "still running after 0.3 s of real time; no job was started"
    assert (row.requests, row.behaviour) == (0, [])


def test_client_spinning_on_anything_without_sleeping_is_hasty() -> None:
    def spins(base_url: str, api_key: str) -> None:
        """Sends without ever sleeping, and swallows every error."""
        with httpx.Client(base_url=base_url, headers={"X-API-Key": api_key}) as http:
            while True:
                with contextlib.suppress(Exception):  # what a careless client does
                    http.get("/download-archive")

    [row] = check_client("neuralanalog", spins, only=["completed"]).rows
    assert row.verdict == HASTY
    assert row.reason.startswith(
        f"sent {MAX_STILL + 1} requests without sleeping, {MAX_STILL} of them 0 s apart "
        f"(most: GET /download-archive, {MAX_STILL + 1} times); stopped: made"
    )
    assert row.behaviour[0]["requests"] == MAX_STILL + 1


def test_client_crashing_on_its_own_bug() -> None:
    def typo(base_url: str, api_key: str) -> None:
        created = httpx.post(f"{base_url}/from-link", headers={"X-API-Key": api_key}, json={})
        created.json()["audio_id"]  # 422: no audio_id in the answer

    report = check_client("neuralanalog", typo, only=["completed", "failed"])
    assert verdicts(report) == {"completed": CRASHED, "failed": CRASHED}
    assert report.rows[1].reason.startswith("raised before starting a job")


def test_async_client_runs_on_virtual_time() -> None:
    async def flow(base_url: str, api_key: str) -> str:
        async with httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": api_key}) as http:
            audio_id = (await http.post("/from-link", json={"url": "https://x/a.mp3"})).json()[
                "audio_id"
            ]
            while (status := (await http.get(f"/status/audio/{audio_id}")).json())[
                "status"
            ] == "in_progress":
                await asyncio.sleep(5)
            if status["status"] != "completed":
                raise RuntimeError(status["error_message"])
            return audio_id

    report = check_client("neuralanalog", flow, only=["completed", "failed"])
    assert verdicts(report) == {"completed": HANDLED, "failed": HANDLED}, report.table()
    assert report.rows[0].virtual_seconds == 20


def test_report_table_and_json() -> None:
    report = check_client("neuralanalog", clients.failure_is_success, only=["failed"])
    table = report.table()
    assert "scenario  verdict  virtual  requests  client did" in table
    assert "1 of 1 scenarios not handled: failed (wrong)" in table
    data = json.loads(report.to_json())
    assert data["ok"] is False
    assert data["rows"][0]["verdict"] == WRONG


# --- the CLI ------------------------------------------------------------------------------------

SAMPLES = "tests.clients_neuralanalog"


def test_cli_exit_code_zero_when_all_handled(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["check-client", "--api", "neuralanalog", f"{SAMPLES}:robust", "--only", "429,reset"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"client check: {SAMPLES}:robust against neuralanalog" in out
    assert "all 2 scenarios handled" in out


def test_cli_json_and_non_zero_exit(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["check-client", "--api", "neuralanalog", f"{SAMPLES}:ignores_retry_after"]
    assert main([*args, "--json", "--only", "completed,429"]) == 1
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert data["client"] == f"{SAMPLES}:ignores_retry_after"
    assert {row["scenario"]: row["verdict"] for row in data["rows"]} == {
        "completed": HANDLED,
        "429": CRASHED,
    }


@pytest.mark.parametrize("function", ["no_such_module_here:flow", f"{SAMPLES}:nope", "no-colon"])
def test_cli_refuses_a_function_it_cannot_load(
    function: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["check-client", "--api", "neuralanalog", function])
    assert exited.value.code == 2
    assert capsys.readouterr().err.startswith(f"mockserver check-client: cannot load {function}: ")


def test_cli_only_takes_words_in_any_case(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["check-client", "--api", "neuralanalog", f"{SAMPLES}:robust", "--only", "COMPLETED"]
    assert main(args) == 0
    assert "all 1 scenarios handled" in capsys.readouterr().out


def test_cli_refuses_an_unknown_only_word(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["check-client", "--api", "camb", f"{SAMPLES}:robust", "--only", "timeout,nope"]
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--only: unknown scenario nope; known: SUCCESS, ERROR, TIMEOUT, PAYMENT_REQUIRED" in err


def test_wrong_names_the_job_the_client_acted_on() -> None:
    def second_job(base_url: str, api_key: str) -> str:
        headers = {"X-API-Key": api_key}
        ids = [
            httpx.post(
                f"{base_url}/from-link", headers=headers, json={"url": f"https://x/{n}"}
            ).json()["audio_id"]
            for n in range(2)
        ]
        httpx.get(f"{base_url}/status/audio/{ids[1]}", headers=headers)
        return ids[1]  # claims success at once, on the second import

    [row] = check_client("neuralanalog", second_job, only=["completed"]).rows
    assert row.verdict == WRONG
    assert row.reason.endswith(f"still in_progress ({row.jobs[1]['id'][:8]}…)")


def test_reasons_keep_their_last_word() -> None:
    report = check_client("neuralanalog", clients.waits_for_completed, only=["failed"])
    reason = report.rows[0].reason
    assert reason.startswith("gave up only after asking") and len(reason) > 70
    assert reason.split()[-1] in report.table()


@pytest.mark.parametrize(
    ("budget", "shown"),
    [
        ("nan", "nan"),
        ("inf", "inf"),
        ("0", "0.0"),
        ("-5", "-5.0"),
        ("1e300", "1e+300"),
        ("soon", "'soon'"),
    ],
)
def test_cli_refuses_a_budget_that_never_ends_or_never_starts(
    budget: str, shown: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """NaN and infinity let a client that never stops polling run until the wall limit of
    every row; 0 used to mean the default, and a negative budget called every client hung."""
    args = ["check-client", "--api", "neuralanalog", f"{SAMPLES}:robust", f"--budget={budget}"]
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        f"mockserver check-client: argument --budget: {shown} is not allowed; expected a "
        "number of seconds above 0 up to 31536000 (a year) (see mockserver check-client --help)\n"
    )


@pytest.mark.parametrize(
    ("option", "value"),
    [("budget", float("nan")), ("budget", 0), ("wall_limit", float("inf")), ("wall_limit", -1)],
)
def test_check_client_refuses_limits_that_never_end(option: str, value: float) -> None:
    with pytest.raises(ValueError, match="is not allowed"):
        check_client("neuralanalog", clients.robust, **{option: value})
