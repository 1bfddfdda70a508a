"""The config file's JSON Schema, derived from `ServerConfig`, and one line per mistake.

Every field of the dataclass is covered by its type (a new field needs no edit here); the
table `RULES` narrows the ones whose range or words are smaller than their type. Unknown keys
are refused at any depth. Fault rules and scenarios are then read by their own parsers, so a
mistake in one is named the same way wherever it was written.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import fields
from functools import cache
from typing import Any

import yaml
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.validators import extend

from mockserver import apis
from mockserver.config import MAX_DEPTH, SEED_HIGH, SEED_LOW, ServerConfig, cut, too_deep

if typing.TYPE_CHECKING:
    from mockserver.service import ApiService

BIG = 2**53  # the largest whole number every JSON reader keeps exactly
# the deepest JSON body a server may be told to take: parsing and validating it recurse, a
# few frames a level, well within Python's limit of 1000 frames
MAX_JSON_DEPTH = 256
MAX_LINE = 1000  # characters of one error line, at most: values in it are cut besides
KEY_SPEC: dict[str, Any] = {
    "type": "object",
    "properties": {
        "scenario": {"type": "string", "minLength": 1},
        "status": {"type": "integer", "enum": [401, 403]},  # 403.0 is equal, yet no status
    },
    "additionalProperties": False,
}
# a name a Host header can carry: the bound host, each of `admin_hosts`
HOST_NAME = {"pattern": "^\\S+$", "x-allowed": "a host name or address, without spaces"}
# what a field's type alone does not say; any other number is finite and not negative
RULES: dict[str, dict[str, Any]] = {
    "host": HOST_NAME,
    "port": {"minimum": 1, "maximum": 65535},
    "clock": {"enum": ["system", "manual"]},
    "time_scale": {"exclusiveMinimum": 0, "maximum": 1_000_000},
    "seed": {"minimum": SEED_LOW, "maximum": SEED_HIGH},
    "store_capacity": {"minimum": 1},
    "journal_size": {"minimum": 1},
    "duration_scale": {"minimum": 0, "maximum": 1_000_000},  # 0: jobs end at once
    "failure_rate": {"minimum": 0, "maximum": 1},
    "link_ttl": {"minimum": 1, "maximum": 315_360_000},  # ten years: expiries stay printable
    "rate_limit": {"minimum": 1},
    # Neural Draft's CREDITS_CODES, written out: importing an API's own modules here would
    # load it outside its entry point (tests/test_config.py keeps the two the same)
    "credits_error_code": {"enum": ["out_of_credits", "insufficient_credits"]},
    "max_json_depth": {"maximum": MAX_JSON_DEPTH},
    # sent in a header and compared byte for byte: a space or a letter past ASCII never matches;
    # an empty one (`--admin-token "$UNSET"`) would leave the admin API open without a word
    "admin_token": {
        "pattern": "^[!-~]+$",
        "x-allowed": "printable ASCII without spaces, at least one character",
    },
    # "" would read as unset (a salt drawn each start): the IDs the config meant to fix would move
    "id_salt": {"pattern": "\\S", "x-allowed": "a text with a character other than a space"},
    # matched to a request's Host: one with a space, or empty, never would be
    "admin_hosts": {"items": {"type": "string", **HOST_NAME}},
    "keys": {"additionalProperties": KEY_SPEC},
    "faults": {"items": {"type": "object"}},
}
JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number"}
YAML_TEXT = "tag:yaml.org,2002:str"
YAML_MERGE = "tag:yaml.org,2002:merge"  # `<<: {...}`: the table's keys merge into this one


def _finite_number(checker: Any, instance: Any) -> bool:
    return (
        isinstance(instance, int | float)
        and not isinstance(instance, bool)
        and math.isfinite(instance)
    )


def _whole_number(checker: Any, instance: Any) -> bool:
    """An int, not a float that happens to be whole (JSON Schema's 8000.0): the server would
    print it as 8000.0, and a socket refuses it."""
    return isinstance(instance, int) and not isinstance(instance, bool)


Validator = extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine_many(
        {"number": _finite_number, "integer": _whole_number}
    ),
)


def _type_schema(hint: Any) -> dict[str, Any]:
    """The JSON Schema of a field's type: scalars, `X | None`, dicts and lists."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    schema: dict[str, Any]
    if origin in (types.UnionType, typing.Union):
        kinds = [_type_schema(arg) for arg in args if arg is not type(None)]
        schema = dict(kinds[0]) if len(kinds) == 1 else {"anyOf": kinds}
        if type(None) in args and "type" in schema:
            schema["type"] = [schema["type"], "null"]
        return schema
    if hint in JSON_TYPES:
        schema = {"type": JSON_TYPES[hint]}
        if hint in (int, float):
            schema.update(minimum=0, maximum=BIG)
        return schema
    if origin is dict or hint is dict:
        value = _type_schema(args[1]) if args else {}
        return {"type": "object", "additionalProperties": value}
    if origin is list or hint is list:
        return {"type": "array", "items": _type_schema(args[0]) if args else {}}
    return {}  # Any


@cache
def schema() -> dict[str, Any]:
    """The config file's schema: one property per `ServerConfig` field, nothing else."""
    hints = typing.get_type_hints(ServerConfig)
    names = apis.names()
    rules = {
        **RULES,
        "api": {"enum": [*names, None]},
        # per API: a misspelt name would leave that API at the server-wide limit unnoticed
        "upload_limits": {
            "properties": {name: _type_schema(int) for name in names},
            "additionalProperties": False,
        },
    }
    properties = {}
    for item in fields(ServerConfig):
        spec = {**_type_schema(hints[item.name]), **rules.get(item.name, {})}
        if "enum" in spec:  # the words alone: no type or range besides
            spec = {"enum": spec["enum"]}
        if "exclusiveMinimum" in spec:
            spec.pop("minimum", None)
        properties[item.name] = spec
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "mockserver config",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }


class ConfigError(ValueError):
    """Settings that cannot be served; `lines` holds one line per mistake."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def validate(data: Any, source: str = "config", flags: bool = False) -> None:
    """Raise ConfigError naming `source` (a file; "" for none), the key path and what is
    allowed, one line per mistake. With `flags`, keys are named as command-line flags."""
    prefix = f"{source}: " if source else ""
    if not isinstance(data, Mapping):
        raise ConfigError([f"{prefix}expected a table of settings, got {_shown(data)}"])
    shape = _shape_lines(data, flags)  # before the schema: it recurses, and keys are text to it
    if shape:
        raise ConfigError([prefix + line for line in shape])
    lines: list[str] = []
    for error in sorted(Validator(schema()).iter_errors(data), key=lambda e: list(e.path)):
        lines.extend(_lines(error, prefix, flags))
    lines.extend(_semantic_lines(data, prefix, flags))
    if lines:
        raise ConfigError([_bounded(line) for line in dict.fromkeys(lines)])


def _shape_lines(data: Mapping[str, Any], flags: bool) -> list[str]:
    """Each key that is not text (a Python `{123: ...}`, which no API key would match), or
    nesting past `MAX_DEPTH`: found without recursing, whatever the depth."""
    found: list[str] = []
    pending: list[tuple[Any, list[Any]]] = [(data, [])]
    while pending:
        value, path = pending.pop()
        if len(path) > MAX_DEPTH:
            return [too_deep()]
        if isinstance(value, Mapping):
            for key, inner in value.items():
                if not isinstance(key, str):
                    name = str(key)
                    found.append(_not_text([*path, name], name, type(key).__name__, flags))
                pending.append((inner, [*path, key]))
        elif isinstance(value, list):
            pending.extend((inner, [*path, index]) for index, inner in enumerate(value))
    return found


def check_yaml_keys(text: str, source: str) -> None:
    """Raise ConfigError naming `source`, one line per key of the YAML `text` that YAML reads
    as other than text (`0123456:` an int, `yes:` a bool, `null:`, `2024-01-01:` a date),
    which no API key or setting matches. Each is named as the file writes it, with its line:
    the value read (42798 for `0123456`, True for `yes`) is not what to quote. `text` is one
    document that parses (as `read_file` found); a node an alias shares is read once."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    found: list[tuple[int, str]] = []
    seen: set[int] = set()
    pending: list[tuple[yaml.Node, list[Any]]] = [(root, [])] if root is not None else []
    while pending:
        node, path = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            pending.extend((item, [*path, index]) for index, item in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.tag == YAML_MERGE:
                    merged = value.value if isinstance(value, yaml.SequenceNode) else [value]
                    pending.extend((table, path) for table in merged)
                elif isinstance(key, yaml.ScalarNode):
                    if key.tag != YAML_TEXT:
                        kind = key.tag.rpartition(":")[2]
                        line = _not_text([*path, key.value], key.value, kind, False)
                        found.append(
                            (key.start_mark.line, f"{line} on line {key.start_mark.line + 1}")
                        )
                    pending.append((value, [*path, key.value]))
    if found:
        raise ConfigError([f"{source}: {line}" for _, line in sorted(found)])


def _not_text(path: list[Any], name: str, kind: str, flags: bool) -> str:
    """The line for a key read as `kind` where text was meant: quoting it as written keeps it."""
    shown = cut(name)
    return (
        f"{_path(path, flags)}: the key {shown} is read as {kind}, not text: quote it ('{shown}')"
    )


def _bounded(line: str) -> str:
    """`line` cut at `MAX_LINE`: a parser's message may quote a value of any length."""
    return line if len(line) <= MAX_LINE else line[:MAX_LINE] + "..."


def _lines(error: ValidationError, prefix: str, flags: bool) -> Iterable[str]:
    path = list(error.absolute_path)
    if error.validator == "additionalProperties":
        known = error.schema.get("properties", {})
        allowed = ", ".join(known) if known else "any name"
        for key in sorted(set(error.instance) - set(known)):
            yield f"{prefix}{_path([*path, key], flags)}: unknown key (allowed: {allowed})"
        return
    hint = ""
    if isinstance(error.instance, str) and error.instance.lower() in error.schema.get("enum", []):
        hint = " (these words are lower-case)"
    yield (
        f"{prefix}{_path(path, flags)}: {_shown(error.instance)} is not allowed; "
        f"expected {allowed_text(error.schema)}{hint}"
    )


def _semantic_lines(data: Mapping[str, Any], prefix: str, flags: bool) -> Iterable[str]:
    """The store's URL, fault rules and key scenarios, read by the code that serves them."""
    from mockserver.faults.book import MAX_RULES
    from mockserver.faults.rules import FaultError, FaultRule
    from mockserver.request import key_problem

    store = data.get("store")
    problem = store_problem(store) if isinstance(store, str) else None
    if problem:
        yield f"{prefix}{_path(['store'], flags)}: {problem}"
    faults = data.get("faults")
    if isinstance(faults, list) and len(faults) > MAX_RULES:  # every request is matched to each
        yield f"{prefix}faults: at most {MAX_RULES} fault rules (got {len(faults)})"
    for index, rule in enumerate(faults if isinstance(faults, list) else []):
        if isinstance(rule, Mapping):
            try:
                FaultRule.parse(rule, source="config")
            except FaultError as exc:
                yield f"{prefix}faults[{index}]: {exc}"
    keys = data.get("keys")
    for key, spec in (keys if isinstance(keys, Mapping) else {}).items():
        problem = key_problem(key)
        if problem:
            yield f"{prefix}keys: {cut(repr(key))} can never match a request: {problem}"
            continue
        text = spec.get("scenario") if isinstance(spec, Mapping) else None
        if isinstance(text, str) and text:
            problem = scenario_problem(text)
            if problem:
                yield f"{prefix}{_path(['keys', key, 'scenario'], False)}: {problem}"


def check_clock(file: Mapping[str, Any], flags: Mapping[str, Any], source: str) -> None:
    """Raise ConfigError, in one line naming where each was given, when a time scale is given
    for a manual clock, which has no speed (it moves only when told). `file` and `flags` are
    validated already; a flag's clock overrides the file's, and the file's time scale with it."""
    if flags.get("clock", file.get("clock")) != "manual":
        return
    if "time_scale" in flags:
        scale = f"--time-scale: {_num(flags['time_scale'])}"
        manual = "--clock manual" if "clock" in flags else f"{source}: clock: manual"
    elif "time_scale" in file and "clock" not in flags:
        scale = f"{source}: time_scale: {_num(file['time_scale'])}"
        manual = "clock: manual"
    else:
        return
    raise ConfigError(
        [
            f"{scale} means nothing on a manual clock ({manual}), which moves only by "
            "POST /__mock__/clock/advance"
        ]
    )


def store_problem(url: str) -> str | None:
    """Why the store `url` cannot be opened, as far as its text says (a port out of range
    shows only when the store connects); None when it may be."""
    from urllib.parse import urlsplit

    from mockserver.stores import StoreError, check_url
    from mockserver.stores.common import checked_prefix
    from mockserver.stores.sqlite import path_and_prefix

    try:
        check_url(url)
        scheme = urlsplit(url).scheme
        _port_of(url)
        if scheme == "sqlite":
            path_and_prefix(url)  # its options too, without opening the file
        elif scheme:
            checked_prefix(url)
    except (ValueError, StoreError) as exc:
        return str(exc)
    return None


def _port_of(url: str) -> int | None:
    """The port `url` names; ValueError, in words of our own for a port that is no number:
    urllib's quote it, and an unescaped `/` in a password (`redis://:ab/cd@host`) makes part
    of the password the port."""
    from urllib.parse import urlsplit

    after_host = urlsplit(url).netloc.rpartition("@")[2].rpartition("]")[2]
    _, colon, port = after_host.rpartition(":")
    if colon and port and not (port.isascii() and port.isdigit()):
        raise ValueError(
            "the port is not a number (a password holding '/', '?', '#' or '@' is "
            "percent-encoded: '%2F', '%3F', '%23', '%40')"
        )
    return urlsplit(url).port  # one out of range: urllib's ValueError, which quotes no text


def scenario_problem(text: str) -> str | None:
    """Why the scenario an API key is bound to would be refused, as a request's
    `X-Mock-Scenario` header would be (its word, every option, their values and combination,
    its fault), by an API it applies to; None when each of them takes it. A key may call every
    API: its scenario applies to those that know its word and its options
    (`ScenarioBook.bound`), and is refused here rather than on every request with the key."""
    from mockserver.engine.scenarios import Scenario, ScenarioError, applies
    from mockserver.faults.rules import FaultError, scenario_rule

    try:
        scenario = Scenario.parse(text, "key").check()
        if scenario.options:  # an option no API knows: named as such, not once per API
            scenario.check_options(_any_api_options(), "any API")
        scenario_rule(scenario)
    except (ScenarioError, FaultError) as exc:
        return str(exc)
    services = apis.services().values()
    word = _shown(scenario.outcome)
    knowing = [api for api in services if scenario.outcome in _words(api)]
    if not knowing:
        known = sorted({each for api in services for each in _words(api)})
        return f"unknown outcome {word} for any API; known: {', '.join(known)}"
    applying = [api for api in knowing if applies(scenario, _words(api), api.known_options())]
    for api in applying or knowing[:1]:
        try:
            api.check_scenario(scenario)
        except ScenarioError as exc:
            if not applying:  # an option of another API: it applies to none
                return f"{exc}; no API knows both {word} and every option given"
            if len(applying) == 1:
                return f"{exc} (for {api.name}, the API it applies to)"
            names = ", ".join(each.name for each in applying)
            return f"{exc} (for {api.name}, one of the APIs it applies to: {names})"
    return None


def _any_api_options() -> set[str]:
    return {name for api in apis.services().values() for name in api.known_options()}


def _words(api: type[ApiService]) -> set[str]:
    """An API's scenario words, lower-case as a parsed scenario's outcome is."""
    return {word.lower() for word in api.scenario_words()}


def _path(path: list[Any], flags: bool) -> str:
    if flags and len(path) == 1:
        return "--" + str(path[0]).replace("_", "-")
    text = ""
    for part in path:
        name = cut(str(part))
        text += f"[{part}]" if isinstance(part, int) else (f".{name}" if text else name)
    return text or "(top level)"


def _shown(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return cut(repr(value))


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def allowed_text(spec: Mapping[str, Any]) -> str:
    """What a schema allows, in words: `a number from 0 to 1`, `one of: system, manual`."""
    if "x-allowed" in spec:
        return str(spec["x-allowed"])
    if "enum" in spec:
        words = [str(v) for v in spec["enum"] if v is not None]
        none = " (or null)" if None in spec["enum"] else ""
        return ("one of: " + ", ".join(words) if len(words) > 2 else " or ".join(words)) + none
    kind = spec.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    none = " (or null)" if "null" in kinds else ""
    if "integer" in kinds or "number" in kinds:
        noun = "a whole number" if "integer" in kinds else "a number"
        low = spec.get("minimum", spec.get("exclusiveMinimum"))
        above = "exclusiveMinimum" in spec
        high = spec.get("maximum")
        if low is not None and high is not None:
            span = f"above {_num(low)} up to" if above else f"from {_num(low)} to"
            return f"{noun} {span} {_num(high)}{none}"
        if low is not None:
            return f"{noun} {'above' if above else 'of at least'} {_num(low)}{none}"
        return noun + none
    if "boolean" in kinds:
        return "true or false" + none
    if "string" in kinds:
        return "a non-empty text" + none if spec.get("minLength") else "a text" + none
    if "array" in kinds:
        return "a list of tables" if spec.get("items", {}).get("type") == "object" else "a list"
    if "object" in kinds:
        inner = spec.get("additionalProperties")
        if isinstance(inner, Mapping) and inner.get("properties"):
            return f"a table of tables with keys {', '.join(inner['properties'])}"
        return "a table"
    return "a value"
