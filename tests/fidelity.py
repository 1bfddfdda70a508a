"""Comparing the mock's answers with the docs' examples: same keys, types and formats."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

FORMATS = {  # checked in order: the first that matches names the string's format
    "uuid": re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    "datetime-seconds-z": re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"),
    "url": re.compile(r"https?://\S+"),
}


def shape(value: Any) -> str:
    """A value's JSON type, and for a string its format (`uuid`, `url`, ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        found = (name for name, pattern in FORMATS.items() if pattern.fullmatch(value))
        return next(found, "string")
    return "array" if isinstance(value, list) else "object"


def same_shape(example: dict[str, Any], answer: dict[str, Any], *, nullable: set[str]) -> None:
    """`answer` has exactly `example`'s keys, each of the same shape; a key in `nullable` may be
    null on either side (the docs' example shows one state, the mock's answer another)."""
    assert set(answer) == set(example), (sorted(answer), sorted(example))
    for key, documented in example.items():
        got = answer[key]
        if key in nullable and None in (got, documented):
            continue
        assert shape(got) == shape(documented), (key, got, documented)


def url_suffix(url: str) -> str:
    """The file name a URL ends with (`fg_audio.flac`), query left out."""
    return urlsplit(url).path.rsplit("/", 1)[-1]
