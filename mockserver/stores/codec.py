"""How the shared stores write values: JSON, plus the classes registered here.

A registered class has a `state_tag` and `to_state()` returning JSON data, and a classmethod
`from_state(data)` that rebuilds it; it is written as `{"~": tag, "v": data}`. Tuples come
back as lists, as in any JSON.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Protocol, TypeVar


class Storable(Protocol):
    state_tag: ClassVar[str]

    def to_state(self) -> Any: ...

    @classmethod
    def from_state(cls, data: Any) -> Any: ...


T = TypeVar("T", bound=type)
_classes: dict[str, Any] = {}
TAG = "~"


def storable(cls: T) -> T:
    """Class decorator: the class's objects may be kept in any store."""
    tag = cls.state_tag  # type: ignore[attr-defined]
    if _classes.get(tag, cls) is not cls:
        raise ValueError(f"two storable classes share the tag {tag!r}")
    _classes[tag] = cls
    return cls


def _encode(value: Any) -> Any:
    tag = getattr(value, "state_tag", None)
    if tag is None or tag not in _classes:
        raise TypeError(f"{type(value).__name__} cannot be stored: register it with @storable")
    return {TAG: tag, "v": value.to_state()}


def _decode(data: dict[str, Any]) -> Any:
    tag = data.get(TAG)
    if tag is not None and len(data) == 2 and "v" in data:
        return _classes[tag].from_state(data["v"])
    return data


_encoder = json.JSONEncoder(
    default=_encode, ensure_ascii=False, allow_nan=False, separators=(",", ":")
)


def dumps(value: Any) -> bytes:
    return _encoder.encode(value).encode("utf-8")


def loads(raw: bytes | str) -> Any:
    return json.loads(raw, object_hook=_decode)
