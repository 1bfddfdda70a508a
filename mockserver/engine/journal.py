"""The journal: every request and response, with the contract violations found in it."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from mockserver.contracts.validate import Violation

BODY_LIMIT = 16_384  # bytes of each body kept; enough to read, bounded in memory


@dataclass(slots=True)
class Entry:
    id: str
    time: float
    api: str | None
    tenant: str | None
    method: str
    path: str
    query: str
    request_body: bytes = b""
    request_type: str = ""
    status: int = 0
    response_body: bytes = b""
    response_type: str = ""
    violations: list[Violation] = field(default_factory=list)
    request_size: int = 0  # the whole body's size, however much of it is kept
    request_parts: list[dict[str, Any]] | None = None  # a multipart body, part by part
    retry_after: str = ""  # the answer's Retry-After header, when it had one

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time,
            "api": self.api,
            "tenant": self.tenant,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "request": (
                {"parts": self.request_parts}
                if self.request_parts is not None
                else _readable(self.request_body, self.request_type)
            ),
            "request_size": self.request_size,
            "status": self.status,
            "response": _readable(self.response_body, self.response_type),
            "violations": [v.as_dict() for v in self.violations],
        }


def _readable(body: bytes, content_type: str) -> Any:
    """JSON bodies as data, text as text, anything else as a size note."""
    if not body:
        return None
    if "json" in content_type:
        try:
            return json.loads(body)
        except ValueError:
            pass
    if (
        content_type.startswith(("text/", "application/x-www-form-urlencoded"))
        or "json" in content_type
    ):
        return body.decode("utf-8", "replace")
    return f"<{len(body)} bytes of {content_type or 'unknown type'}>"


class Journal:
    def __init__(self, size: int = 10_000) -> None:
        self._entries: deque[Entry] = deque(maxlen=size)
        self._lock = threading.Lock()
        self.recorded = 0  # every request ever journalled, evicted or cleared ones included

    def record(self, entry: Entry) -> None:
        with self._lock:
            self._entries.append(entry)
            self.recorded += 1

    def entries(
        self, api: str | None = None, tenant: str | None = None, limit: int | None = None
    ) -> list[Entry]:
        with self._lock:
            found = [
                e
                for e in self._entries
                if (api is None or e.api == api) and (tenant is None or e.tenant == tenant)
            ]
        return found[-limit:] if limit else found

    def violations(self, api: str | None = None, tenant: str | None = None) -> list[dict[str, Any]]:
        return [
            {**v.as_dict(), "request_id": e.id, "method": e.method, "path": e.path, "api": e.api}
            for e in self.entries(api, tenant)
            for v in e.violations
        ]

    def clear(self, api: str | None = None, tenant: str | None = None) -> None:
        with self._lock:
            if api is None and tenant is None:
                self._entries.clear()
                return
            keep = [
                e
                for e in self._entries
                if not ((api is None or e.api == api) and (tenant is None or e.tenant == tenant))
            ]
            self._entries.clear()
            self._entries.extend(keep)
