"""The contracts at run time: each API serves its document, and every request is checked.

The check runs in the app's middleware before the handler. It reads what the operation needs
(path, query and header parameters; the body parsed by its content type), and each way the
request breaks the contract becomes a violation in the journal. A body is buffered and
replayed, so the handler reads it untouched. Lenient mode serves the request as usual; strict
mode answers it with a 4xx in the API's own error format instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.datastructures import FormData, Headers
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope

from mockserver import strictjson
from mockserver.contracts import Operation, Violation
from mockserver.contracts.validate import check_request, unknown_operation, unwritable_first
from mockserver.engine.journal import VIOLATION_TEXT, VIOLATIONS_KEPT
from mockserver.errors import ApiError, FieldError, echoed
from mockserver.limits import has_digit_run, read_body, replaying
from mockserver.request import ApiRequest, first_headers, kept_body
from mockserver.service import MAX_PART_SIZE, ApiService, form_fields

log = logging.getLogger("mockserver")
MEMO_SIZE, MEMO_BODY = 256, 4096  # findings kept, for bodies up to this many bytes
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


# --- the served document ----------------------------------------------------------------------


def document_route(service: ApiService) -> Route:
    """`GET <document path>`: the contract with `servers` pointing at the base it was asked on.

    No key needed. The base is the API's as the client reached it (prefix, Host or single-API
    mode), so `schemathesis run <this URL>` tests this very mock.
    """
    rendered: dict[str, bytes] = {}  # per base URL: the document is large and never changes

    async def endpoint(request: Request) -> Response:
        info = ApiRequest.of(request.scope)
        prefix = info.prefix if info is not None else service.prefix
        base = f"{request.url.scheme}://{request.url.netloc}{prefix}"
        body = rendered.get(base)
        if body is None:
            if len(rendered) > 64:  # many Host names: keep memory bounded
                rendered.clear()
            served = service.contract.served(base)
            body = rendered[base] = json.dumps(served, default=str).encode()
        return Response(body, media_type="application/json")

    return Route(service.contract.document_path, endpoint, methods=["GET"])


# --- the request check ------------------------------------------------------------------------


class RequestCheck:
    """Checks one API's requests against its contract."""

    def __init__(self, service: ApiService) -> None:
        self.service = service
        self.contract = service.contract
        # the check is a pure function of what it reads: a body sent again (a client's retry,
        # a test's fixture payload) is not checked again
        self._memo: dict[tuple[Any, ...], list[Violation]] = {}

    async def inspect(self, scope: Scope, receive: Receive) -> tuple[list[Violation], Receive]:
        """The request's violations, and the `receive` the app must read the body from. A JSON
        body found valid is kept on the `ApiRequest`, so the handler neither parses nor checks
        it again."""
        method: str = scope["method"]
        info = ApiRequest.of(scope)
        assert info is not None, "the request middleware makes the ApiRequest"
        path = info.path
        if method in ("GET", "HEAD") and path == self.contract.document_path:
            return [], receive
        operation, path_params = info.operation, info.path_params
        if operation is None:
            return [unknown_operation(self.contract, method, path)], receive
        raw_query: bytes = scope.get("query_string", b"")
        query = _query(raw_query)
        takes_body = "requestBody" in operation.spec
        if not takes_body or not _has_body(first_headers(scope)):
            headers = _headers(scope, operation)
            return self._check(operation, path_params, query, headers, None, None), receive
        raw = kept_body(scope)
        if raw is None:  # a form, not read by the body limits
            raw, receive = await _buffer(receive)
        content_type = info.content_type
        media = (content_type or "").split(";")[0].strip().lower()
        form = media in FORM_TYPES
        try:
            if form:
                body = await _form(Headers(scope=scope), raw, media)
            else:
                content_type, body = _parse(content_type, media, raw)
        except Unreadable as exc:
            problem = Violation(operation.id, "/body", str(exc), _bounded(raw), exc.kind)
            headers = _headers(scope, operation)
            violations = self._check(operation, path_params, query, headers, None, None)
            return [problem, *(v for v in violations if not v.pointer.startswith("/body"))], receive
        key: tuple[Any, ...] | None = None
        if form:
            info.form = body  # the handler reads the form from here, not by parsing it again
        elif len(raw) <= MEMO_BODY:
            params = tuple(path_params.items()) if path_params else ()
            names = operation.header_keys
            header_params = _header_values(scope, names) if names else ()
            key = (operation.id, raw_query, params, header_params, content_type, raw)
        found = self._memo.get(key) if key is not None else None
        if found is None:
            headers = _headers(scope, operation)
            found = self._check(operation, path_params, query, headers, content_type, body)
            if key is not None:
                if len(self._memo) >= MEMO_SIZE:
                    self._memo.clear()
                self._memo[key] = found
        if not found:  # the usual case: no findings to copy or to look through
            if isinstance(body, dict):
                info.body = body
            return [], receive
        found = list(found)
        if isinstance(body, dict) and not any(
            v.pointer.startswith("/body") or v.kind == "content_type" for v in found
        ):
            info.body = body
        return found, receive

    def unwritable_body(
        self, scope: Scope, body: Any, unwritable: Sequence[strictjson.Unwritable]
    ) -> list[Violation]:
        """The violations of a JSON body the body limits refuse unread for values no answer
        could hold again (`limits.json_problem`): each of those values, which make it no valid
        JSON, at its field; then what the check finds in `body`, the body with them made
        writable (an unknown field beside them)."""
        info = ApiRequest.of(scope)
        assert info is not None, "the body limits make the ApiRequest"
        operation = info.operation
        if operation is None:
            return [unknown_operation(self.contract, scope["method"], info.path)]
        query = _query(scope.get("query_string", b""))
        headers = _headers(scope, operation)
        content_type = info.content_type or "application/json"
        found = self._check(operation, info.path_params, query, headers, content_type, body)
        return unwritable_first(operation.id, ("body",), unwritable, found)

    def _check(
        self,
        operation: Operation,
        path_params: dict[str, str],
        query: dict[str, list[str]],
        headers: Headers | None,
        content_type: str | None,
        body: Any,
    ) -> list[Violation]:
        if isinstance(body, FormData):
            body = form_fields(body)
        try:
            return check_request(
                operation,
                path_params,
                query=query,
                headers=dict(headers.items()) if headers is not None else None,
                content_type=content_type,
                body=body,
            )
        except Exception:  # a bug here must never cost the client its answer
            log.exception("request check failed for %s", operation.id)
            return []

    def rejection(self, scope: Scope, violations: list[Violation]) -> Response | None:
        """Strict mode's answer to a request that breaks the contract (None: serve it).

        Unknown paths and methods are left to the router (404/405), and a refused key to the
        handler (401/403), as the real service checks the key before the body.
        """
        if not violations or any(v.pointer == "/path" for v in violations):
            return None
        request = Request(scope)
        try:
            self.service.tenant_of(request)
        except ApiError:
            return None
        info = ApiRequest.of(scope)
        operation = info.operation if info is not None else None
        documented = operation.spec.get("responses", {}) if operation is not None else {}
        status = _status_for(documented, violations, self.service.wrong_media_status)
        if status == 415:
            return self.service.error_response(request, ApiError(415, violations[0].message))
        error = ApiError(
            status,
            "; ".join(str(v) for v in violations),
            errors=[FieldError.of(v) for v in violations],
        )
        return self.service.error_response(request, error)


def for_journal(violations: list[Violation]) -> list[Violation]:
    """Violations as the journal keeps them: the first `VIOLATIONS_KEPT`, JSON-ready, long
    texts cut short (a pointer names a field, whose name may be any length)."""
    return [
        replace(v, pointer=_cut(v.pointer), message=_cut(v.message), value=_bounded(v.value))
        for v in violations[:VIOLATIONS_KEPT]
    ]


def _cut(text: str) -> str:
    return text if len(text) <= VIOLATION_TEXT else text[:VIOLATION_TEXT] + "..."


def _status_for(
    responses: dict[str, Any], violations: list[Violation], wrong_media: int | None
) -> int:
    """The documented 4xx that fits: the API's own for a wrong content type, else 422 or
    400; 404 for a bad path parameter where the operation lists no validation answer."""
    wanted: list[int | None] = [422, 400]
    if any(v.kind == "content_type" for v in violations):
        wanted = [wrong_media, 415, *wanted]
    if all(v.pointer.startswith("/path/") for v in violations):
        wanted.append(404)
    for status in wanted:
        if status is not None and str(status) in responses:
            return status
    return 422


def _query(raw: bytes) -> dict[str, list[str]]:
    return parse_qs(raw.decode("latin-1"), keep_blank_values=True) if raw else {}


def _headers(scope: Scope, operation: Operation) -> Headers | None:
    """The headers the check reads: none for an operation without header parameters (a
    status poll reads no header at all)."""
    return Headers(scope=scope) if operation.reads_headers else None


def _header_values(scope: Scope, names: tuple[bytes, ...]) -> tuple[tuple[bytes, bytes], ...]:
    """The headers of `names` as sent (each name and value, in order): one pass over them."""
    return tuple((name, value) for name, value in scope["headers"] if name in names)


def _has_body(headers: dict[bytes, bytes]) -> bool:
    length = headers.get(b"content-length")
    return (length is not None and length.strip() != b"0") or b"transfer-encoding" in headers


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    """The whole body, and a `receive` that hands it over again, then goes on as usual."""
    raw, pending = await read_body(receive)
    assert raw is not None  # no limit: always read whole
    return raw, replaying(raw, pending, receive)


class Unreadable(ValueError):
    """A body that cannot be parsed as its content type says."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind  # FastAPI's error type: json_invalid, value_error


def parse_json(raw: bytes) -> Any:
    """`json.loads(raw)`: the same value, or the same error.

    orjson reads a body about ten times faster. It reads every JSON `json.loads` reads alike
    but for integers past 64 bits (it makes them floats): a body with 19 digits in a row goes
    to `json.loads`, as does every body orjson refuses (NaN, a lone surrogate, a byte-order
    mark...), so what `json.loads` accepts or refuses, and its error message, stay."""
    if not has_digit_run(raw, 19):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)


def _parse(content_type: str | None, media: str, raw: bytes) -> tuple[str | None, Any]:
    """(content type, data) of a body that is no form, read the way the handlers read it."""
    if not raw or raw.isspace():
        return content_type, None
    if media and "json" not in media:
        return content_type, raw  # the content type itself is the violation
    try:
        return content_type or "application/json", parse_json(raw)
    except ValueError as exc:  # UnicodeDecodeError included
        raise Unreadable(f"JSON decode error: {exc}", "json_invalid") from None


async def _form(headers: Headers, raw: bytes, media: str) -> FormData:
    async def stream() -> AsyncGenerator[bytes, None]:
        yield raw
        yield b""

    try:
        if media == "multipart/form-data":
            return await MultiPartParser(headers, stream(), max_part_size=MAX_PART_SIZE).parse()
        return await FormParser(headers, stream(), max_part_size=MAX_PART_SIZE).parse()
    except MultiPartException as exc:
        raise Unreadable(f"unreadable form body: {exc.message}", "value_error") from None
    except ValueError as exc:  # a charset codecs cannot look up (`charset=\x00`)
        raise Unreadable(f"unreadable form body: {exc}", "value_error") from None


def _bounded(value: Any) -> Any:
    """A value fit for the journal: bytes decoded, files named, anything long cut short."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if hasattr(value, "filename") and hasattr(value, "read"):
        return f"<file {value.filename!r}>"
    if isinstance(value, str):
        return _cut(value)
    shown = echoed(value)  # bounded first: a list may hold 500,000 run ids
    try:
        text = json.dumps(shown)
    except (TypeError, ValueError):
        return _bounded(repr(shown))
    return shown if len(text) <= VIOLATION_TEXT else _cut(text)
