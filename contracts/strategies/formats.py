"""Strings of the `format`s the contracts use: RFC 3339 times, UUIDs, URLs, hosts, emails."""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta, timezone

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

EARLIEST, LATEST = datetime(2000, 1, 1), datetime(2099, 12, 31, 23, 59, 59)
TIMESPECS = ("seconds", "milliseconds", "microseconds")


def rfc3339(moment: datetime | time, timespec: str = "seconds", zulu: bool = True) -> str:
    """`moment` as RFC 3339 spells it; UTC as `Z` when `zulu`, else as `+00:00`."""
    text = moment.isoformat(timespec=timespec)
    return text.replace("+00:00", "Z") if zulu else text


def _offsets() -> SearchStrategy[timezone]:
    """UTC mostly, sometimes another offset: RFC 3339 allows any."""
    minutes = st.integers(-12 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
    return st.one_of(st.just(UTC), minutes)


def _date_times() -> SearchStrategy[str]:
    return st.builds(
        rfc3339,
        st.datetimes(EARLIEST, LATEST, timezones=_offsets()),
        st.sampled_from(TIMESPECS),
        st.booleans(),
    )


def _dates() -> SearchStrategy[str]:
    return st.dates(EARLIEST.date(), LATEST.date()).map(lambda d: d.isoformat())


def _times() -> SearchStrategy[str]:
    return st.builds(
        lambda moment, zone: rfc3339(moment.replace(tzinfo=zone), "auto"),
        st.times(),
        _offsets(),
    )


# Shapes a timestamp pattern may pin: UTC date-times at each precision, `Z` or `+00:00`, and
# plain dates. Samples spelled in them tell whether a pattern is one (see `pinned_timestamps`).
def _utc(timespec: str, zulu: bool) -> Callable[[datetime], str]:
    return lambda moment: rfc3339(moment.replace(tzinfo=UTC), timespec, zulu)


SHAPES: tuple[Callable[[datetime], str], ...] = (
    *(_utc(timespec, zulu) for timespec in TIMESPECS for zulu in (True, False)),
    lambda moment: moment.date().isoformat(),
)
SAMPLES = (datetime(2024, 2, 29, 23, 59, 58, 123456), datetime(1999, 12, 1, 0, 0, 0, 500000))


def _a_timestamp_shape(pattern: re.Pattern[str], shape: Callable[[datetime], str]) -> bool:
    """The pattern matches the samples in `shape` and nothing else in their place: each digit
    replaced by a letter is refused, so `\\S` or `[A-Za-z0-9:-]+` are not timestamp patterns."""
    for sample in SAMPLES:
        text = shape(sample)
        if pattern.fullmatch(text) is None:
            return False
        spots = [i for i, c in enumerate(text) if c.isdigit()]
        if any(pattern.fullmatch(text[:i] + "x" + text[i + 1 :]) for i in spots):
            return False
    return True


def pinned_timestamps(pattern: str) -> SearchStrategy[str] | None:
    """Real dates and times (years 0001-9999) spelled as a pattern that pins a timestamp's
    shape requires, or None when the pattern is not one. A regex such as
    `^\\d{4}-\\d{2}-\\d{2}T...` also admits `2023-02-31` or year `0000`, which no client can
    parse; the contract means a time."""
    compiled = re.compile(pattern)
    shapes = [shape for shape in SHAPES if _a_timestamp_shape(compiled, shape)]
    if not shapes:
        return None
    return st.builds(lambda shape, moment: shape(moment), st.sampled_from(shapes), st.datetimes())


def uuids() -> SearchStrategy[str]:
    return st.uuids().map(str)


def _hostnames() -> SearchStrategy[str]:
    word = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8)
    label = st.lists(word, min_size=1, max_size=2).map("-".join)
    top = st.sampled_from(["com", "io", "dev", "net", "org", "example"])
    return st.builds(
        lambda labels, tld: ".".join([*labels, tld]), st.lists(label, min_size=1, max_size=3), top
    )


def _urls() -> SearchStrategy[str]:
    """Absolute http(s) URLs (RFC 3986): host or IP, optional port, path and query."""
    segment = st.text(string.ascii_letters + string.digits + "-._~", min_size=1, max_size=12)
    host = st.one_of(_hostnames(), st.sampled_from(["localhost", "127.0.0.1", "[::1]"]))
    port = st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}"))
    path = st.lists(segment, max_size=4).map(lambda parts: "".join(f"/{p}" for p in parts))
    pair = st.tuples(segment, segment).map("=".join)
    query = st.one_of(
        st.just(""), st.lists(pair, min_size=1, max_size=3).map(lambda ps: "?" + "&".join(ps))
    )
    return st.builds(
        lambda scheme, *parts: f"{scheme}://" + "".join(parts),
        st.sampled_from(["https", "http"]),
        host,
        port,
        path,
        query,
    )


FORMATS: dict[str, Callable[[], SearchStrategy[str]]] = {
    "date-time": _date_times,
    "date": _dates,
    "time": _times,
    "uuid": uuids,
    "uri": _urls,
    "iri": _urls,
    "uri-reference": _urls,
    "iri-reference": _urls,
    "email": st.emails,
    "idn-email": st.emails,
    "hostname": _hostnames,
    "ipv4": lambda: st.ip_addresses(v=4).map(str),
    "ipv6": lambda: st.ip_addresses(v=6).map(str),
}
