"""Real server processes on shared stores: several workers, several servers, `kill -9`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server_processes import ServerProcess

NA = "/neuralanalog"
KEY = "fleet"
LINK = {"url": "https://example.com/take.wav"}


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    """The servers a test starts; every one is killed at the end, whatever happened."""
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()


def serve(servers: list[ServerProcess], store: str, *flags: str, port: int | None = None):
    server = ServerProcess(store, *flags, port=port).start()
    servers.append(server)
    return server


def imported(server: ServerProcess) -> str:
    created = server.request(
        "POST", f"{NA}/from-link", headers=server.headers("neuralanalog", KEY), json=LINK
    )
    assert created.status_code == 200, created.text
    return str(created.json()["audio_id"])


def status(server: ServerProcess, audio_id: str) -> str:
    answer = server.request(
        "GET", f"{NA}/status/audio/{audio_id}", headers=server.headers("neuralanalog", KEY)
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["status"])


def advance(server: ServerProcess, seconds: float) -> float:
    moved = server.request("POST", "/__mock__/clock/advance", json={"seconds": seconds})
    assert moved.status_code == 200, moved.text
    return float(moved.json()["now"])


def exercise_and_restart(servers: list[ServerProcess], store: str, *flags: str) -> None:
    """Jobs, a queued outcome and clock time made on `store`, every server process killed
    with SIGKILL, a new one started: it finds all three."""
    server = serve(servers, store, *flags)
    jobs = [imported(server) for _ in range(6)]  # fresh connections: any worker takes each
    queued = server.request(
        "POST",
        "/__mock__/scenarios",
        json={"api": "neuralanalog", "outcome": "failed", "tenant": KEY},
    )
    assert queued.status_code == 201, queued.text
    now = advance(server, 3)
    server.kill_9()
    again = serve(servers, store, *flags, port=server.port)
    assert again.request("GET", "/__mock__/clock").json()["now"] == now
    failing = imported(again)  # takes the outcome queued before the crash
    advance(again, 600)
    assert [status(again, job) for job in jobs] == ["completed"] * len(jobs)
    assert status(again, failing) == "failed"


def test_the_memory_store_refuses_several_workers(servers: list[ServerProcess]) -> None:
    with pytest.raises(AssertionError, match="needs a shared store"):
        serve(servers, "memory", "--workers", "2")


def test_a_sqlite_store_survives_kill_9_of_its_server(
    servers: list[ServerProcess], tmp_path: Path
) -> None:
    exercise_and_restart(servers, f"sqlite:///{tmp_path / 'state.db'}")


def test_two_workers_on_sqlite_are_one_world(servers: list[ServerProcess], tmp_path: Path) -> None:
    exercise_and_restart(servers, f"sqlite:///{tmp_path / 'state.db'}", "--workers", "2")
