"""Server time: real (optionally sped up) or manual, so a ten-minute job can end in a test."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from time import time as wall_time  # bound now: client-side virtual time never reaches it
from typing import Any, Protocol

from mockserver.engine.signals import Signal
from mockserver.stores import StateStore, StoreError, lasting_key

# Where the clock may be and be put: 1970 to 9000, moved by at most ten years at once. A
# timestamp prints up to 9999-12-31; the thousand years between leave room for every instant
# computed from now (a job's end, a retry, a link's expiry: a year 10000 was a 500)
EARLIEST, LATEST = 0.0, 221_845_392_000.0  # 9000-01-01T00:00:00Z
LAST_DAY = "9000-01-01"
SPAN = f"from 1970-01-01 to {LAST_DAY}"
MAX_STEP = 315_360_000.0


class PastTheEnd(ValueError):
    """A move of the clock past `LATEST`, which it may not pass."""


def _step(seconds: float) -> float:
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_STEP:
        raise ValueError(f"the clock moves forward by 0 to {MAX_STEP:.0f} seconds at once")
    return seconds


def _instant(timestamp: float) -> float:
    if not math.isfinite(timestamp) or not EARLIEST <= timestamp <= LATEST:
        raise ValueError(f"the clock can be set {SPAN} (Unix seconds)")
    return timestamp


class VirtualBlock(Protocol):
    """A block of virtual time open on a clock (`mockserver.virtualtime.VirtualTime`): its
    client's sleeps move the clock, so a wait on the server for the clock to move (an event
    stream the client reads) must move it too, or nothing would."""

    def wait_until(self, moment: float, waiter: str) -> bool:
        """Move the clock on to `moment` on the block's budget, as a client waiting that long
        would; False once the budget is spent (`waiter` says who waited, in the error)."""
        ...


class Clock:
    """One per server. Every timestamp an API prints comes from `now()` (Unix seconds).

    The clock is an anchor, `(real, virtual)`, and a `scale`: now is
    `virtual + (wall time - real) * scale` (scale 0: a manual clock, standing still). On a
    shared store the anchor lives in the store: every process computes the same now, a move
    made through one is published to all (`attach`), and `sync()` reads it again.
    """

    manual: bool = False

    def __init__(self, start: float, scale: float) -> None:
        self._moved = Signal()
        self._lock = threading.Lock()
        self.scale = scale
        self._anchor = (wall_time(), start)  # replaced as one: `now` reads it without the lock
        self._store: StateStore | None = None
        self._blocks: list[VirtualBlock] = []  # open virtual-time blocks, newest last

    def now(self) -> float:
        """A running clock stops at `LATEST` (at a scale of a million, 7,000 years pass in
        a few days)."""
        return _reading(self._anchor, self.scale)

    def advance(self, seconds: float) -> float:
        """PastTheEnd when `seconds` would take the clock past `LATEST`: a refusal about where
        the clock may be set would not say what was asked, nor where the clock is."""
        step = _step(seconds)

        def moved(anchor: list[float]) -> list[float]:
            now = _reading(anchor, self.scale)
            if now + step > LATEST:
                raise PastTheEnd(
                    f"advancing the clock by {seconds:g} seconds would pass {LAST_DAY}, where it "
                    f"stops (it reads {isoformat(now, MICROS_Z)})"
                )
            return [anchor[0], anchor[1] + step]

        return self._move(moved)

    def set(self, timestamp: float) -> float:
        at = _instant(timestamp)
        return self._move(lambda anchor: [wall_time(), at])

    def _move(self, change: Callable[[list[float]], list[float]]) -> float:
        with self._lock:  # two threads moving it at once both count
            if self._store is None:
                self._anchor = _anchor(change(list(self._anchor)))
            else:
                stored = self._store.update(
                    CLOCK, lambda held: [*change(held or list(self._anchor)), self.scale]
                )
                self._anchor = _anchor(stored)
        if self._store is None:
            self.changed()
        else:
            self._store.publish(CLOCK_MOVED)  # every process, this one included, syncs and wakes
        return self.now()

    def put_back(self) -> float:
        """After the shared store lost its contents (a Redis restarted empty, a SQLite file
        deleted), keep there the time this clock last knew, unless it holds a later one:
        another running server's, which knew it later. A server started since wrote its start
        time there, and would take every server's clock back to it (the jobs made meanwhile
        into their future)."""

        def later(held: list[float]) -> list[float]:  # the store's on a tie
            return max(held[:2], [*self._anchor], key=lambda anchor: _reading(anchor, self.scale))

        return self._move(later)

    def attach(self, store: StateStore) -> None:
        """Keep the anchor and scale in a shared `store`: take the anchor kept there (another
        worker's, or this server's before a restart) or keep this one there, and follow every
        move. A store whose clock runs at another scale (manual vs system, another speed) is a
        StoreError: one world has one clock."""
        if not store.shared:
            return
        if not store.add(CLOCK, [*self._anchor, self.scale]):
            held = store.get(CLOCK) or []
            if len(held) == 3 and held[2] != self.scale:
                raise StoreError(
                    f"the store's clock is {_mode(held[2])}, this server's {_mode(self.scale)}: "
                    "start it with the same --clock and --time-scale, or on another prefix"
                )
        self._store = store
        self.sync()
        store.subscribe(self._heard)

    def sync(self) -> None:
        """Read the anchor again from a shared store (a move another process made)."""
        if self._store is not None:
            self.adopt(self._store.get(CLOCK))

    def adopt(self, held: Any | None) -> None:
        """Take the anchor `held` just read at `CLOCK` of the shared store (with other values:
        a request's first read), when there is one."""
        if self._store is not None and held is not None:
            self._anchor = _anchor(held)

    def on_change(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` whenever the clock is moved by hand (wakes streams); returns an undo."""
        return self._moved.listen(listener)

    def open_virtual(self, block: VirtualBlock) -> Callable[[], None]:
        """While `block` is open (until the returned undo), waits on this manual clock spend
        its virtual time instead of waiting for the test to move the clock (`virtual`).
        Waits already under way look again at once. Only this process's waits see it."""
        with self._lock:
            self._blocks.append(block)
        self._moved.fire()

        def close() -> None:
            with self._lock:
                if block in self._blocks:
                    self._blocks.remove(block)

        return close

    @property
    def virtual(self) -> VirtualBlock | None:
        """The newest virtual-time block open on this clock, if it is manual (a running clock
        moves by itself: nothing waits on a test for it)."""
        if not self.manual:
            return None
        with self._lock:
            return self._blocks[-1] if self._blocks else None

    def changed(self) -> None:
        """Tell the listeners to look again: the clock was moved by hand, or a job was forced
        to end while time stood still (open streams send their last event, webhooks emit).
        On a shared store, the listeners of every process."""
        if self._store is None:
            self._moved.fire()
        else:
            self._store.publish(JOBS_CHANGED)

    def _heard(self, topic: str, message: str) -> None:
        if topic == CLOCK_MOVED:
            self.sync()
        if topic in (CLOCK_MOVED, JOBS_CHANGED):
            self._moved.fire()

    def describe(self) -> dict[str, object]:
        now = self.now()
        return {
            "mode": "manual" if self.manual else "system",
            "now": now,
            "iso": isoformat(now, MICROS_Z),
        }


class SystemClock(Clock):
    """Wall time, running `scale` times faster from the moment the server started."""

    def __init__(self, scale: float = 1.0) -> None:
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError("time scale must be positive")
        super().__init__(wall_time(), scale)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "time_scale": self.scale}


class ManualClock(Clock):
    """Stands still until told to move: the deterministic clock for tests."""

    manual = True
    DEFAULT_START = 1_767_225_600.0  # 2026-01-01T00:00:00Z: stable timestamps in every run

    def __init__(self, start: float | None = None) -> None:
        super().__init__(self.DEFAULT_START if start is None else start, 0.0)


def _anchor(held: Any) -> tuple[float, float]:
    real, virtual = held[:2]
    return (float(real), float(virtual))


def _reading(anchor: Sequence[float], scale: float) -> float:
    """What a clock at `anchor` and `scale` reads now."""
    real, virtual = anchor[:2]
    return min(virtual + (wall_time() - real) * scale, LATEST) if scale else virtual


def _mode(scale: float) -> str:
    """As a refusal shows it: every digit, so two scales refused as unlike never read alike."""
    return "manual" if not scale else f"system at scale {float(scale)!r}"


CLOCK = lasting_key(None, "clock")  # the anchor, on a shared store (a reset keeps it)
CLOCK_MOVED = "clock"  # published when the clock moved: read it again, then look again
JOBS_CHANGED = "changed"  # published when a job changed while time stood still: look again


# How an API spells an instant: each documents its own (all UTC).
SECONDS_Z = "seconds_z"  # 2026-04-19T10:14:02Z (Neural Analog, Neural Draft)
MICROS_Z = "micros_z"  # 2025-10-15T09:49:50.574754Z (NeuroLinker, document level)
MICROS_OFFSET = "micros_offset"  # 2025-10-15T09:49:50.574754+00:00 (NeuroLinker, request level)
TIME_STYLES = (SECONDS_Z, MICROS_Z, MICROS_OFFSET)


@lru_cache(maxsize=65_536)  # a polled job prints the same instants again and again
def isoformat(timestamp: float, style: str = SECONDS_Z) -> str:
    """ISO 8601 UTC in one of the documented `TIME_STYLES` (whole seconds by default)."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    if style == SECONDS_Z:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    text = moment.isoformat(timespec="microseconds")
    return text if style == MICROS_OFFSET else text.replace("+00:00", "Z")


def parse_time(value: str | float | int) -> float:
    """Accept Unix seconds or an ISO 8601 string (for `POST clock/set`), either one where the
    clock may be put (ValueError otherwise: 0001-01-01 parses, yet no timestamp prints it)."""
    if isinstance(value, int | float):
        return _instant(float(value))
    text = value.strip().replace("Z", "+00:00")
    moment = datetime.fromisoformat(text)  # ValueError for a string that is not ISO 8601
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _instant(moment.timestamp())
