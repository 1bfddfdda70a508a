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
`sleeper_read_clock` says whether the code whose sleep ran out the budget (its package: a
poll loop, its own or an SDK's) ever read a virtual clock: where it did not, a timeout it has
is on one of those real clocks, or it has none.

Virtual time ends, so a client that never stops polling cannot hang a run: past its `budget`
of virtual seconds, past `max_still` requests to the server while the clock stood still (a
loop that never sleeps), past `max_sleeps` sleeps in a row that barely moved the clock (a
loop that sleeps 0 or next to nothing: its budget would take hours of real time to run out),
or past `wall_limit` seconds of real time and `WALL_SLEEPS` sleeps (a loop whose tiny sleeps
would take days to spend its budget), the client's next sleep or clock read raises
`OutOfTime` (the wall limit's, its next sleep).

What a block does for itself on the client's thread (read the server clock, count the
client's requests, move the clock through a store whose client reads the time or sleeps
between retries: redis-py does) runs on real time: a clock read or sleep made then never
comes back into the block, which would recurse, or wait on itself.

The functions are replaced once for every open block (`patched`), and serve each thread by
the block it is in: a thread left in a block (`VirtualTime.abandon`: a client that swallows
OutOfTime, or spins calling nothing) neither restores nor re-patches under the blocks opened
after it, and its own next sleep or clock read raises, for as long as it stays in it.

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
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, NoReturn, Protocol

DEFAULT_BUDGET = 24 * 3600.0  # virtual seconds: far longer than any job the mock plans
DEFAULT_MAX_STILL = 1000  # requests without the clock moving: only a loop that never sleeps
# sleeps in a row averaging under `MIN_MEAN_SLEEP`: a loop that sleeps 0 or next to nothing
DEFAULT_MAX_SLEEPS = 20_000
DEFAULT_WALL_LIMIT = 60.0  # real seconds a block may last where a limit is asked for
WALL_SLEEPS = 1000  # sleeps a block must have made for its wall limit to stop it: a loop
MAX_BUDGET = 365 * 24 * 3600  # a year of virtual time: a client still polling then is stuck
MAX_STILL_BOUND = 1_000_000  # the most `max_still` (and `max_sleeps`) may be
MAX_WALL_LIMIT = 3600.0  # an hour of real time: the most `wall_limit` may be
# `max_sleeps` sleeps in a row averaging less only spin: a poll loop's pauses are seconds, and
# an async client's zero-length scheduling points (httpx: six a request) do not dilute them so
MIN_MEAN_SLEEP = 0.0001


def _checked_seconds(seconds: object, most: float, expected: str) -> float:
    """`seconds` as a number above 0 up to `most`; ValueError naming what is `expected`. NaN
    and infinity would never end a client that never stops; `True` is refused, not read as
    one second."""
    try:
        value = math.nan if isinstance(seconds, bool) else float(seconds)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if not 0 < value <= most:
        raise ValueError(f"{seconds!r} is not allowed; expected {expected}")
    return value


def checked_budget(seconds: object) -> float:
    """`seconds` as a virtual budget; ValueError saying what is allowed."""
    return _checked_seconds(
        seconds, MAX_BUDGET, f"a number of seconds above 0 up to {MAX_BUDGET} (a year)"
    )


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


def checked_max_sleeps(sleeps: object) -> int:
    """`sleeps` as a bound on sleeps in a row that barely move the clock; ValueError saying
    what is allowed (the bounds of `checked_max_still`)."""
    return checked_max_still(sleeps)


def checked_wall_limit(seconds: object) -> float:
    """`seconds` as a limit in real time; ValueError saying what is allowed."""
    return _checked_seconds(
        seconds,
        MAX_WALL_LIMIT,
        f"a number of real seconds above 0 up to {MAX_WALL_LIMIT:g} (an hour)",
    )


class OutOfTime(BaseException):
    """Raised in the client's thread when its virtual time is spent. A BaseException, so a
    client's `except Exception` cannot swallow it and poll on."""


class NeverSleeps(OutOfTime):
    """The client made more than `max_still` requests while the clock stood still: a loop
    that never sleeps, which says more about its pace than about its patience."""


class OutOfBudget(OutOfTime):
    """The client's virtual budget ran out while it slept or read an event stream."""


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
REAL_ASYNC_SLEEP = asyncio.sleep


def _loop_time(loop: asyncio.BaseEventLoop) -> float:
    """`BaseEventLoop.time` on the real monotonic clock, even where `time.monotonic` is
    virtual: the loop's timers (timeouts, `call_later`) keep working."""
    return REAL["monotonic"]()


# keep the real functions: the server's clock, and the test frameworks' own timing (pytest's
# test durations; Hypothesis' deadlines and the garbage-collection time its `gc` callback
# measures, in whichever thread collects: a stopped block would raise in it)
OWN = ("mockserver.engine", "_pytest", "hypothesis")
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
        """Each (module, name, real function) where the name holds the real function or, a
        block being open, its replacement: a walk made then finds `time.sleep` too, so the
        blocks after it still replace it once the functions are put back."""
        reals: tuple[Callable[..., Any], ...] = (*REAL.values(), REAL_ASYNC_SLEEP)
        real_of = {id(real): real for real in reals}
        real_of.update({id(REPLACEMENTS[id(real)]): real for real in reals})
        for module in list(sys.modules.values()):
            namespace = getattr(module, "__dict__", None)
            name = getattr(module, "__name__", "")
            if not isinstance(namespace, dict) or name == __name__ or name.startswith(OWN):
                continue
            for attribute, value in list(namespace.items()):
                real = real_of.get(id(value)) if callable(value) else None
                if real is not None:
                    yield module, attribute, real


_HOLDERS = _Holders()


def _package(frame: FrameType | None) -> str:
    """The top-level package (or module) of the code running in `frame`: a poll loop's
    deadline may be read in another module of its package than the one that sleeps."""
    name = "" if frame is None else frame.f_globals.get("__name__")
    return name.partition(".")[0] if isinstance(name, str) else ""


class VirtualTime:
    """Put the calling thread's view of time on `clock` while the context is open.

    `slept` is the total virtual time the client slept; `sleeps` counts its sleeps (both with
    those of the blocks nested in it on its thread: their time passed in it too); `waited`
    is the virtual time the server's waits moved the clock on for it (`wait_until`: event
    streams it read); `sleeper_read_clock`, once a sleep ran out the budget, whether the
    package that slept ever read the virtual clock (None before). With a `budget` (virtual
    seconds from now), a sleep past it raises `OutOfBudget`; a wait past it ends, and the
    client's next sleep or clock read raises. The sleep after `max_sleeps` in a row that
    averaged under `MIN_MEAN_SLEEP` raises `OutOfTime`. With `requests` (a count of the
    client's requests so far) and `max_still`, reading or sleeping once more than
    `max_still` requests came in while the clock stood still raises `NeverSleeps`: HTTP
    clients read the clock on every request. With a `wall_limit`, sleeping once that many
    real seconds passed since the block began, after `WALL_SLEEPS` sleeps, raises
    `OutOfTime`.
    """

    def __init__(
        self,
        clock: SteerableClock,
        budget: float | None = None,
        *,
        max_sleeps: int | None = None,
        requests: Callable[[], int] | None = None,
        max_still: int = DEFAULT_MAX_STILL,
        wall_limit: float | None = None,
    ) -> None:
        self.clock = clock
        self.slept = 0.0
        self.sleeps = 0
        self.waited = 0.0
        self.sleeper_read_clock: bool | None = None
        self._readers: set[str] = set()  # the packages whose code read the clock
        self.budget = None if budget is None else checked_budget(budget)
        self.max_sleeps = None if max_sleeps is None else checked_max_sleeps(max_sleeps)
        self.max_still = checked_max_still(max_still)
        self.wall_limit = None if wall_limit is None else checked_wall_limit(wall_limit)
        self._overdue_at = math.inf  # the real (monotonic) time the wall limit ends, once begun
        self._requests = requests
        with real_time():  # made inside another block, perhaps
            self.origin = clock.now()  # the zero of its `monotonic` and `perf_counter`
            self._still_from = requests() if requests else 0
        self._deadline = None if self.budget is None else self.origin + self.budget
        self._still_at = self.origin
        self._run = (0, 0.0)  # `sleeps` and `slept` when the latest run of `max_sleeps` began
        self._close: Callable[[], None] = _nothing  # no more waits on the clock for it
        self._outer: VirtualTime | None = None  # the block around it on its thread, if any
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

    def check_overdue(self) -> None:
        """Raise OutOfTime at a sleep once the block has lasted `wall_limit` seconds of real
        time and slept `WALL_SLEEPS` times: a loop sleeping so little at a time that its budget
        would take days to run out. A client that is merely slow (real work between its polls,
        or after them) sleeps far fewer times, and is never stopped for it."""
        if self.sleeps >= WALL_SLEEPS and REAL["monotonic"]() > self._overdue_at:
            self.stop(
                OutOfTime(
                    f"still running after {self.wall_limit:g} s of real time, sleeping "
                    f"{self.sleeps} times for {self.slept:.3g} s of virtual time in all (a "
                    "loop whose sleeps are too short to spend its budget in a day)"
                )
            )

    def check_still(self) -> None:
        """Raise NeverSleeps when the clock has not moved over more than `max_still`
        requests. Sleeps and clock reads check it; a caller that watches the client's thread
        otherwise (a trace function) may check it too."""
        if self._requests is None:
            return
        with real_time():  # a count read from a store must not read the virtual clock
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

    def check_spinning(self) -> None:
        """Raise OutOfTime at the end of a run of `max_sleeps` sleeps that averaged under
        `MIN_MEAN_SLEEP`: a loop sleeping 0 or next to nothing, whose budget would take hours
        of real time to run out. Runs of longer sleeps (a poll loop pausing in 0.1 s slices)
        go on until the budget."""
        if self.max_sleeps is None or self.sleeps - self._run[0] < self.max_sleeps:
            return
        moved = self.slept - self._run[1]
        if moved < self.max_sleeps * MIN_MEAN_SLEEP:
            self.stop(
                OutOfTime(
                    f"slept {self.max_sleeps} times in a row for {moved:.3g} s in all (a loop "
                    f"that sleeps next to nothing; the bound is {self.max_sleeps} sleeps "
                    f"averaging under {MIN_MEAN_SLEEP * 1000:g} ms)"
                )
            )
        self._run = (self.sleeps, self.slept)

    # --- the virtual functions -------------------------------------------------------------

    def sleep(self, seconds: float, caller: FrameType | None = None) -> None:
        """`time.sleep` for the block's thread, called from `caller`'s code: move the clock on
        by `seconds`."""
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        if math.isnan(seconds):  # Python's own words for time.sleep(nan)
            raise ValueError("Invalid value NaN (not a number)")
        self.check_stopped()
        self.check_overdue()
        self.check_still()
        self.check_spinning()
        with real_time(), self._spending:  # a store moving the clock may sleep or read it
            if self._deadline is not None and self.clock.now() + seconds > self._deadline:
                self.clock.advance(max(0.0, self._deadline - self.clock.now()))
                self.sleeper_read_clock = _package(caller) in self._readers
                self.stop(
                    OutOfBudget(f"still waiting when the {self.budget:g} s virtual budget ran out")
                )
            block: VirtualTime | None = self
            while block is not None:  # only this thread counts them: no lock for the outer
                block.slept += seconds
                block.sleeps += 1
                block = block._outer
            self.clock.advance(seconds)

    def wait_until(self, moment: float, waiter: str) -> bool:
        """Move the clock on to `moment` for a wait on the server that the client waits on (an
        event stream it reads), counted in `waited`. Past the budget (24 h without one: a
        stalled job's stream would send keep-alives for ever) the clock stops at its end and
        `stopped` is recorded for the client's next sleep or clock read: False, stop waiting."""
        with real_time(), self._spending:
            if self.stopped is not None:
                return False
            budget = DEFAULT_BUDGET if self.budget is None else self.budget
            end, now = self.origin + budget, self.clock.now()
            target = min(moment, end)
            if target > now:
                self.waited += target - now
                self.clock.advance(target - now)
            if moment <= end:
                return True
            self.stopped = OutOfBudget(
                f"{waiter} was still waiting when the {budget:g} s virtual budget ran out"
            )
            return False

    def read(self, caller: FrameType | None) -> float:
        """The clock, for a read (`time.time` and its twins) made by `caller`'s code."""
        self.check_stopped()
        self.check_still()
        self._readers.add(_package(caller))
        with real_time():
            return self.clock.now()

    async def async_sleep(
        self, delay: float, result: Any = None, caller: FrameType | None = None
    ) -> Any:
        self.sleep(delay, caller)
        await REAL_ASYNC_SLEEP(0)  # still a scheduling point, as callers expect
        return result

    # --- the block ------------------------------------------------------------------------------

    def abandon(self, cause: OutOfTime) -> None:
        """Give the block up while its thread is still in it: a client that cannot be stopped
        (a loop that calls nothing, or one that swallows OutOfTime) is left behind. Its every
        sleep and clock read raises from now on (`cause`, or the limit it met first), and the
        clock no longer waits on it. The functions stay replaced until its thread leaves (if
        ever): they serve each thread by its own block, so the blocks opened after it keep
        their virtual time, and it never gets real time back."""
        if self.stopped is None:
            self.stopped = cause
        self._close()

    @contextmanager
    def running(self) -> Iterator[VirtualTime]:
        """Virtual time for the current thread until the block ends; on the server's clock,
        for its waits too."""
        from mockserver.engine.clock import Clock  # here: the pytest plugin imports this early

        thread = threading.get_ident()
        outer = _BLOCKS.get(thread)
        _PATCH.hold()
        _BLOCKS[thread] = self
        self._outer = outer
        close = self.clock.open_virtual(self) if isinstance(self.clock, Clock) else _nothing
        self._close = _once(close)
        if self.wall_limit is not None:
            self._overdue_at = REAL["monotonic"]() + self.wall_limit
        try:
            yield self
        finally:
            self._close()
            _PATCH.release()
            self._outer = None
            if outer is None:
                del _BLOCKS[thread]
            else:
                _BLOCKS[thread] = outer


def _nothing() -> None:
    """No undo."""


def _once(undo: Callable[[], None]) -> Callable[[], None]:
    """`undo` at the first call only: a block abandoned by its runner is closed then, and not
    again when (if ever) its thread leaves it."""
    pending = [undo]
    lock = threading.Lock()

    def once() -> None:
        with lock:
            now, pending[:] = list(pending), []
        for step in now:
            step()

    return once


# --- one patch for every block, each thread served by its own ---------------------------------

_BLOCKS: dict[int, VirtualTime] = {}  # thread id -> the innermost block it is in
_OWN_WORK = threading.local()  # `real`: the thread is doing a block's own work


def _block() -> VirtualTime | None:
    """The block serving this thread's clock reads and sleeps; None (real time) outside any,
    and while a block does its own work on it (`real_time`)."""
    if getattr(_OWN_WORK, "real", False):
        return None
    return _BLOCKS.get(threading.get_ident())


@contextmanager
def real_time() -> Iterator[None]:
    """Real time for this thread's clock reads and sleeps until the block ends, even inside a
    virtual-time block: what the block does for itself (a store client reading the time as
    it connects, sleeping between retries, a log handler stamping a record) must not come
    back into the block."""
    was = getattr(_OWN_WORK, "real", False)
    _OWN_WORK.real = True
    try:
        yield
    finally:
        _OWN_WORK.real = was


def _caller() -> FrameType | None:
    """The frame that called the virtual function calling this."""
    frame = inspect.currentframe()
    return frame.f_back.f_back if frame and frame.f_back else None


def _sleep(seconds: float) -> None:
    block = _block()
    if block is None:
        REAL["sleep"](seconds)
    else:
        block.sleep(seconds, _caller())


def _time() -> float:
    block = _block()
    return REAL["time"]() if block is None else block.read(_caller())


def _monotonic() -> float:
    block = _block()
    return REAL["monotonic"]() if block is None else block.read(_caller()) - block.origin


def _perf_counter() -> float:
    block = _block()
    return REAL["perf_counter"]() if block is None else block.read(_caller()) - block.origin


def _time_ns() -> int:
    block = _block()
    return REAL["time_ns"]() if block is None else round(block.read(_caller()) * NANOS)


def _monotonic_ns() -> int:
    block = _block()
    if block is None:
        return REAL["monotonic_ns"]()
    return round((block.read(_caller()) - block.origin) * NANOS)


def _perf_counter_ns() -> int:
    block = _block()
    if block is None:
        return REAL["perf_counter_ns"]()
    return round((block.read(_caller()) - block.origin) * NANOS)


async def _async_sleep(delay: float, result: Any = None) -> Any:
    block = _block()
    if block is None:
        return await REAL_ASYNC_SLEEP(delay, result)
    return await block.async_sleep(delay, result, _caller())


REPLACEMENTS: dict[int, Callable[..., Any]] = {
    id(REAL["sleep"]): _sleep,
    id(REAL["time"]): _time,
    id(REAL["monotonic"]): _monotonic,
    id(REAL["perf_counter"]): _perf_counter,
    id(REAL["time_ns"]): _time_ns,
    id(REAL["monotonic_ns"]): _monotonic_ns,
    id(REAL["perf_counter_ns"]): _perf_counter_ns,
    id(REAL_ASYNC_SLEEP): _async_sleep,
}


class _Patch:
    """The real functions replaced, in `time`, `asyncio` and every module that imported them
    by name (`from time import sleep`), so unmodified client code is covered; while any block
    holds the patch. The replacements serve each thread by the block it is in (real time for
    a thread in none), so a block never patches or restores under another: one left behind
    by a client that cannot be stopped spoils nothing for the blocks opened after it."""

    def __init__(self) -> None:
        self.holds = 0
        self.patched: list[Holder] = []
        self.lock = threading.Lock()

    def hold(self) -> None:
        """Replace the real functions, those that came to be held since too."""
        with self.lock:
            self.holds += 1
            if self.holds == 1:
                self.patched.append((asyncio.BaseEventLoop, "time", asyncio.BaseEventLoop.time))
                setattr(asyncio.BaseEventLoop, "time", _loop_time)  # noqa: B010 - a method
            for module, attribute, value in _HOLDERS.find():
                self.patched.append((module, attribute, value))
                setattr(module, attribute, REPLACEMENTS[id(value)])

    def release(self) -> None:
        """Put the real functions back once no block holds them."""
        with self.lock:
            self.holds -= 1
            if self.holds:
                return
            for module, name, value in reversed(self.patched):
                setattr(module, name, value)
            self.patched.clear()


_PATCH = _Patch()


@contextmanager
def patched() -> Iterator[None]:
    """Keep the real functions replaced while the block is open: the virtual-time blocks
    opened inside it (one per row of a client check) find them replaced already, rather than
    each replacing and restoring them."""
    _PATCH.hold()
    try:
        yield
    finally:
        _PATCH.release()
