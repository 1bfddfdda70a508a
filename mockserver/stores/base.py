"""What every state store offers: a few atomic operations that Redis, SQLite and a dict share.

Every piece of server state (jobs, queued scenarios, fault rules, the journal, webhooks,
idempotency records, rate windows, the clock, ID counters) is kept through these operations,
so the same engine runs on one process's memory, on a SQLite file that survives restarts, or
on Redis shared by many workers and machines.

Keys are made by `key(tenant, *parts)`. One tenant's keys share a Redis Cluster hash slot
(`{tenant}` hash tags), so an operation never spans two slots; server-wide keys use the
tenant `None`. What a reset must not forget (ID counters, the clock, the link secret) is kept
at a `lasting_key`, which `clear(keep_lasting=True)` leaves alone.

Values are what `codec` can encode: JSON data and the classes registered with it. The memory
store keeps the objects themselves (no encoding: today's speed), the others keep their
encoding, so a caller that changes a value it read must `set` it again for the change to
count everywhere.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, ClassVar, Protocol

Listener = Callable[[str, str], None]  # (topic, message)
GLOBAL = "*"  # the hash tag of server-wide keys


class Numbered(Protocol):
    """A value given its number as it is appended (`StateStore.push_numbered`)."""

    number: int


class StoreError(RuntimeError):
    """The store cannot be reached or used (a refused connection, a locked file...)."""


# a tenant is any API key: keep braces and colons out of the hash tag and the separators
# (and `*`, the server-wide tag, so a tenant named `*` cannot write into server-wide keys)
_SPECIAL = re.compile(r"[%{}:*]")


def _escape(text: str) -> str:
    if _SPECIAL.search(text) is None:
        return text
    return (
        text.replace("%", "%25")
        .replace("{", "%7B")
        .replace("}", "%7D")
        .replace(":", "%3A")
        .replace("*", "%2A")
    )


_tag = lru_cache(maxsize=1024)(_escape)  # the tenants of a run recur on every request


def subkey(parent: str, part: str) -> str:
    """`key(tenant, *parts, part)`, given `parent`, `key(tenant, *parts)`: only the new part
    is looked at (a job's key on every create and status read)."""
    return parent + ":" + _escape(part)


def key(tenant: str | None, *parts: str) -> str:
    """The key of `parts` for `tenant` (None: the whole server): `{acme}:job:42`."""
    # built on every store operation: one scan of all the parts finds the rare key that needs
    # escaping (escaping each part, job IDs missing the cache, cost a tenth of a create)
    tag = GLOBAL if tenant is None else _tag(tenant)
    if _SPECIAL.search("".join(parts)) is None:
        return "{" + tag + "}:" + ":".join(parts)
    return "{" + tag + "}:" + ":".join([_escape(part) for part in parts])


# `key` for parts that recur with each tenant (its job list, its ID counter; never a job ID):
# made once per tenant, as every create asks for them
recurring_key = lru_cache(maxsize=4096)(key)

LASTING = "~"  # the first part of every `lasting_key`, and of no other key (parts are names)
_LASTING_MARK = "}:" + LASTING + ":"  # a key's only `}` closes its tag: what follows is a part


@lru_cache(maxsize=4096)  # an ID counter's key is asked for on every create
def lasting_key(tenant: str | None, *parts: str) -> str:
    """`key(tenant, *parts)` for a value a reset keeps: `clear(keep_lasting=True)` passes it
    by. A reset empties the store while other processes go on using it: a value taken out and
    put back would be missing meanwhile (an ID counter counted again from 1, a secret or a
    clock made anew)."""
    return key(tenant, LASTING, *parts)


def lasting(name: str) -> bool:
    """Whether the key `name` (with a store's prefix before it, or not) is a `lasting_key`."""
    return _LASTING_MARK in name


class StateStore(ABC):
    """Atomic operations on keyed values, counters, lists and maps, and notifications.

    `shared` says whether other processes may see the same state: when they may, a process
    keeps no copy of its own that could go stale (the clock is read again per request, and
    status answers are dropped once another process changed jobs: `MockState.changed_jobs`).
    """

    shared: ClassVar[bool] = True
    url: str

    # --- values ------------------------------------------------------------------------

    @abstractmethod
    def get(self, key: str) -> Any | None:
        """The value at `key`, or None."""

    def get_many(self, keys: Sequence[str]) -> list[Any | None]:
        return [self.get(k) for k in keys]

    @abstractmethod
    def set(self, key: str, value: Any) -> None: ...

    @abstractmethod
    def add(self, key: str, value: Any) -> bool:
        """Set `key` only if it holds nothing; True if it was set (atomic: of two callers,
        exactly one wins)."""

    @abstractmethod
    def delete(self, *keys: str) -> None:
        """Forget the values, counters, lists or maps at `keys`."""

    @abstractmethod
    def update(self, key: str, change: Callable[[Any | None], Any | None]) -> Any | None:
        """Replace the value at `key` by `change(value)` atomically (None deletes it); returns
        the new value. `change` may run more than once (on a conflict): no side effects."""

    @abstractmethod
    def incr(self, key: str, by: int = 1) -> int:
        """Add `by` to the counter at `key` (0 when new) and return it (atomic)."""

    # --- lists: queues, logs, orders -----------------------------------------------------

    @abstractmethod
    def push(self, key: str, *values: Any, keep: int | None = None) -> int:
        """Append `values` at the end; with `keep`, drop the oldest past that many. Returns
        the length after."""

    @abstractmethod
    def pop(self, key: str) -> Any | None:
        """Remove and return the oldest value (atomic: two callers never get the same one)."""

    @abstractmethod
    def pop_if(self, key: str, head: Any) -> bool:
        """Remove the oldest value only if it still is `head`, a value `heads` just read there
        (atomic: a compare-and-pop); True if removed. A caller that judged the head before
        taking it retries on False: another caller popped or pushed meanwhile."""

    @abstractmethod
    def items(self, key: str, start: int = 0, stop: int = -1) -> list[Any]:
        """The values from `start` to `stop` included (negative counts from the end)."""

    @abstractmethod
    def length(self, key: str) -> int: ...

    @abstractmethod
    def remove(self, key: str, value: Any) -> None:
        """Remove the first occurrence of `value` (JSON data) from the list."""

    def heads(self, keys: Sequence[str]) -> list[Any | None]:
        """The oldest value of each list (None for an empty one), read together: one round
        trip where a store has them."""
        return [next(iter(self.items(k, 0, 0)), None) for k in keys]

    def push_numbered(
        self, counter: str, key: str, value: Numbered, keep: int | None = None
    ) -> int:
        """Add 1 to the counter at `counter`, set `value.number` to it and append `value` as
        `push` does, as one operation where a store can (never two values with one number;
        with it, one round trip). Returns the number."""
        value.number = self.incr(counter)
        self.push(key, value, keep=keep)
        return value.number

    # --- several at once -----------------------------------------------------------------

    def write(
        self, values: Mapping[str, Any], appends: Sequence[tuple[str, Any]] = ()
    ) -> list[int]:
        """`set` each of `values`, then `push` each `(key, value)` of `appends`, in this
        order, sent together: one round trip where a store can. Each step is atomic, as on
        its own, not the whole. Returns the lists' lengths after each append."""
        for k, value in values.items():
            self.set(k, value)
        return [self.push(k, value) for k, value in appends]

    # --- maps: records by name -----------------------------------------------------------

    @abstractmethod
    def put(self, key: str, field: str, value: Any) -> None: ...

    @abstractmethod
    def fetch(self, key: str, field: str) -> Any | None: ...

    @abstractmethod
    def discard(self, key: str, field: str) -> None: ...

    @abstractmethod
    def revise(self, key: str, field: str, change: Callable[[Any | None], Any | None]) -> Any:
        """Replace the map's `field` by `change(value)` atomically (None deletes it), as
        `update` does a value: two workers changing one record both keep their change.
        Returns the new value; `change` may run more than once: no side effects."""

    @abstractmethod
    def entries(self, key: str) -> dict[str, Any]:
        """Every field of the map, in no guaranteed order."""

    # --- the whole store -----------------------------------------------------------------

    @abstractmethod
    def clear(self, *, keep_lasting: bool = False) -> None:
        """Forget everything this server keeps here (its namespace only); with `keep_lasting`,
        everything but its `lasting_key`s (a reset, while other processes go on)."""

    @abstractmethod
    def refresh(self) -> None:
        """Before a request: go on with the store's current contents, should this process have
        been left with others (a SQLite file deleted or replaced under it). Cheap: each
        request on a shared store calls it."""

    @abstractmethod
    def publish(self, topic: str, message: str = "") -> None:
        """Tell every process on this store (this one included) about a change."""

    @abstractmethod
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(topic, message)` for every `publish`, from any process, possibly
        from another thread; returns the function that stops it."""

    @abstractmethod
    def close(self) -> None:
        """Release connections and threads."""
