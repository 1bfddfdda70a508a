"""Every state store behaves as the memory store does, on real SQLite files, a real
redis-server and a real three-node Redis Cluster: the same answers to the same operations,
atomic operations that stay atomic under contention, events that reach other store objects,
data that outlives a `kill -9`."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from mockserver.engine.jobs import Job, JobStore
from mockserver.engine.plan import Phase, Plan
from mockserver.stores import (
    MemoryStore,
    StateStore,
    StoreError,
    key,
    open_store,
    subkey,
    view,
    with_prefix,
)
from mockserver.stores import redis as redis_store
from mockserver.stores.codec import storable
from tests import redis_servers
from tests.redis_servers import RedisServer, free_port, fresh_prefix

KINDS = ["memory", "sqlite", "redis", "redis-cluster"]
SHARED = KINDS[1:]
WAIT = 10.0  # the failure bound of a wait for an event, never reached when it works
A, B = key("acme", "one"), key("acme", "two")


@storable
@dataclass
class Point:
    state_tag: ClassVar[str] = "test-stores-point"
    x: int
    y: int

    def to_state(self) -> Any:
        return [self.x, self.y]

    @classmethod
    def from_state(cls, data: Any) -> Point:
        return cls(*data)


@pytest.fixture(params=KINDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return redis_servers.store_url(request.param, request, tmp_path)


@pytest.fixture(params=SHARED)
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return redis_servers.store_url(request.param, request, tmp_path)


@pytest.fixture
def store(url: str) -> Iterator[StateStore]:
    store = open_store(url)
    yield store
    store.close()


@pytest.fixture
def two_views(url: str) -> Iterator[tuple[StateStore, StateStore]]:
    """Two store objects on `url`, as two processes see one state (memory: the same object
    twice, it has one view only)."""
    first = open_store(url)
    second = first if url == "memory" else open_store(url)
    yield first, second
    first.close()
    second.close()


def same_as_memory(store: StateStore, run: Callable[[StateStore], Any]) -> Any:
    """What `run` answers on `store`, checked equal to what it answers on a fresh memory
    store (the reference semantics)."""
    answer = run(store)
    assert answer == run(MemoryStore())
    return answer


# --- every operation as memory.py does it -------------------------------------------------


def test_values(store: StateStore) -> None:
    assert store.get(A) is None
    store.set(A, {"name": "é", "n": [1, 2.5, None, True]})
    assert store.get(A) == {"name": "é", "n": [1, 2.5, None, True]}
    store.set(A, "again")
    others = [key(f"tenant{n}", "x") for n in range(8)]  # several cluster slots
    for n, name in enumerate(others):
        store.set(name, n)
    assert store.get_many([others[3], B, A, others[7]]) == [3, None, "again", 7]
    assert store.get_many([]) == []
    store.delete(A, *others)
    assert store.get_many([A, *others]) == [None] * 9


def test_add_only_once(store: StateStore) -> None:
    assert store.add(A, 1) is True
    assert store.add(A, 2) is False
    assert store.get(A) == 1
    store.delete(A)
    assert store.add(A, 3) is True


def test_update(store: StateStore) -> None:
    seen: list[Any] = []

    def bump(value: Any | None) -> Any | None:
        seen.append(value)
        return {"n": (value or {"n": 0})["n"] + 1}

    assert store.update(A, bump) == {"n": 1}
    assert store.update(A, bump) == {"n": 2}
    assert seen == [None, {"n": 1}]
    assert store.update(A, lambda value: None) is None
    assert store.get(A) is None


def test_incr(store: StateStore) -> None:
    assert store.incr(A) == 1
    assert store.incr(A, 5) == 6
    assert store.incr(A, -10) == -4
    assert store.get(A) == -4
    store.set(B, 41)
    assert store.incr(B) == 42


def test_list_slices_as_memory(store: StateStore) -> None:
    def run(s: StateStore) -> Any:
        s.push(A, *range(5))
        return [s.items(A, start, stop) for start in range(-7, 7) for stop in range(-7, 7)]

    answers = same_as_memory(store, run)
    assert answers[(-2 + 7) * 14 + (-1 + 7)] == [3, 4]  # items(-2, -1)
    assert store.items(A) == [0, 1, 2, 3, 4]
    assert store.items(A, 1, 2) == [1, 2]
    assert store.items(A, 3, 100) == [3, 4]
    assert store.items(B) == []


def test_push_keep_pop_length(store: StateStore) -> None:
    def run(s: StateStore) -> Any:
        return [
            s.push(A, 1, 2, 3),
            s.push(A, 4, 5, keep=4),
            s.items(A),
            s.push(A, keep=2),
            s.items(A),
            s.pop(A),
            s.length(A),
            s.push(A, 6, 7, 8, keep=0),
            s.length(A),
            s.pop(A),
            s.push(A, [1, "a"], {"k": 1}),
            s.pop(A),
            s.pop(A),
            s.pop(A),
            s.length(B),
        ]

    assert same_as_memory(store, run) == [
        3, 4, [2, 3, 4, 5], 2, [4, 5], 4, 1, 0, 0, None, 2, [1, "a"], {"k": 1}, None, 0
    ]  # fmt: skip


def test_remove(store: StateStore) -> None:
    def run(s: StateStore) -> Any:
        s.push(A, "a", ["x", 1], "b", ["x", 1], {"p": 1, "q": 2}, "a")
        s.remove(A, ["x", 1])
        s.remove(A, "a")
        s.remove(A, "missing")
        s.remove(B, "a")
        s.remove(A, {"q": 2, "p": 1})  # equal data, keys in another order
        return s.items(A)

    assert same_as_memory(store, run) == ["b", ["x", 1], "a"]


def test_maps(store: StateStore) -> None:
    assert store.entries(A) == {}
    assert store.fetch(A, "f") is None
    store.put(A, "f", {"v": 1})
    store.put(A, "g", [2])
    store.put(A, "f", {"v": 3})
    assert store.fetch(A, "f") == {"v": 3}
    assert store.entries(A) == {"f": {"v": 3}, "g": [2]}
    store.discard(A, "f")
    store.discard(A, "nothing")
    assert store.entries(A) == {"g": [2]}
    store.delete(A)
    assert store.entries(A) == {}


def test_revise_a_field(store: StateStore) -> None:
    store.put(A, "g", [2])
    assert store.revise(A, "f", lambda value: None) is None  # nothing there, nothing made
    assert store.revise(A, "f", lambda value: {"n": 1}) == {"n": 1}
    assert store.revise(A, "f", lambda value: {"n": value["n"] + 1}) == {"n": 2}
    assert store.entries(A) == {"f": {"n": 2}, "g": [2]}
    assert store.revise(A, "f", lambda value: None) is None
    assert store.entries(A) == {"g": [2]}


def test_registered_classes_come_back(store: StateStore) -> None:
    store.set(A, {"at": Point(1, 2)})
    store.push(B, Point(3, 4))
    store.put(key("acme", "map"), "p", [Point(5, 6)])
    assert store.get(A) == {"at": Point(1, 2)}
    assert store.pop(B) == Point(3, 4)
    assert store.fetch(key("acme", "map"), "p") == [Point(5, 6)]


def test_clear_forgets_everything(store: StateStore) -> None:
    store.set(A, 1)
    store.push(B, 1)
    store.put(key(None, "map"), "f", 1)
    store.clear()
    assert (store.get(A), store.length(B), store.entries(key(None, "map"))) == (None, 0, {})


# --- namespaces ----------------------------------------------------------------------------


def test_prefixes_keep_stores_apart(shared_url: str) -> None:
    first = open_store(with_prefix(shared_url, "first"))
    second = open_store(with_prefix(shared_url, "second"))
    try:
        first.set(A, "first")
        first.push(B, 1)
        second.set(A, "second")
        assert first.get(A) == "first"
        assert second.length(B) == 0
        second.clear()
        assert (first.get(A), first.items(B), second.get(A)) == ("first", [1], None)
    finally:
        first.close()
        second.close()


def test_a_bad_prefix_is_refused(shared_url: str) -> None:
    with pytest.raises(StoreError, match="prefix"):
        open_store(with_prefix(shared_url, "a{b}"))


# --- events --------------------------------------------------------------------------------


def test_publish_reaches_own_listeners_at_once(store: StateStore) -> None:
    heard: list[tuple[str, str]] = []
    stop = store.subscribe(lambda topic, message: heard.append((topic, message)))
    store.publish("clock", "moved")
    assert heard == [("clock", "moved")]
    stop()
    store.publish("clock", "again")
    assert heard == [("clock", "moved")]


class Heard:
    """A listener that lets a test wait for a given message (the timeout only bounds a
    failure)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []
        self._changed = threading.Condition()

    def __call__(self, topic: str, message: str) -> None:
        with self._changed:
            self.messages.append((topic, message))
            self._changed.notify_all()

    def wait_for(self, topic: str, message: str) -> list[tuple[str, str]]:
        with self._changed:
            assert self._changed.wait_for(lambda: (topic, message) in self.messages, WAIT)
            return list(self.messages)


def test_publish_reaches_another_store_object(
    two_views: tuple[StateStore, StateStore], url: str
) -> None:
    first, second = two_views
    heard_first, heard_second = Heard(), Heard()
    first.subscribe(heard_first)
    second.subscribe(heard_second)
    first.publish("job", "one")
    assert heard_first.messages == [("job", "one")]
    assert heard_second.wait_for("job", "one") == [("job", "one")]
    second.publish("job", "two")
    received = heard_first.wait_for("job", "two")
    if "cluster" not in url:  # one server orders every message: an echo would have come first
        assert received == [("job", "one"), ("job", "two")]


def test_rediss_speaks_tls_to_redis(tls_redis_server: RedisServer) -> None:
    """`rediss://` stores, reads and hears events over TLS (the listener has a connection of
    its own), checking the server's certificate against the `ssl_ca_certs` given; the same
    port without TLS is a StoreError naming it."""
    url = f"{tls_redis_server.url}&prefix={fresh_prefix()}"
    first, second = open_store(url), open_store(url)
    try:
        first.set(A, {"over": "tls"})
        assert second.get(A) == {"over": "tls"}
        assert [first.push_numbered(key("acme", "n"), B, Ticket("t")) for _ in "ab"] == [1, 2]
        heard = Heard()
        second.subscribe(heard)
        first.publish("job", "over tls")
        assert heard.wait_for("job", "over tls") == [("job", "over tls")]
    finally:
        first.close()
        second.close()
    with pytest.raises(StoreError, match=f"127.0.0.1:{tls_redis_server.port}"):
        open_store(f"redis://127.0.0.1:{tls_redis_server.port}/0")
    trusted = f"ssl_ca_certs={tls_redis_server.certificate}"
    untrusted = url.replace(trusted, "ssl_cert_reqs=required")
    with pytest.raises(StoreError, match="certificate"):
        open_store(untrusted)


# --- atomic under contention ---------------------------------------------------------------


def in_threads(
    stores: tuple[StateStore, StateStore], work: Callable[[StateStore], Any]
) -> list[Any]:
    """`work` in 4 threads at once, two on each store object; their answers."""
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(work, [*stores, *stores]))


def test_counters_and_adds_under_contention(two_views: tuple[StateStore, StateStore]) -> None:
    def work(store: StateStore) -> tuple[list[int], list[str]]:
        counts = [store.incr(A) for _ in range(200)]
        won = [name for name in map(str, range(200)) if store.add(key("acme", name), 1)]
        for n in range(50):
            store.update(B, lambda value: (value or 0) + 1)
            store.revise(key("acme", "map"), "f", lambda value, n=n: [*(value or []), n])
        return counts, won

    answers = in_threads(two_views, work)
    assert sorted(n for counts, _ in answers for n in counts) == list(range(1, 801))
    assert sorted(name for _, won in answers for name in won) == sorted(map(str, range(200)))
    assert two_views[0].get(B) == 200
    assert sorted(two_views[1].fetch(key("acme", "map"), "f")) == sorted(
        [*range(50)] * 4
    )  # no change lost


def test_each_item_is_popped_once(two_views: tuple[StateStore, StateStore]) -> None:
    two_views[0].push(A, *range(800))

    def work(store: StateStore) -> list[int]:
        popped = []
        while (item := store.pop(A)) is not None:
            popped.append(item)
        return popped

    answers = in_threads(two_views, work)
    assert sorted(item for popped in answers for item in popped) == list(range(800))
    assert [popped == sorted(popped) for popped in answers] == [True] * 4  # oldest first


CHILD = """
import json, sys
from mockserver.stores import key, open_store
store = open_store(sys.argv[1])
{work}
"""


def child(url: str, work: str) -> subprocess.Popen[str]:
    """A Python process running `work` with `store` open on `url`."""
    code = CHILD.format(work=work)
    return subprocess.Popen(
        [sys.executable, "-c", code, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def test_sqlite_is_atomic_across_processes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    store = open_store(url)
    store.push(B, *range(400))
    work = """
counts = [store.incr(key("acme", "one")) for _ in range(200)]
won = [n for n in range(100) if store.add(key("acme", str(n)), 1)]
popped = [store.pop(key("acme", "two")) for _ in range(200)]
print(json.dumps([counts, won, popped]))
"""
    processes = [child(url, work) for _ in range(2)]
    answers = [json.loads(process.communicate(timeout=60)[0]) for process in processes]
    assert sorted(answers[0][0] + answers[1][0]) == list(range(1, 401))
    assert sorted(answers[0][1] + answers[1][1]) == list(range(100))
    assert sorted(answers[0][2] + answers[1][2]) == list(range(400))
    assert (store.get(A), store.length(B)) == (400, 0)
    store.close()


def test_sqlite_keeps_what_a_killed_process_wrote(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    work = """
store.set(key("acme", "one"), {"job": 1})
store.push(key("acme", "two"), 1, 2, 3, keep=2)
store.put(key(None, "map"), "f", [1])
store.incr(key(None, "n"), 7)
print("written", flush=True)
sys.stdin.read()
"""
    process = child(url, work)
    assert process.stdout is not None and process.stdout.readline() == "written\n"
    process.kill()  # SIGKILL: no atexit, no close
    process.wait()
    store = open_store(url)
    assert store.get(A) == {"job": 1}
    assert store.items(B) == [2, 3]
    assert store.entries(key(None, "map")) == {"f": [1]}
    assert store.get(key(None, "n")) == 7
    store.close()


def test_redis_keeps_what_it_answered_through_kill_9(durable_redis_server: RedisServer) -> None:
    store = open_store(f"{durable_redis_server.url}?prefix={fresh_prefix()}")
    store.set(A, {"job": 1})
    store.push(B, 1, 2, 3, keep=2)
    store.put(key(None, "map"), "f", [1])
    store.incr(key(None, "n"), 7)
    durable_redis_server.restart_after_kill()
    # the same store object goes on: redis-py connects again
    assert store.get(A) == {"job": 1}
    assert store.items(B) == [2, 3]
    assert store.entries(key(None, "map")) == {"f": [1]}
    assert store.get(key(None, "n")) == 7
    store.close()


# --- what cannot work says why, in one line ------------------------------------------------


@pytest.mark.parametrize("scheme", ["redis", "redis+cluster"])
def test_an_unreachable_redis_is_one_line(scheme: str) -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(StoreError) as caught:
        open_store(f"{scheme}://127.0.0.1:{port}/0")
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "refused" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_sqlite_needs_an_existing_directory_and_a_database(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path}/missing/state.db")
    (tmp_path / "text.db").write_text("not a database at all, " * 100)
    with pytest.raises(StoreError, match="not a database"):
        open_store(f"sqlite:///{tmp_path}/text.db")


@pytest.mark.parametrize(
    ("query", "line"),
    [
        ("prefx=a", "unknown store option 'prefx'; known: prefix"),
        ("prefix=a&cluster=1", "unknown store option 'cluster'; known: prefix"),
        ("prefix=", "store option prefix= is empty: give a name (letters, digits, '_', '.' or"),
    ],
)
def test_sqlite_refuses_an_option_it_would_ignore(tmp_path: Path, query: str, line: str) -> None:
    """`?prefx=a` was ignored and `?prefix=` read as the default: the store opened on the
    default namespace, shared with any other server on the file, unnoticed."""
    from mockserver.configschema import store_problem

    url = f"sqlite:///{tmp_path}/state.db?{query}"
    with pytest.raises(StoreError) as refused:
        open_store(url)
    assert str(refused.value).startswith(line)
    assert (store_problem(url) or "").startswith(line)  # checked before a server starts
    assert not (tmp_path / "state.db").exists()
    assert (store_problem("redis://127.0.0.1:6379/0?prefix=") or "").startswith(
        "store option prefix= is empty"
    )


@pytest.mark.parametrize("tenant", [None, "acme", "a:b{c}*%"])
@pytest.mark.parametrize("part", ["job_1", "a:b", "{x}", "50%*", ""])
def test_a_subkey_is_the_key_of_one_more_part(tenant: str | None, part: str) -> None:
    for parents in (("job",), ("a:b", "c")):
        assert subkey(key(tenant, *parents), part) == key(tenant, *parents, part)


# --- fewer round trips: what a request reads once, jobs read ahead --------------------------


def test_a_request_reads_its_values_once_and_sees_its_own_writes(
    two_views: tuple[StateStore, StateStore],
) -> None:
    mine, other = two_views  # this process's store, and another process's
    other.set(A, 1)
    told: list[list[Any]] = []
    with view.ReadOnce(mine, [A, B], told.append) as values:  # the block of one request
        assert values == [1, None] and told == [values]
        other.set(A, 2)  # another process, while the request runs: after it, for the request
        if mine.shared:
            assert view.held(mine, A) == 1
            assert view.held(other, A) == 2  # another store object: not this request's view
        mine.set(B, "mine")  # as the request's own writes do: the store, then its view
        view.wrote(mine, B, "mine")
        assert view.held(mine, B) == "mine"
        view.forget(mine)  # emptied: read again
        assert view.held(mine, A) == 2
    other.set(A, 3)
    assert view.held(mine, A) == 3  # after the request, in the same context: the store


def _job(job_id: str, scenario: str = "") -> Job:
    plan = Plan((Phase("running", 10.0, ""),), None)
    return Job("neuralanalog", "acme", job_id, "audio", 0.0, plan, {}, scenario)


def test_jobs_read_ahead_are_the_next_get_of_each_once(
    two_views: tuple[StateStore, StateStore],
) -> None:
    mine, other = JobStore(lambda: 0.0, store=two_views[0]), two_views[1]
    mine.add(_job("one"), "first")
    mine.add(_job("two"))
    with mine.handing_on():
        ahead = mine.read_ahead("neuralanalog", "acme", ["nothing", "first", "two"])
        assert [job and job.id for job in ahead] == [None, "one", "two"]
        assert mine.read_ahead("camb", "acme", ["one"]) == [None]  # another API's
        other.set(key("acme", "job", "two"), _job("two", "failed"))  # another process
        handed = mine.get("neuralanalog", "acme", "two")
        assert handed is not None and handed.scenario == ""  # as read ahead, not read again
        again = mine.get("neuralanalog", "acme", "two")
        assert again is not None and again.scenario == "failed"  # later gets read the store
        assert mine.get("camb", "acme", "one") is None  # handed on, still checked
        mine.read_ahead("neuralanalog", "acme", ["two"])
        other.set(key("acme", "job", "two"), _job("two", "completed"))
        mine.read_again()  # the request waited (a latency fault): what it read may be old
        latest = mine.get("neuralanalog", "acme", "two")
        assert latest is not None and latest.scenario == "completed"
    assert mine.read_ahead("neuralanalog", "acme", ["first"])[0] is not None  # no block: read
    found = mine.get("neuralanalog", "acme", "first")
    assert found is not None and found.id == "one"


@storable
@dataclass
class Ticket:
    state_tag: ClassVar[str] = "test-stores-ticket"
    text: str
    number: int = 0

    def to_state(self) -> Any:
        return [self.text, self.number]

    @classmethod
    def from_state(cls, data: Any) -> Ticket:
        return cls(*data)


def test_push_numbered_as_memory(store: StateStore) -> None:
    texts = ["a", "-7301928465019283, as a client may write", "c"]  # Redis's placeholder

    def run(s: StateStore) -> Any:
        s.incr(A, 10**15 - 1)  # past the integers Lua prints in full by default
        numbers = [s.push_numbered(A, B, Ticket(text), keep=2) for text in texts]
        return [
            numbers,
            s.items(B),
            s.incr(A, 0),
            s.push_numbered(A, B, Ticket("d")),
            s.length(B),
            s.push_numbered(A, B, Ticket("e"), keep=0),
            s.length(B),
        ]

    big = 10**15
    assert same_as_memory(store, run) == [
        [big, big + 1, big + 2], [Ticket(texts[1], big + 1), Ticket("c", big + 2)], big + 2,
        big + 3, 3, big + 4, 0
    ]  # fmt: skip


def test_heads_are_the_oldest_of_each_list(store: StateStore) -> None:
    def run(s: StateStore) -> Any:
        s.push(A, "a1", "a2")
        s.push(B, ["b"])
        return [s.heads([A, key(None, "none"), B]), s.heads([])]  # two cluster slots

    assert same_as_memory(store, run) == [["a1", None, ["b"]], []]


def test_a_write_that_cannot_be_sent_writes_nothing(shared_url: str) -> None:
    """An append that cannot be encoded fails the write before any of it is kept: the values
    listed before it are not left behind (half a create)."""
    store = open_store(shared_url)
    try:
        with pytest.raises(TypeError):
            store.write({A: 1}, [(B, "kept?"), (B, object())])
        assert [store.get(A), store.items(B)] == [None, []]
    finally:
        store.close()


def test_write_sets_then_appends_across_slots(store: StateStore) -> None:
    wide, elsewhere = key(None, "wide"), key("other", "list")  # other cluster slots

    def run(s: StateStore) -> Any:
        s.push(B, "old")
        lengths = s.write({A: {"v": 1}, wide: [1]}, [(B, "new"), (elsewhere, ["x"]), (B, "3")])
        return [
            lengths,
            s.get_many([A, wide]),
            s.items(B),
            s.items(elsewhere),
            s.write({}, []),
            s.write({A: 2}),
            s.get(A),
            s.write({}, [(B, "4")]),
        ]

    assert same_as_memory(store, run) == [
        [2, 1, 3], [{"v": 1}, [1]], ["old", "new", "3"], [["x"]], [], [], 2, [4]
    ]  # fmt: skip


def test_redis_names_an_option_neither_it_nor_redis_py_takes(redis_server: RedisServer) -> None:
    """redis-py hands a query option it does not know to the connection: `?prefx=a` ended
    `serve` in a TypeError traceback."""
    with pytest.raises(StoreError) as refused:
        open_store(f"{redis_server.url}?prefix={fresh_prefix()}&prefx=a")
    assert str(refused.value).endswith("unknown store option 'prefx'")


def test_the_events_listener_logs_an_outage_once_and_its_end(
    own_redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It logged one warning per second, per worker, for as long as Redis was away."""
    monkeypatch.setattr(redis_store, "RELISTEN_SECONDS", 0.01)  # many tries in a short outage
    server = own_redis_server
    store = open_store(server.url)
    try:
        store.subscribe(lambda origin, topic, text: None)
        with caplog.at_level(logging.WARNING, logger="mockserver"):
            server.kill()
            redis_servers.wait_ready(lambda: "events wait for it" in caplog.text, "the warning")
            time.sleep(0.3)  # about 30 more tries while Redis is away: none may log again
            server.start()
            redis_servers.wait_ready(lambda: "events come again" in caplog.text, "its end")
    finally:
        store.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("events wait for it" in w for w in warnings) == 1, warnings
    assert sum("events come again" in w for w in warnings) == 1, warnings
