"""Virtual time of the pytest plugin counts the test's own requests, in-process: on a Redis
store a clock read no longer reads the store (which read the clock again, for ever), and a
thread an earlier test left behind polling no longer makes a later test `hasty`."""

from __future__ import annotations

import pytest

from tests.redis_servers import RedisServer, fresh_prefix
from tests.test_plugin import run

pytest_plugins = ["pytester"]

ON_VIRTUAL_TIME = """
import time

NA = "neuralanalog"


def poll(client):
    audio_id = client.post("/from-link", json={"url": "https://e.com/a.wav"}).json()["audio_id"]
    while not client.get(f"/status/audio/{audio_id}").json()["is_complete"]:
        time.sleep(5)


def test_the_fixture(mockserver, virtual_time):
    poll(mockserver.client(NA))
    assert virtual_time.slept >= 20


def test_the_block(mockserver):
    client = mockserver.client(NA)
    with mockserver.virtual_time() as virtual:
        poll(client)
    assert virtual.slept >= 20


def test_in_process(mockserver_asgi, virtual_time):
    poll(mockserver_asgi.client(NA))
"""


def test_virtual_time_on_a_redis_store(
    pytester: pytest.Pytester, redis_server: RedisServer
) -> None:
    """redis-py reads `time.monotonic()` as it opens a connection: the virtual clock, whose
    bound on requests read the journal's count from Redis, which opened a connection... a
    RecursionError at set-up and teardown of every test on virtual time."""
    store = f"{redis_server.url}?prefix={fresh_prefix()}"
    result = run(pytester, ON_VIRTUAL_TIME, f"--mockserver-store={store}")
    result.assert_outcomes(passed=3)


LEFT_BEHIND = """
import threading
import time

import httpx
import pytest

NA = "neuralanalog"
STOP = threading.Event()
MADE = []  # requests of the thread left behind
ENOUGH = threading.Event()


def poll_for_ever(url, headers, audio_id):
    with httpx.Client() as client:
        while not STOP.is_set():
            client.get(f"{url}/status/audio/{audio_id}", headers=headers)
            MADE.append(1)
            if len(MADE) >= 60:
                ENOUGH.set()


@pytest.mark.mockserver_allow_behaviour  # its thread polls without a pause, on purpose
def test_a_leaves_a_thread_polling(mockserver):
    client = mockserver.client(NA)
    audio_id = client.post("/from-link", json={"url": "https://e.com/a.wav"}).json()["audio_id"]
    args = (mockserver.base_url(NA), mockserver.headers(NA), audio_id)
    threading.Thread(target=poll_for_ever, args=args, daemon=True).start()


@pytest.mark.mockserver_budget(requests=20)
def test_b_reads_the_clock_while_it_polls(mockserver, virtual_time):
    try:
        MADE.clear()
        ENOUGH.clear()
        assert ENOUGH.wait(60), "the thread left behind stopped polling"  # 60 requests of A's
        time.monotonic()  # B made none: the clock stood still over A's requests alone
        assert mockserver.client(NA).get("/status/audio/nope").status_code == 404
    finally:
        STOP.set()
"""


def test_a_thread_left_behind_does_not_make_a_later_test_hasty(pytester: pytest.Pytester) -> None:
    """The bound on requests while the clock stands still counted every request the server
    got: B failed as `hasty` for requests made with A's key."""
    result = run(pytester, LEFT_BEHIND)
    result.assert_outcomes(passed=2)
