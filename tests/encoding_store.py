"""A store that behaves, for the code using it, like the shared ones: every value is encoded
with `codec` when written and decoded when read, so a reader gets a copy, never the object
kept, and a value that cannot be encoded fails at once. `update` and `revise` run their change
twice, as a store retrying after a conflict may. Code that is right on it is right on SQLite
and Redis.

`state_store` is the fixture a test module imports to run its tests on memory and on this
store (the `mock` fixture builds its server on it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from mockserver.stores import MemoryStore, StateStore
from mockserver.stores.codec import dumps, loads


def _decoded(raw: Any) -> Any:
    return loads(raw) if isinstance(raw, bytes) else raw  # counters stay numbers


def _encoded(value: Any) -> Any:
    return None if value is None else dumps(value)


class EncodingStore(MemoryStore):
    shared = True
    url = "encoding"

    def get(self, key: str) -> Any | None:
        return _decoded(super().get(key))

    def get_many(self, keys: Sequence[str]) -> list[Any | None]:
        return [_decoded(raw) for raw in super().get_many(keys)]

    def set(self, key: str, value: Any) -> None:
        super().set(key, dumps(value))

    def add(self, key: str, value: Any) -> bool:
        return super().add(key, dumps(value))

    def update(self, key: str, change: Callable[[Any | None], Any | None]) -> Any | None:
        def twice(raw: Any | None) -> Any | None:
            change(_decoded(raw))  # a first run whose result is thrown away
            return _encoded(change(_decoded(raw)))

        return _decoded(super().update(key, twice))

    def push(self, key: str, *values: Any, keep: int | None = None) -> int:
        return super().push(key, *(dumps(value) for value in values), keep=keep)

    def pop(self, key: str) -> Any | None:
        return _decoded(super().pop(key))

    def items(self, key: str, start: int = 0, stop: int = -1) -> list[Any]:
        return [_decoded(raw) for raw in super().items(key, start, stop)]

    def remove(self, key: str, value: Any) -> None:
        super().remove(key, dumps(value))

    def put(self, key: str, field: str, value: Any) -> None:
        super().put(key, field, dumps(value))

    def fetch(self, key: str, field: str) -> Any | None:
        return _decoded(super().fetch(key, field))

    def revise(self, key: str, field: str, change: Callable[[Any | None], Any | None]) -> Any:
        def twice(raw: Any | None) -> Any | None:
            change(_decoded(raw))  # a first run whose result is thrown away
            return _encoded(change(_decoded(raw)))

        return _decoded(super().revise(key, field, twice))

    def entries(self, key: str) -> dict[str, Any]:
        return {field: _decoded(raw) for field, raw in super().entries(key).items()}

    # the memory store's own, quicker, skip the encoding: these go through the methods above
    heads = StateStore.heads
    write = StateStore.write


@pytest.fixture(params=["memory", "encoding"])
def state_store(request: pytest.FixtureRequest) -> StateStore | None:
    """None (the config's memory store), then an `EncodingStore`."""
    return EncodingStore() if request.param == "encoding" else None
