"""The served process's full garbage collections, run while it is quiet.

CPython runs a full collection each time the objects that outlived two young collections
have grown by a quarter, and a full collection walks every object the server holds: every
job and journal entry. Under a burst of creates that is a pause of tens of milliseconds
every few thousand requests, which every request in flight waits out (it set the p99 of a
create). `mockserver serve` hands the full collections to `QuietCollector`: the young
generations are still collected as requests come (they hold only new objects, so that is
quick), and a full collection runs once no request has come for a moment, or after a
bounded time under steady load, so garbage caught in reference cycles cannot pile up.
The count of requests is read from the state store: while the store cannot be reached the
collector skips its looks (one log line per outage) and carries on once it is back.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from mockserver.stores import StoreError

log = logging.getLogger("mockserver")

QUIET_SECONDS = 0.5  # no request for this long: the server is quiet
LONGEST_SECONDS = 60.0  # under load without a pause, a full collection after this long
NEVER = 2**31 - 1  # a full-collection threshold the count of young collections never reaches


class QuietCollector:
    """Runs the full collections of this process when `requests()` (a count of requests
    served) stands still over `quiet` seconds, or `longest` seconds after the last one."""

    def __init__(
        self,
        requests: Callable[[], int],
        quiet: float = QUIET_SECONDS,
        longest: float = LONGEST_SECONDS,
    ) -> None:
        self.requests = requests
        self.quiet = quiet
        self.longest = longest
        self.runs = 0  # full collections run so far
        self._seen = requests()
        self._last_run = time.monotonic()
        self._stop = threading.Event()
        self._thresholds = gc.get_threshold()
        self._outage = False  # the last look could not read the count: logged once

    def start(self) -> threading.Thread:
        """Put off the interpreter's own full collections and watch from a daemon thread."""
        young, older, _ = self._thresholds = gc.get_threshold()
        gc.set_threshold(young, older, NEVER)
        watcher = threading.Thread(target=self._watch, name="quiet-collector", daemon=True)
        watcher.start()
        return watcher

    def stop(self) -> None:
        """Stop watching; the interpreter runs its full collections itself again."""
        self._stop.set()
        gc.set_threshold(*self._thresholds)

    def due(self, now: float, promoted: bool) -> bool:
        """Whether to collect now: something outlived the young collections since the last
        run (`promoted`), and the server is quiet or has gone `longest` without one."""
        count = self.requests()
        quiet, self._seen = count == self._seen, count
        return promoted and (quiet or now - self._last_run >= self.longest)

    def collect(self, now: float) -> None:
        gc.collect()
        self.runs += 1
        self._last_run = now

    def look(self, now: float, promoted: bool) -> None:
        """Collect if it is `due`. A store that cannot be reached (Redis restarting) would
        end the watching thread, and the process's full collections with it, for good: the
        look is skipped instead, said once in the log as a request's store error is."""
        try:
            due = self.due(now, promoted)
        except StoreError as exc:
            if not self._outage:
                log.warning("quiet-collector: full collections wait for the store: %s", exc)
            self._outage = True
            return
        self._outage = False
        if due:
            self.collect(now)

    def _watch(self) -> None:
        while not self._stop.wait(self.quiet):
            # the count of young collections since the last full one: none, nothing to do
            self.look(time.monotonic(), promoted=gc.get_count()[2] > 0)


def collect_when_quiet(app: Any) -> QuietCollector:
    """Hand the full collections of the process serving `app` (a `create_app` app) to a
    `QuietCollector` counting the requests its journal records."""
    journal = app.state.mock.journal
    collector = QuietCollector(lambda: journal.recorded)
    collector.start()
    return collector
