"""Loading a contract and finding the operation a request is for."""

from __future__ import annotations

import copy
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mockserver import apis

HERE = Path(__file__).parent  # the built-in APIs' documents
VALIDATORS = 4096  # compiled validators kept per contract, least recently used dropped first
MEDIA_TYPES_KEPT = 64  # request content types remembered per operation (clients send a few)
BASE = "urn:contract"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
DOCUMENT_PATH = "/openapi.json"  # where an API serves its own document, unless it lists one
FORMATS = FormatChecker()


def _items_of_a_list_not_too_long(
    validator: Any, items: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[Any]:
    """`items`, except for a list past its `maxItems`: that one is refused as too long (as
    pydantic does), its items not looked at (20,000 of them took 1.5 s to check)."""
    limit = schema.get("maxItems")
    if limit is not None and validator.is_type(instance, "array") and len(instance) > limit:
        return
    yield from Draft202012Validator.VALIDATORS["items"](validator, items, instance, schema)


def _max_items_without_the_list(
    validator: Any, limit: int, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    """`maxItems`, its message without the list: jsonschema's writes out the whole list (a
    megabyte of run ids took 15 ms), and the mock words it as pydantic does anyway."""
    if validator.is_type(instance, "array") and len(instance) > limit:
        yield ValidationError(f"a list of {len(instance)} items is too long (at most {limit})")


def _pattern_as_json_schema_means_it(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    """`pattern` with ECMA-262's `$`, the end of the text: Python's also matches before a
    final newline, so `"hero\\n"` passed `^[A-Za-z0-9._/-]+$`."""
    if validator.is_type(instance, "string") and not _ecma_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def _ecma_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(_FINAL_DOLLAR.sub(r"\\Z\1", pattern))


_FINAL_DOLLAR = re.compile(r"(?<!\\)\$(\)*)$")  # an unescaped `$` ending it (groups closing)


def _properties_a_false_one_at_its_name(
    validator: Any, properties: dict[str, Any], instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    """`properties`, a present property whose schema is `false` refused at its own path:
    jsonschema's error stops at the object holding it, so a failed job's `result` (allowed
    only when completed) was blamed on the whole body."""
    if not validator.is_type(instance, "object"):
        return
    for name, subschema in properties.items():
        if name not in instance:
            continue
        if subschema is False:
            yield ValidationError(
                f"False schema does not allow {instance[name]!r}",
                validator=None,
                validator_value=None,
                instance=instance[name],
                schema=False,
                path=[name],
                schema_path=[name],
            )
        else:
            yield from validator.descend(instance[name], subschema, path=name, schema_path=name)


# the validator of every contract: JSON Schema 2020-12, with the four keywords above
ContractValidator = validators.extend(
    Draft202012Validator,
    {
        "properties": _properties_a_false_one_at_its_name,
        "items": _items_of_a_list_not_too_long,
        "maxItems": _max_items_without_the_list,
        "pattern": _pattern_as_json_schema_means_it,
    },
)

# libyaml's loader where PyYAML was built with it: the same documents, read seven times faster
# (the four built-in contracts: 560 ms in Python, 80 ms in C, at every start of a server)
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*$")
# outside printable ASCII (an IRI is not a URI), characters RFC 3986 never allows, a bad escape
_URI_FORBIDDEN = re.compile(r"[^\x21-\x7e]|[<>\"{}|\\^`]|%(?![0-9A-Fa-f]{2})")


@FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    """RFC 3986 absolute URI syntax, checked loosely: jsonschema skips `uri` without extra
    packages, and a response with a relative or broken link must fail the conformance check.
    Syntax only, as schemathesis checks it: `http://` (an empty host) is a URI."""
    if not isinstance(value, str):
        return True
    scheme, colon, _ = value.partition(":")
    return bool(colon) and _SCHEME.match(scheme) is not None and not _URI_FORBIDDEN.search(value)


@FORMATS.checks("uri-reference")
def _is_uri_reference(value: object) -> bool:
    return not isinstance(value, str) or not _URI_FORBIDDEN.search(value)


@dataclass
class Operation:
    contract: Contract = field(repr=False)
    method: str  # upper case
    template: str  # "/status/{object_type}/{object_id}"
    spec: dict[str, Any] = field(repr=False)
    pointer: str = field(repr=False)  # JSON pointer of the operation in the document

    @cached_property
    def id(self) -> str:
        return self.spec.get("operationId") or f"{self.method} {self.template}"

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        """One segment per path parameter; a parameter marked `x-mock-slashes: true` spans
        several (its value may hold `/`, which the server has decoded from `%2F` already)."""
        slashed = {p["name"] for p in self._parameters if p.get("x-mock-slashes")}
        parts = re.split(r"(\{[^}]+\})", self.template)
        regex = "".join(
            f"(?P<{p[1:-1]}>{'(?s:.+)' if p[1:-1] in slashed else '[^/]+'})"
            if p.startswith("{")
            else re.escape(p)
            for p in parts
        )
        return re.compile(f"^{regex}$")

    def match(self, path: str) -> dict[str, str] | None:
        found = self._pattern.match(path)
        return found.groupdict() if found else None

    def parameters(self) -> list[dict[str, Any]]:
        """Path-level and operation-level parameters, resolved."""
        return self._parameters

    @cached_property
    def reads_headers(self) -> bool:
        """Whether a parameter is a header (a status poll's check reads no header at all)."""
        return bool(self.header_names)

    @cached_property
    def header_names(self) -> tuple[str, ...]:
        """The names of its header parameters."""
        return tuple(param["name"] for param in self._parameters if param["in"] == "header")

    @cached_property
    def header_keys(self) -> tuple[bytes, ...]:
        """`header_names` as ASGI spells them: lower-case bytes."""
        return tuple(name.lower().encode("latin-1") for name in self.header_names)

    @cached_property
    def _parameters(self) -> list[dict[str, Any]]:
        path_item = self.contract.document["paths"][self.template]
        merged = {
            (p["name"], p["in"]): p
            for p in map(
                self.contract.resolve,
                [*path_item.get("parameters", []), *self.spec.get("parameters", [])],
            )
        }
        return list(merged.values())

    def request_media(self, content_type: str) -> tuple[str, dict[str, Any]] | None:
        """The request body media type entry matching `content_type` (None if not documented):
        found once per content type, as every create's body asks again."""
        known = self._request_media
        try:
            return known[content_type]
        except KeyError:
            body = self.contract.resolve(self.spec.get("requestBody") or {})
            if len(known) >= MEDIA_TYPES_KEPT:
                known.clear()
            found = known[content_type] = _media(body.get("content", {}), content_type)
            return found

    @cached_property
    def _request_media(self) -> dict[str, tuple[str, dict[str, Any]] | None]:
        return {}

    def response_media(self, status: int, content_type: str) -> tuple[str, dict[str, Any]] | None:
        response = self.response(status)
        if response is None:
            return None
        return _media(response.get("content", {}), content_type)

    def response(self, status: int) -> dict[str, Any] | None:
        responses = self.spec.get("responses", {})
        found = (
            responses.get(str(status))
            or responses.get(f"{str(status)[0]}XX")
            or responses.get("default")
        )
        return self.contract.resolve(found) if found is not None else None


def _media(content: dict[str, Any], content_type: str) -> tuple[str, dict[str, Any]] | None:
    wanted = content_type.split(";")[0].strip().lower()
    if wanted in content:
        return wanted, content[wanted]
    for name, media in content.items():
        if name.endswith("/*") and wanted.startswith(name[:-1]) or name == "*/*":
            return name, media
    return None


class Contract:
    """One API's OpenAPI document, with operation lookup and cached schema validators.
    `aliases` maps a path prefix the API also serves to the documented one (NeuroLinker's SDK
    calls `/v1/...` for `/api/v1/...`), for `canonical`."""

    def __init__(
        self, api: str, document: dict[str, Any], aliases: Mapping[str, str] | None = None
    ) -> None:
        self.api = api
        self.document = document
        self.aliases = dict(aliases or {})
        self._registry = Registry().with_resource(
            BASE,
            Resource.from_contents(_absolute_refs(document), default_specification=DRAFT202012),
        )
        self.operations = [
            Operation(self, method.upper(), template, spec, f"/paths/{escape(template)}/{method}")
            for template, item in document.get("paths", {}).items()
            for method, spec in item.items()
            if method in METHODS
        ]
        # literal paths win over templated ones (/documents/json before /documents/{id})
        self.operations.sort(key=lambda op: op.template.count("{"))
        self._by_method: dict[str, list[Operation]] = {}
        for op in self.operations:
            self._by_method.setdefault(op.method, []).append(op)
        self._validators: OrderedDict[str, Any] = OrderedDict()
        self._by_identity: dict[int, tuple[dict[str, Any], Any]] = {}
        self._validators_lock = threading.Lock()

    def operation(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation of `method path` and its path parameters; an undocumented HEAD is
        its GET's (what HTTP allows, and Starlette serves, without the body)."""
        method = method.upper()
        for op in self._by_method.get(method, ()):
            params = op.match(path)
            if params is not None:
                return op, params
        return self.operation("GET", path) if method == "HEAD" else None

    @cached_property
    def document_path(self) -> str:
        """Where the API serves this document: the path the contract lists for it (camb's
        `/apis/openapi.json`), else `/openapi.json` as FastAPI services do."""
        for op in self._by_method.get("GET", ()):
            if op.template.endswith(DOCUMENT_PATH):
                return op.template
        return DOCUMENT_PATH

    def path_known(self, path: str) -> bool:
        return any(op.match(path) is not None for op in self.operations)

    def canonical(self, path: str) -> str:
        """The documented path of `path`, which `operation` looks up: itself, or the same
        path under the documented prefix of its alias."""
        for alias, documented in self.aliases.items():
            if path.startswith(alias):
                return documented + path[len(alias) :]
        return path

    def by_id(self, operation_id: str) -> Operation:
        for op in self.operations:
            if op.id == operation_id:
                return op
        raise KeyError(f"{self.api} has no operation {operation_id!r}")

    def resolve(self, node: Any) -> Any:
        """Follow a `$ref` to a document-local component (parameters, responses, bodies)."""
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[unescape(part)]
            node = target
        return node

    def validator(self, schema: dict[str, Any]) -> Any:
        """A compiled validator of `schema`, cached by its content (a schema built per call,
        as fault injection pins them, finds its validator again; the cache stays bounded).
        The document's own schemas are found by identity first: serializing one to a key
        costs more than many a check it is used for."""
        known = self._by_identity.get(id(schema))
        if known is not None and known[0] is schema:
            return known[1]
        key = json.dumps(schema, sort_keys=True, default=str)
        with self._validators_lock:
            found = self._validators.get(key)
            if found is not None:
                self._validators.move_to_end(key)
                self._remember(schema, found)
                return found
        found = ContractValidator(
            _absolute_refs(self._inline(schema, ())),
            registry=self._registry,
            format_checker=FORMATS,
        )
        with self._validators_lock:
            self._validators[key] = found
            if len(self._validators) > VALIDATORS:
                self._validators.popitem(last=False)
            self._remember(schema, found)
        return found

    def _remember(self, schema: dict[str, Any], validator: Any) -> None:
        """Keep `schema` itself with its validator: its `id` stays its own while it is kept."""
        if len(self._by_identity) >= VALIDATORS:
            self._by_identity.clear()
        self._by_identity[id(schema)] = (schema, validator)

    def _inline(self, node: Any, chain: tuple[str, ...]) -> Any:
        """`node` with each lone `$ref` replaced by what it points at (a recursive one is
        kept): following a reference on every validation is most of a body check's cost."""
        if isinstance(node, list):
            return [self._inline(item, chain) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and len(node) == 1 and ref.startswith("#/"):
            if ref in chain:
                return node
            return self._inline(self.resolve(node), (*chain, ref))
        return {key: self._inline(value, chain) for key, value in node.items()}

    def served(self, base_url: str) -> dict[str, Any]:
        """The document as the mock serves it: `servers` pointing back at the mock."""
        document = copy.copy(self.document)
        document["servers"] = [{"url": base_url.rstrip("/"), "description": "this mock server"}]
        return document


def escape(token: str) -> str:
    """`token` as one reference token of a JSON Pointer (RFC 6901): `a/b` is `a~1b`."""
    return token.replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    """One reference token of a JSON Pointer read back: `a~1b` is `a/b`."""
    return token.replace("~1", "/").replace("~0", "~")


def _absolute_refs(node: Any) -> Any:
    """Point `#/...` refs at the whole document, so any sub-schema validates on its own."""
    if isinstance(node, dict):
        return {
            k: (
                BASE + v
                if k == "$ref" and isinstance(v, str) and v.startswith("#")
                else _absolute_refs(v)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_absolute_refs(item) for item in node]
    return node


@cache
def load(api: str) -> Contract:
    """The contract of `api` (an installed API, see `mockserver.apis`), read once per process:
    the document its declaration names (YAML, or JSON, which YAML reads too), and the path
    aliases it serves."""
    service = apis.service_class(api)
    return Contract(api, read(service.contract_path), service.path_aliases)


@cache
def read(path: Path) -> dict[str, Any]:
    """The document at `path`, parsed once per process. An API's own modules read their
    lifecycles through it while the API is being imported, before `load` can find it by
    name; `load` then shares the same parse. Nothing may change the result."""
    with open(path, encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.load(handle, Loader=YAML_LOADER)
    return document
