"""Hypothesis strategies: any payload a contract allows, and whole polling lifecycles.

`responses(api, operation, status)` draws any body the contract documents for one response;
`lifecycles(api, object_type)` draws the sequence of status bodies a client may see while
polling one job; `example(strategy, seed)` draws one value reproducibly, outside a test.

The schemas are turned into strategies by a small converter for the JSON Schema subset the
contracts use (`hypothesis-jsonschema` does not run on current Hypothesis). It builds values
that are valid by construction instead of filtering: `allOf`, `oneOf`/`anyOf` and
`if`/`then`/`else` are expanded into alternatives of plain schemas, merged keyword by keyword,
and contradictory alternatives are dropped before anything is drawn. A keyword it does not
know raises `UnsupportedSchema` rather than being ignored.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.internal.conjecture.providers import AVAILABLE_PROVIDERS, HypothesisProvider
from hypothesis.strategies import SearchStrategy

from contracts.document import Contract, load

__all__ = [
    "LIFECYCLE_TYPES",
    "UnsupportedSchema",
    "example",
    "from_schema",
    "lifecycles",
    "responses",
    "status_operation",
]

T = TypeVar("T")
Schema = dict[str, Any] | bool

MAX_SAFE_INTEGER = 2**53 - 1  # larger integers do not survive a JavaScript (double) JSON parser
EXTRA_ITEMS = 4  # items drawn beyond minItems when maxItems is open
EXTRA_CHARS = 24  # characters drawn beyond minLength when maxLength is open
EXTRA_KEYS = 3  # undeclared keys drawn for an open object
MAX_ALTERNATIVES = 1024  # a schema expanding to more plain alternatives is refused

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


# --- values of one JSON type -----------------------------------------------------------------


def _json_key(value: Any) -> str:
    """Identity of a JSON value (`true` and `1` differ, as they do in JSON Schema)."""
    return json.dumps(value, sort_keys=True)


def _is_type(value: Any, name: str) -> bool:
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


def _types(schema: dict[str, Any]) -> list[str]:
    declared = schema.get("type")
    if declared is None:
        return list(JSON_TYPES)
    return [declared] if isinstance(declared, str) else list(declared)


def _meet_types(first: str | list[str], second: str | list[str]) -> list[str]:
    """Types both allow; an integer is also a number."""
    a = {first} if isinstance(first, str) else set(first)
    b = {second} if isinstance(second, str) else set(second)
    both = a & b
    if ("number" in a and "integer" in b) or ("integer" in a and "number" in b):
        both.add("integer")
    return [name for name in JSON_TYPES if name in both]


def _lower_bound(schema: dict[str, Any]) -> tuple[float, bool] | None:
    """The tightest lower bound and whether it is exclusive."""
    bounds = []
    if "minimum" in schema:
        bounds.append((schema["minimum"], False))
    if "exclusiveMinimum" in schema:
        bounds.append((schema["exclusiveMinimum"], True))
    return max(bounds, key=lambda b: (b[0], b[1])) if bounds else None


def _upper_bound(schema: dict[str, Any]) -> tuple[float, bool] | None:
    bounds = []
    if "maximum" in schema:
        bounds.append((schema["maximum"], False))
    if "exclusiveMaximum" in schema:
        bounds.append((schema["exclusiveMaximum"], True))
    return min(bounds, key=lambda b: (b[0], not b[1])) if bounds else None


def _integer_range(schema: dict[str, Any]) -> tuple[int, int]:
    low, high = _lower_bound(schema), _upper_bound(schema)
    lo = (
        -MAX_SAFE_INTEGER
        if low is None
        else math.floor(low[0]) + 1
        if low[1]
        else math.ceil(low[0])
    )
    hi = (
        MAX_SAFE_INTEGER
        if high is None
        else math.ceil(high[0]) - 1
        if high[1]
        else math.floor(high[0])
    )
    return lo, hi


def _integers(schema: dict[str, Any]) -> SearchStrategy[int] | None:
    """Integers in range, the range's own ends drawn often (off-by-one bugs live there)."""
    lo, hi = _integer_range(schema)
    step = schema.get("multipleOf", 1)
    if not float(step).is_integer():
        raise UnsupportedSchema(f"multipleOf {step} on an integer")
    step = int(step)
    lo, hi = -(-lo // step), hi // step
    if lo > hi:
        return None
    ends = [end for end, bound in ((lo, _lower_bound), (hi, _upper_bound)) if bound(schema)]
    values = st.integers(lo, hi)
    if ends:
        values = st.one_of(st.sampled_from(ends), values)
    return values.map(lambda n: n * step) if step != 1 else values


def _numbers(schema: dict[str, Any]) -> SearchStrategy[float | int] | None:
    """Finite floats in range plus whole numbers, which JSON spells the same way."""
    if "multipleOf" in schema:
        return _integers(schema)
    low, high = _lower_bound(schema), _upper_bound(schema)
    if low is not None and high is not None and (low[0], low[1] or high[1]) > (high[0], False):
        return None
    floats = st.floats(
        min_value=None if low is None else low[0],
        max_value=None if high is None else high[0],
        exclude_min=bool(low and low[1]),
        exclude_max=bool(high and high[1]),
        allow_nan=False,
        allow_infinity=False,
    )
    ends = [bound[0] for bound in (low, high) if bound is not None and not bound[1]]
    whole = _integers(schema)
    options = [st.sampled_from(ends)] if ends else []
    options += [floats] + ([whole] if whole is not None else [])
    return st.one_of(options)


def _ecma_to_python(pattern: str) -> str:
    """ECMA-262 classes are ASCII where Python's are Unicode."""
    return pattern.replace(r"\d", "[0-9]").replace(r"\w", "[A-Za-z0-9_]")


REGEX_ATOM = re.compile(
    r"\[(?P<negated>\^?)(?P<members>(?:\\.|[^\]\\])+)\]|\\(?P<escaped>.)|(?P<literal>[^.^$*+?()\[\]{}|\\])"
)
REGEX_QUANTIFIER = re.compile(r"\{(?P<low>\d+)(?P<comma>,(?P<high>\d*))?\}|(?P<symbol>[*+?])")
REGEX_CLASSES = {"d": string.digits, "w": string.ascii_letters + string.digits + "_"}


def _regex(pattern: str) -> SearchStrategy[str]:
    """Strings matching `pattern`. Sequences of literals and character classes (what the
    contracts' ID patterns are) draw each run in one go; other shapes use `from_regex`, which
    draws character by character and is several times slower."""
    parts = _regex_parts(pattern)
    if parts is None:
        return st.from_regex(pattern, fullmatch=True)
    compiled = re.compile(pattern)
    return st.tuples(*parts).map("".join).filter(lambda text: compiled.search(text) is not None)


def _regex_parts(pattern: str) -> list[SearchStrategy[str]] | None:
    body = pattern.removeprefix("^")
    if body.endswith("$") and not body.endswith("\\$"):
        body = body[:-1]
    parts, position = [], 0
    while position < len(body):
        atom = REGEX_ATOM.match(body, position)
        if atom is None:
            return None
        alphabet = _regex_alphabet(atom)
        if alphabet is None:
            return None
        position = atom.end()
        quantifier = REGEX_QUANTIFIER.match(body, position)
        low, high = _regex_repeats(quantifier)
        if quantifier is not None:
            position = quantifier.end()
        parts.append(st.text(alphabet, min_size=low, max_size=high))
    return parts


def _regex_alphabet(atom: re.Match[str]) -> str | SearchStrategy[str] | None:
    if atom["literal"] is not None:
        return atom["literal"]
    if atom["escaped"] is not None:
        letter = atom["escaped"]
        return REGEX_CLASSES.get(letter) if letter.isalnum() else letter
    members = _class_members(atom["members"])
    if members is None or not atom["negated"]:
        return members
    return st.characters(codec="utf-8", exclude_characters=members)


def _class_members(members: str) -> str | None:
    """The characters a `[...]` class lists: single characters, ranges, `\\d`, `\\w`."""
    tokens = re.findall(r"\\.|.", members)
    chars: list[str] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.startswith("\\") and token[1].isalnum():
            if token[1] not in REGEX_CLASSES:
                return None
            chars += REGEX_CLASSES[token[1]]
            index += 1
        elif index + 2 < len(tokens) and tokens[index + 1] == "-":
            first, last = ord(token[-1]), ord(tokens[index + 2][-1])
            chars += map(chr, range(first, last + 1))
            index += 3
        else:
            chars.append(token[-1])
            index += 1
    return "".join(dict.fromkeys(chars))


def _regex_repeats(quantifier: re.Match[str] | None) -> tuple[int, int]:
    if quantifier is None:
        return 1, 1
    symbol = quantifier["symbol"]
    if symbol is not None:
        return {"*": (0, 8), "+": (1, 9), "?": (0, 1)}[symbol]
    low = int(quantifier["low"])
    if not quantifier["comma"]:
        return low, low
    return low, int(quantifier["high"]) if quantifier["high"] else low + 8


def _length_ok(low: int, high: int | None) -> Callable[[str], bool]:
    return lambda text: low <= len(text) and (high is None or len(text) <= high)


def _strings(schema: dict[str, Any]) -> SearchStrategy[str] | None:
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if high is not None and low > high:
        return None
    patterns = [_ecma_to_python(p) for p in schema.get(PATTERNS, [])]
    checks = [_length_ok(low, high)] + [
        functools.partial(lambda p, text: re.search(p, text) is not None, p) for p in patterns
    ]
    formatted = FORMATS.get(schema.get("format", ""))
    if formatted is not None:
        values = formatted()
    elif patterns:
        values = _regex(patterns[0])
    else:
        return st.text(min_size=low, max_size=high if high is not None else low + EXTRA_CHARS)
    return values.filter(lambda text: all(check(text) for check in checks))


# --- formats ----------------------------------------------------------------------------------

EARLIEST, LATEST = datetime(2000, 1, 1), datetime(2099, 12, 31, 23, 59, 59)
TIMESPECS = ("seconds", "milliseconds", "microseconds")


def _rfc3339(moment: datetime, timespec: str = "seconds", zulu: bool = True) -> str:
    text = moment.isoformat(timespec=timespec)
    return text.replace("+00:00", "Z") if zulu else text


def _offsets() -> SearchStrategy[timezone]:
    """UTC mostly, sometimes another offset: RFC 3339 allows any."""
    minutes = st.integers(-12 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
    return st.one_of(st.just(UTC), minutes)


def _date_times() -> SearchStrategy[str]:
    return st.builds(
        _rfc3339,
        st.datetimes(EARLIEST, LATEST, timezones=_offsets()),
        st.sampled_from(TIMESPECS),
        st.booleans(),
    )


def _dates() -> SearchStrategy[str]:
    return st.dates(EARLIEST.date(), LATEST.date()).map(lambda d: d.isoformat())


def _times() -> SearchStrategy[str]:
    return st.builds(
        lambda moment, zone: moment.replace(tzinfo=zone).isoformat().replace("+00:00", "Z"),
        st.times(),
        _offsets(),
    )


def _uuids() -> SearchStrategy[str]:
    return st.uuids().map(str)


def _hostnames() -> SearchStrategy[str]:
    word = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8)
    label = st.lists(word, min_size=1, max_size=2).map("-".join)
    top = st.sampled_from(["com", "io", "dev", "net", "org", "example"])
    return st.builds(
        lambda labels, tld: ".".join([*labels, tld]), st.lists(label, min_size=1, max_size=3), top
    )


def _urls() -> SearchStrategy[str]:
    """Absolute http(s) URLs (RFC 3986): host or IP, optional port, path and query."""
    segment = st.text(string.ascii_letters + string.digits + "-._~", min_size=1, max_size=12)
    host = st.one_of(_hostnames(), st.sampled_from(["localhost", "127.0.0.1", "[::1]"]))
    port = st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}"))
    path = st.lists(segment, max_size=4).map(lambda parts: "".join(f"/{p}" for p in parts))
    pair = st.tuples(segment, segment).map("=".join)
    query = st.one_of(
        st.just(""), st.lists(pair, min_size=1, max_size=3).map(lambda ps: "?" + "&".join(ps))
    )
    return st.builds(
        lambda scheme, *parts: f"{scheme}://" + "".join(parts),
        st.sampled_from(["https", "http"]),
        host,
        port,
        path,
        query,
    )


FORMATS: dict[str, Callable[[], SearchStrategy[str]]] = {
    "date-time": _date_times,
    "date": _dates,
    "time": _times,
    "uuid": _uuids,
    "uri": _urls,
    "iri": _urls,
    "uri-reference": _urls,
    "iri-reference": _urls,
    "email": st.emails,
    "idn-email": st.emails,
    "hostname": _hostnames,
    "ipv4": lambda: st.ip_addresses(v=4).map(str),
    "ipv6": lambda: st.ip_addresses(v=6).map(str),
}


def _any_json() -> SearchStrategy[Any]:
    """Any JSON value, kept small."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=6,
    )


# --- schemas to strategies --------------------------------------------------------------------


class _Converter:
    """Turns one contract's schemas into strategies, resolving `$ref`s through the document."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self._built: dict[str, SearchStrategy[Any] | None] = {}
        self._building: set[str] = set()

    def strategy(self, schema: Schema) -> SearchStrategy[Any] | None:
        """Values of `schema`, or None when no value satisfies it."""
        if schema is True or schema == {}:
            return _any_json()
        key = _json_key(schema)
        if key in self._built:
            return self._built[key]
        if key in self._building:  # a schema containing itself: draw it lazily
            return st.deferred(lambda: self._built[key] or st.nothing())
        self._building.add(key)
        try:
            options = [
                s for flat in self.alternatives(schema) if (s := self._plain(flat)) is not None
            ]
        finally:
            self._building.discard(key)
        self._built[key] = st.one_of(options) if options else None
        return self._built[key]

    # composition -> alternatives of plain schemas

    def alternatives(self, schema: Schema, depth: int = 0) -> list[dict[str, Any]]:
        """`schema` as plain schemas (no composition) whose values are exactly its values."""
        if depth > 64:
            raise UnsupportedSchema("schema nests too deep (a $ref cycle?)")
        if isinstance(schema, bool):
            return [{}] if schema else []
        schema = self._without_ref(schema)
        _check_keywords(schema)
        found = [_plain_part(schema)]
        for part in schema.get("allOf", []):
            found = self._cross(found, self.alternatives(part, depth + 1))
        for keyword in ("anyOf", "oneOf"):  # the contracts' oneOf branches are disjoint
            if keyword in schema:
                branches = [
                    a for part in schema[keyword] for a in self.alternatives(part, depth + 1)
                ]
                found = self._cross(found, branches)
        if "if" in schema:
            found = self._cross(found, self._conditional(schema, depth + 1))
        if "not" in schema:
            found = self._cross(found, self.alternatives(self._negation(schema["not"]), depth + 1))
        return found

    def _without_ref(self, schema: dict[str, Any]) -> dict[str, Any]:
        """A `$ref` with sibling keywords means both (JSON Schema 2020-12)."""
        if "$ref" not in schema:
            return schema
        target = self.contract.resolve({"$ref": schema["$ref"]})
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        if not any(k in ASSERTIONS or k in COMPOSITION for k in rest):
            return target if isinstance(target, dict) else {"allOf": [target]}
        return {"allOf": [target, rest]}

    def _conditional(self, schema: dict[str, Any], depth: int) -> list[dict[str, Any]]:
        condition = schema["if"]
        then = [condition, schema.get("then", True)]
        otherwise = [self._negation(condition), schema.get("else", True)]
        return self.alternatives({"allOf": then}, depth) + self.alternatives(
            {"allOf": otherwise}, depth
        )

    def _negation(self, schema: Schema) -> Schema:
        """`not schema` spelled positively, for the condition shapes the contracts use:
        `const`/`enum`/`type` on a value and `properties`/`required` on an object."""
        if isinstance(schema, bool):
            return not schema
        schema = self._without_ref(schema)
        keys = {k for k in schema if k in ASSERTIONS or k in COMPOSITION}
        if not keys <= {"type", "const", "enum", "properties", "required"}:
            raise UnsupportedSchema(f"cannot negate a schema using {sorted(keys)}")
        branches: list[Schema] = []  # not (A and B) == (not A) or (not B)
        if "type" in schema:
            others = [
                t for t in JSON_TYPES if t not in _meet_types(schema["type"], list(JSON_TYPES))
            ]
            branches.append({"type": others} if others else False)
        if "const" in schema or "enum" in schema:
            branches.append({EXCLUDE: [schema["const"]] if "const" in schema else schema["enum"]})
        for name in schema.get("required", []):
            branches.append({"type": "object", "properties": {name: False}})
        for name, sub in schema.get("properties", {}).items():
            negated = self._negation(sub)
            if negated is not False:
                branches.append(
                    {"type": "object", "required": [name], "properties": {name: negated}}
                )
        if not branches:
            return False
        return branches[0] if len(branches) == 1 else {"anyOf": branches}

    def _cross(self, left: list[dict], right: list[dict]) -> list[dict[str, Any]]:
        merged = [m for a in left for b in right if (m := self.merge(a, b)) is not None]
        if len(merged) > MAX_ALTERNATIVES:
            raise UnsupportedSchema(f"schema expands to more than {MAX_ALTERNATIVES} alternatives")
        return merged

    # merging plain schemas

    def merge(self, first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any] | None:
        """One plain schema meaning both, or None when they contradict each other."""
        merged = dict(first)
        for key, value in second.items():
            if key in ("properties", "additionalProperties"):
                continue
            if key not in merged:
                merged[key] = value
                continue
            combined = self._combine(key, merged[key], value)
            if combined is _CONTRADICTION:
                return None
            merged[key] = combined
        if any(k in s for s in (first, second) for k in ("properties", "additionalProperties")):
            self._merge_objects(first, second, merged)
        properties = merged.get("properties", {})
        if any(properties.get(name) is False for name in merged.get("required", [])):
            return None
        if "enum" in merged:
            excluded = {_json_key(v) for v in merged.get(EXCLUDE, [])}
            merged["enum"] = [
                v
                for v in merged["enum"]
                if _json_key(v) not in excluded and any(_is_type(v, t) for t in _types(merged))
            ]
            if not merged["enum"]:
                return None
        return merged

    def _combine(self, key: str, mine: Any, theirs: Any) -> Any:
        if key == "type":
            return _meet_types(mine, theirs) or _CONTRADICTION
        if key == "enum":
            allowed = {_json_key(v) for v in theirs}
            return [v for v in mine if _json_key(v) in allowed] or _CONTRADICTION
        if key == "required":
            return list(dict.fromkeys([*mine, *theirs]))
        if key in ("minimum", "exclusiveMinimum", "minLength", "minItems"):
            return max(mine, theirs)
        if key in ("maximum", "exclusiveMaximum", "maxLength", "maxItems"):
            return min(mine, theirs)
        if key == "uniqueItems":
            return mine or theirs
        if key in ("items", "propertyNames"):
            return self._both([mine, theirs])
        if key in (EXCLUDE, PATTERNS):
            return [*mine, *theirs]
        if mine == theirs:  # format, multipleOf
            return mine
        raise UnsupportedSchema(f"cannot combine {key}: {mine!r} and {theirs!r}")

    def _merge_objects(self, first: dict, second: dict, merged: dict) -> None:
        """A key one side does not declare must satisfy that side's additionalProperties."""
        mine, theirs = first.get("properties", {}), second.get("properties", {})
        extra_mine = first.get("additionalProperties", True)
        extra_theirs = second.get("additionalProperties", True)
        merged["properties"] = {
            name: self._both([mine.get(name, extra_mine), theirs.get(name, extra_theirs)])
            for name in dict.fromkeys([*mine, *theirs])
        }
        merged["additionalProperties"] = self._both([extra_mine, extra_theirs])

    def _both(self, parts: list[Schema]) -> Schema:
        """A schema meaning all of `parts`: merged now when they are plain (so contradictions
        prune their alternative early), else kept as an `allOf`."""
        kept = [p for p in parts if p is not True and p != {}]
        if any(p is False for p in kept):
            return False
        if len(kept) <= 1:
            return kept[0] if kept else True
        plain = [self._as_plain(p) for p in kept]
        if all(p is not None for p in plain):
            result: dict[str, Any] | None = plain[0]
            for part in plain[1:]:
                result = self.merge(result, part) if result is not None else None
            return False if result is None else result
        return {"allOf": kept}

    def _as_plain(self, schema: Schema) -> dict[str, Any] | None:
        if isinstance(schema, bool):
            return None
        schema = self._without_ref(schema)
        if any(k in COMPOSITION for k in schema):
            return None
        _check_keywords(schema)
        return _plain_part(schema)

    # plain schemas -> values

    def _plain(self, schema: dict[str, Any]) -> SearchStrategy[Any] | None:
        excluded = {_json_key(v) for v in schema.get(EXCLUDE, [])}
        if "enum" in schema:
            values = [
                v for v in schema["enum"] if _json_key(v) not in excluded and _admits(schema, v)
            ]
            return st.sampled_from(values) if values else None
        if not any(k in ASSERTIONS for k in schema):
            return _any_json()
        options = [s for name in _types(schema) if (s := self._typed(name, schema)) is not None]
        if not options:
            return None
        values = st.one_of(options)
        return values.filter(lambda v: _json_key(v) not in excluded) if excluded else values

    def _typed(self, name: str, schema: dict[str, Any]) -> SearchStrategy[Any] | None:
        if name == "null":
            return st.none()
        if name == "boolean":
            return st.booleans()
        if name == "integer":
            return _integers(schema)
        if name == "number":
            return _numbers(schema)
        if name == "string":
            return _strings(schema)
        if name == "array":
            return self._arrays(schema)
        return self._objects(schema)

    def _arrays(self, schema: dict[str, Any]) -> SearchStrategy[list[Any]] | None:
        low, high = schema.get("minItems", 0), schema.get("maxItems")
        high = low + EXTRA_ITEMS if high is None else high
        if low > high:
            return None
        items = self.strategy(schema.get("items", True))
        if items is None:
            return st.just([]) if low == 0 else None
        unique = _json_key if schema.get("uniqueItems") else None
        return st.lists(items, min_size=low, max_size=high, unique_by=unique)

    def _objects(self, schema: dict[str, Any]) -> SearchStrategy[dict[str, Any]] | None:
        """Required keys always, optional ones sometimes, undeclared ones where allowed."""
        declared = schema.get("properties", {})
        required = schema.get("required", [])
        extra = schema.get("additionalProperties", True)
        always: dict[str, SearchStrategy[Any]] = {}
        sometimes: dict[str, SearchStrategy[Any]] = {}
        for name in dict.fromkeys([*declared, *required]):
            sub = declared.get(name, extra)
            values = self.strategy(sub) if sub is not False else None
            if name in required:
                if values is None:
                    return None
                always[name] = values
            elif values is not None:
                sometimes[name] = values
        fixed = st.fixed_dictionaries(always, optional=sometimes)
        undeclared = self._undeclared(schema, set(declared) | set(required))
        if undeclared is None:
            return fixed
        return st.tuples(fixed, undeclared).map(lambda pair: {**pair[0], **pair[1]})

    def _undeclared(self, schema: dict[str, Any], known: set[str]) -> SearchStrategy | None:
        extra = schema.get("additionalProperties", True)
        values = self.strategy(extra) if extra is not False else None
        names = self.strategy({"allOf": [schema.get("propertyNames", True), {"type": "string"}]})
        if values is None or names is None:
            return None
        return st.dictionaries(names.filter(lambda n: n not in known), values, max_size=EXTRA_KEYS)


class _Contradiction:
    """Marks two keyword values no value can satisfy together."""


_CONTRADICTION = _Contradiction()


def _check_keywords(schema: dict[str, Any]) -> None:
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


def _plain_part(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema's own assertions, normalised: `const` as a one-value `enum`, patterns listed."""
    part = {k: v for k, v in schema.items() if k in ASSERTIONS and k not in ("const", "pattern")}
    if "const" in schema:
        part["enum"] = [schema["const"]]
        if "enum" in schema and _json_key(schema["const"]) not in map(_json_key, schema["enum"]):
            part["enum"] = []
    if "pattern" in schema:
        part[PATTERNS] = [*part.get(PATTERNS, []), schema["pattern"]]
    return part


def _admits(schema: dict[str, Any], value: Any) -> bool:
    """Whether an enum value also meets the schema's scalar keywords."""
    if not any(_is_type(value, t) for t in _types(schema)):
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = _lower_bound(schema), _upper_bound(schema)
        if low and (value < low[0] or (low[1] and value == low[0])):
            return False
        if high and (value > high[0] or (high[1] and value == high[0])):
            return False
    if isinstance(value, str):
        if not _length_ok(schema.get("minLength", 0), schema.get("maxLength"))(value):
            return False
        return all(re.search(_ecma_to_python(p), value) for p in schema.get(PATTERNS, []))
    return True


@functools.cache
def _converter(api: str) -> _Converter:
    return _Converter(load(api))


def from_schema(api: str, schema: Schema) -> SearchStrategy[Any]:
    """Values of `schema`, a schema of `api`'s contract (its `$ref`s resolve in that document)."""
    values = _converter(api).strategy(schema)
    if values is None:
        raise UnsupportedSchema(f"no value satisfies this {api} schema: {schema!r}")
    return values


def _json_schema(api: str, operation: str, status: int) -> Schema:
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
    return from_schema(api, _json_schema(api, operation, int(status)))


# --- lifecycles -------------------------------------------------------------------------------

STATUS_OPERATIONS: dict[str, dict[str, str]] = {
    "neuralanalog": dict.fromkeys(
        ("audio", "upscaled", "mastered", "stem_split", "stem", "workflow"), "get_status"
    ),
    "camb": {"audio_separation": "get_audio_separation_status"},
    "neurolinker": {"request": "get_request_status", "document": "get_document_status"},
    "neuraldraft": dict.fromkeys(
        (
            "blog_post.generate",
            "social_post.generate",
            "image.generate",
            "translation.batch",
            "content_plan.generate",
            "website.generate",
        ),
        "get_job",
    ),
}
LIFECYCLE_TYPES: dict[str, tuple[str, ...]] = {
    api: tuple(ops) for api, ops in STATUS_OPERATIONS.items()
}
MAX_POLLS = 5  # live observations before the terminal one
ABSENT = object()  # pin value: the key must not be there


def status_operation(api: str, object_type: str) -> str:
    """The operationId whose 200 answer `lifecycles(api, object_type)` draws."""
    try:
        return STATUS_OPERATIONS[api][object_type]
    except KeyError:
        known = ", ".join(f"{a}: {', '.join(t)}" for a, t in LIFECYCLE_TYPES.items())
        raise KeyError(f"no lifecycle for {api!r} {object_type!r}; known: {known}") from None


def lifecycles(api: str, object_type: str) -> SearchStrategy[list[dict[str, Any]]]:
    """Sequences of status bodies one client may see while polling one job: states only move
    forward, IDs and creation times stay put, later timestamps never go back, and exactly one
    terminal state, the last."""
    status_operation(api, object_type)
    return LIFECYCLE_BUILDERS[api](object_type)


@functools.lru_cache(maxsize=256)
def _pinned(api: str, operation: str, pins: tuple[tuple[str, Any], ...]) -> SearchStrategy[dict]:
    """The status body with some top-level keys fixed (or, pinned to ABSENT, left out): the
    fields a lifecycle drives, while the contract decides everything else."""
    properties = {k: (False if v is ABSENT else {"const": v}) for k, v in pins}
    required = [k for k, v in pins if v is not ABSENT]
    condition = {"type": "object", "properties": properties, "required": required}
    return from_schema(api, {"allOf": [_json_schema(api, operation, 200), condition]})


def _component(api: str, name: str, field: str | None = None) -> SearchStrategy[Any]:
    """Values of a named schema of the contract, or of one of its properties."""
    schema = {"$ref": f"#/components/schemas/{name}"}
    if field is not None:
        schema = load(api).resolve(schema)["properties"][field]
    return from_schema(api, schema)


def _present(api: str, name: str, field: str) -> SearchStrategy[Any]:
    """Values of a nullable property that are not null (the lifecycle says it is set)."""
    schema = load(api).resolve({"$ref": f"#/components/schemas/{name}"})["properties"][field]
    return from_schema(api, {"allOf": [schema, {"not": {"type": "null"}}]})


@dataclass(frozen=True, slots=True)
class _Clock:
    """How one server prints time; one style per lifecycle, as a real server keeps one."""

    timespec: str
    zulu: bool

    def stamp(self, moment: datetime) -> str:
        return _rfc3339(moment, self.timespec, self.zulu)


def _clocks() -> SearchStrategy[_Clock]:
    return st.builds(_Clock, st.sampled_from(TIMESPECS), st.booleans())


def _instants() -> SearchStrategy[datetime]:
    return st.datetimes(datetime(2020, 1, 1), datetime(2035, 1, 1), timezones=st.just(UTC))


def _delays() -> SearchStrategy[timedelta]:
    """Time between two events: often none (same tick), up to ten minutes."""
    micros = st.one_of(st.just(0), st.integers(1, 10**6), st.integers(1, 600 * 10**6))
    return micros.map(lambda us: timedelta(microseconds=us))


def _ascending(draw: st.DrawFn, values: SearchStrategy[int], count: int) -> list[int]:
    return sorted(draw(st.lists(values, min_size=count, max_size=count)))


def _polls(draw: st.DrawFn, start: datetime, end: datetime) -> list[datetime]:
    """Times of the live polls: in order, at or after `start`, strictly before `end`."""
    span = (end - start) // timedelta(microseconds=1)
    if span <= 0:
        return []
    count = draw(st.integers(0, MAX_POLLS))
    offsets = _ascending(draw, st.integers(0, span - 1), count)
    return [start + timedelta(microseconds=us) for us in offsets]


def _pin(api: str, operation: str, **pins: Any) -> SearchStrategy[dict]:
    return _pinned(api, operation, tuple(sorted(pins.items(), key=lambda kv: kv[0])))


# Neural Analog: `status` plus flags, `completed_at`, stems on a finished split, workflow steps.

NA_DOWNLOADABLE = ("audio", "upscaled", "mastered", "stem")


@st.composite
def _neuralanalog(draw: st.DrawFn, object_type: str) -> list[dict[str, Any]]:
    clock, created = draw(_clocks()), draw(_instants())
    object_id = draw(_uuids())
    identity = {
        "object_type": object_type,
        "object_id": object_id,
        "audio_id": object_id if object_type == "audio" else draw(_uuids()),
        "created_at": clock.stamp(created),
    }
    outcome = draw(st.sampled_from(["completed", "failed"]))
    plan = draw(_workflow_plans()) if object_type == "workflow" else []
    live = draw(st.integers(0, MAX_POLLS))
    # workflow position: step i not started (2i) or running (2i + 1)
    positions = _ascending(draw, st.integers(0, 2 * len(plan) - 1), live) if plan else [0] * live
    bodies = []
    for position in positions:
        state = draw(st.sampled_from(["in_progress", "processing"]))
        body = draw(_na_body(object_type, state)) | identity
        if plan:
            running = "in_progress" if position % 2 else "pending"
            body["steps"] = _workflow_steps(plan, position // 2, running)
        bodies.append(body)
    body = draw(_na_body(object_type, outcome)) | identity
    finished = created + draw(_delays())
    body["completed_at"] = clock.stamp(finished) if outcome == "completed" else None
    if outcome == "completed" and object_type in NA_DOWNLOADABLE:
        body["download_url"] = draw(_present("neuralanalog", "StatusResponse", "download_url"))
    if outcome == "failed":
        body["error_message"] = draw(_present("neuralanalog", "StatusResponse", "error_message"))
    if plan:
        done = (
            len(plan)
            if outcome == "completed"
            else draw(st.integers(positions[-1] // 2 if positions else 0, len(plan) - 1))
        )
        body["steps"] = _workflow_steps(plan, done, "failed")
    if object_type == "stem_split" and outcome == "completed":
        body["stems"] = draw(
            st.lists(
                _component("neuralanalog", "StemEntry"),
                min_size=1,
                max_size=6,
                unique_by=lambda s: s["stem_id"],
            )
        )
    return [*bodies, body]


def _na_body(object_type: str, state: str) -> SearchStrategy[dict]:
    """A status body in `state` whose flags, links and extensions a lifecycle then sets."""
    pins: dict[str, Any] = {
        "object_type": object_type,
        "status": state,
        "is_complete": state == "completed",
        "is_failed": state == "failed",
        "error_message": None,
        "download_url": None,
        "completed_at": None,
        "stems": ABSENT,
    }
    if object_type != "workflow":
        pins["steps"] = ABSENT
    return _pin("neuralanalog", "get_status", **pins)


def _workflow_plans() -> SearchStrategy[list[tuple[str, str]]]:
    """Step types of a run, each with the ID of the object it will produce."""
    step = st.tuples(st.sampled_from(["upscale", "master", "stems"]), _uuids())
    return st.lists(step, min_size=1, max_size=3)


def _workflow_steps(plan: list[tuple[str, str]], done: int, current: str) -> list[dict[str, Any]]:
    """Steps before `done` completed, step `done` in state `current`, later ones pending; an
    object ID appears once its step has started."""
    steps = []
    for index, (kind, object_id) in enumerate(plan):
        state = "completed" if index < done else current if index == done else "pending"
        steps.append(
            {"type": kind, "status": state, "object_id": None if state == "pending" else object_id}
        )
    return steps


# Camb: PENDING, then one terminal state; `run_id` only on SUCCESS (the contract's oneOf).

CAMB_TERMINAL = ("SUCCESS", "ERROR", "TIMEOUT", "PAYMENT_REQUIRED")


@st.composite
def _camb(draw: st.DrawFn, object_type: str) -> list[dict[str, Any]]:
    operation = STATUS_OPERATIONS["camb"][object_type]
    live = draw(st.integers(0, MAX_POLLS))
    bodies = [draw(_pin("camb", operation, status="PENDING")) for _ in range(live)]
    outcome = draw(st.sampled_from(CAMB_TERMINAL))
    return [*bodies, draw(_pin("camb", operation, status=outcome))]


# NeuroLinker: documents pending -> processing -> completed | failed; the request aggregates.

CREDITS_PER_PAGE = 4


@dataclass(frozen=True, slots=True)
class _PlannedDocument:
    """One document's whole history, so every poll shows a consistent moment of it."""

    document_id: str
    filename: str
    page_url: str
    size: int
    pages: int
    images: tuple[str, ...]
    started: datetime  # processing starts (for a document failed while pending: when it failed)
    ended: datetime
    outcome: str
    error: str
    failed_pending: bool

    def state(self, at: datetime) -> str:
        if at >= self.ended:
            return self.outcome
        return "pending" if at < self.started else "processing"

    def pages_at(self, at: datetime) -> int | None:
        """Pages are known once processing has started."""
        return None if self.state(at) == "pending" or self.failed_pending else self.pages


@dataclass(frozen=True, slots=True)
class _PlannedRequest:
    request_id: str
    user_uid: str
    page_url: str
    accepted: datetime
    documents: tuple[_PlannedDocument, ...]

    @property
    def finished(self) -> datetime:
        return max(d.ended for d in self.documents)


@st.composite
def _planned_documents(draw: st.DrawFn, accepted: datetime) -> _PlannedDocument:
    started = accepted + draw(_delays())
    outcome = draw(st.sampled_from(["completed", "failed"]))
    failed_pending = outcome == "failed" and draw(st.booleans())
    return _PlannedDocument(
        document_id=draw(_uuids()),
        filename=draw(_component("neurolinker", "RequestDocumentInProgress", "filename")),
        page_url=draw(_component("neurolinker", "PageUrl")),
        size=draw(_component("neurolinker", "DocumentRecordCompleted", "file_size_bytes")),
        pages=draw(st.integers(1, 500)),
        images=tuple(draw(st.lists(_component("neurolinker", "ImageName"), max_size=3))),
        started=started,
        ended=started if failed_pending else started + draw(_delays()),
        outcome=outcome,
        error=draw(_component("neurolinker", "DocumentStatusFailed", "error")),
        failed_pending=failed_pending,
    )


@st.composite
def _planned_requests(draw: st.DrawFn) -> _PlannedRequest:
    accepted = draw(_instants())
    documents = draw(
        st.lists(
            _planned_documents(accepted), min_size=1, max_size=4, unique_by=lambda d: d.document_id
        )
    )
    return _PlannedRequest(
        request_id=draw(_uuids()),
        user_uid=draw(_component("neurolinker", "UserUid")),
        page_url=draw(_component("neurolinker", "PageUrl")),
        accepted=accepted,
        documents=tuple(documents),
    )


def _document_record(request: _PlannedRequest, doc: _PlannedDocument, clock: _Clock) -> dict:
    """The `result` of a finished document in the request status."""
    record: dict[str, Any] = {
        "file_name": doc.filename,
        "file_type": "application/pdf",
        "started_at": clock.stamp(doc.started),
        "file_size_bytes": doc.size,
        "user_uid": request.user_uid,
        "total_pages": doc.pages_at(doc.ended),
        "completed_at": clock.stamp(doc.ended),
        "results": None,
        "status": doc.outcome,
        "billing": None,
    }
    if doc.outcome == "completed":
        record["results"] = _document_results(request, doc)
        record["billing"] = {
            "type": "capture",
            "amount": CREDITS_PER_PAGE * doc.pages,
            "at": clock.stamp(doc.ended),
        }
    else:
        record["error"] = doc.error
    return record


def _document_results(request: _PlannedRequest, doc: _PlannedDocument) -> dict[str, Any]:
    return {
        "storage_path": f"uploads/{request.user_uid}/{request.request_id}/{doc.document_id}/",
        "cropped_images": list(doc.images),
    }


def _request_status(request: _PlannedRequest, at: datetime, clock: _Clock) -> dict[str, Any]:
    states = [d.state(at) for d in request.documents]
    completed, failed = states.count("completed"), states.count("failed")
    processing = len(states) - completed - failed
    if processing:
        aggregate = "processing"
    else:
        aggregate = "failed" if not completed else "completed" if not failed else "partial"
    return {
        "success": True,
        "request_id": request.request_id,
        "status": aggregate,
        "documents": [
            {
                "document_id": doc.document_id,
                "filename": doc.filename,
                "status": state,
                "result": None
                if state in ("pending", "processing")
                else _document_record(request, doc, clock),
                "document_page_url": doc.page_url,
            }
            for doc, state in zip(request.documents, states, strict=True)
        ],
        "total": len(states),
        "completed": completed,
        "failed": failed,
        "processing": processing,
        "job_page_url": request.page_url,
        "total_size_bytes": sum(d.size for d in request.documents),
        "started_at": clock.stamp(request.accepted),
        "completed_at": None if processing else clock.stamp(request.finished),
    }


def _document_status(
    request: _PlannedRequest, doc: _PlannedDocument, at: datetime, clock: _Clock
) -> dict:
    state = doc.state(at)
    body: dict[str, Any] = {
        "success": True,
        "document_id": doc.document_id,
        "request_id": request.request_id,
        "status": state,
        "file_name": doc.filename,
        "file_type": "application/pdf",
        "file_size_bytes": doc.size,
        "total_pages": doc.pages_at(at),
        "user_uid": request.user_uid,
        "started_at": None if state == "pending" else clock.stamp(doc.started),
        "completed_at": clock.stamp(doc.ended) if state in ("completed", "failed") else None,
        "results": _document_results(request, doc) if state == "completed" else None,
        "document_page_url": doc.page_url,
    }
    if state == "failed":
        body["error"] = doc.error
    return body


@st.composite
def _neurolinker(draw: st.DrawFn, object_type: str) -> list[dict[str, Any]]:
    clock, request = draw(_clocks()), draw(_planned_requests())
    if object_type == "request":
        end = request.finished
        observe = functools.partial(_request_status, request, clock=clock)
    else:
        end = request.documents[0].ended
        observe = functools.partial(_document_status, request, request.documents[0], clock=clock)
    polls = _polls(draw, request.accepted, end)
    return [observe(at) for at in [*polls, end + draw(_delays())]]


# Neural Draft: pending -> processing -> completed | failed | cancelled; steps finish in order.

ND_STEPS: dict[str, tuple[str, ...]] = {
    "blog_post.generate": ("research", "write", "image", "translate", "seo"),
    "social_post.generate": ("write", "media"),
    "image.generate": ("generate", "upload"),
    "content_plan.generate": ("research", "plan"),
    "website.generate": ("plan", "write", "build"),
}
LANGUAGES = ("fr", "de", "es", "it", "pt-BR", "ja", "zh-Hans")


@st.composite
def _neuraldraft(draw: st.DrawFn, job_type: str) -> list[dict[str, Any]]:
    clock, created = draw(_clocks()), draw(_instants())
    names = ND_STEPS.get(job_type) or tuple(
        draw(st.lists(st.sampled_from(LANGUAGES), min_size=1, max_size=4, unique=True))
    )
    identity = {
        "id": draw(_component("neuraldraft", "Job", "id")),
        "type": job_type,
        "created_at": clock.stamp(created),
    }
    live = draw(st.integers(0, MAX_POLLS))
    pending = draw(st.integers(0, live))
    done = [0] * pending + _ascending(draw, st.integers(0, len(names)), live - pending)
    progress = [0] * pending + _ascending(draw, st.integers(0, 99), live - pending)
    moments = [created]
    for _ in range(live + 1):
        moments.append(moments[-1] + draw(_delays()))
    bodies = []
    for index in range(live):
        state = "pending" if index < pending else "processing"
        active = state == "processing" and done[index] < len(names) and draw(st.booleans())
        body = draw(_pin("neuraldraft", "get_job", status=state, type=job_type)) | identity
        body |= {
            "progress": progress[index],
            "steps": _job_steps(names, done[index], active),
            "updated_at": clock.stamp(moments[index + 1]),
        }
        bodies.append(body)
    outcome = draw(st.sampled_from(["completed", "failed", "cancelled"]))
    last_done, last_progress = (done[-1], progress[-1]) if live else (0, 0)
    final_done = len(names) if outcome == "completed" else draw(st.integers(last_done, len(names)))
    body = draw(_pin("neuraldraft", "get_job", status=outcome, type=job_type)) | identity
    body |= {
        "progress": 100 if outcome == "completed" else draw(st.integers(last_progress, 99)),
        "steps": _job_steps(names, final_done, False),
        "updated_at": clock.stamp(moments[-1]),
    }
    if outcome == "completed" and job_type == "translation.batch":
        body["result"] = {**body["result"], "locales": list(names)}
    return [*bodies, body]


def _job_steps(names: Iterable[str], done: int, active: bool) -> list[dict[str, Any]]:
    """The first `done` steps completed; the next one active when `active`."""
    return [
        {"name": name, "completed": index < done, "active": active and index == done}
        for index, name in enumerate(names)
    ]


LIFECYCLE_BUILDERS: dict[str, Callable[[str], SearchStrategy[list[dict[str, Any]]]]] = {
    "neuralanalog": _neuralanalog,
    "camb": _camb,
    "neurolinker": _neurolinker,
    "neuraldraft": _neuraldraft,
}


# --- one value from a seed --------------------------------------------------------------------


class _SeededProvider(HypothesisProvider):
    """Hypothesis's own provider, minus the constants it mines from the caller's modules.

    Since 6.131 Hypothesis sometimes draws literals found in whatever local (non site-packages)
    modules are imported at that moment, so one seed gives different values depending on what
    the process happened to load (test order, xdist worker, a literal added to client code).
    Without them a draw depends on the seed alone. Registered as its own backend, used only by
    `example`; tests keep the default provider."""

    def _maybe_draw_constant(self, *args: Any, **kwargs: Any) -> None:
        return None


SEEDED_BACKEND = "contracts-seeded"
AVAILABLE_PROVIDERS.setdefault(SEEDED_BACKEND, _SeededProvider)


def example(strategy: SearchStrategy[T], seed: int) -> T:
    """One value of `strategy`, the same for the same seed (and Hypothesis version) in any
    process: what fault injection serves for "payload variety, seed N".

    Outside a test Hypothesis draws only through `@given`, so this runs a quiet, database-free
    `@given` pinned by `@seed` on the seeded backend and keeps its last example (the first
    example of a run is always the simplest one, the same for every seed)."""
    return copy.deepcopy(_seeded_draw(strategy, seed))


@functools.lru_cache(maxsize=512)
def _seeded_draw(strategy: SearchStrategy[Any], seed: int) -> Any:
    found: list[Any] = []

    @hypothesis_seed(seed)
    @settings(
        backend=SEEDED_BACKEND,
        database=None,
        max_examples=2,
        derandomize=False,
        deadline=None,
        phases=(Phase.generate,),
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )
    @given(strategy)
    def collect(value: Any) -> None:
        found.append(value)

    collect()
    return found[-1]
