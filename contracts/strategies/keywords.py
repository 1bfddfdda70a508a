"""The JSON Schema vocabulary the converter knows, and the JSON facts it relies on.

Keywords fall in three sets: composition (expanded into alternatives), assertions (what a
value must meet) and annotations (ignored). Anything else is refused with
`UnsupportedSchema` rather than silently ignored.
"""

from __future__ import annotations

import json
from typing import Any

Schema = dict[str, Any] | bool

COMPOSITION = frozenset({"allOf", "anyOf", "oneOf", "if", "then", "else", "not", "$ref"})
ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$anchor",
        "$defs",
        "$comment",
        "title",
        "description",
        "default",
        "example",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "contentMediaType",
        "contentEncoding",
        "contentSchema",
        "discriminator",
        "externalDocs",
        "xml",
        "nullable",
    }
)
# Internal keywords of merged schemas: values excluded (from `not`), all patterns to match.
EXCLUDE, PATTERNS = "__exclude__", "__patterns__"
ASSERTIONS = frozenset(
    {
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "propertyNames",
        "items",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        EXCLUDE,
        PATTERNS,
    }
)
JSON_TYPES = ("null", "boolean", "integer", "number", "string", "array", "object")


class UnsupportedSchema(ValueError):
    """The schema uses something the converter cannot turn into values, or admits no value."""


def json_key(value: Any) -> str:
    """Identity of a JSON value (`true` and `1` differ, as they do in JSON Schema)."""
    return json.dumps(value, sort_keys=True)


def is_type(value: Any, name: str) -> bool:
    """Whether `value` has JSON type `name` (a whole float is an integer, a bool is not)."""
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, list)
    return isinstance(value, dict)


def types_of(schema: dict[str, Any]) -> list[str]:
    """The types a schema allows: every JSON type when it names none."""
    declared = schema.get("type")
    if declared is None:
        return list(JSON_TYPES)
    return [declared] if isinstance(declared, str) else list(declared)


def meet_types(first: str | list[str], second: str | list[str]) -> list[str]:
    """Types both allow; an integer is also a number."""
    a = {first} if isinstance(first, str) else set(first)
    b = {second} if isinstance(second, str) else set(second)
    both = a & b
    if ("number" in a and "integer" in b) or ("integer" in a and "number" in b):
        both.add("integer")
    return [name for name in JSON_TYPES if name in both]


def check_keywords(schema: dict[str, Any]) -> None:
    """Refuse a keyword the converter does not know rather than draw values that ignore it."""
    unknown = [
        k
        for k in schema
        if k not in ASSERTIONS
        and k not in COMPOSITION
        and k not in ANNOTATIONS
        and not k.startswith("x-")
    ]
    if unknown:
        raise UnsupportedSchema(f"keywords not supported by the converter: {unknown}")


def plain_part(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema's own assertions, normalised: `const` as a one-value `enum`, patterns listed."""
    part = {k: v for k, v in schema.items() if k in ASSERTIONS and k not in ("const", "pattern")}
    if "const" in schema:
        part["enum"] = [schema["const"]]
        if "enum" in schema and json_key(schema["const"]) not in map(json_key, schema["enum"]):
            part["enum"] = []
    if "pattern" in schema:
        part[PATTERNS] = [*part.get(PATTERNS, []), schema["pattern"]]
    return part
