"""When things happen in a lifecycle: one server's time style, instants, delays, poll times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from mockserver.contracts.strategies.formats import TIMESPECS, rfc3339

MAX_POLLS = 5  # live observations before the terminal one


@dataclass(frozen=True, slots=True)
class Clock:
    """How one server prints time; one style per lifecycle, as a real server keeps one."""

    timespec: str
    zulu: bool

    def stamp(self, moment: datetime) -> str:
        return rfc3339(moment, self.timespec, self.zulu)


def clocks() -> SearchStrategy[Clock]:
    return st.builds(Clock, st.sampled_from(TIMESPECS), st.booleans())


def instants() -> SearchStrategy[datetime]:
    return st.datetimes(datetime(2020, 1, 1), datetime(2035, 1, 1), timezones=st.just(UTC))


def delays() -> SearchStrategy[timedelta]:
    """Time between two events: often none (same tick), up to ten minutes."""
    micros = st.one_of(st.just(0), st.integers(1, 10**6), st.integers(1, 600 * 10**6))
    return micros.map(lambda us: timedelta(microseconds=us))


def live_polls() -> SearchStrategy[int]:
    """How many live observations a client makes before the terminal one."""
    return st.integers(0, MAX_POLLS)


def ascending(draw: st.DrawFn, values: SearchStrategy[int], count: int) -> list[int]:
    """`count` values in order: positions that only move forward."""
    return sorted(draw(st.lists(values, min_size=count, max_size=count)))


def polls(draw: st.DrawFn, start: datetime, end: datetime) -> list[datetime]:
    """Times of the live polls: in order, at or after `start`, strictly before `end`."""
    span = (end - start) // timedelta(microseconds=1)
    if span <= 0:
        return []
    count = draw(live_polls())
    offsets = ascending(draw, st.integers(0, span - 1), count)
    return [start + timedelta(microseconds=us) for us in offsets]
