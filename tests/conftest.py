"""Shared test harness: the app in-process or live, every response checked against its contract."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpcore  # noqa: F401  # see below
import pytest
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver import ServerConfig, apis, create_app
from mockserver.contracts import Violation, validate_response
from mockserver.engine.artifacts import AudioInfo, render_wav
from mockserver.live import LiveServer
from mockserver.request import ApiRequest
from mockserver.state import MockState
from mockserver.stores import StateStore, open_store
from tests import redis_servers
from tests.redis_servers import (
    RedisClusterServers,
    RedisServer,
    require_redis,
    start_cluster,
    start_server,
)
from tests.server_processes import ServerProcess

# `httpcore` is imported above, before any test runs pytest in-process (pytester): httpx maps
# httpcore's errors to its own through a table it fills on first use, and a first use inside
# such a run would fill it with the classes of an httpcore that run imports and then drops,
# so that later, a refused connection escapes as a raw `httpcore.ConnectError` (a webhook
# tick's "failed" attempt became a crash, an SDK's retry on a reset did not retry).

_tenants = itertools.count(1)
FRESH_PROCESS = "MOCKSERVER_TEST_FRESH_PROCESS"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fresh_process: the test runs alone in a new pytest process (see below)"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """A `fresh_process` test runs alone in a new interpreter, so it draws the same whatever
    ran before: Hypothesis mixes literals of the local modules loaded so far (project modules,
    other tests' temporary files, plugins) into what it draws, and no public setting turns it
    off."""
    if pyfuncitem.get_closest_marker("fresh_process") is None or os.environ.get(FRESH_PROCESS):
        return None
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", pyfuncitem.nodeid],
        cwd=pyfuncitem.config.rootpath,
        env={**os.environ, FRESH_PROCESS: "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    return True


class ConformanceCheck:
    """ASGI wrapper: every response of an emulated API is validated against its contract.

    The one shared check behind "every response the mock sends conforms"; tests that use
    the `mock` or `live` fixtures get it for free and fail at teardown on any violation.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.violations: list[tuple[str, Violation]] = []
        self.checked = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        status, headers, body = 0, {}, bytearray()
        streaming = False

        async def keep(message: Message) -> None:
            nonlocal status, headers, streaming
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
                streaming = "text/event-stream" in headers.get("content-type", "")
            elif message["type"] == "http.response.body" and not streaming:
                body.extend(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, keep)
        info = ApiRequest.of(scope)
        if info is None or info.api is None or status == 0:  # no answer (a connection reset)
            return
        self.checked += 1
        api, path = info.api, info.path
        for problem in validate_response(
            api, scope["method"], path, status, headers=headers, body=bytes(body)
        ):
            self.violations.append((f"{scope['method']} {path} -> {status}", problem))

    def assert_clean(self) -> None:
        if self.violations:
            lines = "\n".join(
                f"  {where}: {v.pointer}: {v.message}" for where, v in self.violations
            )
            raise AssertionError(f"responses that break the contract:\n{lines}")


@dataclass
class Mock:
    """The app in-process on a manual clock, with a client and this test's own API key."""

    state: MockState
    client: TestClient
    check: ConformanceCheck
    key: str = field(default_factory=lambda: f"test-key-{next(_tenants)}")

    def advance(self, seconds: float) -> None:
        self.state.clock.advance(seconds)

    def headers(self, api: str, key: str | None = None, **extra: str) -> dict[str, str]:
        service = apis.service_class(api)
        return {**service.auth_headers(service.api_key(key or self.key)), **extra}


def make_mock(store: StateStore | None = None, **config: Any) -> Iterator[Mock]:
    app = create_app(ServerConfig(clock="manual", seed=7, **config), store=store)
    check = ConformanceCheck(app)
    with TestClient(check) as client:
        yield Mock(app.state.mock, client, check)
    check.assert_clean()


@pytest.fixture
def state_store() -> StateStore | None:
    """The store of the `mock` fixture's server: None, the config's (memory). A module runs
    its tests on the shared stores' encoding too by importing `tests.encoding_store`'s."""
    return None


@pytest.fixture
def mock(state_store: StateStore | None) -> Iterator[Mock]:
    """The whole server in-process, manual clock, responses checked against the contracts."""
    yield from make_mock(state_store)


@dataclass
class Live:
    server: LiveServer
    check: ConformanceCheck

    @property
    def state(self) -> MockState:
        return self.server.app.state.mock

    @property
    def url(self) -> str:
        return self.server.url

    def advance(self, seconds: float) -> None:
        self.state.clock.advance(seconds)


@pytest.fixture(scope="session")
def live_session() -> Iterator[Live]:
    app = create_app(ServerConfig(clock="manual", seed=11))
    check = ConformanceCheck(app)
    server = LiveServer(check)  # type: ignore[arg-type]
    server.app = app
    with server:
        yield Live(server, check)


@pytest.fixture
def live(live_session: Live) -> Iterator[Live]:
    """A real server on a free port (shared by the session), checked like `mock`."""
    before = len(live_session.check.violations)
    yield live_session
    new = live_session.check.violations[before:]
    if new:
        lines = "\n".join(f"  {where}: {v.pointer}: {v.message}" for where, v in new)
        raise AssertionError(f"responses that break the contract:\n{lines}")


def wav(seconds: float = 1.0, rate: int = 8000, frequency: int = 300) -> bytes:
    """A real mono WAV upload of `seconds`, made by the kit's own renderer."""
    return render_wav(AudioInfo(seconds, rate), frequency)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of this test session on a free port; tests keep apart by key prefix
    (`redis_servers.fresh_prefix`). Skips where Redis is not installed."""
    require_redis()
    server = start_server(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of this test session that speaks TLS only (`rediss://`), with a
    certificate of its own. Skips where Redis or openssl is not installed."""
    require_redis()
    redis_servers.require_openssl()
    server = start_server(tmp_path_factory.mktemp("redis-tls"), tls=True)
    yield server
    server.stop()


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone, keeping nothing on disk: one it may pause, kill or
    restart empty without stalling or emptying another test's."""
    require_redis()
    server = start_server(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture
def durable_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone, writing every command to its append-only file
    before answering: `restart_after_kill()` must lose nothing."""
    require_redis()
    server = start_server(tmp_path / "redis", durable=True)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    """A three-node Redis Cluster of this test session (about 2 s to form)."""
    require_redis()
    cluster = start_cluster(tmp_path_factory.mktemp("redis-cluster"))
    yield cluster
    cluster.stop()


@pytest.fixture(params=["memory", "sqlite", "redis", "redis-cluster"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A `--store` URL of each kind, this test's own: memory, a SQLite file in tmp_path, a
    fresh prefix on the session's redis-server or three-node cluster (the Redis cases skip
    without Redis)."""
    return redis_servers.store_url(request.param, request, tmp_path)


@pytest.fixture
def stores(store_url: str) -> Iterator[tuple[StateStore, StateStore]]:
    """Two store objects on one state, as two worker processes hold (memory: one object)."""
    first = open_store(store_url)
    second = first if store_url == "memory" else open_store(store_url)
    yield first, second
    first.close()
    second.close()


@pytest.fixture(params=["sqlite", "redis", "redis-cluster"])
def shared_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """`store_url` without the memory store: for what only a store other processes share (or
    that outlives one) can do."""
    return redis_servers.store_url(request.param, request, tmp_path)


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    """The server processes a test starts; every one is stopped at the end, whatever happened."""
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()
