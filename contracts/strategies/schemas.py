"""The converter: one contract's JSON Schemas turned into Hypothesis strategies.

It builds values that are valid by construction instead of filtering: `allOf`,
`oneOf`/`anyOf` and `if`/`then`/`else` are expanded into alternatives of plain schemas,
merged keyword by keyword, and contradictory alternatives are dropped before anything is
drawn (`hypothesis-jsonschema` does not run on current Hypothesis).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from mockserver.contracts.document import Contract
from mockserver.contracts.strategies.keywords import (
    ASSERTIONS,
    COMPOSITION,
    EXCLUDE,
    JSON_TYPES,
    PATTERNS,
    Schema,
    UnsupportedSchema,
    check_keywords,
    is_type,
    json_key,
    meet_types,
    plain_part,
    types_of,
)
from mockserver.contracts.strategies.values import (
    admits,
    any_json,
    integer_values,
    number_values,
    string_values,
)

EXTRA_ITEMS = 4  # items drawn beyond minItems when maxItems is open
EXTRA_KEYS = 3  # undeclared keys drawn for an open object
MAX_ALTERNATIVES = 1024  # a schema expanding to more plain alternatives is refused
BUILT = 2048  # strategies kept per contract, least recently used dropped first


class Converter:
    """Turns one contract's schemas into strategies, resolving `$ref`s through the document."""

    def __init__(self, contract: Contract, closed: bool = False) -> None:
        """`closed`: objects that name their `properties` get no other key unless an
        `additionalProperties` schema asks for them, as request bodies must: the mock reports
        any other key of a request as an unknown field."""
        self.contract = contract
        self.closed = closed
        # bounded: payload variety pins a new schema per call, and a server runs for days
        self._built: OrderedDict[str, SearchStrategy[Any] | None] = OrderedDict()
        self._building: set[str] = set()

    def strategy(self, schema: Schema) -> SearchStrategy[Any] | None:
        """Values of `schema`, or None when no value satisfies it."""
        if schema is True or schema == {}:
            return any_json()
        key = json_key(schema)
        if key in self._built:
            self._built.move_to_end(key)
            return self._built[key]
        if key in self._building:  # a schema containing itself: draw it lazily
            return st.deferred(lambda: self.strategy(schema) or st.nothing())
        self._building.add(key)
        try:
            options = [
                s for flat in self.alternatives(schema) if (s := self._plain(flat)) is not None
            ]
        finally:
            self._building.discard(key)
        built = self._built[key] = st.one_of(options) if options else None
        if len(self._built) > BUILT:
            self._built.popitem(last=False)
        return built

    # composition -> alternatives of plain schemas

    def alternatives(self, schema: Schema, depth: int = 0) -> list[dict[str, Any]]:
        """`schema` as plain schemas (no composition) whose values are exactly its values."""
        if depth > 64:
            raise UnsupportedSchema("schema nests too deep (a $ref cycle?)")
        if isinstance(schema, bool):
            return [{}] if schema else []
        if not isinstance(schema, dict):
            raise UnsupportedSchema(f"not a schema (a dict, True or False): {schema!r}")
        schema = self._without_ref(schema)
        check_keywords(schema)
        found = [plain_part(schema)]
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
        try:
            target = self.contract.resolve({"$ref": schema["$ref"]})
        except (KeyError, IndexError, TypeError, AttributeError):
            raise UnsupportedSchema(
                f"$ref {schema['$ref']!r} names nothing in the {self.contract.api} contract"
            ) from None
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
        `const`/`enum`/`type` on a value, `properties`/`required` on an object, and `allOf`
        or `anyOf` of those."""
        if isinstance(schema, bool):
            return not schema
        schema = self._without_ref(schema)
        keys = {k for k in schema if k in ASSERTIONS or k in COMPOSITION}
        if not keys <= {"type", "const", "enum", "properties", "required", "allOf", "anyOf"}:
            raise UnsupportedSchema(f"cannot negate a schema using {sorted(keys)}")
        branches: list[Schema] = []  # not (A and B) == (not A) or (not B)
        branches += [n for part in schema.get("allOf", []) if (n := self._negation(part))]
        if "anyOf" in schema:  # not (A or B) == (not A) and (not B)
            parts = [self._negation(part) for part in schema["anyOf"]]
            if all(n is not False for n in parts):
                branches.append({"allOf": parts})
        if "type" in schema:
            others = [
                t for t in JSON_TYPES if t not in meet_types(schema["type"], list(JSON_TYPES))
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
            excluded = {json_key(v) for v in merged.get(EXCLUDE, [])}
            merged["enum"] = [
                v
                for v in merged["enum"]
                if json_key(v) not in excluded and any(is_type(v, t) for t in types_of(merged))
            ]
            if not merged["enum"]:
                return None
        return merged

    def _combine(self, key: str, mine: Any, theirs: Any) -> Any:
        if key == "type":
            return meet_types(mine, theirs) or _CONTRADICTION
        if key == "enum":
            allowed = {json_key(v) for v in theirs}
            return [v for v in mine if json_key(v) in allowed] or _CONTRADICTION
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
        plain = [p for p in map(self._as_plain, kept) if p is not None]
        if len(plain) == len(kept):
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
        check_keywords(schema)
        return plain_part(schema)

    # plain schemas -> values

    def _plain(self, schema: dict[str, Any]) -> SearchStrategy[Any] | None:
        excluded = {json_key(v) for v in schema.get(EXCLUDE, [])}
        if "enum" in schema:
            allowed = [
                v for v in schema["enum"] if json_key(v) not in excluded and admits(schema, v)
            ]
            return st.sampled_from(allowed) if allowed else None
        if not any(k in ASSERTIONS for k in schema):
            return any_json()
        options = [s for name in types_of(schema) if (s := self._typed(name, schema)) is not None]
        if not options:
            return None
        values = st.one_of(options)
        return values.filter(lambda v: json_key(v) not in excluded) if excluded else values

    def _typed(self, name: str, schema: dict[str, Any]) -> SearchStrategy[Any] | None:
        if name == "null":
            return st.none()
        if name == "boolean":
            return st.booleans()
        if name == "integer":
            return integer_values(schema)
        if name == "number":
            return number_values(schema)
        if name == "string":
            return string_values(schema)
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
        unique = json_key if schema.get("uniqueItems") else None
        if unique:
            few = self._few_values(schema.get("items", True))
            if few is not None and len(few) < low:
                return None  # fewer distinct items than `minItems`: Hypothesis would give up
        return st.lists(items, min_size=low, max_size=high, unique_by=unique)

    def _few_values(self, schema: Schema) -> list[Any] | None:
        """Every value of `schema` when they are few and plain to see (choices, booleans,
        null), else None: whether unique items can reach `minItems` is known before drawing
        then (a range of integers, short strings and the like are found out only by drawing)."""
        found: dict[str, Any] = {}
        for flat in self.alternatives(schema):
            excluded = {json_key(v) for v in flat.get(EXCLUDE, [])}
            if "enum" in flat:
                values = [v for v in flat["enum"] if admits(flat, v)]
            elif set(types_of(flat)) <= {"null", "boolean"}:
                values = [
                    v for v in (None, False, True) if any(is_type(v, t) for t in types_of(flat))
                ]
            else:
                return None
            found |= {json_key(v): v for v in values if json_key(v) not in excluded}
        return list(found.values())

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
        if self.closed and schema.get("properties") and extra in (True, {}):
            return None
        values = self.strategy(extra) if extra is not False else None
        names = self.strategy({"allOf": [schema.get("propertyNames", True), {"type": "string"}]})
        if values is None or names is None:
            return None
        return st.dictionaries(names.filter(lambda n: n not in known), values, max_size=EXTRA_KEYS)


class _Contradiction:
    """Marks two keyword values no value can satisfy together."""


_CONTRADICTION = _Contradiction()
