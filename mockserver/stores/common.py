"""What the stores share: the SQLite and Redis stores' URL options and list matching, and every
store's listeners."""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit

from mockserver import stores
from mockserver.stores.base import Listener, StoreError

_PREFIX = re.compile(r"[A-Za-z0-9_.-]+")
SHOWN = 60  # characters of an option's name a message shows
log = logging.getLogger("mockserver.stores")


def take_options(url: str, *names: str) -> tuple[SplitResult, dict[str, str]]:
    """The parts of `url` without the query options `names`, and their values (the last of
    each)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    taken = {name: value for name, value in query if name in names}
    rest = urlencode([(name, value) for name, value in query if name not in names])
    return parts._replace(query=rest), taken


def known_options(url: str, *names: str) -> None:
    """StoreError for a query option of `url` other than `names`: a misspelt one (`prefx=a`)
    would be ignored, and the store open on its default unnoticed."""
    for name, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if name not in names:
            shown = name if len(name) <= SHOWN else name[:SHOWN] + "..."
            raise StoreError(f"unknown store option {shown!r}; known: {', '.join(names)}")


def checked_prefix(url: str) -> str:
    """The namespace `?prefix=` names: letters, digits, `_`, `.` and `-` (Redis keys begin with
    it and glob patterns match it, so nothing there may need escaping). An empty one is
    refused, not read as the default: a script's unset variable would share that namespace."""
    query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    if ("prefix", "") in query:
        raise StoreError(
            "store option prefix= is empty: give a name (letters, digits, '_', '.' or '-') "
            "or leave the option out"
        )
    prefix = stores.prefix_of(url)
    if not _PREFIX.fullmatch(prefix):
        raise StoreError(f"store prefix {prefix!r}: use letters, digits, '_', '.' or '-'")
    return prefix


def has_mapping(value: Any) -> bool:
    """Whether `value` holds a dict somewhere: equal dicts may encode differently (key order),
    so a list item equal to it is found by decoding, not by its bytes."""
    if isinstance(value, dict):
        return True
    if isinstance(value, list | tuple):
        return any(has_mapping(item) for item in value)
    return getattr(value, "state_tag", None) is not None


class Listeners:
    """A store's listeners: its own publishes reach them at once, in the publishing thread;
    other processes' arrive through the store's watcher thread, which skips this `origin`."""

    def __init__(self) -> None:
        self.origin = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    def add(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def stop() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return stop

    def clear(self) -> None:
        with self._lock:
            self._listeners.clear()

    def deliver(self, topic: str, message: str) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(topic, message)

    def deliver_from(self, origin: str, topic: str, message: str) -> None:
        """From the watcher thread: another store's event; a failing listener is logged and
        the others still hear it (the watcher must outlive any listener's bug)."""
        if origin == self.origin:
            return
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(topic, message)
            except Exception:
                log.exception("a store listener failed on %r", topic)
