"""The plugin as a guest project configures and runs it: failures it reports (hung, hasty) read
the same on every store, its server is the loopback one whatever the config's host, a config
mistake is told in one line, its clients are closed, and its end is not held by a request."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.redis_servers import RedisServer, fresh_prefix
from tests.test_plugin import run

pytest_plugins = ["pytester"]

ROOT = Path(__file__).parent.parent

STOPPED = """
import time

import re

import pytest


@pytest.mark.mockserver_budget(sleeps=200)  # the docs' example, with a short bound: each
def test_spins_on_sleep0(virtual_time):  # sleep reads the clock from Redis
    while True:
        time.sleep(0)


@pytest.mark.mockserver_budget(seconds=3600)
def test_a_stream_that_never_ends(mockserver, virtual_time):
    mockserver.queue("neuraldraft", "stalled")
    client = mockserver.client("neuraldraft")
    job_id = client.post("/blog-posts", json={"type": "ai", "topic": "Cold brew"}).json()["id"]
    with client.stream("GET", f"/jobs/{job_id}/stream") as stream:
        events = [line[7:] for line in stream.iter_lines() if line.startswith("event: ")]
    assert events[-1] == "done"


@pytest.mark.mockserver_budget(requests=20)
def test_never_sleeps(mockserver, virtual_time):
    client = mockserver.client("neuralanalog")
    audio_id = client.post("/from-link", json={"url": "https://e.com/a.wav"}).json()["audio_id"]
    while not client.get(f"/status/audio/{audio_id}").json()["is_complete"]:
        pass
"""


def test_hung_and_hasty_read_the_same_on_a_redis_store(
    pytester: pytest.Pytester, redis_server: RedisServer
) -> None:
    """The reasons read the store on the test's spent virtual time: redis-py reads the clock,
    which raised again, and the user saw 80 lines of OutOfTime tracebacks instead of them."""
    store = f"{redis_server.url}?prefix={fresh_prefix()}"
    result = run(pytester, STOPPED, f"--mockserver-store={store}")
    result.assert_outcomes(failed=3)
    result.stdout.re_match_lines(
        [
            r"hung: slept 200 times in a row for 0 s in all \(.*\); no job was started",
            r"_+ test_a_stream_that_never_ends _+",
            r"hung: the event stream of job \S+ was still waiting when the 3600 s virtual "
            r"budget ran out; neuraldraft job \S+ still processing",
            r"_+ test_never_sleeps _+",
            r"hasty: polled job \S+ 20 times, 19 of them less than 1 s apart \(shortest 0 s\); "
            r"made 21 requests without the clock moving .*",
        ],
        consecutive=True,
    )
    assert "OutOfTime" not in result.stdout.str()


ADMIN = """
import httpx


def test_the_admin_api_answers(mockserver):
    assert mockserver.url.startswith("http://127.0.0.1:")
    assert httpx.get(mockserver.url + "/__mock__/clock").status_code == 200
    assert httpx.post(mockserver.url + "/__mock__/strict", json={"strict": False}).is_success
"""


def test_a_config_host_beyond_loopback_leaves_the_admin_api_open(
    pytester: pytest.Pytester,
) -> None:
    """`host: 0.0.0.0` made the admin API require a token, which the plugin prints nowhere:
    every admin call of the test was a 401. The plugin's server is on loopback, as documented."""
    pytester.makefile(".yaml", mock="host: 0.0.0.0\nport: 9\n")
    run(pytester, ADMIN, "--mockserver-config=mock.yaml").assert_outcomes(passed=1)
    pytester.makeconftest(
        """
        import pytest
        from mockserver import ServerConfig


        @pytest.fixture(scope="session")
        def mockserver_config():
            return ServerConfig(host="0.0.0.0")
        """
    )
    run(pytester, ADMIN).assert_outcomes(passed=1)


MANUAL_AT_SCALE = "clock: manual\ntime_scale: 60\n"
ADVANCE = "which moves only by POST /__mock__/clock/advance"


def test_a_time_scale_beside_a_manual_clock_in_the_config_file_is_a_usage_error(
    pytester: pytest.Pytester,
) -> None:
    """It errored every test at set-up, in a 66-line traceback: only the file's fields were
    checked at start, not a time scale beside a manual clock."""
    pytester.makefile(".yaml", mock=MANUAL_AT_SCALE)
    result = run(pytester, "def test_it(mockserver):\n    pass\n", "--mockserver-config=mock.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: --mockserver-config: mock.yaml: time_scale: 60 means nothing on a manual "
            f"clock (clock: manual), {ADVANCE}"
        ]
    )
    pytester.makefile(".yaml", mock="clock: system\ntime_scale: 60\n")  # the plugin's: ignored
    run(pytester, ADMIN, "--mockserver-config=mock.yaml").assert_outcomes(passed=1)


def test_a_time_scale_beside_a_manual_clock_in_code_is_a_one_line_setup_error(
    pytester: pytest.Pytester,
) -> None:
    """A `mockserver_config` fixture saying it was accepted without a word."""
    pytester.makeconftest(
        """
        import pytest
        from mockserver import ServerConfig


        @pytest.fixture(scope="session")
        def mockserver_config():
            return ServerConfig(clock="manual", time_scale=60)
        """
    )
    result = run(pytester, "def test_it(mockserver):\n    pass\n")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "_* ERROR at setup of test_it _*",
            f"mockserver_config: time_scale: 60 means nothing on a manual clock (clock: manual), "
            f"{ADVANCE}",
            "=* short test summary info =*",
        ],
        consecutive=True,
    )


ASYNC_CLIENT = """
import asyncio
import gc

NA = "neuralanalog"


def test_an_async_client_left_open(mockserver):
    async def create():
        client = mockserver.async_client(NA)  # no `async with`
        response = await client.post("/from-link", json={"url": "https://e.com/a.wav"})
        return response.status_code

    assert asyncio.run(create()) == 200


def test_later_and_unrelated():
    gc.collect()
"""


def test_an_async_client_left_open_leaks_no_socket(pytester: pytest.Pytester) -> None:
    """Its socket was left to the garbage collector: under `-W error` the ResourceWarning
    failed a later test that had nothing to do with it."""
    run(pytester, ASYNC_CLIENT, "-W", "error").assert_outcomes(passed=2)


WAITING = """
import httpx
import re

import pytest


def test_gives_up_on_a_slow_answer(mockserver):
    client = mockserver.client("neuralanalog", timeout=0.2)
    with pytest.raises(httpx.ReadTimeout):  # the server goes on waiting 30 s for it
        client.post("/from-link", json={"url": "https://e.com/a.wav"})
"""


def test_a_request_waiting_in_real_time_does_not_hold_the_session_end(
    pytester: pytest.Pytester,
) -> None:
    """With `latency_moves_clock: false` a latency fault waits in real time; stopping the
    server waited 10 s for that request, which nobody awaited any more."""
    pytester.makefile(
        ".yaml",
        mock="latency_moves_clock: false\nfaults:\n  - {fault: latency, delay: 30}\n",
    )
    result = run(
        pytester, WAITING, "--mockserver-config=mock.yaml", "--durations=0", "--durations-min=0"
    )
    result.assert_outcomes(passed=1)
    [teardown] = re.findall(r"([\d.]+)s teardown +test_user.py::", result.stdout.str())
    assert float(teardown) < 5  # the server stops within its grace, not after 10 s


def test_check_client_keeps_hypothesis_files_in_the_user_cache(tmp_path: Path) -> None:
    """Its variety row draws with Hypothesis, whose Unicode table was left in `.hypothesis/`
    of the directory the command ran in; `mockserver serve` kept it in the user's cache."""
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_STORAGE_DIRECTORY"}
    env |= {"XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(ROOT)}
    flow = "tests.clients_neuralanalog:robust"
    argv = ["check-client", "--api", "neuralanalog", flow, "--only", "variety"]
    done = subprocess.run(
        [sys.executable, "-m", "mockserver.cli", *argv],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(work.iterdir()) == []
    assert (cache / "asyncjob-mockserver" / "hypothesis").is_dir()
