"""What Neural Draft checks around every handler: the per-key rate limit and idempotent POSTs.

Both run on the server clock, so a test can exhaust a window and advance past it instead of
waiting a minute, and an idempotent answer expires after 24 virtual hours. A request also
leaves the rate window once 60 real seconds have passed: a client that honours
`Retry-After` sleeps in real time, while a manual clock may stand still. For the same reason
the claim of a request still running is a lease in real time: a worker killed mid-request
holds its key for a minute, not for 24 h of a clock that may never move. An answer recorded
at a server time after a request's own (the clock was set back since) has not happened yet at
that time: the key is unused, as a job made after it does not exist yet.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from base64 import b64decode, b64encode
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, ClassVar, NamedTuple

from starlette.responses import Response
from starlette.types import Scope

from mockserver.engine.scenarios import ScenarioError, header_once
from mockserver.errors import ApiError
from mockserver.request import all_values
from mockserver.stores import StateStore, StoreError, key
from mockserver.stores.codec import storable

WINDOW_SECONDS = 60.0  # the docs: "The window is sliding 60 seconds, not a calendar minute"
DOCUMENTED_LIMIT = 60  # the docs' "default project" (Hobby) budget per window
IDEMPOTENCY_TTL = 86_400.0
IDEMPOTENCY_KEY_MAX = 255
IDEMPOTENCY_HEADER = b"idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
IDEMPOTENCY_CONFLICT = "idempotency_conflict"
STILL_RUNNING = "A request with this Idempotency-Key is still being processed."
IN_FLIGHT_WAIT = 10.0  # real seconds a request waits for the same one in flight to answer
LEASE_SECONDS = 60.0  # real time a claim holds unless renewed, as a webhook attempt's claim
RENEW_SECONDS = LEASE_SECONDS / 4  # how often a request still running renews its claim
FIRST_PAUSE, LONGEST_PAUSE = 0.005, 0.1  # between its looks at the key, doubling
SWEEP_SECONDS = WINDOW_SECONDS / 4  # how often (either clock) the idle windows are forgotten
LOOKS = 2  # kept answers looked at per new one, to forget the expired
LIMITS_KEPT = 4096  # distinct rate-limit headers kept encoded


class Limits(NamedTuple):
    """Where a key's window stands after one request: its `X-RateLimit-*` headers."""

    limit: int
    remaining: int
    reset: int  # the second (server clock) the window is fully refilled

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }

    def encoded(self) -> tuple[tuple[bytes, bytes], ...]:
        """The headers as an answer's raw headers carry them."""
        return _encoded(self)


@lru_cache(maxsize=LIMITS_KEPT)  # every answer carries them: a busy key's, made once a second
def _encoded(limits: Limits) -> tuple[tuple[bytes, bytes], ...]:
    return tuple(
        (name.lower().encode(), value.encode()) for name, value in limits.headers().items()
    )


# one request in a window: [its server time, its real time]
Hit = list[float]


class RateLimiter:
    """A sliding window of `limit` requests per 60 s per key.

    A request leaves the window when 60 s have passed since it on the server clock or in real
    time, whichever comes first (as an injected 429 window closes): a test moves its manual
    clock past a window, and a client sleeping for `Retry-After` finds the window open again
    though the manual clock stood still. `Retry-After` is the time until the oldest request
    leaves, `X-RateLimit-Reset` the server clock's second when the last one does.

    Every answer carries `X-RateLimit-Limit/-Remaining/-Reset`, counted the same way whether
    or not the limit is enforced: `enforce=False` only never refuses (the remaining count
    stays at 0 once used up). The window remembers at most `limit` requests per key.

    A key's window is one value in the state store under its tenant, changed atomically, so
    the workers sharing a store count one window. The windows whose requests have all left
    are forgotten by a sweep every `SWEEP_SECONDS` of either clock, made by the request that
    finds it due: what is kept is the keys of the last minute or so, however many came and
    went before, and no request pays a store round trip more for it but the sweeping one.
    """

    def __init__(self, limit: int, enforce: bool, store: StateStore, api: str) -> None:
        self.limit = limit
        self.enforce = enforce
        self._store = store
        self._api = api
        self._keys = key(None, api, "rate-keys")  # the tenants with a window (a map)
        # when this process sweeps next: the server's time and the real time, whichever first
        self._sweep_at, self._sweep_real = -math.inf, -math.inf

    def hit(self, tenant: str, now: float) -> Limits:
        """Count one request; its rate-limit headers, or a 429 once the window is used up."""
        new = refused = False
        real = time.time()

        def slide(held: list[Hit] | None) -> list[Hit]:
            nonlocal new, refused  # the run that is kept is the last one: these are its
            hits = held if held is not None else []  # changed in place: the store's own copy
            start = 0  # the first request still in the window
            while start < len(hits) and _left(hits[start], now, real) <= 0:
                start += 1
            new, refused = held is None, self.enforce and len(hits) - start >= self.limit
            if refused:
                del hits[:start]
                return hits
            del hits[: max(start, len(hits) + 1 - self.limit)]
            hits.append([now, real])
            return hits

        hits = self._store.update(_window(self._api, tenant), slide)
        assert hits
        if new:
            self._store.put(self._keys, tenant, True)
        if now >= self._sweep_at or real >= self._sweep_real:
            self._sweep(now, real)
        refill = math.ceil(now + _left(hits[-1], now, real))
        limits = Limits(self.limit, self.limit - len(hits), refill)
        if refused:
            retry = max(1, math.ceil(_left(hits[0], now, real)))
            raise ApiError(
                429,
                f"Rate limit of {self.limit} requests per {WINDOW_SECONDS:.0f} s exceeded. "
                f"Retry after {retry} seconds.",
                headers={**limits.headers(), "Retry-After": str(retry)},
            )
        return limits

    def _sweep(self, now: float, real: float) -> None:
        """Forget the windows whose requests have all left. Every window is read at once; each
        idle one is unlisted before it goes, and listed again if a request came meanwhile
        (one that makes a window anew lists it itself). Its cost, spread over the requests
        since the last sweep, is a constant: a window kept was used within the minute."""
        self._sweep_at, self._sweep_real = now + SWEEP_SECONDS, real + SWEEP_SECONDS
        store = self._store
        tenants = list(store.entries(self._keys))
        windows = store.get_many([_window(self._api, tenant) for tenant in tenants])
        for tenant, hits in zip(tenants, windows, strict=True):
            if _in_use(hits, now, real):
                continue
            store.discard(self._keys, tenant)
            kept = store.update(
                _window(self._api, tenant), lambda held: held if _in_use(held, now, real) else None
            )
            if kept is not None:
                store.put(self._keys, tenant, True)


def _in_use(hits: list[Hit] | None, now: float, real: float) -> bool:
    """Whether a window holds a request that has not left it yet."""
    if not hits:
        return False
    return _left(hits[-1], now, real) > 0


def _left(hit: Hit, now: float, real: float) -> float:
    """Seconds until the request `hit` leaves its window (0 or less: it has left): 60 s after
    it on the server clock or in real time, whichever comes first."""
    if not isinstance(hit, list):  # a request time alone, as an older version kept it
        return 0.0
    server_at, real_at = hit
    return min(server_at + WINDOW_SECONDS - now, real_at + WINDOW_SECONDS - real)


@lru_cache(maxsize=4096)  # read on every request: the key of a busy tenant, made once
def _window(api: str, tenant: str) -> str:
    return key(tenant, api, "rate")


@storable
@dataclass(frozen=True, slots=True)
class Stored:
    """The first successful answer to one (API key, Idempotency-Key); status 0 while the
    request that claimed the key is still running, which it does until `lapses_at` (Unix
    seconds of real time: the server clock may stand still) unless it renews the claim.
    `claimed_at` is the real time that request began: one with a later server time than
    another's is concurrent with it if it began after, or dates from before a clock set back
    if it began before."""

    fingerprint: str
    status: int
    body: bytes
    media_type: str
    stored_at: float
    lapses_at: float = 0.0
    claimed_at: float = 0.0

    state_tag: ClassVar[str] = "idempotent"

    def to_state(self) -> list[Any]:
        body = b64encode(self.body).decode("ascii")
        return [
            self.fingerprint,
            self.status,
            body,
            self.media_type,
            self.stored_at,
            self.lapses_at,
            self.claimed_at,
        ]

    @classmethod
    def from_state(cls, data: list[Any]) -> Stored:
        """Also a record of an older version, without `lapses_at` (its claim has lapsed) or
        `claimed_at` (it began before any request now running)."""
        fingerprint, status, body, media_type, stored_at, *real_times = data
        return cls(fingerprint, status, b64decode(body), media_type, stored_at, *real_times)


class Idempotency:
    """Replays the first 2xx answer per (API key, Idempotency-Key) for 24 h of server time.

    The same key with another request (method, path or body) is a 409 `idempotency_conflict`,
    at once. The same request while the first one is still running waits (without blocking the
    event loop) for its answer and replays it: a retrying client sent it again, and the docs
    promise one answer per key. Past `wait` real seconds, a 409 `conflict`. Errors are not
    stored, so a request waiting for one, or retrying after one, runs again.

    The record of a key is claimed with set-if-absent before the request runs: of two
    concurrent requests with one key, on any workers sharing the store, exactly one runs. The
    claim is a lease of `LEASE_SECONDS` of real time (`wall`), renewed every `renew_every`
    seconds while the request runs: a slow request keeps its key, and one whose worker was
    killed leaves it to a retry a minute later, whatever the server clock does. The answers
    are listed oldest first; each new one looks at the oldest few and forgets the expired.

    A record made at a server time after the request's `now` by a request that began before
    it in real time dates from before the clock was set back: it has not happened yet, so the
    request claims the key anew and its answer replaces the record. A later server time from a
    request that began after this one is only a running clock read a moment later: the same
    request, concurrent, replayed as ever.
    """

    def __init__(
        self,
        store: StateStore,
        api: str,
        wait: float = IN_FLIGHT_WAIT,
        wall: Callable[[], float] = time.time,
        renew_every: float = RENEW_SECONDS,
    ) -> None:
        self._store = store
        self._api = api
        self._wait = wait
        self._wall = wall
        self._renew_every = renew_every
        self._answers = key(None, api, "idempotent")  # [tenant, key, stored_at], oldest first

    async def run(
        self,
        tenant: str,
        idempotency_key: str,
        fingerprint: str,
        now: float,
        call: Callable[[], Awaitable[Response]],
    ) -> Response:
        if not 1 <= len(idempotency_key) <= IDEMPOTENCY_KEY_MAX:
            raise ApiError(400, f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} characters.")
        store, slot = self._store, self._slot(tenant, idempotency_key)
        began = self._wall()  # just after the caller read `now`
        deadline, pause = time.monotonic() + self._wait, FIRST_PAUSE
        while not store.add(slot, claim := self._claim(fingerprint, now, began)):
            held = store.get(slot)
            if held is None:
                continue  # the request that held it failed meanwhile: claim it again
            if self._gone(held, now, began):
                store.update(slot, _unless(held))
                continue
            if held.status or held.fingerprint != fingerprint:
                return _replay(held, fingerprint)
            if time.monotonic() >= deadline:
                raise ApiError(409, STILL_RUNNING)
            await asyncio.sleep(pause)  # the same request in flight: wait for its answer
            pause = min(2 * pause, LONGEST_PAUSE)
        lease = Lease(store, slot, claim, self._wall, self._renew_every)
        try:
            response = await call()
        except BaseException:
            store.update(slot, _unless(lease.end()))
            raise
        mine = lease.end()
        if not 200 <= response.status_code < 300:
            store.update(slot, _unless(mine))
            return response
        media_type = response.media_type or "application/json"
        answer = Stored(
            fingerprint,
            response.status_code,
            bytes(response.body),
            media_type,
            now,
            claimed_at=began,
        )
        # not over a claim another request took once this one's lapsed: that one answers
        store.update(slot, lambda found: answer if found in (None, mine) else found)
        store.push(self._answers, [tenant, idempotency_key, now])
        self._expire(now)
        return response

    def _claim(self, fingerprint: str, now: float, began: float) -> Stored:
        return Stored(fingerprint, 0, b"", "", now, self._wall() + LEASE_SECONDS, began)

    def _gone(self, held: Stored, now: float, began: float) -> bool:
        """Whether `held` may be forgotten: past its 24 h of server time, made after `now` by a
        request that began before this one (the clock was set back since), or a claim its
        request stopped renewing (its worker died)."""
        if now - held.stored_at >= IDEMPOTENCY_TTL:
            return True
        if held.stored_at > now and held.claimed_at < began:
            return True
        return not held.status and held.lapses_at <= self._wall()

    def _slot(self, tenant: str, idempotency_key: str) -> str:
        return key(tenant, self._api, "idempotent", idempotency_key)

    def _expire(self, now: float) -> None:
        """Forget the expired answers among the oldest few; one still fresh goes to the back of
        the line, to be looked at again later."""
        store = self._store
        for _ in range(LOOKS):
            oldest = store.pop(self._answers)
            if oldest is None:
                return
            tenant, idempotency_key, stored_at = oldest
            if now - stored_at < IDEMPOTENCY_TTL:
                store.push(self._answers, oldest)
                return
            self._forget(self._slot(tenant, idempotency_key), stored_at)

    def _forget(self, slot: str, stored_at: float) -> None:
        """Forget the answer at `slot` if it is still the one stored at `stored_at`."""
        self._store.update(
            slot, lambda found: None if found and found.stored_at == stored_at else found
        )


class Lease:
    """The claim a running request holds at `slot`, renewed every `every` seconds until
    `end`. On the event loop's timer, which stays real where a client's virtual time makes
    `asyncio.sleep` move the server clock (an in-process app under `virtual_time`)."""

    def __init__(
        self,
        store: StateStore,
        slot: str,
        claim: Stored,
        wall: Callable[[], float],
        every: float,
    ) -> None:
        self._store, self._slot, self._wall, self._every = store, slot, wall, every
        self._claim = claim
        self._loop = asyncio.get_running_loop()
        self._timer = self._loop.call_later(every, self._renew)

    def _renew(self) -> None:
        """Move the claim's lapse a lease on, if it is still this request's; a store away
        meanwhile fails this renewal, and the next one tries again."""
        mine = self._claim
        renewed = replace(mine, lapses_at=self._wall() + LEASE_SECONDS)
        with suppress(StoreError):
            kept = self._store.update(self._slot, lambda found: renewed if found == mine else found)
            if kept == renewed:
                self._claim = renewed
        self._timer = self._loop.call_later(self._every, self._renew)

    def end(self) -> Stored:
        """Stop renewing; the claim as it now stands in the store (if still there)."""
        self._timer.cancel()
        return self._claim


def _unless(held: Stored) -> Callable[[Stored | None], Stored | None]:
    """The change that forgets `held`, if it is still the record there."""
    return lambda found: None if found == held else found


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


def idempotency_key(scope: Scope) -> str:
    """The `Idempotency-Key` of a request that sends one (a pass over all its headers); a 400
    when it is sent more than once, as a repeated `X-Mock-Scenario` is: the first used and the
    others dropped would hide the client's bug, and replay an answer it may not expect."""
    try:
        return header_once(all_values(scope, IDEMPOTENCY_HEADER))
    except ScenarioError as error:
        raise ApiError(400, f"Idempotency-Key: {error}") from None
