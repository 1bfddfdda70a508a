"""JSON the mock refuses although `json.loads` reads it: values no answer could hold again.

`NaN`, `Infinity` and numbers past a float's range (`1e999`, an integer of 400 digits) have no
JSON spelling to be written back in; a string with a lone UTF-16 surrogate (the escape
`"\\ud800"`) is no text, so no answer holding it can be written as UTF-8. Every JSON body
(`mockserver.limits`) and NeuroLinker's JSON-in-a-form-field are judged by these two checks.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable
from typing import Any

NOT_A_NUMBER = "NaN and Infinity are not JSON numbers (nor is a number too large for a float)"
FLOAT_DIGITS = 309  # an integer of this many digits may be past the largest float (1.8e308)
NUMBER_SHOWN = 24  # characters of such a number a refusal echoes (an integer may have thousands)
_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # \ud800 to \udfff: what may parse as a surrogate
_SURROGATE = re.compile("[\ud800-\udfff]")  # left in a parsed string: no pair made it a character

Path = tuple[str | int, ...]


class NotJsonNumber(ValueError):
    """A number no JSON answer could hold again."""


def loads(text: str | bytes) -> Any:
    """`json.loads`, raising NotJsonNumber for NaN, Infinity and numbers past a float."""
    return json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_integer)


def _constant(text: str) -> float:
    raise NotJsonNumber(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotJsonNumber(text)
    return value


def _integer(text: str) -> int:
    """Counted before `int()`, which refuses 4,300 digits with an error of its own."""
    digits = len(text) - text.startswith("-")  # JSON writes no leading zeros
    value = int(text) if digits <= FLOAT_DIGITS else None
    if value is None or abs(value) > sys.float_info.max:
        raise NotJsonNumber(text)
    return value


def may_hold_surrogate(text: str) -> bool:
    """Whether `text` has an escape that may parse as a lone surrogate (most JSON has none)."""
    return _ESCAPE.search(text) is not None


def surrogate_at(value: Any) -> Path | None:
    """Where the first string (or key) holding a lone surrogate is in parsed JSON: its path,
    a key's own text last, escaped (`("tags", 1)`, `("\\\\udc00",)`); None for none."""
    return _first_at(value, lambda item: isinstance(item, str) and _SURROGATE.search(item), True)


def unwritable_number_at(text: str | bytes) -> tuple[Path, str] | None:
    """Where the first number no JSON answer could hold is in `text` (its path, and the
    number as sent, cut short), so a refusal can name the field; None for none."""
    value = json.loads(
        text, parse_constant=_Unwritable, parse_float=_read_float, parse_int=_read_integer
    )
    path = _first_at(value, lambda item: isinstance(item, _Unwritable), False)
    if path is None:
        return None
    found: Any = value
    for part in path:
        found = found[part]
    number = found.text
    return path, number if len(number) <= NUMBER_SHOWN else number[:NUMBER_SHOWN] + "..."


class _Unwritable:
    """A number read that no JSON answer could hold, as sent."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _read_float(text: str) -> float | _Unwritable:
    try:
        return _float(text)
    except NotJsonNumber:
        return _Unwritable(text)


def _read_integer(text: str) -> int | _Unwritable:
    try:
        return _integer(text)
    except NotJsonNumber:
        return _Unwritable(text)


def _first_at(value: Any, hit: Callable[[Any], Any], keys: bool) -> Path | None:
    """The path of the first item of parsed JSON for which `hit` holds (with `keys`, a key
    too: its own text last, escaped); None for none."""
    stack: list[tuple[Path, Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if hit(item):
            return path
        if isinstance(item, dict):
            for key in item:
                if keys and hit(key):
                    return (*path, escaped(key))
            inner: list[tuple[Path, Any]] = [((*path, k), v) for k, v in item.items()]
        elif isinstance(item, list):
            inner = [((*path, index), v) for index, v in enumerate(item)]
        else:
            continue
        stack.extend(reversed(inner))  # the first is looked at first
    return None


def escaped(text: str) -> str:
    """`text` with its surrogates written as `\\udc00`, fit for an answer."""
    return text.encode("utf-8", "backslashreplace").decode()
