"""A contract violation outlives the journal's ring: a test that polls a long job after its bad
request still errors at teardown."""

from __future__ import annotations

import pytest

from tests.test_plugin import run

pytest_plugins = ["pytester"]

LONG_POLL = """
import time

import pytest

NA = "neuralanalog"


def create_then_poll(mockserver, after):
    mockserver.queue(NA, "completed", after=after)
    client = mockserver.client(NA)
    sent = {"url": "https://e.com/a.wav", "callback_url": "https://me/hook"}  # unknown field
    audio_id = client.post("/from-link", json=sent).json()["audio_id"]
    while not client.get(f"/status/audio/{audio_id}").json()["is_complete"]:
        time.sleep(1)  # the API's pace


def test_long(mockserver, virtual_time):  # 100 polls: the journal keeps 20 entries
    create_then_poll(mockserver, 100)
    assert len(mockserver.journal) == 20
    assert [v["pointer"] for v in mockserver.violations] == ["/body/callback_url"]


def test_short(mockserver, virtual_time):
    create_then_poll(mockserver, 10)


@pytest.mark.mockserver_allow_violations
def test_allowed(mockserver, virtual_time):
    create_then_poll(mockserver, 100)
"""


def test_a_violation_outlives_the_journal_ring(pytester: pytest.Pytester) -> None:
    """Once the test's polls had pushed its bad create out of the journal, its teardown found
    no violation and the test passed."""
    pytester.makefile(".yaml", small="journal_size: 20\n")
    result = run(pytester, LONG_POLL, "--mockserver-config=small.yaml")
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_long*",
            "requests of this test broke the API contract (1 violation):",
            "  neuralanalog POST /from-link (*): /body/callback_url: *",
            "*ERROR at teardown of test_short*",
        ],
        consecutive=False,
    )
