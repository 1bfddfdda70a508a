"""A queued scenario that applies to some creates only (a `takes` predicate, as Neural Draft's
`plan_required` for premium videos) is judged, then taken only while it is still the head it
judged: on every store, with another worker (another ScenarioBook on the same store) taking
from or giving back to the queue in between, deterministically."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from random import Random

import pytest

from mockserver.engine.scenarios import Scenario, ScenarioBook, Taken
from mockserver.stores import StateStore, key, open_store

API, TENANT = "neuraldraft", "acme"
WORDS = ("completed", "failed")
KNOWN = ("completed", "failed", "stalled", "plan_required")


@pytest.fixture
def store(store_url: str) -> Iterator[StateStore]:
    opened = open_store(store_url)
    yield opened
    opened.close()


def choose(
    book: ScenarioBook,
    takes: Callable[[Scenario], bool] | None = None,
    taken: list[Taken] | None = None,
) -> Scenario:
    return book.choose(API, TENANT, None, [], lambda: Random(0), WORDS, KNOWN, takes, taken)


def queued(book: ScenarioBook) -> list[str]:
    return [entry["scenario"] for entry in book.queued()]


def meanwhile(
    other: Callable[[], object], applies: Callable[[Scenario], bool]
) -> Callable[[Scenario], bool]:
    """A `takes` that runs `other` (the other worker) when first asked, then judges."""
    calls: list[Scenario] = []

    def takes(scenario: Scenario) -> bool:
        calls.append(scenario)
        if len(calls) == 1:
            other()
        return applies(scenario)

    return takes


def test_a_head_taken_meanwhile_is_not_replaced_by_one_the_create_refuses(
    stores: tuple[StateStore, StateStore],
) -> None:
    """The create judges `failed` (it applies), another worker takes it: the create must not
    take `stalled`, the next head, which does not apply to it."""
    mine, theirs = ScenarioBook(store=stores[0]), ScenarioBook(store=stores[1])
    mine.queue(API, Scenario("failed", {}, "queue"), TENANT)
    mine.queue(API, Scenario("stalled", {}, "queue"), TENANT)
    other_got: list[Scenario] = []
    takes = meanwhile(lambda: other_got.append(choose(theirs)), lambda s: s.outcome == "failed")

    got = choose(mine, takes)

    assert [s.outcome for s in other_got] == ["failed"]
    assert (got.outcome, got.source) == ("completed", "default")  # nothing queued applied
    assert queued(mine) == ["stalled"]  # left for a create it applies to


def test_a_scenario_given_back_meanwhile_is_not_taken_unjudged(
    stores: tuple[StateStore, StateStore],
) -> None:
    """The create judges `failed`, the queue's head; another worker's failed create gives
    back `stalled` to the queue's head meanwhile: the create takes what it judged."""
    mine, theirs = ScenarioBook(store=stores[0]), ScenarioBook(store=stores[1])
    mine.queue(API, Scenario("stalled", {}, "queue"), TENANT)
    mine.queue(API, Scenario("failed", {}, "queue"), TENANT)
    taken: list[Taken] = []
    assert choose(theirs, taken=taken).outcome == "stalled"
    takes = meanwhile(lambda: theirs.give_back(taken[0]), lambda s: s.outcome == "failed")

    got = choose(mine, takes)

    assert (got.outcome, got.source) == ("failed", "queue")
    assert queued(mine) == ["stalled"]


def test_pop_if_pops_only_the_head_it_names(store: StateStore) -> None:
    name = key(TENANT, "list")
    first, second = Scenario("failed", {"after": "5"}, "queue"), {"b": [1, "é"]}
    store.push(name, first, second)
    assert store.pop_if(name, second) is False
    [head] = store.heads([name])
    assert store.pop_if(name, head) is True
    assert store.pop_if(name, head) is False  # gone: the head is another value now
    assert (store.items(name), store.length(name)) == ([second], 1)
    assert store.pop_if(name, store.heads([name])[0]) is True
    assert (store.pop_if(name, second), store.length(name)) == (False, 0)
