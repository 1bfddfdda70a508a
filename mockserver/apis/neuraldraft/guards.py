"""What Neural Draft checks around every handler: the per-key rate limit and idempotent POSTs.

Both run on the server clock, so a test can exhaust a window and advance past it instead of
waiting a minute, and an idempotent answer expires after 24 virtual hours.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.responses import Response

from mockserver.errors import ApiError

WINDOW_SECONDS = 60.0
IDEMPOTENCY_TTL = 86_400.0
IDEMPOTENCY_KEY_MAX = 255
REPLAYED_HEADER = "Idempotent-Replayed"


class RateLimiter:
    """`limit` requests per key per window; a window opens with the key's first request.

    `limit=None` turns it off: no headers, no refusals.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (window start, requests)
        self._lock = threading.Lock()

    def hit(self, key: str, now: float) -> dict[str, str]:
        """Count one request; its rate-limit headers, or a 429 once the window is used up."""
        if self.limit is None:
            return {}
        with self._lock:
            start, count = self._windows.get(key, (now, 0))
            if now >= start + WINDOW_SECONDS:
                start, count = now, 0
            count += 1
            self._windows[key] = (start, count)
        reset = start + WINDOW_SECONDS
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.limit - count)),
            "X-RateLimit-Reset": str(math.ceil(reset)),
        }
        if count > self.limit:
            retry = max(1, math.ceil(reset - now))
            raise ApiError(
                429,
                f"Rate limit of {self.limit} requests per minute exceeded; retry in {retry} s.",
                headers={**headers, "Retry-After": str(retry)},
            )
        return headers

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

    The same key with another request (method, path or body) or while the first one is still
    running is a 409. Errors are not stored, so retrying after one runs the request again.
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
            409, "Idempotency-Key was already used with a different request (path or body)."
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
