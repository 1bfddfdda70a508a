"""Request bodies the server will read: size and shape, judged before any handler reads them.

A body larger than its limit is refused without being read: by its `Content-Length`, or, sent
in chunks, as soon as the count passes the limit. An upload (a form body) to an API may be
`max_upload_bytes` (or the API's entry in `upload_limits`); any other body (JSON, the admin
API's) `max_json_bytes`, and a JSON body may not nest deeper than `max_json_depth` nor hold
NaN, Infinity, a number past a float's range or a lone surrogate. The key is checked first,
as the real services do: a huge upload without a valid key is a 401, not a 413. Refusals are
in the API's own error format, with the first status the operation documents (413 for
uploads; 400 or 422 elsewhere), and journalled: a body holding values no answer could hold
again is no valid JSON, and its entry lists them as contract violations at their fields, with
whatever else the request check finds in it (an unknown field beside them).
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver import strictjson
from mockserver.engine.journal import BODY_LIMIT, Entry
from mockserver.errors import ApiError, FieldError
from mockserver.request import ApiRequest, first_headers, keep_body
from mockserver.routing import ADMIN_PREFIX, ApiRoutes

if TYPE_CHECKING:
    from mockserver.contracts import Violation
    from mockserver.service import ApiService
    from mockserver.state import MockState

FORM_TYPES = (b"multipart/form-data", b"application/x-www-form-urlencoded")
# a request head's parts the mock keeps (the route and poll caches' keys, links, a job's
# server URL): httptools takes them at any length, h11 refuses a head past 16 KiB
MAX_HOST, MAX_TARGET = 1024, 16 * 1024  # bytes of the Host header; of the path and query
TOO_LARGE = (413, 422, 400)  # the first one an operation documents answers a large body
MALFORMED = (400, 422)  # and a JSON body nested too deep or holding NaN
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
# what may parse as a non-finite number, an integer past a float's range, or a lone surrogate
_SUSPECT = re.compile(rb"NaN|Infinity|[eE][+]?\d{3,}|\d{309}|\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # \ud800 to \udfff
_AS_ZEROS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))  # 0-9 -> "0"
_OPENS, _CLOSES = b"[{", b"]}"
# RFC 9110's `1*DIGIT` between optional white space, at most the 20 digits h11 reads
_CONTENT_LENGTH = re.compile(rb"[ \t]*([0-9]{1,20})[ \t]*")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


@dataclass(frozen=True, slots=True)
class JsonProblem:
    """Why a JSON body is refused unread. For values no answer could hold again, also the
    body read with them made writable, and those values (`strictjson.writable`): the request
    check journals them as violations, with what else the body breaks."""

    message: str
    body: Any = None
    unwritable: tuple[strictjson.Unwritable, ...] = ()


def json_problem(raw: bytes, max_depth: int) -> JsonProblem | None:
    """Why a JSON body must be refused before it is parsed (None: it may be parsed).

    Strings are blanked first, so brackets and words inside them do not count; the scan is a
    few passes of C over the bytes, and the exact parse runs only for the rare suspect body.
    Most bodies are let through before that: blanking strings only takes brackets and words
    away, so a body with few brackets and no suspect word in it at all is fine as it is."""
    if raw.count(b"{") + raw.count(b"[") <= max_depth and not _suspect(raw):
        return None
    bare = _STRING.sub(b'""', raw)
    brackets = bare.translate(None, _NOT_BRACKETS)
    if sum(brackets.count(b) for b in _OPENS) > max_depth:
        depth = 0
        for byte in brackets:
            depth += 1 if byte in _OPENS else -1
            if depth > max_depth:
                return JsonProblem(f"JSON nested deeper than {max_depth} levels")
    if not _suspect(bare) and _SURROGATE_ESCAPE.search(raw) is None:
        return None
    try:
        body, unwritable = strictjson.writable(raw)
    except (ValueError, RecursionError):
        return None  # no JSON at all: the handler says why
    if not unwritable:
        return None
    first = unwritable[0]
    where = ".".join(map(str, first.path)) or "the body"
    return JsonProblem(f"{where} holds {first.problem}", body, tuple(unwritable))


def has_digit_run(raw: bytes, length: int) -> bool:
    """Whether `raw` holds `length` ASCII digits in a row (what `\\d{length}` finds in bytes):
    a translate and a find, several times faster than the regex over a usual body."""
    return raw.translate(_AS_ZEROS).find(b"0" * length) >= 0


def _suspect(raw: bytes) -> bool:
    """`_SUSPECT.search(raw)`: the regex runs only where an exponent of three digits could be,
    the words are looked for as they are."""
    if raw.find(b"NaN") >= 0 or raw.find(b"Infinity") >= 0:
        return True
    if raw.find(b"\\u") >= 0 and _SURROGATE_ESCAPE.search(raw) is not None:
        return True
    return has_digit_run(raw, 3) and _SUSPECT.search(raw) is not None


class BodyLimits:
    """Pure ASGI: refuses bodies past their limits before the app reads them."""

    def __init__(self, app: ASGIApp, state: MockState, routes: ApiRoutes) -> None:
        self.app = app
        self.state = state
        self.config = state.config
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = first_headers(scope)
        length = headers.get(b"content-length")
        declared = None if length is None else _length(length)
        if (
            len(headers.get(b"host", b"")) > MAX_HOST
            or len(scope["path"]) + len(scope.get("query_string", b"")) > MAX_TARGET
            or (length is not None and declared is None)
        ):  # refused as uvicorn refuses them: h11 a head past its limit, h11 and httptools a
            # Content-Length of anything but digits
            await PlainTextResponse("Invalid HTTP request received.", 400)(scope, receive, send)
            return
        chunked = b"transfer-encoding" in headers
        if declared == 0 or (declared is None and not chunked):
            await self.app(scope, receive, send)  # no body: a status poll goes straight on
            return
        service = self._service(scope, headers.get(b"host", b""))
        if service is None and not scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)  # the root and unknown paths read no body
            return
        media = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        uploads_to = service if service is not None and media in FORM_TYPES else None
        limit = self._limit(uploads_to) if uploads_to else self.config.max_json_bytes
        if declared is not None and declared > limit:
            await self._refuse(scope, service, TOO_LARGE, _too_large(limit), send)
            return
        if uploads_to is not None:
            await self._counted(scope, receive, send, uploads_to, limit)
            return
        first = await receive()
        if first["type"] == "http.request" and not first.get("more_body", False):
            raw, pending = first.get("body", b""), None  # the usual body: one message
            if len(raw) > limit:
                raw = None
        else:
            try:
                raw, pending = await read_body(receive, limit, first)
            except ClientDisconnect:
                return  # nobody to answer, and nothing was asked whole
        if raw is None:
            await self._refuse(scope, service, TOO_LARGE, _too_large(limit), send)
            return
        problem = json_problem(raw, self.config.max_json_depth)
        if problem is not None:
            message = f"Request body: {problem.message}"
            await self._refuse(scope, service, MALFORMED, message, send, problem)
            return
        keep_body(scope, raw)
        await self.app(scope, replaying(raw, pending, receive), send)

    def _limit(self, service: ApiService) -> int:
        return self.config.upload_limits.get(service.name, self.config.max_upload_bytes)

    def _service(self, scope: Scope, host_header: bytes) -> ApiService | None:
        """The API a request is for, as the request middleware will find it."""
        found = self.routes.find(host_header, scope["method"], scope["path"])
        return found[0] if found is not None else None

    async def _counted(
        self, scope: Scope, receive: Receive, send: Send, service: ApiService, limit: int
    ) -> None:
        """A chunked upload: counted as it is read. Past the limit the app is told the client
        went away, whatever it answers is dropped, and the refusal is sent instead."""
        seen = 0
        over = False
        started = False

        async def counting() -> Message:
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            if over:
                return
            started = True
            await send(message)

        await self.app(scope, counting, sending)
        if over and not started:
            await self._refuse(scope, service, TOO_LARGE, _too_large(limit), send)

    async def _refuse(
        self,
        scope: Scope,
        service: ApiService | None,
        statuses: tuple[int, ...],
        message: str,
        send: Send,
        problem: JsonProblem | None = None,
    ) -> None:
        """Answer in the app's place, with a request ID, and journal the refusal (with the
        contract violations of a body refused for values no answer could hold again)."""
        request_id = f"req_{secrets.token_hex(8)}"
        info = ApiRequest(id=request_id, headers=first_headers(scope)).attach(scope)
        response, tenant = self._refusal(scope, info, service, statuses, message)
        response.headers["x-request-id"] = request_id
        status = response.status_code

        async def no_body() -> Message:
            return {"type": "http.disconnect"}

        await response(scope, no_body, send)
        if service is not None:
            entry = Entry(
                id=request_id,
                time=self.state.now(),
                api=service.name,
                tenant=tenant,
                method=scope["method"],
                path=info.path,
                query=scope.get("query_string", b"")[:BODY_LIMIT].decode("latin-1"),
                status=status,
                response_body=bytes(response.body)[:BODY_LIMIT],
                response_type=response.headers.get("content-type", ""),
                violations=_violations(scope, service, problem),
            )
            self.state.journal.record(entry)

    def _refusal(
        self,
        scope: Scope,
        info: ApiRequest,
        service: ApiService | None,
        statuses: tuple[int, ...],
        message: str,
    ) -> tuple[Response, str | None]:
        """The answer, and the tenant it is for (None: no valid key)."""
        if service is None:  # the admin API
            return JSONResponse({"error": message}, statuses[0]), None
        request = Request(scope)
        path: str = scope["path"]
        if path.startswith(service.prefix):  # else routed by Host: the path is the API's own
            path = path[len(service.prefix) :] or "/"
        path = service.canonical(path)
        info.api, info.path = service.name, path  # so the answer is checked and formatted
        info.tenant = service.key_sent(scope)
        info.content_type = info.header(b"content-type")
        found = service.contract.operation(scope["method"], path)
        if found is not None:  # what the request check reads
            info.operation, info.path_params = found
        try:
            tenant = service.tenant_of(request)  # the key first: 401/403 before any size
        except ApiError as exc:
            return service.error_response(request, exc), None
        documented = found[0].spec.get("responses", {}) if found else {}
        status = next((s for s in statuses if str(s) in documented), statuses[-1])
        # a 422 lists its fields, as FastAPI's validation errors do
        errors = [FieldError(("body",), message, "value_error")] if status == 422 else None
        return service.error_response(request, ApiError(status, message, errors=errors)), tenant


def _violations(scope: Scope, service: ApiService, problem: JsonProblem | None) -> list[Violation]:
    """The journal's violations of a refused body: none for one too large or nested too deep
    (limits of the server's, not the contract's); for values no answer could hold again, what
    the request check finds (`RequestCheck.unwritable_body`)."""
    if problem is None or not problem.unwritable:
        return []
    from mockserver.validation import RequestCheck, for_journal  # it imports this module

    return for_journal(
        RequestCheck(service).unwritable_body(scope, problem.body, problem.unwritable)
    )


def _too_large(limit: int) -> str:
    return f"Request body too large: the limit is {limit} bytes"


def _length(value: bytes) -> int | None:
    """A Content-Length as RFC 9110 writes it, `1*DIGIT` in ASCII; None for anything else:
    int() read '+12' and '1_2' as 12, and '-1' or what it could not read ('abc', '١٢') as
    no body, which then went to the app unmeasured, past any limit."""
    found = _CONTENT_LENGTH.fullmatch(value)
    return None if found is None else int(found[1])


async def read_body(
    receive: Receive, limit: float = math.inf, first: Message | None = None
) -> tuple[bytes | None, Message | None]:
    """The body, or None once it passes `limit` (the rest is not read); and a message other
    than body met on the way, for the app to see too. `first`: the first message, received
    already. Raises `ClientDisconnect` when the client goes away before the body's end: a
    request never sent whole is served no more than Starlette serves it."""
    chunks: list[bytes] = []
    size = 0
    message = first if first is not None else await receive()
    while True:
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None, None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), None
        message = await receive()


def replaying(raw: bytes, pending: Message | None, receive: Receive) -> Receive:
    """A `receive` that hands the body over again, then goes on as usual."""
    sent = False

    async def replay() -> Message:
        nonlocal sent, pending
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        if pending is not None:
            message, pending = pending, None
            return message
        return await receive()

    return replay
