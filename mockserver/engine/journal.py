"""The journal: every request and response, with the contract violations found in it."""

from __future__ import annotations

import json
import logging
import math
import threading
from base64 import b64decode, b64encode
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from mockserver.contracts.validate import Violation
from mockserver.stores import MemoryStore, StateStore, StoreError, key, lasting_key
from mockserver.stores.codec import storable

log = logging.getLogger("mockserver")

BODY_LIMIT = 16_384  # bytes of each body (and characters of the query) kept: bounded memory
ENTRY_OVERHEAD = 512  # bytes an entry costs besides its bodies (a rough, fixed estimate)
VIOLATIONS_KEPT = 20  # of a request's contract violations, the first ones (a test names them)
VIOLATION_TEXT = 500  # characters kept of each one's pointer, message and value
VIOLATION_COST = 3 * VIOLATION_TEXT + 128  # bytes one kept violation costs, at most
VIEW_DEPTH = 32  # nesting shown by the views; deeper values are cut
# requests that broke a contract, the latest ones, kept apart from the ring with their
# violations (not their bodies): a test's violations outlive the requests that followed them
VIOLATING_KEPT = 1_000
TAIL_CHUNK = 32  # entries read at once, back from the newest, by a reader of the latest ones


@storable
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
    number: int = 0  # 1 for the first entry the journal recorded, 2 for the next...

    state_tag: ClassVar[str] = "entry"

    @property
    def cost(self) -> int:
        """Bytes the entry holds, about: what the journal's byte budget counts."""
        texts = len(self.query) + len(self.path) + len(self.request_type) + len(self.tenant or "")
        violations = len(self.violations) * VIOLATION_COST
        return (
            ENTRY_OVERHEAD + len(self.request_body) + len(self.response_body) + texts + violations
        )

    def bound(self) -> None:
        """Cut the texts whose length the client chose (httptools takes a header of any
        length) to `BODY_LIMIT` characters, marked with `…`: a cut key matches no real one."""
        if len(self.path) > BODY_LIMIT:  # each looked at once per request: no loop
            self.path = _cut(self.path)
        if len(self.request_type) > BODY_LIMIT:
            self.request_type = _cut(self.request_type)
        if self.tenant is not None and len(self.tenant) > BODY_LIMIT:
            self.tenant = _cut(self.tenant)

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

    def to_state(self) -> list[Any]:
        violations = [
            [v.operation, v.pointer, v.message, plain(v.value), v.kind, plain(v.ctx)]
            for v in self.violations
        ]
        return [
            self.id,
            self.time,
            self.api,
            self.tenant,
            self.method,
            self.path,
            self.query,
            b64encode(self.request_body).decode("ascii"),
            self.request_type,
            self.status,
            b64encode(self.response_body).decode("ascii"),
            self.response_type,
            violations,
            self.request_size,
            self.request_parts,
            self.retry_after,
            self.number,
        ]

    @classmethod
    def from_state(cls, data: list[Any]) -> Entry:
        fields = list(data)
        fields[7], fields[10] = b64decode(fields[7]), b64decode(fields[10])  # the bodies
        fields[12] = [Violation(*v) for v in fields[12]]
        return cls(*fields)


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


def _cut(text: str) -> str:
    return text[: BODY_LIMIT - 1] + "…"


class Journal:
    """The latest `size` entries, and no more than `max_bytes` of them: the oldest go.

    The entries are one server-wide list in the state store, in the order they were
    journalled by whichever process served them; `recorded` counts them beside it.

    The byte budget is counted exactly on the memory store (the sum of the kept entries'
    `cost`). A shared store keeps no running sum: one kept right while several processes push
    and trim would cost every request more round trips. There the bound holds per entry
    instead: a body is kept up to `BODY_LIMIT` bytes and the query, the path, the content
    type and the key up to as many characters, so the journal holds at most `size` entries
    of at most `MOST` bytes each.

    A filtered `clear` marks where it cleared (the number of the latest entry) rather than
    rewriting the list, which other processes may be pushing to: the entries it covers are
    no longer shown and go with the oldest as usual.

    The latest `VIOLATING_KEPT` entries that carry contract violations are also kept in a list
    of their own, without their bodies: `violations` still finds them once the ring has let
    them go (a test polling through a three-hour job makes more than `size` requests after
    its bad one). A reader of the latest entries alone (`since`: a test's teardown, after
    the entries numbered up to its start) reads back from the newest and stops there: it
    reads what it gets, however full the journal is.

    An entry is recorded once its answer has begun (its status and body are in it): a store
    that fails then (Redis gone, a SQLite file locked past `BUSY_SECONDS`) costs the entry,
    not the answer, which would otherwise be cut off after its status line. The log says so
    once per outage, and how many entries it lost once the store takes them again.
    """

    # the cost of an entry, at most (`Entry.bound`, `mockserver.validation.for_journal`)
    MOST = ENTRY_OVERHEAD + 6 * BODY_LIMIT + VIOLATIONS_KEPT * VIOLATION_COST

    def __init__(
        self,
        size: int = 10_000,
        max_bytes: int = 64 * 1024 * 1024,
        store: StateStore | None = None,
    ) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._store = store or MemoryStore()
        self._lock = threading.Lock()  # the memory store's list and its sum change together
        self._bytes = 0  # the sum, on the memory store: this process's alone, as the list is
        self._lost = 0  # entries the store failed to take in the current outage

    def record(self, entry: Entry) -> None:
        """Keep `entry`; a shared store that cannot take it loses it (see above)."""
        entry.bound()
        store = self._store
        if store.shared:
            try:
                store.push_numbered(_RECORDED, _ENTRIES, entry, keep=self.size)
                if entry.violations:
                    store.push(_VIOLATING, _apart(entry), keep=VIOLATING_KEPT)
            except StoreError as exc:
                if not self._lost:
                    log.warning("journal: %s and what follows is not kept: %s", entry.id, exc)
                self._lost += 1
                return
            if self._lost:  # one look per entry, not a store operation
                log.warning("journal: kept again; %d entries were lost to the store", self._lost)
                self._lost = 0
            return
        cost = entry.cost
        with self._lock:  # numbered in the order pushed: a reader of the latest relies on it
            entry.number = store.incr(_RECORDED)
            held = store.push(_ENTRIES, entry)
            if entry.violations:
                store.push(_VIOLATING, _apart(entry), keep=VIOLATING_KEPT)
            self._bytes += cost
            while held > self.size or self._bytes > self.max_bytes:
                oldest = store.pop(_ENTRIES)
                if oldest is None:  # the store was emptied meanwhile (a reset)
                    self._bytes = 0
                    break
                self._bytes -= oldest.cost
                held -= 1

    @property
    def recorded(self) -> int:
        """Every request ever journalled, evicted or cleared ones included."""
        return self._store.incr(_RECORDED, 0)

    @property
    def bytes(self) -> int:
        """What the kept entries cost, by `Entry.cost`."""
        if self._store.shared:
            return sum(entry.cost for entry in self._store.items(_ENTRIES))
        return self._bytes

    def entries(
        self,
        api: str | None = None,
        tenant: str | None = None,
        limit: int | None = None,
        since: int = 0,
    ) -> list[Entry]:
        """The kept entries of `api` and `tenant` (None: any), oldest first; the latest
        `limit`; only those numbered above `since` (the `recorded` count when a reader's own
        requests began), read back from the newest."""
        found = self._shown(self._after(_ENTRIES, since), api, tenant)
        return found[-limit:] if limit else found

    def violations(
        self, api: str | None = None, tenant: str | None = None, since: int = 0
    ) -> list[dict[str, Any]]:
        """The contract violations of the latest `VIOLATING_KEPT` entries that had some, and
        of the kept entries, oldest first (`api`, `tenant` and `since` as `entries`). The
        ring is read only when the list apart may have let go of some of them: while that
        list holds every violating entry numbered above `since`, it is all there is to read."""
        store = self._store
        lists = [self._after(_VIOLATING, since)]
        oldest = store.heads([_VIOLATING])[0]
        if store.length(_VIOLATING) >= VIOLATING_KEPT and (oldest is None or oldest.number > since):
            lists.append(self._after(_ENTRIES, since))
        found = {
            (e.number, e.id): e
            for entries in lists
            for e in self._shown(entries, api, tenant)
            if e.violations
        }
        return [
            {**plain(v.as_dict()), "request_id": e.id, "method": e.method, "path": e.path}
            | {"api": e.api}
            for e in sorted(found.values(), key=lambda entry: entry.number)
            for v in e.violations
        ]

    def _after(self, name: str, since: int) -> list[Entry]:
        """The entries of the list `name`, or those numbered above `since`, oldest first: read
        back from the newest in growing chunks down to the first numbered `since` or less
        (the lists are in the order of their numbers). Another process pushing meanwhile
        shifts the chunks towards the newest: what is read twice is kept once."""
        store = self._store
        if since <= 0:
            return store.items(name)
        found: dict[tuple[int, str], Entry] = {}
        end, chunk = -1, TAIL_CHUNK
        while True:
            part: list[Entry] = store.items(name, end - chunk + 1, end)
            found.update(((e.number, e.id), e) for e in part if e.number > since)
            if len(part) < chunk or part[0].number <= since:
                return sorted(found.values(), key=lambda entry: entry.number)
            end -= chunk
            chunk *= 2

    def _shown(self, entries: list[Entry], api: str | None, tenant: str | None) -> list[Entry]:
        """Those of `entries` of `api` and `tenant` (None: any) that no clear hid."""
        cleared = self._store.entries(_CLEARED)
        return [
            e
            for e in entries
            if (api is None or e.api == api) and (tenant is None or e.tenant == tenant)
            if not cleared or e.number > _cleared_up_to(cleared, e)
        ]

    def clear(self, api: str | None = None, tenant: str | None = None) -> None:
        store = self._store
        if api is None and tenant is None:
            with self._lock:
                store.delete(_ENTRIES, _CLEARED, _VIOLATING)
                self._bytes = 0
            return
        store.put(_CLEARED, _scope(api, tenant), store.incr(_RECORDED, 0))
        heads = [head for head in store.heads([_ENTRIES, _VIOLATING]) if head is not None]
        oldest = min((head.number for head in heads), default=None)
        for scope, number in store.entries(_CLEARED).items():
            if oldest is None or number < oldest:  # it covers nothing left
                store.discard(_CLEARED, scope)


def _apart(entry: Entry) -> Entry:
    """What the list of violating entries keeps of `entry`: all a violation's view shows and
    a clear looks at, without the bodies and query (a violation names its own value)."""
    return replace(entry, query="", request_body=b"", response_body=b"", request_parts=None)


def _scope(api: str | None, tenant: str | None) -> str:
    """The field of a clear's mark: `api|tenant`, either empty for any (no API name holds
    a `|`, no tenant is empty)."""
    return f"{api or ''}|{tenant or ''}"


def _cleared_up_to(cleared: dict[str, int], entry: Entry) -> int:
    """The number up to which the clears that cover `entry` hid the entries."""
    api, tenant = entry.api or "", entry.tenant or ""
    return max(
        cleared.get(f"{api}|{tenant}", 0),
        cleared.get(f"{api}|", 0),
        cleared.get(f"|{tenant}", 0),
    )


_ENTRIES = key(None, "journal")
_RECORDED = lasting_key(None, "journal", "recorded")  # a reset keeps counting on
_CLEARED = key(None, "journal", "cleared")  # `api|tenant` of a filtered clear -> its number
_VIOLATING = key(None, "journal", "violating")  # the latest entries with violations, apart
