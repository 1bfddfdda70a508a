"""What Neural Draft checks around every handler: the per-key rate limit and idempotent POSTs.

Both run on the server clock, so a test can exhaust a window and advance past it instead of
waiting a minute, and an idempotent answer expires after 24 virtual hours.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.responses import Response

from mockserver.errors import ApiError

WINDOW_SECONDS = 60.0  # the docs: "The window is sliding 60 seconds, not a calendar minute"
DOCUMENTED_LIMIT = 60  # the docs' "default project" (Hobby) budget per window
IDEMPOTENCY_TTL = 86_400.0
IDEMPOTENCY_KEY_MAX = 255
REPLAYED_HEADER = "Idempotent-Replayed"
IDEMPOTENCY_CONFLICT = "idempotency_conflict"
PRUNE_AT = 10_000  # keys remembered before the idle ones are forgotten


class RateLimiter:
    """A sliding window of `limit` requests per 60 s per key, on the server clock.

    Every answer carries `X-RateLimit-Limit/-Remaining/-Reset`, counted the same way whether
    or not the limit is enforced: `enforce=False` only never refuses (the remaining count
    stays at 0 once used up). The window remembers at most `limit` request times per key.
    """

    def __init__(self, limit: int, enforce: bool) -> None:
        self.limit = limit
        self.enforce = enforce
        self._windows: dict[str, deque[float]] = {}  # key -> times of its latest requests
        self._lock = threading.Lock()

    def hit(self, key: str, now: float) -> dict[str, str]:
        """Count one request; its rate-limit headers, or a 429 once the window is used up."""
        with self._lock:
            if len(self._windows) > PRUNE_AT:
                self._prune(now)
            times = self._windows.setdefault(key, deque(maxlen=self.limit))
            while times and times[0] <= now - WINDOW_SECONDS:
                times.popleft()
            refused = self.enforce and len(times) >= self.limit
            if not refused:
                times.append(now)
            remaining = self.limit - len(times)
            oldest, newest = times[0], times[-1]
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(math.ceil(newest + WINDOW_SECONDS)),  # fully refilled
        }
        if refused:
            retry = max(1, math.ceil(oldest + WINDOW_SECONDS - now))
            raise ApiError(
                429,
                f"Rate limit of {self.limit} requests per {WINDOW_SECONDS:.0f} s exceeded. "
                f"Retry after {retry} seconds.",
                headers={**headers, "Retry-After": str(retry)},
            )
        return headers

    def _prune(self, now: float) -> None:
        idle = [key for key, times in self._windows.items() if times[-1] <= now - WINDOW_SECONDS]
        for key in idle:
            del self._windows[key]

    def clear(self) -> None:
        with self._lock:
            self._windows.clear()


@dataclass(frozen=True, slots=True)
class Stored:
    """The first successful answer to one (API key, Idempotency-Key)."""

    fingerprint: str
    status: int
    body: bytes
    media_type: str
    stored_at: float


class Idempotency:
    """Replays the first 2xx answer per (API key, Idempotency-Key) for 24 h of server time.

    The same key with another request (method, path or body) is a 409 `idempotency_conflict`;
    while the first one is still running, a 409 `conflict`. Errors are not stored, so
    retrying after one runs the request again.
    """

    def __init__(self) -> None:
        self._answers: OrderedDict[tuple[str, str], Stored] = OrderedDict()
        self._running: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    async def run(
        self,
        tenant: str,
        key: str,
        fingerprint: str,
        now: float,
        call: Callable[[], Awaitable[Response]],
    ) -> Response:
        if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX:
            raise ApiError(400, f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} characters.")
        slot = (tenant, key)
        with self._lock:
            self._expire(now)
            stored = self._answers.get(slot)
            if stored is not None:
                return _replay(stored, fingerprint)
            if slot in self._running:
                raise ApiError(409, "A request with this Idempotency-Key is still being processed.")
            self._running.add(slot)
        try:
            response = await call()
        finally:
            with self._lock:
                self._running.discard(slot)
        if 200 <= response.status_code < 300:
            answer = Stored(
                fingerprint,
                response.status_code,
                bytes(response.body),
                response.media_type or "application/json",
                now,
            )
            with self._lock:
                self._answers[slot] = answer
        return response

    def _expire(self, now: float) -> None:
        while self._answers:
            slot, oldest = next(iter(self._answers.items()))
            if now - oldest.stored_at < IDEMPOTENCY_TTL:
                break
            del self._answers[slot]

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()


def _replay(stored: Stored, fingerprint: str) -> Response:
    if stored.fingerprint != fingerprint:
        raise ApiError(
            409,
            "Idempotency-Key was already used with different parameters (path or body).",
            code=IDEMPOTENCY_CONFLICT,
        )
    return Response(
        stored.body,
        stored.status,
        headers={REPLAYED_HEADER: "true"},
        media_type=stored.media_type,
    )


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests "the same": method, path and body (JSON compared by value)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        canonical = body
    return hashlib.sha256(f"{method} {path}\n".encode() + canonical).hexdigest()
