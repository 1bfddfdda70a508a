"""Field extraction: the caller's JSON Schema is checked, and each document's payload is drawn
from it with the kit's own Hypothesis strategies, seeded by the document so it never changes.

The service accepts "JSON Schema Draft 7 (supported subset)" (SDK 0.2.2). The mock's subset:
a Draft 7 schema whose root is an object schema, without `$ref` (the payload generator would
resolve it in the wrong document), within a size bound, using only the keywords the strategy
converter knows, without a `format` narrowed by `pattern`/`minLength`/`maxLength` (its
values would be drawn and filtered, which can take long to give up on), with `minItems` and
`minLength` at most 8,000 (Hypothesis builds no longer list or string), and whose payload
takes at most `drawsize.MAX_MS` a document to draw. Objects that list `properties` and say
nothing of `additionalProperties` get no extra keys in the payload, as an extractor fills
the fields it was asked for.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError

from mockserver.errors import FieldError

if TYPE_CHECKING:  # Hypothesis is imported with the first schema (`payloads`)
    from hypothesis.strategies import SearchStrategy

API = "neurolinker"
MAX_SCHEMA_BYTES = 64_000
MAX_DEPTH = 32  # nesting of the schema document itself
FORMAT_LIMITS = frozenset({"pattern", "minLength", "maxLength"})
# Hypothesis builds no list or string strategy of more than 8,192 items
LOWER_BOUNDS = {"minItems": 8_000, "minLength": 8_000}
DATA = frozenset({"enum", "const", "default", "examples", "required"})  # values, not schemas


class Unfillable(ValueError):
    """No value of the schema could be drawn (constraints too tight to satisfy)."""


def problem(schema: Any, loc: tuple[str | int, ...]) -> FieldError | None:
    """Why `schema` cannot be used for field extraction, in FastAPI's words; None when fine."""

    def error(message: str) -> FieldError:
        return FieldError(loc, f"Value error, {message}", "value_error", schema)

    if not isinstance(schema, dict):
        return FieldError(loc, "Input should be a valid dictionary", "dict_type", schema)
    if not schema:
        return error("json_schema cannot be empty")
    if len(json.dumps(schema)) > MAX_SCHEMA_BYTES:
        return error(f"json_schema is larger than {MAX_SCHEMA_BYTES} bytes")
    if depth(schema, MAX_DEPTH) > MAX_DEPTH:
        return error(f"json_schema is nested deeper than {MAX_DEPTH} levels")
    try:
        Draft7Validator.check_schema(schema)
    except SchemaError as exc:
        return error(f"Invalid JSON Schema: {exc.message}")
    if schema.get("type") != "object":
        return error('the root of json_schema must be {"type": "object", ...}')
    if _uses_ref(schema):
        return error("$ref is not supported: write the schema out in full")
    costly = _costly(schema)
    if costly is not None:
        return error(costly)
    from mockserver.apis.neurolinker import drawsize  # with Hypothesis: see `_draw`
    from mockserver.contracts.strategies import UnsupportedSchema, from_schema

    try:
        from_schema(API, closed(schema))
        size = drawsize.estimate(closed(schema))
    except UnsupportedSchema as exc:
        return error(f"Unsupported JSON Schema: {exc}")
    if size == math.inf:
        return error("no value satisfies json_schema: uniqueItems asks for more distinct items")
    if size > drawsize.MAX_MS:
        return error(
            f"the payload json_schema asks for is too large to draw: about {size:,.0f} ms a "
            f"document, the most is {drawsize.MAX_MS:,} ms (ask for fewer items, properties "
            "or characters)"
        )
    return None


def closed(schema: Any) -> Any:
    """`schema` with `additionalProperties: false` wherever it lists `properties` and leaves
    extra keys open: every value of the result is still a value of `schema`."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: value if key in DATA else closed(value) for key, value in schema.items()}
    if "properties" in schema and "additionalProperties" not in schema:
        out["additionalProperties"] = False
    if isinstance(schema.get("properties"), dict):  # property names are data, not schemas
        out["properties"] = {k: closed(v) for k, v in schema["properties"].items()}
    return out


def payloads(schema: dict[str, Any], document_ids: Sequence[str]) -> list[Any]:
    """The fields of each document: a value of `schema`, the same for the same document.
    Up to `drawsize.MAX_MS` a document: run it off the event loop. Drawn anew, kept by nobody
    (each document has its own seed, and a payload may be a few hundred kilobytes)."""
    # Hypothesis is imported with the first schema a client sends, not with the server: it
    # takes 0.15 s and 7 MB, and most runs never ask for fields
    from mockserver.contracts.strategies import from_schema

    try:
        strategy = from_schema(API, closed(schema))
        return [_draw(strategy, _seed(document_id)) for document_id in document_ids]
    except Exception as exc:  # Hypothesis gives up on constraints it cannot meet
        raise Unfillable(f"no value satisfies json_schema ({type(exc).__name__})") from None


def _draw(strategy: SearchStrategy[Any], seed: int) -> Any:
    from mockserver.apis.neurolinker.extracted import BACKEND
    from mockserver.contracts.strategies.seeded import fresh_example

    return fresh_example(strategy, seed, BACKEND)


def _seed(document_id: str) -> int:
    return int.from_bytes(hashlib.sha256(document_id.encode()).digest()[:4], "big")


def _costly(value: Any) -> str | None:
    """What in a schema would make drawing a payload slow, if anything: a `format` narrowed by
    a pattern or a length (its values would be drawn, then filtered), or a lower bound above
    what a document holds."""
    if isinstance(value, list):
        return next(filter(None, map(_costly, value)), None)
    if not isinstance(value, dict):
        return None
    if "format" in value and FORMAT_LIMITS & value.keys():
        return "format together with pattern, minLength or maxLength is not supported"
    for keyword, most in LOWER_BOUNDS.items():
        if isinstance(value.get(keyword), int | float) and value[keyword] > most:
            return f"{keyword} above {most} is not supported"
    for key, item in value.items():
        if key in DATA:
            continue
        if key == "properties" and isinstance(item, dict):  # names are data, values schemas
            item = list(item.values())
        found = _costly(item)
        if found is not None:
            return found
    return None


def _uses_ref(value: Any) -> bool:
    if isinstance(value, dict):
        return "$ref" in value or any(_uses_ref(item) for item in value.values())
    if isinstance(value, list):
        return any(_uses_ref(item) for item in value)
    return False


def depth(value: Any, most: int) -> int:
    """Nesting depth of a JSON value, counted up to `most + 1`, iteratively (a hostile
    document must not blow the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > most:
            break
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest
