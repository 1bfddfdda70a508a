"""Which API a request is for, and which of its operations: found once per request line.

An API is chosen by the real API's Host header, because the server serves one API alone, or
by path prefix; in the first two cases the path is re-rooted under the prefix. The body limits
(before a body is read) and the request middleware (for everything after) ask the same
question of the same request: they share one `ApiRoutes`, and its answers are remembered per
Host, method and path, as clients send the same ones again and again (a create, a poll).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from starlette.convertors import Convertor, register_url_convertor

from mockserver.contracts import Operation

if TYPE_CHECKING:
    from mockserver.service import ApiService

ADMIN_PREFIX = "/__mock__"
ROUTES_KEPT = 4096  # (Host, method, path) whose route is remembered
# a request's route: its API, the path it is served at, the API's prefix as reached ("" by
# Host), the path as the API documents it, and its operation with the path's parameters
RouteTo = tuple["ApiService", str, str, str, Operation | None, dict[str, str]]
SEGMENTS = "segments"  # the convertor of a path parameter that may hold slashes


class Segments(Convertor[str]):
    """A path parameter whose value may hold slashes (`{key:segments}`), as a contract marks
    one with `x-mock-slashes`. Unlike Starlette's `path`, never empty: `/v1/images/` stays the
    router's redirect to `/v1/images`, not a lookup of the key ""."""

    regex = ".+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor(SEGMENTS, Segments())


def route_path(path: str, operations: Iterable[Operation]) -> str:
    """`path` as a route's: the parameters the operations mark `x-mock-slashes` span
    segments, so a wrong method on such a path is the router's 405 whatever the value."""
    slashed = {p["name"] for op in operations for p in op.parameters() if p.get("x-mock-slashes")}
    return re.sub(
        r"\{(\w+)\}", lambda m: f"{{{m[1]}:{SEGMENTS}}}" if m[1] in slashed else m[0], path
    )


class ApiRoutes:
    """The route of a request line, or None for the admin API, the root and unknown paths."""

    def __init__(self, services: dict[str, ApiService], single: str | None = None) -> None:
        self.services = services
        self.by_host = {host: s for s in services.values() for host in s.hosts}
        self.single = services[single] if single else None
        self._found: dict[tuple[bytes, str, str], RouteTo | None] = {}

    def find(self, host: bytes, method: str, path: str) -> RouteTo | None:
        """The route of `method path` sent with this Host header (its raw value)."""
        request_line = (host, method, path)
        try:
            return self._found[request_line]
        except KeyError:
            found = self._find(host, method, path)
            if len(self._found) >= ROUTES_KEPT:
                self._found.clear()
            self._found[request_line] = found
            return found

    def _find(self, host: bytes, method: str, path: str) -> RouteTo | None:
        if path.startswith(ADMIN_PREFIX):
            return None
        name = host.split(b":")[0].lower().decode("latin-1")
        service = self.by_host.get(name) or self.single
        prefix = ""
        if service is not None:
            api_path = service.canonical(path)
            path = service.prefix + path
        else:
            service = next(
                (
                    s
                    for s in self.services.values()
                    if path == s.prefix or path.startswith(s.prefix + "/")
                ),
                None,
            )
            if service is None:
                return None
            prefix = service.prefix
            api_path = service.canonical(path[len(service.prefix) :] or "/")
        operation, params = service.contract.operation(method, api_path) or (None, {})
        return service, path, prefix, api_path, operation, params
