"""JSON the mock refuses although `json.loads` reads it: values no answer could hold again.

`NaN`, `Infinity` and numbers past a float's range (`1e999`, an integer of 400 digits) have no
JSON spelling to be written back in; a string with a lone UTF-16 surrogate (the escape
`"\\ud800"`) is no text, so no answer holding it can be written as UTF-8. Every JSON body
(`mockserver.limits`) and NeuroLinker's JSON-in-a-form-field are judged by these two checks,
and the request check reads such a body with those values made writable, to say where they
were and what else the body gets wrong (`mockserver.validation`).
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from typing import Any

NOT_A_NUMBER = "NaN and Infinity are not JSON numbers (nor is a number too large for a float)"
LONE_SURROGATE = "a lone UTF-16 surrogate (\\ud800 to \\udfff), which is no character"
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


@dataclass(frozen=True, slots=True)
class Unwritable:
    """A value of a JSON text that no answer could hold again, and where it was: `path`
    (a key's own text last, escaped: `("tags", 1)`, `("\\udc00",)`), `sent` the number as
    sent (cut short) or the string escaped, `number` whether it is a number."""

    path: Path
    sent: str
    number: bool

    @property
    def problem(self) -> str:
        """What is wrong with it, after the words "<field> holds"."""
        return f"{self.sent}: {NOT_A_NUMBER}" if self.number else LONE_SURROGATE


def writable(text: str | bytes) -> tuple[Any, list[Unwritable]]:
    """`text` as `json.loads` reads it, with each value no answer could hold again made one
    that can (a number None, a string or key with a lone surrogate escaped), and those values
    in the order of the text: a refusal names the first, the contract check reads the rest.
    Raises as `json.loads` does (a ValueError; a RecursionError past its depth)."""
    value = json.loads(
        text, parse_constant=_Unwritable, parse_float=_read_float, parse_int=_read_integer
    )
    found: list[Unwritable] = []
    return _made_writable(value, (), found), found


def _made_writable(value: Any, path: Path, found: list[Unwritable]) -> Any:
    if isinstance(value, _Unwritable):
        number = value.text
        shown = number if len(number) <= NUMBER_SHOWN else number[:NUMBER_SHOWN] + "..."
        found.append(Unwritable(path, shown, True))
        return None
    if isinstance(value, str):
        if _SURROGATE.search(value) is None:
            return value
        found.append(Unwritable(path, escaped(value), False))
        return escaped(value)
    if isinstance(value, list):
        return [_made_writable(item, (*path, index), found) for index, item in enumerate(value)]
    if isinstance(value, dict):
        made: dict[str, Any] = {}
        for key, item in value.items():
            if _SURROGATE.search(key) is not None:
                key = escaped(key)
                found.append(Unwritable((*path, key), key, False))
            made[key] = _made_writable(item, (*path, key), found)
        return made
    return value


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


def escaped(text: str) -> str:
    """`text` with its surrogates written as `\\udc00`, fit for an answer."""
    return text.encode("utf-8", "backslashreplace").decode()
