"""How long drawing a field-extraction payload takes, judged from its schema before drawing.

Payloads are drawn off Hypothesis' 8 KiB buffer (`SeededProvider.avoid_realization`), so
what bounds one is the time its draw takes, which grows with what it holds, not with its
bytes: a character takes about
1 µs, an integer 25, a `date-time` 300, an e-mail address 1,700. So a payload's draw time is
estimated first, from what each value takes on the kit's seeded backend, and a schema past
`MAX_MS` a document is refused. A request's documents are drawn one after the other (a
hundred at most), each once.

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

# A tenth of a second a document, ten for a request of a hundred. At the bound: 60 strings of
# 1,000 characters (240 KB of UTF-8), 7 of 5,000 or one of 7,400; 50 lists of 35 integers;
# 120 objects of ten strings; 250 `date-time`s; 43 e-mail addresses
MAX_MS = 100
# What a value takes, in microseconds: the fastest of five draws on the seeded backend,
# rounded up by a quarter
DRAW = 1_000  # a document's draw, whatever its schema
ALTERNATIVE = 40  # choosing among types or `anyOf` branches, or a range's end or not
CHAR = 1.5  # a character of any script
# Hypothesis' simplest value (its first example) of a string of n characters takes up to
# n² of these to size (a loop of big-integer divisions, once or twice a draw): 100 ms for 8,000
SIMPLEST = 0.0016
EXTRA_CHARS = 12  # drawn past `minLength`, from none to this many (the seeded backend's)
STRING = 30
PATTERN = 250  # a string a pattern describes: drawn, then checked
PATTERN_CHAR = 85  # of its shortest match, for patterns drawn character by character
ANY_JSON = 320  # a value of a schema that says nothing
ENUM = 25
SCALARS = {"null": 1, "boolean": 20, "integer": 30, "number": 95}
FORMATS = {  # a format's value is drawn in parts
    "date-time": 370,
    "date": 130,
    "time": 280,
    "uuid": 130,
    "ipv4": 270,
    "ipv6": 300,
    "hostname": 370,
    "email": 2_150,
    "idn-email": 2_150,
    "uri": 870,
    "iri": 870,
    "uri-reference": 870,
    "iri-reference": 870,
}
ARRAY, ITEM, FIXED_ITEM = 8, 20, 9  # an item of a list whose size is not fixed draws "one more?"
OBJECT, REQUIRED, OPTIONAL = 16, 36, 15  # an optional property is drawn about every other time
UNDECLARED_KEYS = 2  # keys drawn for an open object, on average (1.5), and their filter


def estimate(schema: Any) -> float:
    """Milliseconds drawing a value of `schema` takes, on average; `math.inf` when a
    `uniqueItems` array asks for more items than its items have distinct values."""
    costs = _Costs(Converter(load("neurolinker")))
    return (DRAW + costs.of(schema) + SIMPLEST * costs.longest**2) / 1_000


class _Costs:
    """Draw times (µs) of the schemas of one estimate, each worked out once, and the longest
    string they ask for."""

    def __init__(self, converter: Converter) -> None:
        self.converter = converter
        self.known: dict[str, float] = {}
        self.longest = 0

    def of(self, schema: Any) -> float:
        """The slowest of its alternatives (`anyOf`, `oneOf`, `if`...), merged as drawn."""
        key = json_key(schema)
        if key not in self.known:
            alternatives = self.converter.alternatives(schema)
            choice = ALTERNATIVE if len(alternatives) > 1 else 0
            self.known[key] = choice + max(map(self._plain, alternatives), default=0.0)
        return self.known[key]

    def _plain(self, schema: dict[str, Any]) -> float:
        if "enum" in schema:
            return ENUM
        if not ASSERTIONS & schema.keys():
            return ANY_JSON
        names = types_of(schema)
        choice = ALTERNATIVE if len(names) > 1 else 0
        return choice + max(self._typed(name, schema) for name in names)

    def _typed(self, name: str, schema: dict[str, Any]) -> float:
        if name in SCALARS:
            bounded = name == "integer" and BOUNDS & schema.keys()
            return SCALARS[name] + (ALTERNATIVE if bounded else 0)
        if name == "string":
            return self._string(schema)
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
        item = ITEM if high > low else FIXED_ITEM
        return ARRAY + max(count, low) * (item + self.of(items))

    def _object(self, schema: dict[str, Any]) -> float:
        declared = schema.get("properties", {})
        required = schema.get("required", [])
        extra = schema.get("additionalProperties", True)
        cost = float(OBJECT)
        for name in dict.fromkeys([*declared, *required]):
            value = self.of(declared.get(name, extra))
            cost += REQUIRED + value if name in required else OPTIONAL + value / 2
        if extra is not False:
            names = {"allOf": [schema.get("propertyNames", True), {"type": "string"}]}
            cost += UNDECLARED_KEYS * (ITEM + self.of(names) + self.of(extra))
        return cost

    def _string(self, schema: dict[str, Any]) -> float:
        """A string's characters: its length, or what its patterns ask for."""
        if schema.get("format") in FORMATS:
            return FORMATS[schema["format"]]
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        patterns = schema.get(PATTERNS, [])  # every pattern of the merged schema
        if patterns:  # drawn from the first, at worst character by character, then checked
            return PATTERN + PATTERN_CHAR * max([low, *map(_least_chars, patterns)])
        self.longest = max(self.longest, low)
        most = low + EXTRA_CHARS if high is None else min(high, low + EXTRA_CHARS)
        return STRING + CHAR * (low + max(most - low, 0) / 2)

    def _distinct(self, schema: Any) -> float:
        """How many distinct values `schema` has (`math.inf`: more than any array holds)."""
        return sum(map(_plain_distinct, self.converter.alternatives(schema)))


BOUNDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})


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


def _least_chars(pattern: str) -> int:
    """The length of the shortest string `pattern` matches (`a{5000}` asks for 5,000)."""
    try:
        return int(_parser.parse(pattern).getwidth()[0])
    except (re.error, RecursionError, OverflowError):  # Hypothesis refuses it quickly
        return 0
