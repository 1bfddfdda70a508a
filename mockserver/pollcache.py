"""Rendered status-poll answers, kept until they could change.

A job's status is a pure function of its plan and the clock, so the answer to a poll stays
the same until the job's next transition, the time the handler names (`Ctx.fresh_until`).
Headers that differ on every answer (Neural Draft's rate-limit count) are not kept: the API
counts each replayed poll as its handler would and adds them (`ApiService.own_headers`).
Anything else that could change an answer empties the cache: the clock moved by hand, a
reset, or any request that is not a poll (a create, a cancel, every admin call). Entries are
keyed by everything a poll's answer depends on: the API, the path and query as sent, the API
key (so tenants never share one), the Host and scheme (links in the answer point back there).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.types import Message, Scope

Key = tuple[str, str, bytes, bytes, bytes, str]
LIMIT = 10_000  # answers kept at most; the oldest goes first


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    until: float  # clock time from which it may be stale

    async def replay(
        self, send: Callable[[Message], Awaitable[None]], own: list[tuple[bytes, bytes]]
    ) -> None:
        """Send the answer again, with `own`: the headers this request gets afresh."""
        headers = self.headers + own if own else self.headers
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


class PollCache:
    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit  # 0 keeps nothing
        self.generation = 0  # moves on every invalidation: an answer rendered before is not kept
        self._answers: dict[Key, Answer] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._answers)

    def invalidate(self) -> None:
        with self._lock:
            self.generation += 1
            self._answers.clear()

    def get(self, key: Key, now: float) -> Answer | None:
        answer = self._answers.get(key)
        return answer if answer is not None and now < answer.until else None

    def put(self, key: Key, answer: Answer, generation: int) -> None:
        with self._lock:
            if generation != self.generation or not self.limit:
                return  # something changed while it was rendered, or nothing is kept
            if len(self._answers) >= self.limit:
                del self._answers[next(iter(self._answers))]
            self._answers[key] = answer


def key_of(scope: Scope, api: str, tenant: str, host: bytes) -> Key:
    return (
        api,
        scope["path"],
        scope.get("query_string", b""),
        host,
        tenant.encode(),
        scope["scheme"],
    )


class Recorder:
    """Wraps `send` to keep a copy of a one-piece answer (a streamed one is not kept)."""

    __slots__ = ("send", "status", "headers", "body", "parts", "complete")

    def __init__(self, send: Callable[[Message], Awaitable[None]]) -> None:
        self.send = send
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""
        self.parts = 0
        self.complete = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.parts += 1
            self.complete = self.parts == 1 and not message.get("more_body", False)
            self.body = message.get("body", b"")
        await self.send(message)
