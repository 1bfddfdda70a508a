"""The default store: this process's memory. Nothing is encoded, nothing outlives the process,
no other process sees it."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from itertools import islice
from typing import Any

from mockserver.stores.base import Listener, StateStore, lasting
from mockserver.stores.common import Listeners


class MemoryStore(StateStore):
    shared = False
    url = "memory"

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._lists: dict[str, deque[Any]] = {}
        self._maps: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()
        self._listeners = Listeners()

    def get(self, key: str) -> Any | None:
        return self._values.get(key)

    def get_many(self, keys: Sequence[str]) -> list[Any | None]:
        values = self._values
        return [values.get(k) for k in keys]

    def set(self, key: str, value: Any) -> None:
        self._values[key] = value

    def add(self, key: str, value: Any) -> bool:
        with self._lock:
            if key in self._values:
                return False
            self._values[key] = value
            return True

    def delete(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                self._values.pop(k, None)
                self._lists.pop(k, None)
                self._maps.pop(k, None)

    def update(self, key: str, change: Callable[[Any | None], Any | None]) -> Any | None:
        with self._lock:
            value = change(self._values.get(key))
            if value is None:
                self._values.pop(key, None)
            else:
                self._values[key] = value
            return value

    def incr(self, key: str, by: int = 1) -> int:
        with self._lock:
            value = self._values[key] = int(self._values.get(key, 0)) + by
            return value

    def push(self, key: str, *values: Any, keep: int | None = None) -> int:
        with self._lock:
            items = self._list(key)
            items.extend(values)
            if keep is not None:
                while len(items) > keep:
                    items.popleft()
            return len(items)

    def pop(self, key: str) -> Any | None:
        with self._lock:
            items = self._lists.get(key)
            return items.popleft() if items else None

    def pop_if(self, key: str, head: Any) -> bool:
        """Through `heads` and `pop`, under the lock: a subclass keeping values encoded
        compares what it reads back."""
        with self._lock:
            if self.heads([key])[0] != head:
                return False
            self.pop(key)
            return True

    def items(self, key: str, start: int = 0, stop: int = -1) -> list[Any]:
        with self._lock:
            items = self._lists.get(key, deque())
            size = len(items)
            first = max(start + size if start < 0 else start, 0)
            last = stop + size if stop < 0 else min(stop, size - 1)
            if last < first:  # a stop before the first item: none
                return []
            if first > size - 1 - last:  # nearer the end: walk from there
                return list(islice(reversed(items), size - 1 - last, size - first))[::-1]
            return list(islice(items, first, last + 1))

    def length(self, key: str) -> int:
        items = self._lists.get(key)
        return len(items) if items else 0

    def remove(self, key: str, value: Any) -> None:
        with self._lock:
            items = self._lists.get(key)
            if items and value in items:
                items.remove(value)

    def heads(self, keys: Sequence[str]) -> list[Any | None]:
        with self._lock:
            return [items[0] if (items := self._lists.get(k)) else None for k in keys]

    def write(
        self, values: Mapping[str, Any], appends: Sequence[tuple[str, Any]] = ()
    ) -> list[int]:
        """The values, then each append, under one hold of the lock (a job's create writes
        three lists)."""
        lengths = []
        with self._lock:
            self._values.update(values)
            for k, value in appends:
                items = self._list(k)
                items.append(value)
                lengths.append(len(items))
        return lengths

    def _list(self, key: str) -> deque[Any]:
        """The list at `key`, made empty if there is none (the caller holds the lock)."""
        items = self._lists.get(key)
        if items is None:
            items = self._lists[key] = deque()
        return items

    def put(self, key: str, field: str, value: Any) -> None:
        with self._lock:
            self._maps.setdefault(key, {})[field] = value

    def fetch(self, key: str, field: str) -> Any | None:
        found = self._maps.get(key)
        return found.get(field) if found else None

    def discard(self, key: str, field: str) -> None:
        with self._lock:
            found = self._maps.get(key)
            if found is not None:
                found.pop(field, None)

    def revise(self, key: str, field: str, change: Callable[[Any | None], Any | None]) -> Any:
        with self._lock:
            found = self._maps.setdefault(key, {})
            value = change(found.get(field))
            if value is None:
                found.pop(field, None)
            else:
                found[field] = value
            return value

    def entries(self, key: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._maps.get(key, {}))

    def clear(self, *, keep_lasting: bool = False) -> None:
        with self._lock:
            for held in (self._values, self._lists, self._maps):
                for name in [name for name in held if not (keep_lasting and lasting(name))]:
                    del held[name]

    def refresh(self) -> None:
        """Nothing to follow: the contents are this process's own."""

    def publish(self, topic: str, message: str = "") -> None:
        self._listeners.deliver(topic, message)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self._listeners.add(listener)

    def close(self) -> None:
        self._listeners.clear()
