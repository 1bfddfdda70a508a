"""Values of one JSON type for a plain schema: integers and numbers in range (ends drawn
often), strings of a length, pattern or format, and any JSON value."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from mockserver.contracts.strategies.formats import FORMATS, pinned_timestamps
from mockserver.contracts.strategies.keywords import PATTERNS, UnsupportedSchema, is_type, types_of
from mockserver.contracts.strategies.regex import regex_strings

MAX_SAFE_INTEGER = 2**53 - 1  # larger integers do not survive a JavaScript (double) JSON parser
EXTRA_CHARS = 24  # characters drawn beyond minLength when maxLength is open


def _lower_bound(schema: dict[str, Any]) -> tuple[float, bool] | None:
    """The tightest lower bound and whether it is exclusive."""
    return _tightest(schema, "minimum", "exclusiveMinimum", 1)


def _upper_bound(schema: dict[str, Any]) -> tuple[float, bool] | None:
    """The tightest upper bound and whether it is exclusive."""
    return _tightest(schema, "maximum", "exclusiveMaximum", -1)


def _tightest(
    schema: dict[str, Any], inclusive: str, exclusive: str, sign: int
) -> tuple[float, bool] | None:
    """The tighter of an inclusive and an exclusive bound (`sign` 1: the larger, -1: the
    smaller); of two equal ones, the exclusive one."""
    bounds = [(schema[key], key == exclusive) for key in (inclusive, exclusive) if key in schema]
    return max(bounds, key=lambda b: (sign * b[0], b[1])) if bounds else None


def _integer_range(schema: dict[str, Any]) -> tuple[int, int]:
    low, high = _lower_bound(schema), _upper_bound(schema)
    lo = (
        -MAX_SAFE_INTEGER
        if low is None
        else math.floor(low[0]) + 1
        if low[1]
        else math.ceil(low[0])
    )
    hi = (
        MAX_SAFE_INTEGER
        if high is None
        else math.ceil(high[0]) - 1
        if high[1]
        else math.floor(high[0])
    )
    return lo, hi


def integer_values(schema: dict[str, Any]) -> SearchStrategy[int] | None:
    """Integers in range, the range's own ends drawn often (off-by-one bugs live there)."""
    lo, hi = _integer_range(schema)
    step = schema.get("multipleOf", 1)
    if not float(step).is_integer():
        raise UnsupportedSchema(f"multipleOf {step} on an integer")
    step = int(step)
    lo, hi = -(-lo // step), hi // step
    if lo > hi:
        return None
    ends = [end for end, bound in ((lo, _lower_bound), (hi, _upper_bound)) if bound(schema)]
    values = st.integers(lo, hi)
    if ends:
        values = st.one_of(st.sampled_from(ends), values)
    return values.map(lambda n: n * step) if step != 1 else values


def number_values(schema: dict[str, Any]) -> SearchStrategy[float | int] | None:
    """Finite floats in range plus whole numbers, which JSON spells the same way."""
    if "multipleOf" in schema:
        step = schema["multipleOf"]
        return integer_values(schema) if float(step).is_integer() else _multiples(schema, step)
    low, high = _lower_bound(schema), _upper_bound(schema)
    if low is not None and high is not None and (low[0], low[1] or high[1]) > (high[0], False):
        return None
    floats = st.floats(
        min_value=None if low is None else low[0],
        max_value=None if high is None else high[0],
        exclude_min=bool(low and low[1]),
        exclude_max=bool(high and high[1]),
        allow_nan=False,
        allow_infinity=False,
    )
    ends = [bound[0] for bound in (low, high) if bound is not None and not bound[1]]
    whole = integer_values(schema)
    options = [st.sampled_from(ends)] if ends else []
    options += [floats] + ([whole] if whole is not None else [])
    return st.one_of(options)


def _multiples(schema: dict[str, Any], step: float) -> SearchStrategy[float] | None:
    """Numbers in range (within ±(2^53 - 1) when unbounded) that are whole multiples of a
    fractional `step` (0.5) as jsonschema checks them: `value / step` a whole number, which
    rounding sometimes spoils (3 * 0.1)."""
    low, high = _lower_bound(schema), _upper_bound(schema)
    first = math.ceil((-MAX_SAFE_INTEGER if low is None else low[0]) / step)
    last = math.floor((MAX_SAFE_INTEGER if high is None else high[0]) / step)
    if first > last:
        return None
    counts = st.integers(first, last)
    ends = [n for n, bound in ((first, low), (last, high)) if bound is not None]
    if ends:
        counts = st.one_of(st.sampled_from(ends), counts)
    return counts.map(lambda n: n * step).filter(
        lambda v: (v / step).is_integer() and admits(schema, v)
    )


def _ecma_to_python(pattern: str) -> str:
    """ECMA-262 classes are ASCII where Python's are Unicode."""
    return pattern.replace(r"\d", "[0-9]").replace(r"\w", "[A-Za-z0-9_]")


def _patterns(schema: dict[str, Any]) -> list[str]:
    return [_ecma_to_python(p) for p in schema.get(PATTERNS, [])]


def _matches(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None


def _string_checks(schema: dict[str, Any]) -> list[Callable[[str], bool]]:
    """What a string must meet besides its format: its length and every pattern."""
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    return [_length_ok(low, high)] + [functools.partial(_matches, p) for p in _patterns(schema)]


def _length_ok(low: int, high: int | None) -> Callable[[str], bool]:
    return lambda text: low <= len(text) and (high is None or len(text) <= high)


def string_values(schema: dict[str, Any]) -> SearchStrategy[str] | None:
    """Strings drawn from the format, else the first pattern (real times when it pins a
    timestamp), else any text of the length; then checked against the length and every
    pattern."""
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if high is not None and low > high:
        return None
    patterns = _patterns(schema)
    checks = _string_checks(schema)
    formatted = FORMATS.get(schema.get("format", ""))
    if formatted is not None:
        values = formatted()
    elif patterns:
        timestamps = pinned_timestamps(patterns[0])
        values = regex_strings(patterns[0]) if timestamps is None else timestamps
    else:
        return st.text(min_size=low, max_size=high if high is not None else low + EXTRA_CHARS)
    return values.filter(lambda text: all(check(text) for check in checks))


def any_json() -> SearchStrategy[Any]:
    """Any JSON value, kept small."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=6,
    )


def admits(schema: dict[str, Any], value: Any) -> bool:
    """Whether an enum value also meets the schema's scalar keywords."""
    if not any(is_type(value, t) for t in types_of(schema)):
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = _lower_bound(schema), _upper_bound(schema)
        if low and (value < low[0] or (low[1] and value == low[0])):
            return False
        if high and (value > high[0] or (high[1] and value == high[0])):
            return False
    if isinstance(value, str):
        return all(check(value) for check in _string_checks(schema))
    return True
