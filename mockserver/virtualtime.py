"""Virtual time for the code under test: its sleeps move the mock's clock instead of waiting.

Real clients sleep between polls and give up after their own timeouts. Inside `VirtualTime`,
`time.sleep`, `asyncio.sleep`, `time.time`, `time.monotonic`, `time.perf_counter` and their
`_ns` forms run on the server's clock for the threads that entered it: every sleep advances
the clock by exactly that much and returns at once, so a ten-minute polling loop ends in
milliseconds, faithfully. Other threads (the server's own event loop among them) keep real
time.

Some clocks stay real inside the block, by design:
- an event loop's own clock (`loop.time()`): it times `asyncio.wait_for`, `asyncio.timeout`
  and `loop.call_later`, which must fire after their delay whether or not anybody sleeps;
- `datetime.now()` and the other C-level clocks, which no module attribute holds;
- a clock function bound before the block began (a default argument `clock=time.monotonic`,
  an attribute of an object): it is the real function itself.
`own_reads` counts the virtual clock reads made by the client's own code (not the standard
library's nor an installed package's): none at all, in a flow that slept, says that a timeout
it has is on one of those real clocks.

Virtual time ends, so a client that never stops polling cannot hang a run: past its `budget`
of virtual seconds, or past `max_still` requests to the server while the clock stood still (a
loop that never sleeps), the client's next sleep or clock read raises `OutOfTime`.

A client reading an event stream waits without sleeping: the server waits for the clock. On
a manual `Clock` the block is open on (`Clock.open_virtual`), such a wait moves the clock on
itself (`wait_until`), on the same budget; once that runs out the stream closes and the
client's next sleep or clock read raises.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any, NoReturn, Protocol

DEFAULT_BUDGET = 24 * 3600.0  # virtual seconds: far longer than any job the mock plans
DEFAULT_MAX_STILL = 1000  # requests without the clock moving: only a loop that never sleeps
MAX_BUDGET = 365 * 24 * 3600  # a year of virtual time: a client still polling then is stuck
MAX_STILL_BOUND = 1_000_000  # the most `max_still` may be


def checked_budget(seconds: object) -> float:
    """`seconds` as a virtual budget; ValueError saying what is allowed. A budget that never
    runs out (NaN, infinity) would let a client that never stops polling hang the run; `True`
    is refused, not read as one second."""
    try:
        budget = math.nan if isinstance(seconds, bool) else float(seconds)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        budget = math.nan
    if not 0 < budget <= MAX_BUDGET:
        raise ValueError(
            f"{seconds!r} is not allowed; expected a number of seconds above 0 up to "
            f"{MAX_BUDGET} (a year)"
        )
    return budget


def checked_max_still(requests: object) -> int:
    """`requests` as a bound on requests while the clock stands still; ValueError saying what
    is allowed."""
    if (
        isinstance(requests, bool)
        or not isinstance(requests, int)
        or not 1 <= requests <= MAX_STILL_BOUND
    ):
        raise ValueError(
            f"{requests!r} is not allowed; expected a whole number from 1 to {MAX_STILL_BOUND}"
        )
    return requests


class OutOfTime(BaseException):
    """Raised in the client's thread when its virtual time is spent. A BaseException, so a
    client's `except Exception` cannot swallow it and poll on."""


class NeverSleeps(OutOfTime):
    """The client made more than `max_still` requests while the clock stood still: a loop
    that never sleeps, which says more about its pace than about its patience."""


class SteerableClock(Protocol):
    def now(self) -> float: ...

    def advance(self, seconds: float) -> float: ...


REAL: dict[str, Callable[..., Any]] = {
    "sleep": time.sleep,
    "time": time.time,
    "monotonic": time.monotonic,
    "perf_counter": time.perf_counter,
    "time_ns": time.time_ns,
    "monotonic_ns": time.monotonic_ns,
    "perf_counter_ns": time.perf_counter_ns,
}
NANOS = 1_000_000_000
# where code that is not the client's own lives: the standard library, installed packages
LIBRARIES = tuple(
    {
        path
        for name in ("stdlib", "platstdlib", "purelib", "platlib")
        if (path := sysconfig.get_paths().get(name))
    }
)
REAL_ASYNC_SLEEP = asyncio.sleep


def _loop_time(loop: asyncio.BaseEventLoop) -> float:
    """`BaseEventLoop.time` on the real monotonic clock, even where `time.monotonic` is
    virtual: the loop's timers (timeouts, `call_later`) keep working."""
    return REAL["monotonic"]()


# keep the real functions: the server's clock, and pytest's own timing (test durations)
OWN = ("mockserver.engine", "_pytest")
Holder = tuple[Any, str, Callable[..., Any]]  # (module, name, the real function it holds)


class _Holders:
    """The modules' names that hold a real function, remembered from one block to the next.

    Walking every name of every module (tens of thousands in a test process) was most of
    what entering virtual time cost. A name that comes to hold a real function is a new
    reference to it; so while the functions' reference counts stand where the last walk
    left them, its findings stand too, and only they are looked at again."""

    def __init__(self) -> None:
        self.counts: tuple[int, ...] = ()
        self.found: list[Holder] = []

    def find(self) -> list[Holder]:
        """Each (module, name) holding a real function now, outside the kit's own modules."""
        if self._counts() != self.counts:
            self.found = []  # its references go before the functions are counted again
            self.found = list(self._walk())
            self.counts = self._counts()
        live = {id(module) for module in list(sys.modules.values())}
        return [
            (module, name, value)
            for module, name, value in self.found
            if id(module) in live and module.__dict__.get(name) is value
        ]

    @staticmethod
    def _counts() -> tuple[int, ...]:
        return tuple(sys.getrefcount(function) for function in (*REAL.values(), REAL_ASYNC_SLEEP))

    @staticmethod
    def _walk() -> Iterator[Holder]:
        real = {id(function) for function in (*REAL.values(), REAL_ASYNC_SLEEP)}
        for module in list(sys.modules.values()):
            namespace = getattr(module, "__dict__", None)
            name = getattr(module, "__name__", "")
            if not isinstance(namespace, dict) or name == __name__ or name.startswith(OWN):
                continue
            for attribute, value in list(namespace.items()):
                if callable(value) and id(value) in real:
                    yield module, attribute, value


_HOLDERS = _Holders()


@cache
def _own_code(filename: str) -> bool:
    """Whether code in `filename` is the client's own: not the standard library's, not an
    installed package's, not frozen or generated (`<string>`)."""
    return not filename.startswith((*LIBRARIES, "<"))


class VirtualTime:
    """Put the calling thread's view of time on `clock` while the context is open.

    `slept` is the total virtual time the client slept; `sleeps` counts its sleeps; `waited`
    is the virtual time the server's waits moved the clock on for it (`wait_until`: event
    streams it read); `own_reads` counts the clock reads of its own code (`_own_code`). With
    a `budget` (virtual seconds from now), a sleep past it raises `OutOfTime`, as does the
    sleep after `max_sleeps`; a wait past it ends, and the client's next sleep or clock read
    raises. With `requests` (a count of the server's requests so far) and `max_still`,
    reading or sleeping once more than `max_still` requests came in while the clock stood
    still raises it too: HTTP clients read the clock on every request.
    """

    def __init__(
        self,
        clock: SteerableClock,
        budget: float | None = None,
        *,
        max_sleeps: int | None = None,
        requests: Callable[[], int] | None = None,
        max_still: int = DEFAULT_MAX_STILL,
    ) -> None:
        self.clock = clock
        self.slept = 0.0
        self.sleeps = 0
        self.waited = 0.0
        self.own_reads = 0
        self.budget = None if budget is None else checked_budget(budget)
        self.max_sleeps = max_sleeps
        self.max_still = checked_max_still(max_still)
        self._requests = requests
        self._threads: set[int] = set()
        self._origin = clock.now()
        self._deadline = None if self.budget is None else self._origin + self.budget
        self._still_at = self._origin
        self._still_from = requests() if requests else 0
        self._patched: list[tuple[Any, str, Any]] = []
        self._spending = threading.Lock()  # the client's sleeps and the server's waits
        self.stopped: OutOfTime | None = None  # the first limit the client met

    # --- the limits --------------------------------------------------------------------------

    def stop(self, cause: OutOfTime) -> NoReturn:
        """Raise `cause` in the client, kept as `stopped`: raised deep in its code (a lock's
        wait, a connection pool), it may come out as another error, yet it is what ended
        the client."""
        if self.stopped is None:
            self.stopped = cause
        raise cause

    def check_stopped(self) -> None:
        """Raise `stopped` again: a client whose time ran out while the server waited for it
        (an event stream), or who swallowed the first OutOfTime, is stopped at its next sleep
        or clock read."""
        if self.stopped is not None:
            raise self.stopped.with_traceback(None)

    def check_still(self) -> None:
        """Raise NeverSleeps when the clock has not moved over more than `max_still`
        requests. Sleeps and clock reads check it; a caller that watches the client's thread
        otherwise (a trace function) may check it too."""
        if self._requests is None:
            return
        now, count = self.clock.now(), self._requests()
        if now != self._still_at:
            self._still_at, self._still_from = now, count
        elif count - self._still_from > self.max_still:
            self.stop(
                NeverSleeps(
                    f"made {count - self._still_from} requests without the clock moving "
                    f"(a loop that never sleeps; the bound is {self.max_still})"
                )
            )

    # --- the virtual functions -------------------------------------------------------------

    def _mine(self) -> bool:
        return threading.get_ident() in self._threads

    def sleep(self, seconds: float) -> None:
        if not self._mine():
            REAL["sleep"](seconds)
            return
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        if math.isnan(seconds):  # Python's own words for time.sleep(nan)
            raise ValueError("Invalid value NaN (not a number)")
        self.check_stopped()
        self.check_still()
        if self.max_sleeps is not None and self.sleeps >= self.max_sleeps:
            self.stop(OutOfTime(f"still polling after {self.sleeps} sleeps"))
        with self._spending:
            if self._deadline is not None and self.clock.now() + seconds > self._deadline:
                self.clock.advance(max(0.0, self._deadline - self.clock.now()))
                self.stop(
                    OutOfTime(f"still waiting when the {self.budget:g} s virtual budget ran out")
                )
            self.slept += seconds
            self.sleeps += 1
            self.clock.advance(seconds)

    def wait_until(self, moment: float, waiter: str) -> bool:
        """Move the clock on to `moment` for a wait on the server that the client waits on (an
        event stream it reads), counted in `waited`. Past the budget (24 h without one: a
        stalled job's stream would send keep-alives for ever) the clock stops at its end and
        `stopped` is recorded for the client's next sleep or clock read: False, stop waiting."""
        with self._spending:
            if self.stopped is not None:
                return False
            budget = DEFAULT_BUDGET if self.budget is None else self.budget
            end, now = self._origin + budget, self.clock.now()
            target = min(moment, end)
            if target > now:
                self.waited += target - now
                self.clock.advance(target - now)
            if moment <= end:
                return True
            self.stopped = OutOfTime(
                f"{waiter} was still waiting when the {budget:g} s virtual budget ran out"
            )
            return False

    def _read(self) -> float:
        """The clock for a read made by the caller of the caller (a `time.time` twin)."""
        self.check_stopped()
        self.check_still()
        frame = inspect.currentframe()
        caller = frame.f_back.f_back if frame and frame.f_back else None
        if caller is not None and _own_code(caller.f_code.co_filename):
            self.own_reads += 1
        return self.clock.now()

    def time(self) -> float:
        return self._read() if self._mine() else REAL["time"]()

    def monotonic(self) -> float:
        return self._read() - self._origin if self._mine() else REAL["monotonic"]()

    def perf_counter(self) -> float:
        return self._read() - self._origin if self._mine() else REAL["perf_counter"]()

    def time_ns(self) -> int:
        return round(self._read() * NANOS) if self._mine() else REAL["time_ns"]()

    def monotonic_ns(self) -> int:
        if not self._mine():
            return REAL["monotonic_ns"]()
        return round((self._read() - self._origin) * NANOS)

    def perf_counter_ns(self) -> int:
        if not self._mine():
            return REAL["perf_counter_ns"]()
        return round((self._read() - self._origin) * NANOS)

    async def async_sleep(self, delay: float, result: Any = None) -> Any:
        if not self._mine():
            return await REAL_ASYNC_SLEEP(delay, result)
        self.sleep(delay)
        await REAL_ASYNC_SLEEP(0)  # still a scheduling point, as callers expect
        return result

    # --- patching ----------------------------------------------------------------------------

    def _replacements(self) -> dict[int, Callable[..., Any]]:
        return {
            id(REAL["sleep"]): self.sleep,
            id(REAL["time"]): self.time,
            id(REAL["monotonic"]): self.monotonic,
            id(REAL["perf_counter"]): self.perf_counter,
            id(REAL["time_ns"]): self.time_ns,
            id(REAL["monotonic_ns"]): self.monotonic_ns,
            id(REAL["perf_counter_ns"]): self.perf_counter_ns,
            id(REAL_ASYNC_SLEEP): self.async_sleep,
        }

    def _patch_everywhere(self) -> None:
        """Replace the real functions in `time`, `asyncio` and every module that imported
        them by name (`from time import sleep`), so unmodified client code is covered."""
        replacements = self._replacements()
        self._patched.append((asyncio.BaseEventLoop, "time", asyncio.BaseEventLoop.time))
        setattr(asyncio.BaseEventLoop, "time", _loop_time)  # noqa: B010 - a method, replaced
        for module, attribute, value in _HOLDERS.find():
            if id(value) in replacements:
                self._patched.append((module, attribute, value))
                setattr(module, attribute, replacements[id(value)])

    def _restore(self) -> None:
        for module, name, value in reversed(self._patched):
            setattr(module, name, value)
        self._patched.clear()

    @contextmanager
    def running(self) -> Iterator[VirtualTime]:
        """Virtual time for the current thread until the block ends; on the server's clock,
        for its waits too."""
        from mockserver.engine.clock import Clock  # here: the pytest plugin imports this early

        self._threads.add(threading.get_ident())
        self._patch_everywhere()
        close = self.clock.open_virtual(self) if isinstance(self.clock, Clock) else None
        try:
            yield self
        finally:
            if close is not None:
                close()
            self._restore()
            self._threads.discard(threading.get_ident())
