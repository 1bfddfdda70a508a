"""Real server processes on shared stores: several workers, several servers, `kill -9`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mockserver import ServerConfig, create_app
from tests.redis_servers import RedisClusterServers, RedisServer, fresh_prefix
from tests.server_processes import ServerProcess

NA = "/neuralanalog"
ND = "/neuraldraft/v1"
KEY = "fleet"
LINK = {"url": "https://example.com/take.wav"}


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


def exercise_and_restart(
    servers: list[ServerProcess],
    store: str,
    *flags: str,
    crash: Callable[[], None] = lambda: None,
) -> None:
    """Jobs, a queued outcome and clock time made on `store`, every server process killed
    with SIGKILL (and whatever `crash` kills), a new one started: it finds all three."""
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
    crash()
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


def test_kill_9_of_two_workers_and_of_redis_loses_nothing(
    servers: list[ServerProcess], durable_redis_server: RedisServer
) -> None:
    exercise_and_restart(
        servers,
        durable_redis_server.url,
        "--workers",
        "2",
        crash=durable_redis_server.restart_after_kill,  # AOF, fsync always: nothing lost
    )


def test_two_workers_on_redis_never_answer_a_poll_from_a_stale_kept_answer(
    servers: list[ServerProcess], redis_server: RedisServer
) -> None:
    """Each worker keeps the queued job's answer; one of them cancels the job; every poll
    after that answer, whichever worker takes it, shows the job cancelled: each request reads
    the count of changes first (a cancel publishes no notice the other worker drops its
    answers on)."""
    server = serve(servers, f"{redis_server.url}?prefix={fresh_prefix()}", "--workers", "2")
    headers = server.headers("neuraldraft", KEY)
    created = server.request(
        "POST", f"{ND}/blog-posts", headers=headers, json={"type": "ai", "topic": "Tea"}
    )
    assert created.status_code == 202, created.text
    job = f"{ND}/jobs/{created.json()['id']}"

    def polled() -> list[str]:  # fresh connections: either worker takes each
        return [server.request("GET", job, headers=headers).json()["status"] for _ in range(12)]

    assert polled() == ["pending"] * 12
    cancelled = server.request("POST", f"{job}/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    assert polled() == ["cancelled"] * 12


def test_two_servers_on_a_redis_cluster_are_one_world(
    servers: list[ServerProcess], redis_cluster: RedisClusterServers
) -> None:
    store = f"{redis_cluster.url}?prefix={fresh_prefix()}"
    one, other = serve(servers, store), serve(servers, store)
    audio_id = imported(one)
    assert status(other, audio_id) != "completed"
    advance(other, 600)
    assert status(one, audio_id) == "completed"


def test_a_fresh_shared_store_draws_the_seeds_ids_and_a_restart_goes_on(
    servers: list[ServerProcess], tmp_path: Path
) -> None:
    in_process = TestClient(create_app(ServerConfig(clock="manual", seed=7)))
    headers = ServerProcess.headers("neuralanalog", KEY)
    expected = [
        in_process.post(f"{NA}/from-link", headers=headers, json=LINK).json()["audio_id"]
        for _ in range(3)
    ]
    store = f"sqlite:///{tmp_path / 'state.db'}"
    server = serve(servers, store)
    first = [imported(server) for _ in range(2)]
    server.kill_9()
    again = serve(servers, store, port=server.port)
    assert [*first, imported(again)] == expected  # --seed 7, counters kept: no ID twice
