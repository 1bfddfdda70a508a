"""A thread-safe list of callbacks: how the clock (and APIs) tell waiting code that time moved."""

from __future__ import annotations

import threading
from collections.abc import Callable

Listener = Callable[[], None]


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
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()
