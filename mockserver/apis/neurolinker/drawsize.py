"""How much drawing a field-extraction payload takes, judged from its schema before drawing.

Hypothesis draws a value into a buffer of 8 KiB of choices. A schema whose values do not fit
(50 lists of 50 numbers, 50 objects of ten strings, 500 e-mail addresses) is not refused by
Hypothesis: it draws again and again, up to a thousand times, until it gives up or chances on
a small value, which took 10 to 90 seconds. So a payload's size is estimated first, from what
each value takes on the kit's seeded backend, and a schema past `MAX_BYTES` is refused.

Imported with the first schema a client sends, as Hypothesis is (`fields.problem`).
"""

from __future__ import annotations

import math
import re
from re import _parser  # the width of what a pattern matches
from typing import Any

from mockserver.contracts.document import load
from mockserver.contracts.strategies.keywords import ASSERTIONS, PATTERNS, json_key, types_of
from mockserver.contracts.strategies.schemas import EXTRA_ITEMS, Converter

# Of Hypothesis' 8,192. The estimate is an average: a payload of 50 lists of 16 numbers
# (8,500 bytes) was drawn in 0.2 s, one of 30 lists of 30 (9,400) took 10 s
MAX_BYTES = 8_000
# What a value takes on average, measured on the seeded backend and rounded up
CHAR_BYTES = 4  # a character of any script, in UTF-8
EXTRA_CHARS = 12  # drawn past `minLength`, from none to this many (the seeded backend's)
ANY_JSON = 40  # a value of a schema that says nothing
ENUM = 2
SCALARS = {"null": 1, "boolean": 1, "integer": 9, "number": 11}
FORMATS = {  # a format's value is drawn in parts
    "date-time": 28,
    "date": 8,
    "time": 16,
    "uuid": 10,
    "ipv4": 10,
    "ipv6": 20,
    "hostname": 28,
    "email": 64,
    "idn-email": 64,
    "uri": 56,
    "iri": 56,
    "uri-reference": 56,
    "iri-reference": 56,
}
OPTIONAL = 0.5  # an optional property is drawn about every other time
UNDECLARED_KEYS = 1.5  # keys drawn for an open object, on average


def estimate(schema: Any) -> float:
    """Bytes of Hypothesis' buffer a value of `schema` takes, on average; `math.inf` when a
    `uniqueItems` array asks for more items than its items have distinct values."""
    return _Sizes(Converter(load("neurolinker"))).of(schema)


class _Sizes:
    """Sizes of the schemas of one estimate, each worked out once."""

    def __init__(self, converter: Converter) -> None:
        self.converter = converter
        self.known: dict[str, float] = {}

    def of(self, schema: Any) -> float:
        """The largest of its alternatives (`anyOf`, `oneOf`, `if`...), merged as drawn."""
        key = json_key(schema)
        if key not in self.known:
            alternatives = self.converter.alternatives(schema)
            self.known[key] = max(map(self._plain, alternatives), default=0.0)
        return self.known[key]

    def _plain(self, schema: dict[str, Any]) -> float:
        if "enum" in schema:
            return ENUM
        if not ASSERTIONS & schema.keys():
            return ANY_JSON
        return max(self._typed(name, schema) for name in types_of(schema))

    def _typed(self, name: str, schema: dict[str, Any]) -> float:
        if name in SCALARS:
            return SCALARS[name]
        if name == "string":
            return _string(schema)
        if name == "array":
            return self._array(schema)
        return self._object(schema)

    def _array(self, schema: dict[str, Any]) -> float:
        low = schema.get("minItems", 0)
        high = schema.get("maxItems", low + EXTRA_ITEMS)
        items = schema.get("items", True)
        if schema.get("uniqueItems") and low > self._distinct(items):
            return math.inf
        # Hypothesis' average list size, between the bounds
        count = min(max(2 * low, low + 5), (low + high) / 2, high)
        return 1 + max(count, low) * (1 + self.of(items))

    def _object(self, schema: dict[str, Any]) -> float:
        declared = schema.get("properties", {})
        required = schema.get("required", [])
        extra = schema.get("additionalProperties", True)
        size = 1.0
        for name in dict.fromkeys([*declared, *required]):
            weight = 1.0 if name in required else OPTIONAL
            size += weight * (1 + self.of(declared.get(name, extra)))
        if extra is not False:
            names = {"allOf": [schema.get("propertyNames", True), {"type": "string"}]}
            size += UNDECLARED_KEYS * (self.of(names) + self.of(extra))
        return size

    def _distinct(self, schema: Any) -> float:
        """How many distinct values `schema` has (`math.inf`: more than any array holds)."""
        return sum(map(_plain_distinct, self.converter.alternatives(schema)))


def _plain_distinct(schema: dict[str, Any]) -> float:
    if "enum" in schema:
        return len(schema["enum"])
    counts = {"null": 1.0, "boolean": 2.0, "integer": _integers(schema)}
    return sum(counts.get(name, math.inf) for name in types_of(schema))


def _integers(schema: dict[str, Any]) -> float:
    """The integers between the schema's bounds (inclusive or not), if it has both."""
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is None or high is None:
        return math.inf
    return max(0.0, math.floor(high) - math.ceil(low) + 1.0)


def _string(schema: dict[str, Any]) -> float:
    """A string's characters: its length, or what its patterns ask for."""
    if schema.get("format") in FORMATS:
        return FORMATS[schema["format"]]
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    most = low + EXTRA_CHARS if high is None else min(high, low + EXTRA_CHARS)
    patterns = schema.get(PATTERNS, [])  # every pattern of the merged schema
    least = max([low, *map(_least_chars, patterns)])
    return 1 + CHAR_BYTES * (least + max(most - low, 0) / 2)


def _least_chars(pattern: str) -> int:
    """The length of the shortest string `pattern` matches (`a{5000}` asks for 5,000)."""
    try:
        return int(_parser.parse(pattern).getwidth()[0])
    except (re.error, RecursionError, OverflowError):  # Hypothesis refuses it quickly
        return 0
