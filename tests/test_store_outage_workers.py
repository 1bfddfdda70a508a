"""A worker that starts while the shared store cannot be reached (Redis down as the supervisor
replaces a worker) answers each API's 503 in its own format, as every worker does during an
outage, and becomes a whole worker once the store is back. It used to die with a traceback in
its start-up, be started again, and die again (7 deaths, 24 tracebacks in 10 s), while the
clients its socket held got no answer. And the start-up line of `serve --workers` waits for
the workers: it used to come before any of them served."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import ServerConfig, apis, create_app
from mockserver.live import free_port
from mockserver.stores import StoreError
from mockserver.workers import StoreAwaited
from tests.conftest import ConformanceCheck
from tests.redis_servers import RedisServer, fresh_prefix
from tests.server_processes import START_SECONDS

KEY = "outage-key"
# one request of each API that reads the store, and what its error body holds
REQUESTS = {
    "neuralanalog": ("/neuralanalog/status/audio/missing", "detail"),
    "camb": ("/camb/apis/audio-separation/1", "detail"),
    "neurolinker": ("/neurolinker/api/v1/request-status/missing", "detail"),
    "neuraldraft": ("/neuraldraft/v1/jobs/job_missing", "code"),
}
UNAVAILABLE = "The mock's state store is unavailable: store redis at 127.0.0.1:"


def headers(api: str) -> dict[str, str]:
    service = apis.service_class(api)
    return service.auth_headers(service.api_key(KEY))


def assert_unavailable(get: Callable[..., httpx.Response]) -> None:
    """Each API's 503 in its own format, with the request's ID; the admin API's too."""
    for api, (path, field) in REQUESTS.items():
        answer = get(path, headers={**headers(api), "Connection": "close"})
        assert answer.status_code == 503, (api, answer.text)
        assert field in answer.json() and UNAVAILABLE in answer.text, (api, answer.text)
        assert answer.headers["x-request-id"].startswith("req_")
    admin = get("/__mock__/clock", headers={"Connection": "close"})
    assert admin.status_code == 503 and UNAVAILABLE in admin.json()["error"], admin.text


def test_a_worker_without_its_store_answers_as_during_any_outage(
    own_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    config = ServerConfig(clock="manual", store=f"{own_redis_server.url}?prefix={fresh_prefix()}")
    own_redis_server.kill()
    with pytest.raises(StoreError) as failed:
        create_app(config)  # what a worker's start-up met
    with caplog.at_level(logging.WARNING, logger="mockserver"):
        awaited = StoreAwaited(config, failed.value, retry=3600)  # no second attempt here
        check = ConformanceCheck(awaited)
        with TestClient(check) as client:
            assert_unavailable(client.get)
    assert not awaited.ready
    check.assert_clean()
    assert not any(record.exc_info for record in caplog.records)
    (started, *_) = [record.getMessage() for record in caplog.records]
    assert "the store cannot be reached" in started and "answers 503" in started, started


def await_output(
    log: Path,
    text: str,
    process: subprocess.Popen[bytes],
    act: Callable[[], object],
    times: int = 1,
) -> str:
    """The server's output once `text` is in it `times` times (once per worker, say), doing
    `act` meanwhile: a real process must start (or be reached by a request), bounded by
    START_SECONDS."""
    deadline = time.monotonic() + START_SECONDS
    while (output := log.read_text()).count(text) < times:
        assert process.poll() is None, output[-3000:]
        assert time.monotonic() < deadline, f"no {text!r} in:\n{output[-3000:]}"
        act()
        time.sleep(0.05)  # polling a real process's output, not waiting for a state
    return output


def test_workers_started_during_an_outage_serve_503s_then_the_store(
    own_redis_server: RedisServer, tmp_path: Path
) -> None:
    port = free_port()
    store = f"{own_redis_server.url}?prefix={fresh_prefix()}"
    command = [sys.executable, "-m", "mockserver.cli", "serve", "--port", str(port)]
    command += ["--store", store, "--clock", "manual", "--workers", "2"]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        # the parent reached the store and starts its workers: they will not reach it
        await_output(log, "Started parent process", process, lambda: None)
        own_redis_server.kill()
        started = await_output(log, "mockserver on ", process, lambda: None)
        # printed once both workers serve (each an app refusing, as during any outage)
        before = started[: started.index("mockserver on ")]
        assert before.count("Application startup complete.") == 2, started
        assert before.count("the store cannot be reached") == 2, started
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=START_SECONDS) as client:
            assert_unavailable(client.get)
            own_redis_server.start()  # on its port again

            def poll() -> None:
                client.get(REQUESTS["camb"][0], headers={**headers("camb"), "Connection": "close"})

            # each worker tries the store again as a request reaches it: both, before every
            # request may find a whole worker
            await_output(log, "the store answers: serving", process, poll, times=2)
            for api, (path, _) in REQUESTS.items():
                again = client.get(path, headers={**headers(api), "Connection": "close"})
                assert again.status_code == 404, (api, again.text)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=START_SECONDS)
    output = log.read_text()
    assert "Traceback" not in output, output[-3000:]
    assert " died" not in output, output[-3000:]  # no worker was started again
