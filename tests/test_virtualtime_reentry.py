"""What a virtual-time block does for itself runs on real time, and a block may end at a limit
of real time."""

from __future__ import annotations

import threading
import time

import pytest

from mockserver.engine.clock import ManualClock
from mockserver.virtualtime import MAX_WALL_LIMIT, OutOfTime, VirtualTime, checked_wall_limit


class StoreClock:
    """A clock kept in a store whose client reads the time as it works (redis-py reads
    `time.monotonic()` as it opens a connection), and sleeps between retries."""

    def __init__(self, sleeps: bool = False) -> None:
        self.clock = ManualClock()
        self.sleeps = sleeps
        self.reads = 0

    def now(self) -> float:
        self.reads += 1
        time.monotonic()
        return self.clock.now()

    def advance(self, seconds: float) -> float:
        if self.sleeps:
            time.sleep(0.001)  # a retry's backoff
        return self.clock.advance(seconds)


def test_a_store_reading_the_clock_does_not_bring_the_block_back_in() -> None:
    """The block's check of requests read the server clock and the count, both through a
    store client that read `time.monotonic()`: the block's own read again, for ever."""
    clock = StoreClock()
    counted = [0]

    def requests() -> int:
        time.perf_counter()  # a count read from the store, whose client reads the time too
        return counted[0]

    start = clock.clock.now()
    with VirtualTime(clock, 3600, requests=requests, max_still=5).running() as virtual:
        assert time.monotonic() == 0
        time.sleep(30)
        assert time.time() == start + 30
        # a block opened in it reads the count and the clock on real time too
        with VirtualTime(clock, requests=requests).running():
            time.sleep(5)
    assert (virtual.slept, clock.clock.now()) == (35, start + 35)
    assert clock.reads > 0


def test_a_store_sleeping_as_it_moves_the_clock_sleeps_real_time() -> None:
    """A sleep moving the clock through a store that sleeps between retries came back into
    the block's sleep, which waited for itself (its lock) for ever."""
    clock = StoreClock(sleeps=True)
    done: list[float] = []

    def client() -> None:
        with VirtualTime(clock, 3600).running() as virtual:
            time.sleep(10)
            time.sleep(10)
        done.append(virtual.slept)

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    thread.join(30)  # a bound for the failure only: the sleeps take milliseconds
    assert done == [20]


def test_a_block_with_a_wall_limit_ends_a_loop_of_tiny_sleeps() -> None:
    limited = VirtualTime(ManualClock(), wall_limit=0.001)
    with (
        pytest.raises(OutOfTime, match=r"still running after 0\.001 s of real time"),
        limited.running() as virtual,
    ):
        while True:  # a loop whose sleeps are too short to spend any budget
            time.sleep(1e-9)
    assert isinstance(virtual.stopped, OutOfTime)
    with VirtualTime(ManualClock(), wall_limit=60).running():
        time.sleep(86_400)  # a day of virtual time in no time: well within a minute


def test_a_slow_client_is_not_stopped_by_the_wall_limit() -> None:
    """Real work between a few polls, or after them, is no loop: it stopped a correct client
    that spent the limit's real time on a download and then read the clock."""
    with VirtualTime(ManualClock(), wall_limit=0.001).running() as virtual:
        for _ in range(10):
            threading.Event().wait(0.002)  # real work, past the limit
            time.sleep(10)
        time.time()
    assert virtual.stopped is None and virtual.slept == 100


@pytest.mark.parametrize("limit", [float("nan"), float("inf"), 0, -1, MAX_WALL_LIMIT + 1, True])
def test_a_wall_limit_that_never_ends_is_refused(limit: float) -> None:
    with pytest.raises(ValueError, match="expected a number of real seconds above 0 up to 3600"):
        checked_wall_limit(limit)
    with pytest.raises(ValueError, match="is not allowed"):
        VirtualTime(ManualClock(), wall_limit=limit)
