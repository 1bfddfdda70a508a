"""The servers the benchmark loads, as processes: the mock (on each store it can keep its
state in) and the bare app, and the redis-server the Redis stores use."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from bench import wrk
from bench.scenarios import Load, neuralanalog_poll
from mockserver.live import free_port
from tests.redis_servers import start_server  # the suite's Redis, started the same way

MOCK = [sys.executable, "-m", "mockserver.cli", "serve", "--clock", "manual"]
BARE = [sys.executable, "-m", "uvicorn", "bench.apps:bare_app", "--factory", "--no-access-log"]
IDLE = 0.02  # CPU seconds per SETTLE_S below which a server's processes are done starting
SETTLE_S = 0.2


@contextmanager
def server(
    argv: list[str], env: dict[str, str] | None = None, pin: bool = True
) -> Iterator[tuple[str, int]]:
    """One server process: (base URL, pid). The mock runs as `mockserver serve` does, the
    bare app under the same uvicorn (uvloop and httptools where installed). `pin`: on the
    CPUs the generator leaves it (`wrk.cpu_split`); a server of several workers is not, so
    they can spread over every core."""
    port = free_port()
    argv = [*argv, "--port", str(port), "--log-level", "warning"]
    split = wrk.cpu_split() if pin else None
    process = subprocess.Popen(
        argv,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        preexec_fn=wrk.pinned(split[0] if split else None),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(400):
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None:
                    raise RuntimeError(f"{argv} exited with {process.returncode}") from None
                time.sleep(0.05)
        settle(process.pid)
        yield base, process.pid
    finally:
        process.terminate()
        process.wait()


def settle(pid: int) -> None:
    """Wait until a server's processes are idle: the first answer comes from one worker, and
    another may still be importing (and taking a core) when the first round starts."""
    before = wrk.cpu_seconds(pid)
    for _ in range(300):
        time.sleep(SETTLE_S)
        now = wrk.cpu_seconds(pid)
        if now - before < IDLE:
            return
        before = now


@dataclass(frozen=True)
class Variant:
    """A store the mock keeps its state in, and how many workers share it."""

    store: str  # memory, sqlite or redis
    workers: int = 1

    @property
    def name(self) -> str:
        many = f", {self.workers} worker{'s' if self.workers > 1 else ''}"
        return f"store {self.store}{many if self.store == 'redis' else ''}"

    def argv(self, folder: Path, redis_url: str | None) -> list[str]:
        """`mockserver serve` on this store: a SQLite file in `folder`, or a prefix of its own
        on the Redis at `redis_url` (variants never see each other's jobs or clock)."""
        url = {
            "memory": "memory",
            "sqlite": f"sqlite:///{folder / 'state.db'}",
            "redis": f"{redis_url}?prefix=bench{self.workers}",
        }[self.store]
        return [*MOCK, "--store", url, "--workers", str(self.workers)]


VARIANTS = (Variant("memory"), Variant("sqlite"), Variant("redis"), Variant("redis", 2))


@contextmanager
def redis_server(folder: Path) -> Iterator[tuple[str, int] | None]:
    """A redis-server of this run on a free port, nothing persisted: (URL, pid), or None
    (said in one line) where it is not installed."""
    if shutil.which("redis-server") is None:
        print("redis-server not found (make bench installs it): no figures for the Redis store")
        yield None
        return
    started = start_server(folder)
    assert started.process is not None
    try:
        yield started.url, started.process.pid
    finally:
        started.stop()


@contextmanager
def poll_target(
    variant: Variant, folder: Path, redis_url: str | None
) -> Iterator[tuple[tuple[str, int], Load, object]]:
    """The mock on `variant`'s store with one finished Neural Analog job: (the server, the
    load polling the job, the answer that poll gets)."""
    with server(variant.argv(folder, redis_url), pin=variant.workers == 1) as mock:
        with httpx.Client(base_url=mock[0]) as client:
            poll = neuralanalog_poll(client)
            answer = client.get(poll.path, headers=poll.headers)
        answer.raise_for_status()
        yield mock, replace(poll, name=f"{poll.name}, {variant.name}"), answer.json()
