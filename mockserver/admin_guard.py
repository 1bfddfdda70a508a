"""Who may use the admin API (`/__mock__/`): it resets, steers and reads every tenant.

- Bound to loopback (the default), it answers the local machine only, and only under a local
  `Host` (`localhost`, `127.0.0.1`, `[::1]`, the in-process names `testserver` and
  `mockserver.test`, the configured host and `admin_hosts`): a page on another site that
  rebinds its DNS name to 127.0.0.1 is refused.
- Bound to any other interface, it requires a token (`admin_token`; generated and printed in
  the banner when not given), sent as `X-Mock-Admin-Token`, `Authorization: Bearer` or
  `?token=`. A token given on loopback is required there too.
- Cross-site requests (a browser's `Origin` naming another site, `Sec-Fetch-Site: cross-site`
  or `same-site`) are refused everywhere, so no web page can drive it.

Signed file links (`/__mock__/files/`) stay open: their signature is their guard. So do signed
job page links (`/__mock__/jobs/{id}/page?signature=...`, an API's `job_page_url`): the client
that got one opens that page, read-only, with no token and under the API's own `Host`. The
mock's own outgoing requests (webhooks) never target the admin API (`targets_admin`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import posixpath
import secrets
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit

from starlette.datastructures import Headers, QueryParams
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.config import ServerConfig
from mockserver.routing import ADMIN_PREFIX

if TYPE_CHECKING:
    from mockserver.engine.jobs import Job

OPEN_PATHS = (ADMIN_PREFIX + "/files/",)
TOKEN_HEADER = "x-mock-admin-token"
LOCAL_NAMES = {"localhost", "testserver", "mockserver.test"}
CROSS_SITE = {"cross-site", "same-site"}
PAGE = "page"


def page_signature(job: Job) -> str:
    """What opens one job's page without the admin token: a MAC of its ID keyed by its API
    key, which only the key's holder (given the link) and the server know. A key guessed from
    it is one the API would have taken anyway; the link never expires, as the page an API
    links to does not, and the same key and seed give the same link on every run."""
    key = job.tenant.encode("utf-8", "surrogatepass")
    return hmac.new(key, f"{PAGE}:{job.id}".encode(), hashlib.sha256).hexdigest()[:32]


def signs_page(job: Job, signature: str) -> bool:
    """Compared as bytes: `compare_digest` refuses a str past ASCII (`?signature=%C3%A9`)."""
    sent = signature.encode("utf-8", "surrogatepass")
    return hmac.compare_digest(page_signature(job).encode(), sent)


def signed_page_path(job: Job) -> str:
    """The path of `job`'s page that the client given it may open (`job_page_url`)."""
    return f"{ADMIN_PREFIX}/jobs/{quote(job.id, safe='')}/{PAGE}?signature={page_signature(job)}"


def is_signed_page(scope: Scope) -> bool:
    """A job page asked with a signature, which the page itself checks: its guard."""
    parts = scope.get("path", "").removesuffix("/").split("/")
    return (
        len(parts) == 5
        and parts[:3] == ["", ADMIN_PREFIX[1:], "jobs"]
        and bool(parts[3])
        and parts[4] == PAGE
        and "signature" in QueryParams(scope.get("query_string", b"").decode("latin-1"))
    )


def is_loopback(host: str) -> bool:
    """True for `localhost`, `*.localhost` and loopback addresses."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def admin_token(config: ServerConfig) -> str | None:
    """The token the admin API requires: the configured one, else a fresh one when the
    server is bound beyond loopback, else none."""
    if config.admin_token:
        return config.admin_token
    return None if is_loopback(config.host) else secrets.token_urlsafe(24)


def targets_admin(url: str) -> bool:
    """True when `url`'s path reaches an admin API (`/__mock__/...`), however it is spelled
    (percent-encoded, with `..` or doubled slashes)."""
    try:
        path = urlsplit(url.strip()).path
    except ValueError:
        return False
    for _ in range(3):  # %255F is %5F is _
        path = unquote(path)
    path = posixpath.normpath("/" + path.replace("\\", "/").lstrip("/")).lower()
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


def _host_name(host: str) -> str:
    """`Host` without its port: `[::1]:8000` -> `::1`, `localhost:80` -> `localhost`."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class AdminGuard:
    """Pure ASGI: refuses admin requests from other sites, foreign `Host`s, or without the
    token where one is required (403, or 401 for a missing or wrong token)."""

    def __init__(self, app: ASGIApp, config: ServerConfig, token: str | None) -> None:
        self.app = app
        self.token = token
        # an entry as a request's Host is matched: `mock.internal:8000` and `[fd00::5]` name
        # hosts whose requests come without the port and brackets `_host_name` drops
        self.hosts = LOCAL_NAMES | {_host_name(name).lower() for name in config.admin_hosts}
        if config.host not in {"0.0.0.0", "::", ""}:
            self.hosts.add(config.host.strip("[]").lower())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or not path.startswith(ADMIN_PREFIX)
            or path.startswith(OPEN_PATHS)
            or is_signed_page(scope)
        ):
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is None and path == ADMIN_PREFIX:
            # no admin endpoint: Starlette's router would redirect it to `/__mock__/`
            refusal = 404, f"no admin endpoint at {ADMIN_PREFIX}"
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, message = refusal
        await JSONResponse({"error": message}, status)(scope, receive, send)

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """(status, why) for a request the admin API must not answer, else None."""
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if headers.get("sec-fetch-site", "").lower() in CROSS_SITE:
            return 403, "the admin API does not answer cross-site requests"
        origin = headers.get("origin")
        if origin is not None and _origin_host(origin) != host.lower():
            return 403, f"the admin API does not answer requests from {origin[:100]}"
        if self.token is not None:
            given = headers.get(TOKEN_HEADER) or _bearer(headers) or _query_token(scope)
            if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
                return 401, (
                    "the admin API needs its token: send it as X-Mock-Admin-Token "
                    "(printed in the server's banner)"
                )
            return None
        name = _host_name(host).lower()
        if not (is_loopback(name) or name in self.hosts):
            return 403, f"the admin API answers local Host names only, not {host[:100]!r}"
        return None


def _origin_host(origin: str) -> str | None:
    """The host and port an `Origin` names, lower case; None for one that does not parse
    (`http://[::1`), which is then no local origin either."""
    try:
        return urlsplit(origin).netloc.lower()
    except ValueError:
        return None


def _bearer(headers: Headers) -> str:
    value = headers.get("authorization", "")
    return value[7:].strip() if value[:7].lower() == "bearer " else ""


def _query_token(scope: Scope) -> str:
    query = scope.get("query_string", b"")
    return QueryParams(query.decode("latin-1")).get("token", "") if b"token=" in query else ""
