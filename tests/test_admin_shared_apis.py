"""The admin API of servers that share a store, and what a forced end takes.

Servers with different `--api` on one store list each other's jobs: a job of an API a server
does not serve made its dashboard, the job's page and a forced end a 500 (`KeyError`). A store
that failed under a write cost the request three waits of `BUSY_SECONDS`, two log lines and a
traceback, and its 503 lost its request ID. A forced end dropped a `state` key without a word,
took a blank `message` for the default one, and listed options (`after`, `fault`, `mode`) it
refuses.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mockserver.stores import open_store
from mockserver.stores import sqlite as sqlite_store
from tests.conftest import Mock, make_mock

NA = "/neuralanalog"
LINK = {"url": "https://example.com/take.wav"}
# a create of each API, and the field of its answer naming the job
CREATES = {
    "neuralanalog": (f"{NA}/from-link", LINK, "audio_id"),
    "neuraldraft": ("/neuraldraft/v1/images", {"prompt": "Cold brew"}, "id"),
}
BUSY = 0.5  # the store's wait for a lock, shortened from 10 s


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[Mock, Mock]]:
    """Two servers on one SQLite file: one of every API, one of Neural Draft alone."""
    url = f"sqlite:///{tmp_path / 'mix.db'}"
    stores = [open_store(url), open_store(url)]
    try:
        with (
            contextmanager(make_mock)(stores[0]) as every,
            contextmanager(make_mock)(stores[1], api="neuraldraft") as alone,
        ):
            yield every, alone
    finally:
        for store in stores:
            store.close()


def imported(mock: Mock) -> str:
    created = mock.client.post(f"{NA}/from-link", headers=mock.headers("neuralanalog"), json=LINK)
    assert created.status_code == 200, created.text
    return str(created.json()["audio_id"])


def test_a_job_of_an_api_a_server_does_not_serve_is_shown_and_not_ended_there(
    servers: tuple[Mock, Mock],
) -> None:
    every, alone = servers
    audio = imported(every)
    dashboard = alone.client.get("/__mock__/dashboard")
    assert dashboard.status_code == 200, dashboard.text
    assert f">{audio}</a>" in dashboard.text and "not served here" in dashboard.text
    assert f"jobs/{audio}/transition" not in dashboard.text  # no button
    page = alone.client.get(f"/__mock__/jobs/{audio}/page")
    assert page.status_code == 200, page.text
    assert "2026-01-01T00:00:00.000000Z" in page.text  # to the microsecond: no API to ask
    forced = alone.client.post(f"/__mock__/jobs/{audio}/transition", json={"outcome": "failed"})
    assert (forced.status_code, forced.json()) == (
        409,
        {
            "error": "this server does not serve neuralanalog (it emulates neuraldraft): "
            f"end neuralanalog job '{audio}' through a server that does"
        },
    )
    assert every.client.get(f"/__mock__/jobs/{audio}").json()["state"] == "in_progress"


def test_a_file_of_an_api_a_server_does_not_serve_is_no_file_there(
    servers: tuple[Mock, Mock],
) -> None:
    every, alone = servers
    audio = imported(every)
    every.advance(3600)
    link = every.client.get(
        f"{NA}/download/audio/{audio}",
        headers=every.headers("neuralanalog"),
        follow_redirects=False,
    ).headers["location"]
    assert every.client.get(link).status_code == 200
    answer = alone.client.get(link)  # signed alike: the secret is the store's
    assert (answer.status_code, answer.json()) == (
        404,
        {
            "error": "NoSuchKey",
            "message": "This server does not serve neuralanalog: download it from one that does",
        },
    )


@pytest.mark.parametrize(
    ("api", "body", "error"),
    [
        (
            "neuralanalog",
            {"bogus": 1},
            "key 'bogus' does not apply to a forced end; it takes outcome, message",
        ),
        (
            "neuraldraft",
            {"outcome": "failed", "after": 30},
            "key 'after' does not apply to a forced end; it takes outcome, message, code",
        ),
        (
            "neuralanalog",
            {"outcome": "failed", "state": "completed"},
            "key 'state' does not apply to a forced end; it takes outcome, message",
        ),
        (
            "neuralanalog",
            {"outcome": "failed", "message": ""},
            "'message' must be the text a client reads, not blank; leave it out for the API's "
            "own (got '')",
        ),
        (
            "neuralanalog",
            {"outcome": "failed", "message": 5},
            "'message' must be the text a client reads, not blank; leave it out for the API's "
            "own (got 5)",
        ),
    ],
)
def test_a_forced_end_refuses_what_it_would_not_apply(
    mock: Mock, api: str, body: dict[str, object], error: str
) -> None:
    path, sent, named = CREATES[api]
    job = mock.client.post(path, headers=mock.headers(api), json=sent).json()[named]
    answer = mock.client.post(f"/__mock__/jobs/{job}/transition", json=body)
    assert (answer.status_code, answer.json()) == (422, {"error": error})
    assert not mock.client.get(f"/__mock__/jobs/{job}").json()["terminal"]


def test_a_store_failing_under_a_write_costs_one_wait_and_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SQLite file another connection holds with `BEGIN IMMEDIATE`: a create waits once,
    and is the API's 503 with its request ID."""
    monkeypatch.setattr(sqlite_store, "BUSY_SECONDS", BUSY)  # no setting shortens it
    path = tmp_path / "state.db"
    store = open_store(f"sqlite:///{path}")
    with contextmanager(make_mock)(store) as mock:
        imported(mock)  # the tables exist, the job stream is open
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        with caplog.at_level(logging.INFO):
            started = time.monotonic()
            answer = mock.client.post(
                f"{NA}/from-link", headers=mock.headers("neuralanalog"), json=LINK
            )
            took = time.monotonic() - started
        holder.execute("ROLLBACK")
        holder.close()
        assert answer.status_code == 503, answer.text
        assert "The mock's state store is unavailable" in answer.json()["detail"]
        request_id = answer.headers["x-request-id"]
        assert took < 2 * BUSY, took  # one wait; it was three
        warned = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert not any(record.exc_info for record in caplog.records)
        assert [r.getMessage().split(":")[0] for r in warned] == [
            f"{request_id} POST {NA}/from-link"
        ]
        imported(mock)  # the store answers again: so does the mock
    store.close()
