"""Parts of status bodies the contract decides: a body with the keys a lifecycle drives pinned,
and values of the contract's named schemas."""

from __future__ import annotations

import functools
from typing import Any

from hypothesis.strategies import SearchStrategy

from mockserver.contracts.document import load
from mockserver.contracts.strategies.keywords import Schema
from mockserver.contracts.strategies.responses import from_schema, json_schema

ABSENT = object()  # pin value: the key must not be there


def pin(api: str, operation: str, **pins: Any) -> SearchStrategy[dict]:
    """The status body with some top-level keys fixed (or, pinned to ABSENT, left out): the
    fields a lifecycle drives, while the contract decides everything else."""
    return _pinned(api, operation, tuple(sorted(pins.items(), key=lambda kv: kv[0])))


@functools.lru_cache(maxsize=256)
def _pinned(api: str, operation: str, pins: tuple[tuple[str, Any], ...]) -> SearchStrategy[dict]:
    """`pin` with its pins hashable, so each combination is converted once."""
    properties = {k: (False if v is ABSENT else {"const": v}) for k, v in pins}
    required = [k for k, v in pins if v is not ABSENT]
    condition = {"type": "object", "properties": properties, "required": required}
    return from_schema(api, {"allOf": [json_schema(api, operation, 200), condition]})


def component(api: str, name: str, field: str | None = None) -> SearchStrategy[Any]:
    """Values of a named schema of the contract, or of one of its properties."""
    return from_schema(api, _named(api, name, field))


def narrowed(api: str, name: str, field: str, **keywords: Any) -> SearchStrategy[Any]:
    """Values of a named schema's property that also meet `keywords` (`maximum=...`): a bound
    the lifecycle needs beyond the contract's, as for parts whose sum is a field too."""
    return from_schema(api, {"allOf": [_named(api, name, field), keywords]})


def present(api: str, name: str, field: str) -> SearchStrategy[Any]:
    """Values of a nullable property that are not null (the lifecycle says it is set)."""
    return from_schema(api, {"allOf": [_named(api, name, field), {"not": {"type": "null"}}]})


def _named(api: str, name: str, field: str | None) -> Schema:
    """A named schema of the contract, or (resolved) one of its properties."""
    schema = {"$ref": f"#/components/schemas/{name}"}
    return schema if field is None else load(api).resolve(schema)["properties"][field]
