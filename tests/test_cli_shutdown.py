"""`mockserver serve` stopped by SIGINT (Ctrl-C) or SIGTERM: exit status 0, no traceback,
whether one process or `--workers` serves, whether requests are open or a store is being
opened. One process used to die of the signal (SIGTERM) or print a CancelledError, then a
KeyboardInterrupt traceback (SIGINT); a request still open after the shutdown's 2 seconds was
logged as `Exception in ASGI application` and answered uvicorn's plain-text 500."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from mockserver.live import free_port
from tests.server_processes import START_SECONDS, ServerProcess
from tests.webhook_receiver import Receiver

ND = "/neuraldraft/v1"
WAITING = "waiting"  # the key whose requests a latency fault holds
STREAMING = "streaming"


def stopped(server: ServerProcess, number: signal.Signals) -> tuple[int, str]:
    """Send `number` to the server's (or the supervisor's) process: its exit status and
    everything it wrote, read to the end."""
    assert server.process is not None
    server.process.send_signal(number)
    out, _ = server.process.communicate(timeout=START_SECONDS)
    return server.process.returncode, out


def raw(server: ServerProcess, key: str, path: str) -> socket.socket:
    """A Neural Draft GET sent on a connection of its own, its answer left to read."""
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=START_SECONDS)
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in server.headers("neuraldraft", key).items()]
    connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return connection


def rest_of(connection: socket.socket) -> bytes:
    """What the server sends until it closes the connection (a reset ends it too)."""
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    connection.close()
    return received


def held_by_the_fault(server: ServerProcess) -> bool:
    """Whether the latency fault has fired: its request is in the app, waiting."""
    rules = server.request("GET", "/__mock__/faults").json()["faults"]
    return any(rule["fired"] for rule in rules)


def held_request(server: ServerProcess) -> socket.socket:
    """A request of its own held by a 60 s latency fault, once the server holds it: a
    shutdown must close it after its grace, unanswered."""
    tenant = server.headers("neuraldraft", WAITING)["Authorization"].removeprefix("Bearer ")
    fault = {"fault": "latency", "api": "neuraldraft", "tenant": tenant, "delay": 60}
    assert server.request("POST", "/__mock__/faults", json=fault).status_code == 201
    waiting = raw(server, WAITING, f"{ND}/jobs/job_missing")
    deadline = time.monotonic() + START_SECONDS
    while not held_by_the_fault(server):  # each look is a round trip: no sleep
        assert time.monotonic() < deadline, "the delayed request never reached the fault"
    return waiting


@pytest.mark.parametrize(
    ("number", "flags"),
    [
        (signal.SIGTERM, ()),
        (signal.SIGINT, ()),
        (signal.SIGTERM, ("--workers", "2")),
    ],
)
def test_open_requests_are_closed_after_the_shutdowns_grace(
    servers: list[ServerProcess], tmp_path: Path, number: signal.Signals, flags: tuple[str, ...]
) -> None:
    server = ServerProcess(f"sqlite:///{tmp_path / 'state.db'}", *flags).start()
    servers.append(server)
    made = server.request(
        "POST",
        f"{ND}/blog-posts",
        headers=server.headers("neuraldraft", STREAMING),
        json={"type": "ai", "topic": "Tea"},
    )
    assert made.status_code == 202, made.text
    stream = raw(server, STREAMING, f"{ND}/jobs/{made.json()['id']}/stream")
    assert stream.recv(4096).startswith(b"HTTP/1.1 200 OK")  # streaming: its answer began
    waiting = held_request(server)
    status, out = stopped(server, number)
    assert status == 0, out
    assert "Traceback" not in out and "Exception in ASGI application" not in out, out
    assert rest_of(waiting) == b""  # closed: no answer, least of all uvicorn's text/plain 500
    assert b"500 Internal Server Error" not in rest_of(stream)


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_nothing_is_open_ends_serve_with_status_0(
    servers: list[ServerProcess], number: signal.Signals
) -> None:
    server = ServerProcess("memory").start()
    servers.append(server)
    assert server.request("GET", "/__mock__/health").status_code == 200
    status, out = stopped(server, number)
    assert (status, "Traceback" in out) == (0, False), out


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_the_store_is_opened_ends_serve_with_status_0(
    number: signal.Signals,
) -> None:
    """A Redis that accepts the connection and never answers: `serve` waits in its first
    command, before any line is printed."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        command = [sys.executable, "-m", "mockserver.cli", "serve", "--port", str(free_port())]
        command += ["--store", f"redis://127.0.0.1:{port}/0"]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            silent.settimeout(START_SECONDS)
            connection, _ = silent.accept()  # the store is being opened
            os.kill(process.pid, number)
            out, _ = process.communicate(timeout=START_SECONDS)
            connection.close()
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert (process.returncode, out) == (0, "")


def test_a_second_ctrl_c_forces_the_quit_without_a_traceback(
    servers: list[ServerProcess],
) -> None:
    """uvicorn's log invites it, `(CTRL+C to force quit)`: the quit skipped the lifespan's
    shutdown, whose task, cancelled as the loop closed, was logged as a failed shutdown with
    the traceback of a `Stopped` and a CancelledError."""
    server = ServerProcess("memory").start()
    servers.append(server)
    waiting = held_request(server)
    assert server.process is not None and server.process.stdout is not None
    server.process.send_signal(signal.SIGINT)
    seen = []
    for line in server.process.stdout:  # the server ends within its grace: no wait for ever
        seen.append(line)
        if "(CTRL+C to force quit)" in line:
            break
    else:
        raise AssertionError(f"no invitation to force the quit: {''.join(seen)}")
    status, out = stopped(server, signal.SIGINT)
    assert status == 0, out
    assert "Traceback" not in out and "Error" not in out, out
    assert rest_of(waiting) == b""  # closed at once: no answer, least of all a 500


def script(code: str) -> str:
    """`code` run as the console script `mockserver` runs: its entry point as pyproject.toml
    declares it, imported after `code`, then called for its exit status."""
    import tomllib

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    module, function = project["project"]["scripts"]["mockserver"].split(":")
    return f"{code}\nfrom {module} import {function}\nsys.exit({function}())\n"


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_the_command_imports_the_server_ends_it_with_status_0(
    number: signal.Signals,
) -> None:
    """Importing the server takes a tenth of a second, before `serve` ran: SIGINT then was a
    KeyboardInterrupt traceback, SIGTERM a death by the signal. The signal is sent by the
    import of `mockserver.workers`, one of the server's modules, as it begins."""
    sends = f"""
import os, signal, sys

class SendsTheSignal:
    def find_spec(self, name, path=None, target=None):
        if name == "mockserver.workers":
            os.kill(os.getpid(), signal.{number.name})
        return None

sys.meta_path.insert(0, SendsTheSignal())
"""
    command = [sys.executable, "-c", script(sends), "serve", "--port", str(free_port())]
    done = subprocess.run(command, capture_output=True, text=True, timeout=START_SECONDS)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_a_signal_as_the_command_ends_is_ignored() -> None:
    """A second Ctrl-C often lands while the process ends, once the command's own handling
    is over: Python's handler made it a KeyboardInterrupt traceback, or, once Python had
    handed the signals back to the system on its way out, a death by the signal."""
    ends = "import atexit, os, signal, sys\n"
    ends += "atexit.register(lambda: [os.kill(os.getpid(), n) for n in (2, 15)])\n"
    command = [sys.executable, "-c", script(ends), "serve", "--port", "99999"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=START_SECONDS)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("mockserver serve: --port: 99999 is not allowed")
    assert "Traceback" not in done.stderr


def advanced(server: ServerProcess, seconds: float) -> None:
    """Move the server's clock; a server stopped meanwhile answers nothing."""
    with contextlib.suppress(httpx.HTTPError):
        server.request("POST", "/__mock__/clock/advance", json={"seconds": seconds})


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_a_clock_move_held_by_a_webhook_ends_serve_after_its_grace(
    servers: list[ServerProcess], number: signal.Signals
) -> None:
    """A manual clock move makes its Neural Draft deliveries before it answers. One to a
    receiver that never answers held the shutdown for each attempt's 30 s (six attempts in an
    8 h move: three minutes); the shutdown now cuts it short."""
    release = threading.Event()
    with Receiver([], respond=lambda handler, status: release.wait(START_SECONDS)) as receiver:
        server = ServerProcess("memory").start()
        servers.append(server)
        headers = server.headers("neuraldraft", "hooked")
        hook = {"url": receiver.url, "events": ["image.generated"]}
        made = server.request("POST", f"{ND}/webhook-endpoints", headers=headers, json=hook)
        assert made.status_code == 201, made.text
        image = server.request("POST", f"{ND}/images", headers=headers, json={"prompt": "tea"})
        assert image.status_code == 202, image.text
        threading.Thread(target=advanced, args=(server, 8 * 3600), daemon=True).start()
        assert receiver.arrived.wait(START_SECONDS)  # the move waits for its first attempt
        began = time.monotonic()
        status, out = stopped(server, number)
        took = time.monotonic() - began
        release.set()
    assert status == 0 and "Traceback" not in out, out
    assert took < 10, f"the shutdown took {took:.1f} s (its grace is 2 s)"
