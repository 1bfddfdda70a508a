"""One world through what empties a shared store under running servers: a reset through
another server, a Redis restarted without its data, a SQLite file deleted. No job ID is
handed out twice, the clock stays where the running servers knew it, and every server goes on
in one store.

The interleavings are made step by step: a store's operation is followed, once, by another
server's whole request (no threads, no timing)."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mockserver import ServerConfig, create_app
from mockserver.engine.clock import ManualClock
from mockserver.state import MockState
from mockserver.stores import StateStore, StoreError, open_store
from tests.conftest import ConformanceCheck
from tests.redis_servers import RedisServer

NA = "/neuralanalog"
KEY = {"x-api-key": "team-a"}
LINK = {"url": "https://example.com/take.wav"}
START = ManualClock.DEFAULT_START
WAIT = 5.0  # bound on another process's event reaching a listener: a failure, not a wait


@dataclass
class Served:
    client: TestClient
    state: MockState

    def made(self) -> str:
        answer = self.client.post(f"{NA}/from-link", headers=KEY, json=LINK)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["audio_id"])

    def status(self, audio_id: str) -> int:
        return self.client.get(f"{NA}/status/audio/{audio_id}", headers=KEY).status_code

    def advance(self, seconds: float) -> None:
        answer = self.client.post("/__mock__/clock/advance", json={"seconds": seconds})
        assert answer.status_code == 200, answer.text

    def reset(self) -> None:
        assert self.client.post("/__mock__/reset").status_code == 200

    def now(self) -> float:
        return float(self.client.get("/__mock__/clock").json()["now"])


@contextmanager
def served(url: str, seed: int | None = 7) -> Iterator[Served]:
    """A server on the store `url` (a worker, or a server on another machine)."""
    app = create_app(ServerConfig(clock="manual", seed=seed, store=url))
    check = ConformanceCheck(app)
    try:
        with TestClient(check) as client:
            yield Served(client, app.state.mock)
    finally:
        app.state.mock.backend.close()
    check.assert_clean()


def then_once(
    monkeypatch: pytest.MonkeyPatch, store: StateStore, name: str, then: Callable[[], object]
) -> None:
    """`then()` right after the store's next call of `name` returns: another server's step
    between two of this one's."""
    operation = getattr(store, name)
    done = False

    def step(*args: Any, **kwargs: Any) -> Any:
        nonlocal done
        result = operation(*args, **kwargs)
        if not done:
            done = True
            then()
        return result

    monkeypatch.setattr(store, name, step)


def deleted(folder: Path) -> None:
    """The store's file gone, its journal files with it (`rm state.db*`)."""
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        (folder / name).unlink(missing_ok=True)


# --- a reset through another server -----------------------------------------------------------


def test_a_create_begun_before_another_servers_reset_draws_no_id_again(
    shared_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The create read the count of changes, then the other server reset the store, then the
    create drew its ID: from the counter the reset emptied, its first ID again."""
    with ExitStack() as running:
        one, other = (running.enter_context(served(shared_store_url)) for _ in range(2))
        handed = [one.made(), one.made()]
        then_once(monkeypatch, one.state.backend, "get_many", other.reset)
        handed.append(one.made())
        handed += [other.made(), one.made()]
    assert len(set(handed)) == len(handed), handed


def test_a_clock_move_while_another_server_resets_is_kept(
    shared_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reset put the clock back as it found it, over a move made meanwhile."""
    with ExitStack() as running:
        one, other = (running.enter_context(served(shared_store_url)) for _ in range(2))
        then_once(monkeypatch, other.state.backend, "clear", lambda: one.advance(60))
        other.reset()
        assert [one.now(), other.now()] == [START + 60] * 2


# --- a Redis that lost everything -------------------------------------------------------------


@pytest.mark.parametrize("newcomer_first", [False, True], ids=["survivor-first", "newcomer-first"])
def test_the_running_servers_time_outlives_a_redis_restarted_empty(
    own_redis_server: RedisServer, newcomer_first: bool
) -> None:
    """A server started after the loss (a worker the supervisor restarted) wrote its start
    time, and every server took it: the clock went back a minute, and a job made after the
    loss answered 404. The running server puts back the time it knew; the newcomer takes it."""
    url = own_redis_server.url
    with ExitStack() as running:
        survivor = running.enter_context(served(url))
        survivor.advance(60)
        own_redis_server.restart_after_kill()
        if newcomer_first:
            newcomer = running.enter_context(served(url))
        audio_id = survivor.made()
        if not newcomer_first:
            newcomer = running.enter_context(served(url))
        for server in (survivor, newcomer):
            assert server.now() == START + 60
            assert server.status(audio_id) == 200


# --- a SQLite file deleted --------------------------------------------------------------------


@pytest.mark.parametrize("newcomer_first", [False, True], ids=["survivor-first", "newcomer-first"])
def test_servers_on_a_deleted_sqlite_file_go_on_in_the_one_at_its_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, newcomer_first: bool
) -> None:
    """The running server went on in the deleted file, a restarted one in a new file: two
    worlds, each 404 to the other's jobs. The running one now goes on in the file at the path
    (made anew if none), as after a loss: its time, new ID streams, one log line."""
    url = f"sqlite:///{tmp_path}/state.db"
    caplog.set_level(logging.WARNING, "mockserver.stores")
    with ExitStack() as running:
        survivor = running.enter_context(served(url, seed=None))
        survivor.advance(60)
        lost = survivor.made()
        deleted(tmp_path)
        if newcomer_first:
            newcomer = running.enter_context(served(url, seed=None))
        ours = survivor.made()
        if not newcomer_first:
            newcomer = running.enter_context(served(url, seed=None))
        theirs = newcomer.made()
        for server in (survivor, newcomer):
            assert server.now() == START + 60
            assert [server.status(ours), server.status(theirs)] == [200, 200]
            assert server.status(lost) == 404
        assert len({lost, ours, theirs}) == 3
    said = [r.getMessage() for r in caplog.records if "deleted or replaced" in r.getMessage()]
    assert len(said) == 1, said
    assert str(tmp_path / "state.db") in said[0]


def test_a_store_hears_the_events_of_the_file_it_went_on_to(tmp_path: Path) -> None:
    """Its events thread follows it: a clock moved through a server on the new file wakes
    this process's streams."""
    url = f"sqlite:///{tmp_path}/state.db"
    heard = threading.Event()
    with ExitStack() as running:
        survivor = open_store(url)
        running.callback(survivor.close)
        survivor.subscribe(lambda topic, message: heard.set() if message == "moved" else None)
        deleted(tmp_path)
        newcomer = open_store(url)
        running.callback(newcomer.close)
        survivor.refresh()
        newcomer.publish("clock", "moved")
        assert heard.wait(WAIT)


# --- a clock refused ----------------------------------------------------------------------------


def test_a_scale_unlike_the_stores_by_a_hair_is_shown_as_it_is(tmp_path: Path) -> None:
    """`%g` printed both as 60: a refusal naming two equal scales."""
    url = f"sqlite:///{tmp_path}/state.db"
    first = create_app(ServerConfig(time_scale=60, store=url))
    try:
        with pytest.raises(
            StoreError, match=re.escape("scale 60.0, this server's system at scale 60.0000000001")
        ):
            create_app(ServerConfig(time_scale=60.0000000001, store=url))
    finally:
        first.state.mock.backend.close()
