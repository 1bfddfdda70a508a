"""Server time: real (optionally sped up) or manual, so a ten-minute job can end in a test."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from time import time as wall_time  # bound now: client-side virtual time never reaches it

from mockserver.engine.signals import Signal

# Where the clock may be put: any instant a timestamp can print (years 1970 to 9999), moved
# by at most ten years at once
EARLIEST, LATEST = 0.0, 253_402_300_799.0
MAX_STEP = 315_360_000.0


def _step(seconds: float) -> float:
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_STEP:
        raise ValueError(f"the clock moves forward by 0 to {MAX_STEP:.0f} seconds at once")
    return seconds


def _instant(timestamp: float) -> float:
    if not math.isfinite(timestamp) or not EARLIEST <= timestamp <= LATEST:
        raise ValueError("the clock can be set from 1970-01-01 to 9999-12-31 (Unix seconds)")
    return timestamp


class Clock:
    """One per server. Every timestamp an API prints comes from `now()` (Unix seconds)."""

    manual: bool = False

    def __init__(self) -> None:
        self._moved = Signal()
        self._lock = threading.Lock()

    def now(self) -> float:
        raise NotImplementedError

    def advance(self, seconds: float) -> float:
        raise NotImplementedError

    def set(self, timestamp: float) -> float:
        raise NotImplementedError

    def on_change(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` whenever the clock is moved by hand (wakes streams); returns an undo."""
        return self._moved.listen(listener)

    def changed(self) -> None:
        """Tell the listeners to look again: the clock was moved by hand, or a job was forced
        to end while time stood still (open streams send their last event, webhooks emit)."""
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
        super().__init__()
        if scale <= 0:
            raise ValueError("time scale must be positive")
        self.scale = scale
        start = wall_time()
        # (real, virtual) origins, replaced as one: `now` reads them without the lock
        self._origins = (start, start)

    def now(self) -> float:
        real, virtual = self._origins
        return virtual + (wall_time() - real) * self.scale

    def advance(self, seconds: float) -> float:
        step = _step(seconds)
        with self._lock:  # two threads advancing at once both count
            real, virtual = self._origins
            _instant(self.now() + step)
            self._origins = (real, virtual + step)
        self.changed()
        return self.now()

    def set(self, timestamp: float) -> float:
        at = _instant(timestamp)
        with self._lock:
            self._origins = (wall_time(), at)
        self.changed()
        return self.now()

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "time_scale": self.scale}


class ManualClock(Clock):
    """Stands still until told to move: the deterministic clock for tests."""

    manual = True
    DEFAULT_START = 1_767_225_600.0  # 2026-01-01T00:00:00Z: stable timestamps in every run

    def __init__(self, start: float | None = None) -> None:
        super().__init__()
        self._now = self.DEFAULT_START if start is None else start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now = _instant(self._now + _step(seconds))
        self.changed()
        return self._now

    def set(self, timestamp: float) -> float:
        with self._lock:
            self._now = _instant(timestamp)
        self.changed()
        return self._now


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
    """Accept Unix seconds or an ISO 8601 string (for `POST clock/set`)."""
    if isinstance(value, int | float):
        return _instant(float(value))
    text = value.strip().replace("Z", "+00:00")
    moment = datetime.fromisoformat(text)  # ValueError for a string that is not ISO 8601
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
