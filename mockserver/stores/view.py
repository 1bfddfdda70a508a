"""A request's view of the server-wide values it asks for again and again.

On a shared store, every request reads the clock, strict mode and the fault rules, the last
several times over: each read a network round trip on Redis. `ReadOnce` fetches them together
at the start of the request (one MGET) and keeps them for the rest of it, in a context
variable: the request's own task (and the threads it hands work to) sees them, no other
request does. What another process changes before the request starts, the request sees; what
it changes meanwhile, the request sees as if it came after: the reads it replaces saw one
value or the next anyway. A change this request makes itself is seen at once (`wrote`, and
`forget` after the store was emptied). Outside a request, `held` reads the store. Before
reading, the block lets the store make sure it reads its current contents (`refresh`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any

from mockserver.stores.base import StateStore

# the store the current request read from, and what it read there
_read: ContextVar[tuple[StateStore, dict[str, Any]] | None] = ContextVar("view", default=None)


class ReadOnce:
    """The block of a request that reads the values at `keys` once, in one operation when it
    starts, and keeps them to its end (`then(values)` is told what was read). A class, not a
    generator, as every request on a shared store enters one."""

    __slots__ = ("store", "keys", "then", "token")

    def __init__(
        self,
        store: StateStore,
        keys: Sequence[str],
        then: Callable[[list[Any | None]], object] | None = None,
    ) -> None:
        self.store, self.keys, self.then = store, keys, then

    def __enter__(self) -> list[Any | None]:
        self.store.refresh()  # a request begins on the store's current contents
        values = self.store.get_many(self.keys)
        self.token = _read.set((self.store, dict(zip(self.keys, values, strict=True))))
        if self.then is not None:
            self.then(values)
        return values

    def __exit__(self, *_: object) -> None:
        _read.reset(self.token)  # after the request, reads go to the store again


def _kept(store: StateStore) -> dict[str, Any] | None:
    found = _read.get()
    return found[1] if found is not None and found[0] is store else None


def held(store: StateStore, key: str) -> Any | None:
    """The value at `key`: as the current request read it once, or else from the store."""
    if store.shared:  # only a request on a shared store keeps anything
        kept = _kept(store)
        if kept is not None and key in kept:
            return kept[key]
    return store.get(key)


def wrote(store: StateStore, key: str, value: Any | None) -> None:
    """This context just wrote `value` (None: nothing) at `key`: what it reads next."""
    kept = _kept(store)
    if kept is not None and key in kept:
        kept[key] = value


def forget(store: StateStore) -> None:
    """This context emptied the store: read everything from it again."""
    kept = _kept(store)
    if kept is not None:
        kept.clear()
