"""A store that stalls once an answer has begun: a request's journal entry is written after its
status line went out, so a store failing then cannot become the 503 any more. The whole answer
still goes out, the entry is lost, and the log says so in one line per outage. The answer used
to stop after its headers (`content-length: 29`, no body, the connection closed) with a
StoreError traceback from `Journal.record`.

Real stalls, over real sockets: a Redis whose writes are paused (`CLIENT PAUSE ... WRITE`:
reads go on, so the request gets as far as its journal entry), a SQLite file another
connection holds with `BEGIN EXCLUSIVE` (WAL: readers go on, writers wait `BUSY_SECONDS`).
"""

from __future__ import annotations

import logging
import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from redis import Redis
from starlette.applications import Starlette

from mockserver import ServerConfig, apis, create_app
from mockserver.live import LiveServer
from mockserver.stores import sqlite as sqlite_store
from tests.redis_servers import RedisServer

KEY = "stalled-key"
# status polls that only read the store: each gets as far as its journal entry, and is a 404
POLLS = {
    "neuralanalog": "/neuralanalog/status/audio/missing",
    "camb": "/camb/apis/audio-separation/1",
    "neurolinker": "/neurolinker/api/v1/request-status/missing",
}


class Stall(AbstractContextManager[None]):
    """A store stalled for the block."""


def headers(api: str) -> dict[str, str]:
    service = apis.service_class(api)
    return service.auth_headers(service.api_key(KEY))


def poll_each(client: httpx.Client) -> dict[str, httpx.Response]:
    """One poll of each API; httpx raises on an answer cut short of its content-length."""
    return {api: client.get(path, headers=headers(api)) for api, path in POLLS.items()}


def journalled(app: Starlette, caplog: pytest.LogCaptureFixture, stall: Stall) -> None:
    """Polls before, during and after `stall`: each answer whole, the stalled ones' entries
    lost, the others kept, and two lines in the log (lost, kept again), no traceback."""
    with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=10) as client:
        before = poll_each(client)
        with caplog.at_level(logging.WARNING, logger="mockserver"):
            with stall:
                during = poll_each(client)
            after = poll_each(client)
    for answers in (before, during, after):
        for api, answer in answers.items():
            assert answer.status_code == 404, (api, answer.text)
            assert "detail" in answer.json(), (api, answer.text)
    kept = {entry.id for entry in app.state.mock.journal.entries()}
    before_ids, during_ids, after_ids = (
        {answer.headers["x-request-id"] for answer in answers.values()}
        for answers in (before, during, after)
    )
    assert before_ids | after_ids <= kept
    assert not during_ids & kept
    assert not any(record.exc_info for record in caplog.records)
    lines = [record.getMessage() for record in caplog.records if record.name == "mockserver"]
    assert len(lines) == 2, lines
    assert lines[0].startswith("journal: req_") and lines[0].split()[1] in during_ids, lines
    assert lines[1] == f"journal: kept again; {len(POLLS)} entries were lost to the store"


class PausedWrites(Stall):
    """`CLIENT PAUSE ... WRITE` for the block: Redis answers reads, and holds every write
    (a script included) until the pause ends."""

    def __init__(self, server: RedisServer) -> None:
        self.admin = Redis(port=server.port)

    def __enter__(self) -> None:
        self.admin.client_pause(10_000, all=False)

    def __exit__(self, *_: object) -> None:
        self.admin.client_unpause()
        self.admin.close()


class LockedFile(Stall):
    """Another connection holding the SQLite file with `BEGIN EXCLUSIVE` for the block."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("BEGIN EXCLUSIVE")

    def __exit__(self, *_: object) -> None:
        self.db.execute("ROLLBACK")
        self.db.close()


def test_a_redis_that_stalls_on_the_journal_write_still_sends_whole_answers(
    own_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    # a write held past the socket's timeout fails (the default, 5 s, is the same stall longer)
    app = create_app(
        ServerConfig(clock="manual", store=f"{own_redis_server.url}?socket_timeout=0.3")
    )
    try:
        journalled(app, caplog, PausedWrites(own_redis_server))
    finally:
        app.state.mock.backend.close()


def test_a_sqlite_file_locked_on_the_journal_write_still_sends_whole_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "BUSY_SECONDS", 0.2)  # the wait of 10 s, shortened
    path = tmp_path / "state.db"
    app = create_app(ServerConfig(clock="manual", store=f"sqlite:///{path}"))
    try:
        journalled(app, caplog, LockedFile(path))
    finally:
        app.state.mock.backend.close()
