"""The journal keeps the latest violating entries apart from its ring, and reads a test's own
entries (those after its start) at what they cost, however full it is."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mockserver.contracts import Violation
from mockserver.engine.journal import TAIL_CHUNK, VIOLATING_KEPT, Entry, Journal
from mockserver.stores import MemoryStore, StateStore, open_store
from mockserver.verdicts import findings_of

NA = "neuralanalog"


def entry(tenant: str = "t", bad: bool = False, path: str = "/from-link") -> Entry:
    violations = [Violation("importFromLink", "/body/url", "Field required")] if bad else []
    return Entry("req", 1.0, NA, tenant, "POST", path, "", b"{}", violations=violations)


@pytest.fixture
def store(store_url: str) -> Iterator[StateStore]:
    opened = open_store(store_url)
    yield opened
    opened.clear()
    opened.close()


def test_a_violation_outlives_the_ring(store: StateStore) -> None:
    """Once ten more requests had pushed the bad one out of a ring of five, its violation was
    gone: a test's teardown found none."""
    journal = Journal(5, store=store)
    journal.record(entry("t", bad=True))
    for _ in range(10):
        journal.record(entry("t"))
    journal.record(entry("other", bad=True))
    assert [e.violations for e in journal.entries("neuralanalog", "t")] == [[]] * 4
    [found] = journal.violations(NA, "t")
    assert (found["pointer"], found["path"], found["api"]) == ("/body/url", "/from-link", NA)
    assert journal.violations(NA, "t", since=1) == []  # after the bad one: none
    assert len(journal.violations()) == 2
    journal.clear(NA, "t")  # a filtered clear hides it too
    assert [v["pointer"] for v in journal.violations()] == ["/body/url"]
    journal.clear()
    assert journal.violations() == []


def test_the_latest_violating_entries_are_kept() -> None:
    journal = Journal(10)
    for number in range(VIOLATING_KEPT + 5):
        journal.record(entry(bad=True, path=f"/bad/{number}"))
    paths = [v["path"] for v in journal.violations()]
    assert paths == [f"/bad/{n}" for n in range(5, VIOLATING_KEPT + 5)]


class CountingStore(MemoryStore):
    """The memory store, counting the list items it hands out (what a shared store decodes)."""

    def __init__(self) -> None:
        super().__init__()
        self.read = 0

    def items(self, key: str, start: int = 0, stop: int = -1) -> list[Any]:
        found = super().items(key, start, stop)
        self.read += len(found)
        return found


def test_a_reader_of_its_own_entries_reads_what_it_gets() -> None:
    """A test's teardown read the whole journal (10,000 entries: 0.9 s on SQLite) for each of
    its checks, whatever it had sent."""
    store = CountingStore()
    journal = Journal(10_000, store=store)
    for _ in range(3000):
        journal.record(entry("earlier", bad=True))
    since = journal.recorded
    journal.record(entry("t", bad=True))
    journal.record(entry("t"))
    store.read = 0
    assert len(journal.entries(NA, "t", since=since)) == 2
    assert len(journal.violations(NA, "t", since=since)) == 1
    assert findings_of(journal, {NA: "t"}, since) == []
    assert store.read <= 3 * TAIL_CHUNK
    assert len(journal.entries(since=since - 100)) == 102  # read back in growing chunks
    assert len(journal.violations(NA, "earlier", since=since - 100)) == 100
    # the list apart let the oldest go: the ring, which still holds them, is read too
    assert len(journal.violations(NA, "earlier")) == 3000
