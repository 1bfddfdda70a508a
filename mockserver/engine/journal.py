"""The journal: every request and response, with the contract violations found in it."""

from __future__ import annotations

import json
import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from mockserver.contracts.validate import Violation

BODY_LIMIT = 16_384  # bytes of each body kept; enough to read, bounded in memory
ENTRY_OVERHEAD = 512  # bytes an entry costs besides its bodies (a rough, fixed estimate)
VIEW_DEPTH = 32  # nesting shown by the views; deeper values are cut


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

    @property
    def cost(self) -> int:
        """Bytes the entry holds, about: what the journal's byte budget counts."""
        return ENTRY_OVERHEAD + len(self.request_body) + len(self.response_body) + len(self.query)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time,
            "api": self.api,
            "tenant": mask(self.tenant),
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
            "violations": [plain(v.as_dict()) for v in self.violations],
        }


def mask(key: str | None) -> str | None:
    """An API key as admin views show it: enough to tell keys apart, not enough to use one."""
    if key is None or len(key) <= 8:
        return None if key is None else "*" * len(key)
    return key[:4] + "…" + key[-4:]


def plain(value: Any, depth: int = 0) -> Any:
    """`value` as strict JSON can carry it: non-finite numbers as text, deep nesting cut."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict | list) and depth >= VIEW_DEPTH:
        return "…"
    if isinstance(value, dict):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, depth + 1) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _readable(body: bytes, content_type: str) -> Any:
    """JSON bodies as data, text as text, anything else as a size note."""
    if not body:
        return None
    if "json" in content_type:
        try:
            return plain(json.loads(body, parse_constant=_refuse))
        except (ValueError, RecursionError):
            pass
    if (
        content_type.startswith(("text/", "application/x-www-form-urlencoded"))
        or "json" in content_type
    ):
        return body.decode("utf-8", "replace")
    return f"<{len(body)} bytes of {content_type or 'unknown type'}>"


def _refuse(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


class Journal:
    """The latest `size` entries, and no more than `max_bytes` of them: the oldest go."""

    def __init__(self, size: int = 10_000, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._entries: deque[Entry] = deque()
        self._bytes = 0
        self._lock = threading.Lock()
        self.recorded = 0  # every request ever journalled, evicted or cleared ones included

    def record(self, entry: Entry) -> None:
        with self._lock:
            self._entries.append(entry)
            self.recorded += 1
            self._bytes += entry.cost
            while self._entries and (
                len(self._entries) > self.size or self._bytes > self.max_bytes
            ):
                self._bytes -= self._entries.popleft().cost

    @property
    def bytes(self) -> int:
        """What the kept entries cost, by `Entry.cost`."""
        return self._bytes

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
            {**plain(v.as_dict()), "request_id": e.id, "method": e.method, "path": e.path}
            | {"api": e.api}
            for e in self.entries(api, tenant)
            for v in e.violations
        ]

    def clear(self, api: str | None = None, tenant: str | None = None) -> None:
        with self._lock:
            if api is None and tenant is None:
                self._entries.clear()
                self._bytes = 0
                return
            keep = [
                e
                for e in self._entries
                if not ((api is None or e.api == api) and (tenant is None or e.tenant == tenant))
            ]
            self._entries = deque(keep)
            self._bytes = sum(e.cost for e in keep)
