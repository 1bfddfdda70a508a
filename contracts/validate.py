"""Checking a request or a response against its operation, with readable violations."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from jsonschema import ValidationError
from jsonschema.exceptions import best_match

from mockserver import strictjson
from mockserver.contracts.document import Contract, Operation, escape, load, unescape

PARSED = {  # a string that should have been a number or boolean (path, query, form, JSON)
    "integer": (
        "int_parsing",
        "Input should be a valid integer, unable to parse string as an integer",
    ),
    "number": (
        "float_parsing",
        "Input should be a valid number, unable to parse string as a number",
    ),
    "boolean": ("bool_parsing", "Input should be a valid boolean, unable to interpret input"),
}
# the text pydantic reads as a boolean, in any case (a query's `?track=yes`, a form's `on`)
BOOLEAN_WORDS = {
    **dict.fromkeys(["1", "on", "t", "true", "y", "yes"], True),
    **dict.fromkeys(["0", "off", "f", "false", "n", "no"], False),
}
# What pydantic's lax mode reads as a number (FastAPI's `int` or `float` parameter): ASCII
# digits alone (not '٤' nor '１', which int() and float() take), a sign, white space around
# them (Unicode's White_Space, Rust's `trim`: not \x1c-\x1f, which Python's strip takes too)
LAX_INTEGER = re.compile(r"[+-]?[0-9](?:_?[0-9])*(?:\.0+)?")  # "1_000", "1.0"
LAX_NUMBER = re.compile(  # "1.", ".5", "1e3", "-Infinity", "nan"
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?|inf|infinity|nan)",
    re.IGNORECASE | re.ASCII,
)
WHITE_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
UNREAD = object()  # what `_read` gives for a text it cannot read as the type wanted
# JSON Schema type -> pydantic 2's error type and words for a value of another type
TYPE_ERRORS = {
    "string": ("string_type", "Input should be a valid string"),
    "integer": ("int_type", "Input should be a valid integer"),
    "number": ("float_type", "Input should be a valid number"),
    "boolean": ("bool_type", "Input should be a valid boolean"),
    "array": ("list_type", "Input should be a valid list"),
    "object": ("dict_type", "Input should be a valid dictionary"),
    "null": ("none_required", "Input should be None"),
}
TYPE_KINDS = frozenset(
    [*(kind for kind, _ in PARSED.values()), *(kind for kind, _ in TYPE_ERRORS.values())]
    + ["int_from_float"]
)
CHOICE_KINDS = frozenset(["enum", "literal_error"])
COMBINATIONS = frozenset(["anyOf", "oneOf", "not"])
NOT_PRESENT = "Field should not be present"  # a property whose schema is `false`
NO_VALUE = "Value error, no value is allowed here"  # any other `false` schema
NOT_A_MODEL = "Input should be a valid dictionary or object to extract fields from"
TOO_DEEP = "Invalid JSON: nested too deep to be read"
# violations one check reports at most (the schema's, then the unknown fields'): a 600 KB
# list of wrong items made 300,000, a 36 MB answer and as many kept in the journal
MAX_VIOLATIONS = 100


Location = tuple[str | int, ...]  # FastAPI's `loc`: ("body", "steps", 0, "preset")
ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")  # RFC 6901's array-index


@dataclass(slots=True)
class Violation:
    """One way a message breaks the contract. `pointer` says where, as a JSON Pointer
    (RFC 6901): `/body/audio_id`, `/query/format`, `/header/x-api-key`, `/path/object_type`,
    `/status`; `loc` says it as FastAPI does (`("body", "steps", 0)`). `kind`, `message`,
    `value` and `ctx` are what FastAPI (pydantic 2) would write as `type`, `msg`, `input`
    and `ctx` for the same input."""

    operation: str
    pointer: str
    message: str
    value: Any = None
    kind: str = "value_error"  # FastAPI-style error type: missing, enum, int_type...
    ctx: dict[str, Any] | None = None
    # given by the check, which tells a list index (an int) from a key that reads "3"; read
    # back from `pointer` when not given (a violation made elsewhere, or kept by the journal)
    loc: Location = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.loc:
            self.loc = tuple(_part(unescape(token)) for token in self.pointer.split("/")[1:])

    @classmethod
    def at(
        cls,
        operation: str,
        loc: Location,
        message: str,
        value: Any = None,
        kind: str = "value_error",
        ctx: dict[str, Any] | None = None,
    ) -> Violation:
        """A violation at `loc`, its pointer written from it (a `/` or `~` in a key escaped)."""
        pointer = "".join(f"/{escape(str(part))}" for part in loc)
        return cls(operation, pointer, message, value, kind, ctx, loc)

    def as_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "pointer": self.pointer,
            "message": self.message,
            "value": self.value,
        }

    def __str__(self) -> str:
        return f"{self.operation}: {self.pointer}: {self.message}"


def _part(token: str) -> str | int:
    """A pointer's token as a `loc` part: an array index as an int (`"²"` is no index)."""
    return int(token) if ARRAY_INDEX.fullmatch(token) else token


def check(
    operation: Operation, schema: dict[str, Any], data: Any, where: str | Location
) -> list[Violation]:
    """Validate `data` against `schema`, one violation per failing leaf, FastAPI-worded (at
    most `MAX_VIOLATIONS`). `where` is where `data` is: `body`, `query/format`, or its `loc`
    (an event of a stream is at `("body", 3)`)."""
    validator = operation.contract.validator(schema)
    first = islice(validator.iter_errors(data), MAX_VIOLATIONS)  # the rest are not looked for
    prefix = tuple(where.split("/")) if isinstance(where, str) else where
    found = [
        (violation, _is_whole_check(error))
        for error in sorted(first, key=lambda e: list(e.absolute_path))
        for violation in _violations(operation.id, prefix, error)
    ]
    # pydantic runs a model's (or a field's) own check only once its parts are valid: the
    # whole's message would blame the wrong thing while a part is wrong
    inner = [v.pointer for v, _ in found]
    # a field of choices (an Enum, a Literal) is one check in pydantic, whatever the value's
    # type: `"24"` for 16, 24 or 32 is its one `enum` item, not an `int_parsing` beside it
    chosen = {v.pointer for v, _ in found if v.kind in CHOICE_KINDS}
    # a field that must be absent: what its value should be is beside the point
    absent = {v.pointer for v, _ in found if v.message == NOT_PRESENT}
    kept = [
        v
        for v, whole in found
        if not (whole and any(p.startswith(v.pointer + "/") for p in inner))
        and not (v.kind in TYPE_KINDS and v.pointer in chosen)
        and not (v.message != NOT_PRESENT and _within(v.pointer, absent))
    ]
    # two parts of a schema may refuse the same thing (a `oneOf` branch and an `if`'s `then`
    # both typing `result`): said once; a field of choices, refused by a `oneOf`'s
    # discriminator and by its own enum, is still one check, the first (the branches') speaks
    unique: dict[tuple[str, str, str], Violation] = {}
    for v in kept:
        key = (
            (v.pointer, "choice", "") if v.kind in CHOICE_KINDS else (v.pointer, v.kind, v.message)
        )
        unique.setdefault(key, v)
    return list(unique.values())[:MAX_VIOLATIONS]


def _within(pointer: str, fields: set[str]) -> bool:
    """Whether `pointer` is one of `fields` or inside one."""
    return any(pointer == f or pointer.startswith(f + "/") for f in fields)


def _is_whole_check(error: ValidationError) -> bool:
    """A combination that fails as a whole, with its own message (`x-error-message`)."""
    return error.validator in COMBINATIONS and "x-error-message" in error.schema


def expected(choices: list[Any]) -> str:
    """pydantic's list of allowed values: `'a', 'b' or 'c'`."""
    shown = [repr(c) for c in choices if c is not None]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def _violations(operation: str, where: Location, error: ValidationError) -> list[Violation]:
    """What one jsonschema error says, in pydantic's words. A combination without its own
    message (`x-error-message`) speaks through the branch that applies, never in the schema's
    prose or jsonschema's "is not valid under any of"."""
    if error.validator in COMBINATIONS and error.context and "x-error-message" not in error.schema:
        return [v for e in _blamed(error) for v in _violations(operation, where, e)]
    if error.validator == "additionalProperties" and error.validator_value is False:
        return _extra_fields(operation, where, error) or [_violation(operation, where, error)]
    return [_violation(operation, where, error)]


def _extra_fields(operation: str, where: Location, error: ValidationError) -> list[Violation]:
    """One violation per field the object may not hold, at the field itself, as pydantic's
    `extra_forbidden` and the request side's unknown fields are (jsonschema names them all
    in one message at the object, without their values)."""
    if not isinstance(error.instance, dict):
        return []
    known = error.schema.get("properties", {})
    patterns = error.schema.get("patternProperties", {})
    return [
        Violation.at(
            operation,
            (*where, *error.absolute_path, name),
            "Extra inputs are not permitted",
            value,
            "extra_forbidden",
        )
        for name, value in error.instance.items()
        if name not in known and not any(re.search(pattern, name) for pattern in patterns)
    ]


def _blamed(error: ValidationError) -> list[ValidationError]:
    """The errors of the `anyOf`/`oneOf` branch the value was meant for: every error of that
    branch when one stands out, else the closest error of those that tie.

    A branch stands out by its discriminator first: where every branch pins a property with
    `const`/`enum` (Camb's `status`), the branches whose pins the value meets apply (a
    `SUCCESS` without an integer `run_id` is blamed on `run_id`, not on `status` as the
    `PENDING` branch would); a discriminator no branch pins to the value (a `DONE`) is all
    that is blamed, with every value the branches allow, as pydantic's tagged union says it.
    Then by how far the value got: the branch whose errors lie deepest fits its shape best
    (a blog post's `result` with a string `post_id` is blamed on `post_id`, not on the keys
    the six other results do not take)."""
    branches: dict[int, list[ValidationError]] = {}
    for e in error.context or ():
        branches.setdefault(int(e.relative_schema_path[0]), []).append(e)
    # a branch that takes only null makes the field optional (pydantic's `X | None` is a
    # nullable X, whose refusal is X's): it never applies to a value that is not null
    kept = {i: errs for i, errs in branches.items() if not _refuses_as_null(errs)} or branches
    pins = _discriminators(error.validator_value, error.instance, list(kept))
    unmet = _unmet(error.instance, pins)
    if unmet:
        return [_refused(error, key, choices) for key, choices in unmet.items()]
    applying = _discriminated(error.instance, list(kept), pins)
    deepest = max(min(len(e.relative_path) for e in kept[i]) for i in applying)
    applying = [i for i in applying if min(len(e.relative_path) for e in kept[i]) == deepest]
    if len(applying) == 1:
        return kept[applying[0]]
    candidates = [e for i in applying for e in kept[i]]
    # a branch of choices refuses a value of another type as its choices (`enum`)
    choosing = [e for e in candidates if e.validator in {"enum", "const"}]
    closest = best_match(choosing or candidates)
    return [closest] if closest is not None else []


def _refuses_as_null(errors: list[ValidationError]) -> bool:
    """A branch whose one complaint is that the value itself is not null."""
    return all(
        (e.validator, e.validator_value) == ("type", "null") and not e.relative_path for e in errors
    )


def _discriminators(
    branches: list[Any], value: Any, indexes: list[int]
) -> list[dict[str, list[Any]]]:
    """Each branch's pins (at `indexes`) of the properties `value` has that every one of them
    pins with `const` or `enum`: the discriminator (none when `value` is no object)."""
    if not isinstance(value, dict):
        return [{} for _ in indexes]
    pins = [_pins(branches[i]) for i in indexes]
    keys = set.intersection(*(set(p) for p in pins)) & set(value)
    return [{k: v for k, v in p.items() if k in keys} for p in pins]


def _discriminated(value: Any, indexes: list[int], pins: list[dict[str, list[Any]]]) -> list[int]:
    """Of the branches at `indexes`, those whose discriminator `pins` `value` meets best (all
    of them, when there is no discriminator)."""
    missed = [sum(not _among(value[k], choices) for k, choices in p.items()) for p in pins]
    return [i for i, miss in zip(indexes, missed, strict=True) if miss == min(missed)]


def _unmet(value: Any, pins: list[dict[str, list[Any]]]) -> dict[str, list[Any]]:
    """The discriminator's properties whose value in `value` no branch pins, each with every
    value the branches pin it to, in the branches' order: a status no branch names says
    nothing of which branch was meant."""
    unmet: dict[str, list[Any]] = {}
    for key in pins[0]:
        allowed: list[Any] = []
        for p in pins:
            allowed += [c for c in p[key] if not _among(c, allowed)]
        if not _among(value[key], allowed):
            unmet[key] = allowed
    return unmet


def _refused(error: ValidationError, key: str, choices: list[Any]) -> ValidationError:
    """`error`'s object refused at its property `key` for none of `choices` (pydantic's
    Literal for one, its Enum for more)."""
    keyword, bound = ("const", choices[0]) if len(choices) == 1 else ("enum", choices)
    return ValidationError(
        f"{error.instance[key]!r} is not one of {choices!r}",
        validator=keyword,
        validator_value=bound,
        instance=error.instance[key],
        path=[key],
        schema={keyword: bound},
        parent=error,
    )


def _pins(branch: Any) -> dict[str, list[Any]]:
    """A branch's properties pinned to a few values (`const`, `enum`)."""
    properties = branch.get("properties", {}) if isinstance(branch, dict) else {}
    return {
        name: [schema["const"]] if "const" in schema else list(schema["enum"])
        for name, schema in properties.items()
        if isinstance(schema, dict) and ("const" in schema or "enum" in schema)
    }


def _among(value: Any, choices: list[Any]) -> bool:
    """`value` is one of `choices` as JSON sees it (`true` is not `1`)."""
    return any(value == c and isinstance(value, bool) == isinstance(c, bool) for c in choices)


def _violation(operation: str, where: Location, error: ValidationError) -> Violation:
    loc = (*where, *error.absolute_path)
    keyword, bound, value = error.validator, error.validator_value, error.instance
    if keyword == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        # pydantic's input for a missing field is the object that lacks it
        return Violation.at(operation, (*loc, missing), "Field required", value, "missing")
    if keyword in {"enum", "const"}:
        choices = expected(bound if keyword == "enum" else [bound])
        kind = "enum" if keyword == "enum" else "literal_error"
        return Violation.at(
            operation, loc, f"Input should be {choices}", value, kind, {"expected": choices}
        )
    if keyword == "type":
        return _type_violation(operation, loc, bound, value)
    if keyword in LENGTHS:
        return _length_violation(operation, loc, keyword, bound, value)
    if keyword in BOUNDS:
        kind, words, name = BOUNDS[keyword]
        return Violation.at(
            operation, loc, f"Input should be {words} {bound}", value, kind, {name: bound}
        )
    if keyword == "pattern":
        # a schema may say what its pattern means (`x-error-message`), for a regex no reader
        # of a 422 should have to decode (Neural Draft's webhook URL)
        explain = error.schema.get("x-error-message")
        return Violation.at(
            operation,
            loc,
            " ".join(explain.split()) if explain else f"String should match pattern '{bound}'",
            value,
            "string_pattern_mismatch",
            {"pattern": bound},
        )
    if keyword is None:  # a `false` schema: no value is allowed there
        if list(error.relative_schema_path)[-2:-1] == ["properties"]:
            return Violation.at(operation, loc, NOT_PRESENT, value, "extra_forbidden")
        return Violation.at(operation, loc, NO_VALUE, value, "value_error", {"error": {}})
    if keyword in COMBINATIONS and error.schema.get("x-error-message"):
        # a combination fails as a whole: its `x-error-message` says what was meant, as a
        # model validator's message would (without one, `_violations` lets its branches speak)
        message = " ".join(error.schema["x-error-message"].split())
        return Violation.at(
            operation, loc, f"Value error, {message}", value, "value_error", {"error": {}}
        )
    if keyword == "format" and bound in FORMATS:
        kind, message = FORMATS[bound]
        return Violation.at(operation, loc, message, value, kind)
    if keyword == "additionalProperties":
        return Violation.at(operation, loc, error.message, None, "extra_forbidden")
    return Violation.at(operation, loc, error.message, value, "value_error", {"error": {}})


BOUNDS = {  # keyword -> pydantic's type, words, ctx key
    "minimum": ("greater_than_equal", "greater than or equal to", "ge"),
    "exclusiveMinimum": ("greater_than", "greater than", "gt"),
    "maximum": ("less_than_equal", "less than or equal to", "le"),
    "exclusiveMaximum": ("less_than", "less than", "lt"),
}
FORMATS = {  # format -> pydantic's type and words for a string its type does not parse
    "uri": ("url_parsing", "Input should be a valid URL, relative URL without a base"),
    "uuid": ("uuid_parsing", "Input should be a valid UUID"),
    "date-time": ("datetime_from_date_parsing", "Input should be a valid datetime"),
}
LENGTHS = {"minItems", "minLength", "maxItems", "maxLength"}


def _type_violation(
    operation: str, loc: Location, wanted: str | list[str], value: Any
) -> Violation:
    name = wanted if isinstance(wanted, str) else next(t for t in wanted if t != "null")
    if name == "object" and loc == ("body",):
        return Violation.at(operation, loc, NOT_A_MODEL, value, "model_attributes_type")
    if isinstance(value, str) and name in PARSED and not _lax_reads(value, name):
        kind, message = PARSED[name]  # what lax mode says of a string it cannot read
        return Violation.at(operation, loc, message, value, kind)
    if name == "integer" and isinstance(value, float) and not isinstance(value, bool):
        message = "Input should be a valid integer, got a number with a fractional part"
        return Violation.at(operation, loc, message, value, "int_from_float")
    kind, message = TYPE_ERRORS.get(name, (f"{name}_type", f"Input should be a valid {name}"))
    return Violation.at(operation, loc, message, value, kind)


def _lax_reads(text: str, wanted: str) -> bool:
    """Whether pydantic's lax mode reads `text` as a `wanted` ("24" as 24): the mock does not
    convert (its types are strict), and refuses such a string in strict mode's words
    (`int_type`), since "unable to parse string as an integer" would not be true of it."""
    if wanted == "boolean":
        return text.lower() in BOOLEAN_WORDS
    if wanted == "integer":
        return lax_integer(text) is not None
    return lax_number(text) is not None


def lax_integer(text: str) -> int | None:
    """`text` as pydantic's lax mode reads an integer: white space around it, single
    underscores between digits and a `.0` after them; None for what it refuses. Its quirks
    with leading zeros (`0-5` read as -5) are not copied."""
    bare = text.strip(WHITE_SPACE)
    if LAX_INTEGER.fullmatch(bare) is None:
        return None
    try:
        return int(bare.partition(".")[0])
    except ValueError:  # past the 4,300 digits Python reads, as pydantic refuses them
        return None


def lax_number(text: str) -> float | None:
    """`text` as pydantic's lax mode reads a float: white space around it, or underscores in
    it (neither first, last nor doubled) but then no white space; None for what it refuses."""
    bare = text.strip(WHITE_SPACE)
    if LAX_NUMBER.fullmatch(bare) is None:  # then without its underscores, as Python puts them
        if text.startswith("_") or text.endswith("_") or "__" in text:
            return None
        bare = text.replace("_", "")
        if LAX_NUMBER.fullmatch(bare) is None:
            return None
    return float(bare)


def _length_violation(
    operation: str, loc: Location, keyword: str, bound: int, value: Any
) -> Violation:
    """pydantic's words for a string or a list of the wrong length."""
    least = keyword.startswith("min")
    side, limit = ("least", "min_length") if least else ("most", "max_length")
    plural = "" if bound == 1 else "s"
    if isinstance(value, list):
        message = (
            f"List should have at {side} {bound} item{plural} after validation, not {len(value)}"
        )
        ctx = {"field_type": "List", limit: bound, "actual_length": len(value)}
        return Violation.at(
            operation, loc, message, value, "too_short" if least else "too_long", ctx
        )
    kind = "string_too_short" if least else "string_too_long"
    message = f"String should have at {side} {bound} character{plural}"
    return Violation.at(operation, loc, message, value, kind, {limit: bound})


def validate_request(
    api: str | Contract,
    method: str,
    path: str,
    *,
    query: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    content_type: str | None = None,
    body: Any = None,
) -> list[Violation]:
    """Everything a request does that its operation does not allow.

    `path` is the API's own path (`/status/audio/123`, no mock prefix); `body` is parsed data
    (a dict for JSON and forms, with uploaded files as any non-JSON object). A JSON body's
    value no JSON client could send (NaN, an infinity, a lone surrogate) is a violation at its
    field, in the words the mock's journal uses for a body that holds one.
    """
    contract = load(api) if isinstance(api, str) else api
    path = contract.canonical(path)  # as the API serves it: NeuroLinker's `/v1/` is `/api/v1/`
    found = contract.operation(method, path)
    if found is None:
        return [unknown_operation(contract, method, path)]
    operation, path_params = found
    unwritable: list[strictjson.Unwritable] = []
    if content_type is not None and _is_json_media(content_type):
        body, unwritable = _as_sent(body)
    problems = check_request(
        operation,
        path_params,
        query=query,
        headers=headers,
        content_type=content_type,
        body=body,
    )
    return unwritable_first(operation.id, ("body",), unwritable, problems)


def _as_sent(body: Any) -> tuple[Any, list[strictjson.Unwritable]]:
    """`body` as the mock reads one sent as JSON text (`strictjson.writable`), with the values
    no such text holds (NaN, infinities, numbers past a float, lone surrogates) made ones it
    does, and those values; `body` itself when it holds none or is no JSON data at all."""
    try:
        sent, unwritable = strictjson.writable(json.dumps(body))
    except (TypeError, ValueError, RecursionError):
        return body, []
    return (sent, unwritable) if unwritable else (body, [])


def unwritable_first(
    operation: str,
    where: Location,
    unwritable: Sequence[strictjson.Unwritable],
    found: list[Violation],
) -> list[Violation]:
    """The values of JSON text at `where` that no valid JSON holds (`strictjson.writable`),
    each at its field, then `found` (what the check found in the value read with them made
    writable: a number as null) but for what it says of those values, which were not sent as
    read. That such a field is unknown still holds."""
    first = [
        Violation.at(operation, (*where, *u.path), f"holds {u.problem}", u.sent, "json_invalid")
        for u in unwritable[:MAX_VIOLATIONS]
    ]
    taken = {v.pointer for v in first}
    return [
        *first,
        *(v for v in found if v.pointer not in taken or v.kind == "extra_forbidden"),
    ]


def unknown_operation(contract: Contract, method: str, path: str) -> Violation:
    what = "method not allowed" if contract.path_known(path) else "no such path"
    return Violation(f"{method} {path}", "/path", f"{what} in the {contract.api} contract", path)


def check_request(
    operation: Operation,
    path_params: dict[str, str],
    *,
    query: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    content_type: str | None = None,
    body: Any = None,
) -> list[Violation]:
    """`validate_request` once the operation is known (`Contract.operation` found it)."""
    sources = {
        "path": path_params,
        "query": query or {},
        "header": {k.lower(): v for k, v in headers.items()} if headers else {},
    }
    problems: list[Violation] = []
    for param in operation.parameters():
        name, where = param["name"], param["in"]
        source = sources.get(where)
        if source is None:
            continue
        key = name.lower() if where == "header" else name
        if key not in source:
            if param.get("required"):
                problems.append(
                    Violation.at(operation.id, (where, name), "Field required", None, "missing")
                )
            continue
        schema = param.get("schema", {})
        if _plainly_valid(schema, source[key]):
            continue  # spare the hot path (status polls) a validator call
        value = coerce(source[key], schema, operation.contract)
        problems += check(operation, schema, value, (where, name))
    if "requestBody" in operation.spec:
        problems += _check_body(operation, content_type, body)
    return problems


ANNOTATIONS = frozenset({"type", "description", "title", "example", "examples", "deprecated"})


def _plainly_valid(schema: dict[str, Any], value: Any) -> bool:
    """A string that a string-only schema (at most an enum and length bounds: no pattern,
    no format) accepts, seen without a validator."""
    if not isinstance(value, str) or schema.get("type") != "string":
        return False
    for key in schema:
        if key == "enum":
            if value not in schema["enum"]:
                return False
        elif key == "minLength":
            if len(value) < schema[key]:
                return False
        elif key == "maxLength":
            if len(value) > schema[key]:
                return False
        elif key not in ANNOTATIONS and key != "default" and not key.startswith("x-"):
            return False
    return True


def _check_body(operation: Operation, content_type: str | None, body: Any) -> list[Violation]:
    declared = operation.contract.resolve(operation.spec.get("requestBody") or {})
    if not declared:
        return []
    if body is None or content_type is None:
        if declared.get("required"):
            return [Violation(operation.id, "/body", "Field required", None, "missing")]
        return []
    media = operation.request_media(content_type)
    if media is None:
        allowed = ", ".join(declared.get("content", {}))
        return [
            Violation(
                operation.id,
                "/header/content-type",
                f"content type {content_type!r} is not accepted here; use {allowed}",
                content_type,
                "content_type",
            )
        ]
    name, entry = media
    schema = entry.get("schema", {})
    problems: list[Violation] = []
    form = "json" not in name and isinstance(body, dict)
    if form:
        body = coerce_form(body, schema, operation.contract)
        problems += uploads_expected(operation, schema, body)
    problems += check(operation, schema, body, "body")
    problems += unknown_fields(operation, schema, body)
    if form:
        problems += _json_fields(operation, schema, body)
    return problems


def _json_fields(
    operation: Operation, schema: dict[str, Any], form: dict[str, Any]
) -> list[Violation]:
    """What a form's text fields that carry JSON (`contentMediaType: application/json`, as
    NeuroLinker's `form` carries an ExtractForm) break of their `contentSchema`, each at
    `/body/<field>/...`: form readers see only text, and the API reads the JSON."""
    contract = operation.contract
    found: list[Violation] = []
    for name, declared in contract.resolve(schema).get("properties", {}).items():
        content = _carried_schema(contract.resolve(declared))
        text = form.get(name)
        if content is not None and isinstance(text, str):
            found += _json_text(operation, content, text, ("body", name))
    return found


def _json_text(operation: Operation, schema: Any, text: str, where: Location) -> list[Violation]:
    """What JSON text at `where` breaks of `schema`, read as the mock reads a JSON body: the
    text unreadable, values no valid JSON holds, then what the check finds, unknown fields
    included."""
    try:
        value, unwritable = strictjson.writable(text)
    except RecursionError:
        return [Violation.at(operation.id, where, TOO_DEEP, text, "json_invalid")]
    except ValueError as exc:
        return [Violation.at(operation.id, where, f"Invalid JSON: {exc}", text, "json_invalid")]
    found = check(operation, schema, value, where)
    found += unknown_fields(operation, schema, value, where)
    return unwritable_first(operation.id, where, unwritable, found)


def upload_expected(value: object) -> str:
    """FastAPI's words for a text value where a file part is due."""
    return f"Value error, Expected UploadFile, received: {type(value)}"


def uploads_expected(
    operation: Operation, schema: dict[str, Any], form: dict[str, Any]
) -> list[Violation]:
    """A file part sent as a plain text field, refused with FastAPI's words (`form` typed by
    `coerce_form`, where a file is a `FilePart`)."""
    files = _file_properties(operation.contract, schema)
    if not files:  # the usual case, asked of every JSON body: the schema takes no file
        return []
    return [
        Violation.at(
            operation.id,
            ("body", key),
            upload_expected(form[key]),
            form[key],
            "value_error",
            {"error": {}},
        )
        for key in files
        if isinstance(form.get(key), str) and not isinstance(form[key], FilePart)
    ]


# schema id -> (the schema, kept so the id stays its own; its properties that take a file)
_FILES: dict[int, tuple[dict[str, Any], tuple[str, ...]]] = {}
FILES_KEPT = 1024


def _file_properties(contract: Contract, schema: dict[str, Any]) -> tuple[str, ...]:
    """The properties of `schema` that take a file, found once per schema: every body's
    check asks, and most schemas have none."""
    known = _FILES.get(id(schema))
    if known is None or known[0] is not schema:
        properties = contract.resolve(schema).get("properties", {})
        names = tuple(k for k, p in properties.items() if _is_binary(contract.resolve(p)))
        if len(_FILES) >= FILES_KEPT:
            _FILES.clear()
        known = _FILES[id(schema)] = (schema, names)
    return known[1]


def unknown_fields(
    operation: Operation, schema: dict[str, Any], body: Any, where: Location = ("body",)
) -> list[Violation]:
    """Fields of a body (or of the value at `where`) that its schema's `properties` do not
    name, at any depth.

    Request schemas stay as loose as the real services (they ignore unknown fields), so
    jsonschema accepts them; a field the contract does not know is still a sign of a client
    bug (a typo, a field of another endpoint), so it is reported.
    """
    found: list[tuple[Location, Any]] = []
    _unknown(operation.contract, [schema], body, where, found)
    return [
        Violation.at(
            operation.id,
            loc,
            f"unknown field {loc[-1]!r}: not in the contract (the real service ignores it)",
            value,
            "extra_forbidden",
        )
        for loc, value in found
    ]


def _unknown(
    contract: Contract,
    schemas: list[Any],
    data: Any,
    path: Location,
    found: list[tuple[Location, Any]],
) -> None:
    alternatives = _alternatives(contract, schemas)
    if isinstance(data, dict):
        known: dict[str, list[Any]] = {}
        for schema in alternatives:
            for key, prop in schema.get("properties", {}).items():
                known.setdefault(key, []).append(prop)
        # no `properties` at all: a free-form object; `additionalProperties` or
        # `patternProperties` given: jsonschema already decides about extra keys
        open_ended = not known or any(
            "additionalProperties" in s or "patternProperties" in s or "unevaluatedProperties" in s
            for s in alternatives
        )
        for key, value in data.items():
            if len(found) >= MAX_VIOLATIONS:
                return
            if key not in known:
                if not open_ended:
                    found.append(((*path, key), value))
            elif isinstance(value, dict | list):  # a scalar holds no field
                _unknown(contract, known[key], value, (*path, key), found)
    elif isinstance(data, list):
        # a list past its `maxItems` is refused whole, its items not looked at (`document.py`)
        items = [
            s["items"]
            for s in alternatives
            if isinstance(s.get("items"), dict) and len(data) <= s.get("maxItems", len(data))
        ]
        if items:
            for index, value in enumerate(data):
                if len(found) >= MAX_VIOLATIONS:
                    return
                if isinstance(value, dict | list):
                    _unknown(contract, items, value, (*path, index), found)


def _alternatives(contract: Contract, schemas: list[Any]) -> list[dict[str, Any]]:
    """The schemas and every `allOf`/`anyOf`/`oneOf` branch in them, `$ref`s followed."""
    result: list[dict[str, Any]] = []
    pending = list(schemas)
    while pending and len(result) < 64:  # bounded: a self-referencing schema cannot loop
        schema = contract.resolve(pending.pop())
        if not isinstance(schema, dict) or any(schema is seen for seen in result):
            continue
        result.append(schema)
        for keyword in ("allOf", "anyOf", "oneOf"):
            pending += schema.get(keyword, [])
    return result


def coerce(value: Any, schema: dict[str, Any], contract: Contract) -> Any:
    """A query, header or form string read as the type its schema wants ("3" -> 3)."""
    if isinstance(value, str) and schema.get("type") == "string":
        return value  # the usual path parameter: nothing to read
    schema = contract.resolve(schema)
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if isinstance(value, list):
        if "array" in types:
            return [coerce(v, schema.get("items", {}), contract) for v in value]
        value = value[-1] if value else None
    if not isinstance(value, str):
        return value
    for wanted in types:
        read = _read(value, wanted)
        if read is not UNREAD:
            return read
    return value


def _read(text: str, wanted: str) -> Any:
    """`text` read as the JSON Schema type `wanted` as FastAPI reads it, else `UNREAD`: the
    schema check then refuses it with the type error pydantic gives."""
    if wanted == "integer":
        whole = lax_integer(text)
        return UNREAD if whole is None else whole
    if wanted == "number":
        number = lax_number(text)
        return UNREAD if number is None else number
    if wanted == "boolean":
        return BOOLEAN_WORDS.get(text.lower(), UNREAD)
    if wanted == "null":
        return None if text in {"", "null"} else UNREAD
    if wanted in {"object", "array"}:
        try:
            return json.loads(text)
        except ValueError:
            return UNREAD
    return UNREAD


class FilePart(str):
    """An uploaded file in a typed form: a string to the schema's type check, told apart from
    a text field (even one that reads "<file>") by its class."""


FILE = FilePart("<file>")


def coerce_form(form: dict[str, Any], schema: dict[str, Any], contract: Contract) -> dict[str, Any]:
    """Form fields read as their schema's types, as FastAPI reads them: a field that takes one
    value is its last part; a file is `FILE` where the schema takes a file, and where it takes
    none, a `{"filename": ...}` its type check refuses (never the upload itself)."""
    schema = contract.resolve(schema)
    props = schema.get("properties", {})
    result: dict[str, Any] = {}
    for key, value in form.items():
        prop = contract.resolve(props.get(key, {}))
        items = contract.resolve(prop.get("items", {}))
        if prop.get("type") == "array" and _is_binary(items):
            values = value if isinstance(value, list) else [value]
            result[key] = [v if isinstance(v, str) else FILE for v in values]
        elif _is_binary(prop):
            last = value[-1] if isinstance(value, list) else value
            result[key] = last if isinstance(last, str) else FILE
        else:
            result[key] = coerce(_without_files(value), prop, contract)
    return result


def _without_files(value: Any) -> Any:
    if _is_file(value):
        return {"filename": value.filename}
    if isinstance(value, list):
        return [_without_files(item) for item in value]
    return value


def _is_binary(schema: dict[str, Any]) -> bool:
    """A file part: `format: binary`, or content of a media type other than JSON (a string
    that carries JSON is a text field, as NeuroLinker's `form`)."""
    media = schema.get("contentMediaType")
    return schema.get("format") == "binary" or (media is not None and not _is_json_media(media))


def _is_json_media(media: str) -> bool:
    """`application/json` or a `+json` type (`application/problem+json`), parameters aside."""
    name = media.split(";")[0].strip().lower()
    return name == "application/json" or name.endswith("+json")


def _carried_schema(schema: dict[str, Any]) -> Any:
    """The `contentSchema` of the JSON a string carries (`contentMediaType` a JSON type),
    None for one that carries no JSON or says nothing of it."""
    media = schema.get("contentMediaType")
    return schema.get("contentSchema") if media is not None and _is_json_media(media) else None


def _is_file(value: Any) -> bool:
    return hasattr(value, "filename") and hasattr(value, "read")


def validate_response(
    api: str | Contract,
    method: str,
    path: str,
    status: int,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | Any = None,
) -> list[Violation]:
    """Everything a response does that its operation does not document (a HEAD's answer,
    its GET's without the body, has no body to check)."""
    contract = load(api) if isinstance(api, str) else api
    path = contract.canonical(path)  # as the API serves it: NeuroLinker's `/v1/` is `/api/v1/`
    found = contract.operation(method, path)
    head = method.upper() == "HEAD"
    if found is None:
        # unknown operations are answered 404/405 (the request check reports them); anything
        # else means the mock serves a route its contract does not list
        if status < 400 and not (method == "GET" and path == contract.document_path):
            return [unknown_operation(contract, method, path)]
        return []
    operation, _ = found
    response = operation.response(status)
    if response is None:
        return [Violation(operation.id, "/status", f"status {status} is not documented", status)]
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    problems = _check_headers(operation, response, headers)
    content = response.get("content")
    if not content or head:
        return problems
    return problems + _check_content(operation, status, headers.get("content-type", ""), body)


def _check_headers(
    operation: Operation, response: dict[str, Any], headers: dict[str, str]
) -> list[Violation]:
    """Required response headers are there, and every documented one matches its schema."""
    problems: list[Violation] = []
    for name, spec in response.get("headers", {}).items():
        spec = operation.contract.resolve(spec)
        key = name.lower()
        if key == "content-type":
            continue  # OpenAPI ignores it here; the media type is checked on its own
        if key not in headers:
            if spec.get("required"):
                problems.append(
                    Violation.at(operation.id, ("header", key), "required header is missing")
                )
            continue
        schema = spec.get("schema", {})
        value = coerce(headers[key], schema, operation.contract)
        problems += check(operation, schema, value, ("header", key))
    return problems


def _check_content(
    operation: Operation, status: int, content_type: str, body: bytes | Any
) -> list[Violation]:
    media = operation.response_media(status, content_type)
    if media is None:
        return [
            Violation(
                operation.id,
                "/header/content-type",
                f"content type {content_type!r} is not documented for {status}",
                content_type,
            )
        ]
    name, entry = media
    if "schema" not in entry:
        return []
    if name == EVENT_STREAM:
        return _check_events(operation, entry["schema"], body)
    if "json" not in name:
        return []
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except ValueError:
            return [Violation(operation.id, "/body", "response body is not JSON", None)]
    return check(operation, entry["schema"], body, "body")


EVENT_STREAM = "text/event-stream"
EVENT_FIELDS = frozenset(["event", "data", "id", "retry"])
LINE_END = re.compile(r"\r\n|\r|\n")  # any of the three ends a line of an event stream
DIGITS = re.compile(r"[0-9]+")


def _check_events(operation: Operation, schema: dict[str, Any], body: Any) -> list[Violation]:
    """A Server-Sent Events body, event by event (`/body/0`, `/body/1`...): each as OpenAPI
    3.2 describes one, an object of its `event`, `data`, `id` and `retry`, against `schema`;
    then its `data`, read as JSON, against the `contentSchema` its event's branch gives."""
    try:
        events, ended = _read_events(body)
    except ValueError as exc:
        message = f"response body is not an event stream: {exc}"
        return [Violation(operation.id, "/body", message, None)]
    problems: list[Violation] = []
    for index, event in enumerate(events):
        if len(problems) >= MAX_VIOLATIONS:
            break
        where = ("body", index)
        problems += check(operation, schema, event, where) or _check_data(
            operation, schema, event, where
        )
    if not ended:
        message = "the stream ends inside this event: no blank line ends it, a client drops it"
        problems.append(Violation.at(operation.id, ("body", len(events) - 1), message))
    return problems[:MAX_VIOLATIONS]


def _read_events(body: Any) -> tuple[list[dict[str, Any]], bool]:
    """The events of a `text/event-stream` body (bytes or text), each as the object OpenAPI
    3.2 describes (`retry` a number when it is one), and whether the last one is ended by a
    blank line (one the stream stops inside of is dropped by clients). Comment lines are left
    out. ValueError: the body is not text, not UTF-8, or has a line that is no SSE field."""
    if not isinstance(body, bytes | str):
        raise ValueError(f"give it as bytes or text, not {type(body).__name__}")
    text = body.decode() if isinstance(body, bytes) else body
    *lines, rest = LINE_END.split(text.removeprefix("\ufeff"))
    events: list[dict[str, Any]] = []
    event: dict[str, Any] = {}
    for number, line in enumerate([*lines, rest], 1):
        if not line:  # a blank line ends the event (the empty text after the last end does not)
            if event and number <= len(lines):
                events.append(event)
                event = {}
            continue
        if line.startswith(":"):  # a comment (`: keep-alive`)
            continue
        name, _, value = line.partition(":")
        if name not in EVENT_FIELDS:
            raise ValueError(f"line {number} is no SSE field: {line[:80]!r}")
        value = value.removeprefix(" ")
        if name == "data" and "data" in event:
            value = f"{event['data']}\n{value}"
        elif name == "retry" and DIGITS.fullmatch(value):
            value = int(value)
        event[name] = value
    if event:
        events.append(event)
    return events, not event


def _check_data(
    operation: Operation, schema: dict[str, Any], event: dict[str, Any], where: Location
) -> list[Violation]:
    """An event's `data` as the branch of `schema` that pins its `event` says: JSON, of its
    `contentSchema` (a branch that gives none: not looked at)."""
    content = _data_schema(operation.contract, schema, event["event"])
    if content is None:
        return []
    try:
        data = json.loads(event["data"])
    except ValueError:
        return [
            Violation.at(operation.id, (*where, "data"), "event data is not JSON", event["data"])
        ]
    return check(operation, content, data, (*where, "data"))


def _data_schema(contract: Contract, schema: dict[str, Any], name: str) -> Any:
    """The `contentSchema` of JSON `data` in the branch of `schema` whose `event` is `name`."""
    schema = contract.resolve(schema)
    for branch in map(
        contract.resolve, [schema, *schema.get("oneOf", ()), *schema.get("anyOf", ())]
    ):
        content = _carried_schema(contract.resolve(branch.get("properties", {}).get("data", {})))
        if content is not None and _among(name, _pins(branch).get("event", [])):
            return content
    return None
