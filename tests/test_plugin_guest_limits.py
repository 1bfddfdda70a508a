"""A test on the plugin's virtual time that sleeps next to nothing, or so little at a time that
its budget would take days of real time, fails as hung instead of running for ever."""

from __future__ import annotations

import pytest

from tests.test_plugin import run

pytest_plugins = ["pytester"]

SPINNERS = """
import time

import pytest

NA = "neuralanalog"


def wait(client, pause):  # a client with no timeout of its own, on a job that never ends
    audio_id = client.post("/from-link", json={"url": "https://e.com/a.wav"}).json()["audio_id"]
    while not client.get(f"/status/audio/{audio_id}").json()["is_complete"]:
        time.sleep(pause)


def spin(sleeps):
    for _ in range(sleeps):  # `while True` but for the failure of old code, which never ended
        time.sleep(0)
    pytest.fail(f"{sleeps} sleeps of 0 s and still running")


def test_spins_on_the_fixture(virtual_time):
    spin(25_000)


def test_spins_in_the_block(mockserver):
    with mockserver.virtual_time():
        spin(25_000)


@pytest.mark.mockserver_budget(sleeps=50)
def test_spins_under_a_marked_bound(virtual_time):
    spin(100)


@pytest.mark.mockserver_budget(wall_limit=0.3)
def test_polls_every_millisecond(mockserver, virtual_time):
    mockserver.queue(NA, "stalled")
    wait(mockserver.client(NA), 0.001)


@pytest.mark.mockserver_budget(wall_limit=0.3)
def test_polls_every_millisecond_in_the_block(mockserver):
    mockserver.queue(NA, "stalled")
    client = mockserver.client(NA)
    with mockserver.virtual_time():
        wait(client, 0.001)


def test_polite(mockserver, virtual_time):
    mockserver.queue(NA, "completed", after=600)
    wait(mockserver.client(NA), 10)
"""


def test_a_loop_sleeping_next_to_nothing_fails_as_hung(pytester: pytest.Pytester) -> None:
    """The plugin left the client check's bound on sleeps of next to nothing off (`while
    True: time.sleep(0)` never ended), and a stalled job polled every millisecond needed 86
    million requests to spend the 24 h budget."""
    result = run(pytester, SPINNERS)
    result.assert_outcomes(passed=1, failed=5)
    spun = (
        r"hung: slept {n} times in a row for 0 s in all \(a loop that sleeps next to nothing; "
        r"the bound is {n} sleeps averaging under 0.1 ms\)"
    )
    overdue = (
        r"hung: still running after 0.3 s of real time, sleeping \d+ times for [\d.]+ s of "
        r"virtual time in all \(.*\); neuralanalog job \S+ still in_progress"
    )
    result.stdout.re_match_lines(
        [spun.format(n=20000), spun.format(n=20000), spun.format(n=50), overdue, overdue],
        consecutive=False,
    )


def test_the_options_of_the_limits(pytester: pytest.Pytester) -> None:
    selected = ("-k", "on_the_fixture or polls_every_millisecond_in_the_block")
    result = run(
        pytester,
        SPINNERS.replace("wall_limit=0.3", "seconds=3600"),
        "--mockserver-spin-sleeps=30",
        "--mockserver-wall-limit=0.2",
        *selected,
    )
    result.assert_outcomes(failed=2)
    result.stdout.re_match_lines(
        [
            r"hung: slept 30 times in a row .*the bound is 30 sleeps",
            r"hung: still running after 0.2 s",
        ],
        consecutive=False,
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            "--mockserver-wall-limit=nan",
            "--mockserver-wall-limit: nan is not allowed; expected a number of real seconds above "
            "0 up to 3600 (an hour)",
        ),
        (
            "--mockserver-spin-sleeps=0",
            "--mockserver-spin-sleeps: 0 is not allowed; expected a whole number from 1 to 1000000",
        ),
    ],
)
def test_a_limit_out_of_bounds_is_refused(
    pytester: pytest.Pytester, option: str, message: str
) -> None:
    result = run(pytester, "def test_nothing(mockserver): pass", option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
