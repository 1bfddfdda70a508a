"""One request as the pipeline comes to know it: a single typed object, not loose keys.

The request middleware makes it; the request check, the fault middleware, the dispatcher and
the handler's `Ctx` read it and add to it (the check's findings and parsed body, the
handler's word on how long its answer holds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData
from starlette.types import Scope

from mockserver.contracts import Operation, Violation
from mockserver.errors import shown_value

SCOPE_KEY = "mockserver.request"  # in `scope["state"]`, Starlette's per-request namespace
HEADERS_KEY = "mockserver.headers"  # there too: the request's headers by name, made once
BODY_KEY = "mockserver.body"  # and the whole body, once the body limits have read it
UNREAD = object()  # `ApiRequest.body` before the request check has parsed one
# the longest API key taken (a JWT fits): a key is a tenant, and names what it owns; the
# admin API and fault rules refuse a longer tenant, which no request could name
MAX_KEY_LENGTH = 4096


@dataclass(slots=True, eq=False)
class ApiRequest:
    id: str  # the request ID answers and log lines carry
    api: str | None = None  # the emulated API's name; None: admin, index or unknown
    prefix: str = ""  # the API's prefix as the client reached it ("" by Host or single mode)
    path: str = ""  # the path as the real API sees it, in its documented spelling
    operation: Operation | None = None  # the contract's operation, None if undocumented
    path_params: dict[str, str] = field(default_factory=dict)
    tenant: str | None = None  # the API key as sent, not yet judged; read once `api` is set
    content_type: str | None = None  # the Content-Type header as sent (None: none sent)
    violations: list[Violation] | None = None  # the request check's findings (None: unchecked)
    body: Any = UNREAD  # the JSON body as the check parsed it, when it found it valid
    form: FormData | None = None  # a form body as the check parsed it (closed when served)
    fresh_until: float | None = None  # set by a handler: its answer holds until this clock time
    headers: dict[bytes, bytes] = field(default_factory=dict)  # `first_headers` of the request

    def attach(self, scope: Scope) -> ApiRequest:
        scope.setdefault("state", {})[SCOPE_KEY] = self
        return self

    def header(self, name: bytes) -> str | None:
        """The first value of the header `name` (lower case), as `Headers.get` gives it."""
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")

    @staticmethod
    def of(scope: Scope) -> ApiRequest | None:
        """The request's record; None outside the pipeline (a hand-made scope)."""
        state = scope.get("state")
        return state.get(SCOPE_KEY) if state else None


def first_headers(scope: Scope) -> dict[bytes, bytes]:
    """Each header's first value by its name (lower case in ASGI), as Starlette's `Headers`
    reads them: made once per request in one pass of C (each `Headers` lookup loops over
    them all), and kept in the scope (and on the `ApiRequest`) for every layer that reads
    one. Whoever changes `scope["headers"]` calls `reread_headers`."""
    state = scope.setdefault("state", {})
    found: dict[bytes, bytes] | None = state.get(HEADERS_KEY)
    if found is None:
        headers = scope["headers"]
        found = dict(reversed(headers if isinstance(headers, list) else list(headers)))
        state[HEADERS_KEY] = found
    return found


def all_values(scope: Scope, name: bytes) -> list[bytes]:
    """Every value of the header `name` (lower case), in the order sent: for a header that
    must come once, which `first_headers` cannot tell (it keeps the first alone). A pass
    over all headers: for a header known to be there, not on every request."""
    return [value for found, value in scope["headers"] if found == name]


def reread_headers(scope: Scope) -> None:
    """`scope["headers"]` changed: the dict `first_headers` made is made again, in place, so
    every holder of it (the `ApiRequest`) reads the new values."""
    found = scope.get("state", {}).get(HEADERS_KEY)
    if found is not None:
        found.clear()
        found.update(reversed(scope["headers"]))


def keep_body(scope: Scope, raw: bytes) -> None:
    """The body limits read the whole body: the layers after them need not read it again
    (the app's `receive` still hands it over, for the handlers that read it)."""
    scope.setdefault("state", {})[BODY_KEY] = raw


def kept_body(scope: Scope) -> bytes | None:
    """The whole body as the body limits read it; None when they did not (a form upload is
    counted as it streams, not kept)."""
    state = scope.get("state")
    return state.get(BODY_KEY) if state else None


def header(scope: Scope, name: str) -> str | None:
    """The first value of the header `name` (lower case), as `Headers.get` gives it."""
    value = first_headers(scope).get(name.encode("latin-1"))
    return None if value is None else value.decode("latin-1")


def key_problem(key: str) -> str | None:
    """Why no request could send the API key `key` as an API reads it (its header's bytes as
    Latin-1, the whitespace around them dropped, at most MAX_KEY_LENGTH characters, as the
    admin API's `tenant`): such a key's settings never apply (a revoked key goes on working);
    None when a request can send it."""
    bare = key.strip()
    if not bare:
        return "a blank key is none (a request without one gets a 401)"
    if bare != key:
        return f"an API reads a key without the whitespace around it (write {shown_value(bare)})"
    if len(key) > MAX_KEY_LENGTH:
        return f"an API refuses a key longer than {MAX_KEY_LENGTH} characters (401)"
    for char in key:
        if (char < " " and char != "\t") or char == "\x7f":  # a tab may stand between words
            return f"no header carries a control character ({char!r})"
        if ord(char) > 0xFF:
            return f"a header is read as Latin-1 bytes, which have no {char!r}"
    return None
