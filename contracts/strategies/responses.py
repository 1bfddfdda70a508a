"""Any body a contract allows: for one documented response, or for any schema of the contract."""

from __future__ import annotations

import functools
from typing import Any

from hypothesis.strategies import SearchStrategy

from mockserver.contracts.document import load
from mockserver.contracts.strategies.keywords import Schema, UnsupportedSchema, json_key
from mockserver.contracts.strategies.schemas import Converter


@functools.cache
def _converter(api: str, closed: bool) -> Converter:
    """One converter per contract and kind of body, so the strategies it builds are shared."""
    return Converter(load(api), closed)


@functools.cache
def _request_schemas(api: str) -> frozenset[str]:
    """The request body schemas of the contract's operations, as written and resolved."""
    contract = load(api)
    found: set[str] = set()
    for operation in contract.operations:
        body = contract.resolve(operation.spec.get("requestBody") or {})
        for media in (body.get("content") or {}).values():
            if "schema" in media:
                found |= {json_key(media["schema"]), json_key(contract.resolve(media["schema"]))}
    return frozenset(found)


def from_schema(api: str, schema: Schema) -> SearchStrategy[Any]:
    """Values of `schema`, a schema of `api`'s contract (its `$ref`s resolve in that document).
    A request body schema draws no key its objects do not name: the mock would report it."""
    if not isinstance(schema, dict | bool):
        raise TypeError(f"a schema is a dict (or True or False), not {type(schema).__name__}")
    closed = json_key(schema) in _request_schemas(api)
    values = _converter(api, closed).strategy(schema)
    if values is None:
        raise UnsupportedSchema(f"no value satisfies this {api} schema: {schema!r}")
    return values


def json_schema(api: str, operation: str, status: int) -> Schema:
    """The schema of the JSON body of one documented response."""
    contract = load(api)
    answer = contract.by_id(operation).response(status)
    if answer is None:
        raise KeyError(f"{api} {operation} documents no {status} response")
    for media_type, media in (answer.get("content") or {}).items():
        if "json" in media_type and "schema" in media:
            return media["schema"]
    raise KeyError(f"{api} {operation} {status} has no JSON body")


@functools.cache
def responses(api: str, operation: str, status: int = 200) -> SearchStrategy[Any]:
    """Any body the contract allows for `operation`'s `status` response (JSON bodies only):
    optional keys sometimes left out, nullable ones sometimes null, every enum value, range ends,
    formats and patterns honoured."""
    return from_schema(api, json_schema(api, operation, int(status)))
