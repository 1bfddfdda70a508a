"""How the shared stores write values: JSON, plus the classes registered here.

A `@storable` class has a `state_tag` and `to_state()` returning JSON data, and a classmethod
`from_state(data)` that rebuilds it (or `register` names the three for a class); it is written
as `{"~": tag, "v": data}`. Tuples come
back as lists, as in any JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar, Protocol, TypeVar


class Storable(Protocol):
    state_tag: ClassVar[str]

    def to_state(self) -> Any: ...

    @classmethod
    def from_state(cls, data: Any) -> Any: ...


T = TypeVar("T", bound=type)
TAG = "~"
# type -> (tag, encode), tag -> decode
_encoders: dict[type, tuple[str, Callable[[Any], Any]]] = {}
_decoders: dict[str, Callable[[Any], Any]] = {}


def register(
    cls: type, tag: str, encode: Callable[[Any], Any], decode: Callable[[Any], Any]
) -> None:
    """Objects of `cls` may be kept in any store: written as `{"~": tag, "v": encode(obj)}`,
    read back as `decode(v)`. For classes whose module should not know about stores."""
    if _decoders.get(tag, decode) is not decode:
        raise ValueError(f"two storable classes share the tag {tag!r}")
    _encoders[cls] = (tag, encode)
    _decoders[tag] = decode


def storable(cls: T) -> T:
    """Class decorator: the class's objects (a `Storable`) may be kept in any store."""
    register(cls, cls.state_tag, cls.to_state, cls.from_state)  # type: ignore[attr-defined]
    return cls


def _encode(value: Any) -> Any:
    found = _encoders.get(type(value))
    if found is None:
        raise TypeError(f"{type(value).__name__} cannot be stored: register it with @storable")
    tag, encode = found
    return {TAG: tag, "v": encode(value)}


def _decode(data: dict[str, Any]) -> Any:
    tag = data.get(TAG)
    if tag is not None and len(data) == 2 and "v" in data:
        return _decoders[tag](data["v"])
    return data


_encoder = json.JSONEncoder(
    default=_encode, ensure_ascii=False, allow_nan=False, separators=(",", ":")
)


def dumps(value: Any) -> bytes:
    return _encoder.encode(value).encode("utf-8")


def loads(raw: bytes | str) -> Any:
    return json.loads(raw, object_hook=_decode)
