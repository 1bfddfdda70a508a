"""A thread-safe list of callbacks: how the clock (and APIs) tell waiting code that time moved."""

from __future__ import annotations

import threading
from collections.abc import Callable

Listener = Callable[[], None]


class Slow:
    """A listener whose work may take long (webhook deliveries over HTTP): `fire` calls it
    after every other one, so that none of them (an open event stream) waits for it."""

    __slots__ = ("listener",)

    def __init__(self, listener: Listener) -> None:
        self.listener = listener

    def __call__(self) -> None:
        self.listener()


class Signal:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` on every `fire()`; returns the function that stops it."""
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def fire(self) -> None:
        """Call every listener, in the order they came, the `Slow` ones last."""
        with self._lock:
            listeners = sorted(self._listeners, key=lambda listener: isinstance(listener, Slow))
        for listener in listeners:
            listener()
