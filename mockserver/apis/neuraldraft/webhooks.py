"""Webhook endpoints, the dispatcher that delivers events to them, and the delivery log.

Job progress stays a pure function of time (of status reads, for a per-poll job); only
deliveries are actions. Each time the dispatcher ticks it (1) turns what jobs did since the
last tick into events (the service's `happened` callback says which, with their times and
where in its plan each job was then; `data_of` makes an event's data, as things stood then,
once it is new: for a per-poll job the position, not the time, says how many of its reads had
been made, as several may share one clock time), one delivery per subscribed endpoint, first
due when the event happened, and (2) attempts every delivery that is due, each endpoint's
earliest first, with the retries that fall due meanwhile. A job that has ended and made its
events is settled: ticks do not read it again. A job a request ends (a cancel, the status read
that ends a per-poll job) makes its events then (`ended`), not at the next tick: the store may
evict it before that tick. A failed attempt (no 2xx within 30 s) is retried 30 s, 2 min,
10 min, 1 h and 6 h after the previous one, all on the server clock (on a manual clock an
attempt is made at its due time, however far the clock jumped past it); the delivery is
`failed` from its first failed attempt on (with `next_retry_at` while a retry waits, as in the
docs' example). Every delivery stays listed (`GET /v1/webhook-deliveries`) and can be sent
again by hand (`POST /v1/webhook-deliveries/{id}/retry`).

When does it tick? Whenever the clock is moved by hand (`clock.advance`, `clock.set`, the
admin `POST /__mock__/clock/advance`): the deliveries are made before that call returns, so a
test can assert right after advancing; the clock's other listeners (open event streams) hear
of the move first (`Slow`). On the system clock a background thread, started with the first
endpoint, also ticks once a second of real time, and leaves the attempts it starts to go on.

Attempts are sent from one event loop per process, in a daemon thread (`_Sender`). Each
endpoint's deliveries go one at a time, in time order (its lane: a receiver gets its events in
the order they happened); different endpoints' side by side, at most `SENDING` attempts at once
and `SENDING_PER_KEY` of one key, so a receiver that hangs holds up its own endpoint only (and
a key's many slow receivers no more than that key's share). An attempt has `timeout` (30 s) in
all, from connecting to the last byte it reads, and reads the first `RESPONSE_BODY_LIMIT` bytes
of the answer, no more. `close` (at exit, or when the server stops) cuts the attempts under way
short: each is a failed attempt without a response, retried on its schedule, and a clock move
waiting for them returns. A reset cuts them short too, for it forgot their endpoints and
deliveries: nothing is recorded of them (their records are gone), and the clock move waiting
for them returns. A dispatcher tells a reset, made through any process sharing the store, by
its era: a mark in the store that a reset empties away, looked at on every tick (a reset tells
the clock's listeners, of every process, as a clock move does).

Everything lives in the state store: a tenant's endpoints and deliveries under its key, the
events made so far (each made once, set-if-absent), and server-wide the tenants with
endpoints and the deliveries waiting for an attempt. Every worker sharing a store ticks; an
attempt is claimed (set-if-absent, per delivery and attempt number) before it is sent, so each
is made by exactly one of them. A claim lapses `CLAIM_SECONDS` of real time after it was
taken: a worker killed in the middle of an attempt never records its end, and once its claim
has lapsed another worker (or the restarted one) makes that attempt instead.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import heapq
import hmac
import json
import logging
import secrets
import threading
import time
from base64 import b64decode, b64encode
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from random import Random
from typing import Any, ClassVar
from weakref import WeakValueDictionary

import httpx

from mockserver import contracts
from mockserver.admin_guard import targets_admin
from mockserver.apis.neuraldraft.posts import Fields
from mockserver.engine.clock import isoformat
from mockserver.engine.ids import base62
from mockserver.engine.jobs import Job
from mockserver.engine.signals import Slow
from mockserver.errors import ApiError, FieldError, invalid
from mockserver.state import MockState
from mockserver.stores import key
from mockserver.stores.codec import storable

log = logging.getLogger("mockserver.neuraldraft.webhooks")

RETRY_DELAYS = (30.0, 120.0, 600.0, 3600.0, 21_600.0)  # after attempts 1..5; 6 attempts in all
TIMEOUT_SECONDS = 30.0  # the docs: "responds 2xx within 30 seconds": an attempt's whole time
CLAIM_SECONDS = 2 * TIMEOUT_SECONDS  # real time an attempt may take before another may make it
SYSTEM_TICK_SECONDS = 1.0
SENDING = 16  # attempts under way at once, per server
SENDING_PER_KEY = 4  # of them, one key's: its slow receivers leave room to the other keys
CLOSE_SECONDS = 2.0  # how long `close` waits for the attempts it cut short to be recorded
MAX_LABEL = 63  # characters of one label of a host name (DNS's bound)
RESPONSE_BODY_LIMIT = 1024  # the docs: "First 1KB of the response body"
DELIVERIES_KEPT = 10_000  # the oldest finished deliveries are forgotten past this
FORGET_LOOKS = 8  # deliveries looked at per one added past that, at most
SIGNATURE_HEADER = "X-Neural-Draft-Signature"
EVENT_HEADER = "X-Neural-Draft-Event"
DELIVERY_HEADER = "X-Neural-Draft-Delivery"
SUCCESS, FAILED, PENDING = "success", "failed", "pending"
SECRET_LENGTH = 36  # base62 characters after `whsec_`, as in the docs' example
# endpoints per API key (the docs name no limit; each event is delivered to each of them)
MAX_ENDPOINTS = 50


@dataclass(frozen=True, slots=True)
class Event:
    """Something a client may subscribe to: `key` is unique per happening (never sent twice)."""

    key: str
    tenant: str
    topic: str
    at: float
    data: dict[str, Any]


# (tenant, endpoint ID): one endpoint's deliveries, attempted one at a time in time order
Lane = tuple[str, str]

# (topic, subject, at, position): an event a job triggered, no data yet; `position` is where
# in its plan the job was at `at` (a per-poll job's reads may share one clock time)
Happening = tuple[str, str, float, float]
Happened = Callable[[Job, float], list[Happening]]  # what a job has triggered by a given time
EventData = Callable[[Job, Happening], dict[str, Any]]  # its event's data, as of its position


@storable
@dataclass(frozen=True, slots=True)
class Endpoint(Fields):
    id: str
    tenant: str
    url: str
    events: list[str]
    is_active: bool
    signing_secret: str
    created_at: float
    last_delivery_status: str | None = None
    last_delivery_at: float | None = None

    state_tag: ClassVar[str] = "webhook_endpoint"

    def as_dict(self, with_secret: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "is_active": self.is_active,
        }
        if with_secret:
            body["signing_secret"] = self.signing_secret
        body["last_delivery_status"] = self.last_delivery_status
        body["last_delivery_at"] = (
            None if self.last_delivery_at is None else isoformat(self.last_delivery_at)
        )
        body["created_at"] = isoformat(self.created_at)
        return body


@storable
@dataclass(frozen=True, slots=True)
class Delivery(Fields):
    """One event for one endpoint; keeps its id across retries."""

    id: str
    tenant: str
    endpoint_id: str
    event: str
    body: bytes
    created_at: float
    due: float | None  # next attempt; None once it succeeded or gave up
    order: int
    attempts: int = 0
    status: str = PENDING
    response_status: int | None = None
    response_body: str | None = None
    delivered_at: float | None = None

    state_tag: ClassVar[str] = "webhook_delivery"

    def to_state(self) -> list[Any]:
        data = Fields.to_state(self)
        data[4] = b64encode(self.body).decode("ascii")
        return data

    @classmethod
    def from_state(cls, data: list[Any]) -> Delivery:
        values = list(data)
        values[4] = b64decode(values[4])  # the body
        return cls(*values)

    def as_dict(self, with_body: bool = True) -> dict[str, Any]:
        """As the docs show one delivery; a list leaves out `response_body`, as theirs does."""
        shown: dict[str, Any] = {
            "id": self.id,
            "endpoint_id": self.endpoint_id,
            "event": self.event,
            "status": self.status,
            "response_status": self.response_status,
            "attempts": self.attempts,
            "next_retry_at": None if self.due is None else isoformat(self.due),
            "delivered_at": None if self.delivered_at is None else isoformat(self.delivered_at),
            "created_at": isoformat(self.created_at),
        }
        if with_body:
            shown["response_body"] = self.response_body
        return shown


def _event_name(job: Job, happening: Happening) -> str:
    """The `Event.key` of what `job` triggered: one per job, topic and subject."""
    topic, subject, _, _ = happening
    return f"{job.id}:{topic}:{subject}"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, as receivers verify it."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def sendable(url: str) -> bool:
    """Whether a request can be sent to `url`, which the contract's pattern took: httpx reads
    its host (one that looks like an IPv4 address is one; an A-label, `xn--`, decodes) and each
    label of a name has 1 to 63 characters, as DNS has them (`a..b` and `.example` have an
    empty one, which the resolver refuses to encode)."""
    try:
        parsed = httpx.URL(url)
        if not parsed.host:  # decoding an A-label that is none raises idna's UnicodeError
            return False
    except (httpx.InvalidURL, UnicodeError):
        return False
    name = parsed.raw_host.decode("ascii").removesuffix(".")
    return all(0 < len(label) <= MAX_LABEL for label in name.split("."))


class _Sender:
    """The process's event loop for webhook attempts, in a daemon thread started on first use,
    and its HTTP client: every server of the process sends from there, and the interpreter's
    exit never waits for an attempt (`Webhooks.close` cuts its own short)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None

    @property
    def started(self) -> bool:
        return self._loop is not None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=self._loop.run_forever, name="webhook-attempts", daemon=True
                )
                thread.start()
            return self._loop

    @property
    def client(self) -> httpx.AsyncClient:
        """Used on the loop only. trust_env=False: a proxy from the environment must not
        swallow local receivers; no timeout of its own: each attempt has one for all of it."""
        if self._client is None:
            self._client = httpx.AsyncClient(trust_env=False, timeout=None)
        return self._client


_SENDER = _Sender()


async def _exchange(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """POST `body` to `url`: the answer's status and the first `RESPONSE_BODY_LIMIT` bytes of
    its body, read no further (a receiver may answer gigabytes). Asked unencoded, so that the
    bytes read are the body's own."""
    sent = {**headers, "Accept-Encoding": "identity"}
    async with _SENDER.client.stream("POST", url, content=body, headers=sent) as answer:
        start = b""
        async for chunk in answer.aiter_raw():
            start += chunk
            if len(start) >= RESPONSE_BODY_LIMIT:
                break
        return answer.status_code, start[:RESPONSE_BODY_LIMIT]


@dataclass
class Webhooks:
    """The endpoints of every tenant and their deliveries."""

    state: MockState
    api: str
    happened: Happened
    data_of: EventData
    wall: Callable[[], float] = time.time  # the real clock claims lapse on (not the server's)
    timeout: float = TIMEOUT_SECONDS  # an attempt's whole time, connecting to its answer read
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    # used on the sender's loop only: each lane's latest run, every run under way, the places
    # for attempts (the server's, each key's)
    _lanes: dict[Lane, asyncio.Task[None]] = field(default_factory=dict, init=False)
    _runs: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    _places: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(SENDING), init=False
    )
    _key_places: WeakValueDictionary[str, asyncio.Semaphore] = field(
        default_factory=WeakValueDictionary, init=False
    )

    def __post_init__(self) -> None:
        self.backend = self.state.backend
        self.state.clock.on_change(Slow(self._safe_tick))
        # server-wide: the tenants that ever had an endpoint, the deliveries waiting for an
        # attempt and all deliveries, oldest first ([tenant, id]), their creation counter
        self._tenants = key(None, self.api, "webhook-tenants")
        self._pending = key(None, self.api, "deliveries-pending")
        self._all = key(None, self.api, "deliveries")
        self._created = key(None, self.api, "deliveries-made")
        self._era_key = key(None, self.api, "webhooks-era")  # a reset empties it away
        self._era = self._current_era()
        if self.backend.shared and self.backend.entries(self._tenants):
            self._start_thread()  # a restarted worker goes on delivering

    # --- where things are kept -----------------------------------------------------------------

    def _endpoint_key(self, tenant: str, endpoint_id: str) -> str:
        return key(tenant, self.api, "webhook", endpoint_id)

    def _delivery_key(self, tenant: str, delivery_id: str) -> str:
        return key(tenant, self.api, "delivery", delivery_id)

    def _attempt_key(self, tenant: str, delivery_id: str, number: int) -> str:
        """Set by the worker making attempt `number` of a delivery, before it sends it."""
        return key(tenant, self.api, "delivery", delivery_id, "attempt", str(number))

    # --- endpoints ---------------------------------------------------------------------------

    def create(self, tenant: str, url: str, events: list[str], is_active: bool) -> Endpoint:
        self._check(url)
        rng = self._rng(tenant)
        endpoint = Endpoint(
            "whe_" + base62(rng, 12),
            tenant,
            url,
            list(dict.fromkeys(events)),
            is_active,
            "whsec_" + base62(rng, SECRET_LENGTH),
            self.state.now(),
        )
        listed = key(tenant, self.api, "webhooks")
        if self.backend.push(listed, endpoint.id) > MAX_ENDPOINTS:  # counted as it is taken
            self.backend.remove(listed, endpoint.id)
            raise ApiError(
                400, f"A key has at most {MAX_ENDPOINTS} webhook endpoints; delete one first."
            )
        self.backend.set(self._endpoint_key(tenant, endpoint.id), endpoint)
        self.backend.put(self._tenants, tenant, True)
        self._start_thread()
        return endpoint

    def _check(self, url: str) -> None:
        """A URL the contract's pattern took but no request can be sent to (`sendable`) is
        refused as the pattern refuses one: a 422 on `url`, in the contract's words."""
        if not sendable(url):
            schema = contracts.load(self.api).document["components"]["schemas"]["WebhookUrl"]
            message = " ".join(schema["x-error-message"].split())
            raise invalid(FieldError(("body", "url"), message, "value_error", url))

    def endpoints(self, tenant: str) -> list[Endpoint]:
        ids = self.backend.items(key(tenant, self.api, "webhooks"))
        found = self.backend.get_many([self._endpoint_key(tenant, i) for i in ids])
        return [endpoint for endpoint in found if endpoint is not None]

    def get(self, tenant: str, endpoint_id: str) -> Endpoint | None:
        return self.backend.get(self._endpoint_key(tenant, endpoint_id))

    def update(self, endpoint: Endpoint, changes: dict[str, Any]) -> Endpoint | None:
        """The endpoint changed; None if it was deleted meanwhile."""
        if "url" in changes:
            self._check(changes["url"])
        wanted: dict[str, Any] = {
            name: changes[name] for name in ("url", "is_active") if name in changes
        }
        if "events" in changes:
            wanted["events"] = list(dict.fromkeys(changes["events"]))
        changed = self.backend.update(
            self._endpoint_key(endpoint.tenant, endpoint.id),
            lambda held: None if held is None else replace(held, **wanted),
        )
        if changed is not None and not changed.is_active:  # paused: no pending retries
            self._drop(endpoint)
        return changed

    def delete(self, endpoint: Endpoint) -> None:
        self.backend.delete(self._endpoint_key(endpoint.tenant, endpoint.id))
        self.backend.remove(key(endpoint.tenant, self.api, "webhooks"), endpoint.id)
        self._drop(endpoint)

    def forget(self, tenant: str) -> None:
        """Every endpoint of `tenant` deleted (its pending deliveries given up), and the tenant
        no longer followed: a clock move reads none of its jobs again."""
        for endpoint in self.endpoints(tenant):
            self.delete(endpoint)
        self.backend.discard(self._tenants, tenant)

    def _drop(self, endpoint: Endpoint) -> None:
        """A paused or deleted endpoint gets no more attempts; its log stays."""

        def given_up(held: Delivery | None) -> Delivery | None:
            if held is None or held.due is None:
                return held
            return replace(held, due=None, status=FAILED)

        for delivery in self._waiting():
            if delivery.tenant == endpoint.tenant and delivery.endpoint_id == endpoint.id:
                self.backend.update(self._delivery_key(delivery.tenant, delivery.id), given_up)

    # --- the delivery log --------------------------------------------------------------------

    def deliveries(self, tenant: str) -> list[Delivery]:
        """The tenant's deliveries, newest first."""
        ids = self.backend.items(key(tenant, self.api, "deliveries"))
        found = self.backend.get_many([self._delivery_key(tenant, i) for i in reversed(ids)])
        return [delivery for delivery in found if delivery is not None]

    def delivery(self, tenant: str, delivery_id: str) -> Delivery | None:
        return self.backend.get(self._delivery_key(tenant, delivery_id))

    def retry(self, delivery: Delivery) -> Delivery | None:
        """Queue one more attempt now (sent at the next tick): the delivery as it is then; None
        if its endpoint is gone or paused."""
        endpoint = self.get(delivery.tenant, delivery.endpoint_id)
        if endpoint is None or not endpoint.is_active:
            return None
        now = self.state.now()
        retried = self.backend.update(
            self._delivery_key(delivery.tenant, delivery.id),
            lambda held: None if held is None else replace(held, due=now, status=PENDING),
        )
        if retried is not None:
            self.backend.push(self._pending, [delivery.tenant, delivery.id])
        return retried

    # --- dispatch ----------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """One event, delivered to each active endpoint subscribed to it that existed then;
        made once, whichever worker sees it first."""
        store = self.backend
        if not store.add(self._mark_key(event.tenant, event.key), True):
            return
        targets = [
            e
            for e in self.endpoints(event.tenant)
            if e.is_active and event.topic in e.events and e.created_at <= event.at
        ]
        if not targets:
            return
        rng = self._rng(event.tenant)
        body = {
            "id": "evt_" + base62(rng, 12),
            "type": event.topic,
            "created_at": isoformat(event.at),
            "data": event.data,
        }
        raw = json.dumps(body, separators=(",", ":")).encode()
        for endpoint in targets:
            delivery = Delivery(  # made, and first due, when the event happened
                "whd_" + base62(rng, 12),
                event.tenant,
                endpoint.id,
                event.topic,
                raw,
                event.at,
                event.at,
                store.incr(self._created),
            )
            store.set(self._delivery_key(event.tenant, delivery.id), delivery)
            store.push(key(event.tenant, self.api, "deliveries"), delivery.id)
            store.push(self._pending, [event.tenant, delivery.id])
            if store.push(self._all, [event.tenant, delivery.id]) > DELIVERIES_KEPT:
                self._forget_old()

    def _settled_key(self, tenant: str) -> str:
        """The tenant's settled jobs: job ID -> the keys of its events' marks."""
        return key(tenant, self.api, "settled-jobs")

    def _mark_key(self, tenant: str, event_key: str) -> str:
        """Where it is noted that the event `event_key` was made (it is made once)."""
        return key(tenant, self.api, "event", event_key)

    def tick(self, wait: bool = True) -> None:
        """Create the events of what jobs did since the last tick, then attempt every due
        delivery; `wait`: return once those attempts are made (a clock moved by hand). After
        a reset, first cut short the attempts it left under way."""
        if self._reset_since():
            self._cut_short()
        now = self.state.now()
        tenants = self.backend.entries(self._tenants)
        if not tenants:
            return
        for tenant in sorted(tenants):
            self._emit_jobs(tenant, now)
        self._attempt_due(now, wait)

    def _attempt_due(self, now: float, wait: bool) -> None:
        """Every attempt due by `now`, each endpoint's in its lane (see `_run`), the lanes side
        by side on the sender's loop."""
        lanes: dict[Lane, list[Delivery]] = {}
        for delivery in self._waiting():
            if delivery.due is not None and delivery.due <= now:
                lanes.setdefault((delivery.tenant, delivery.endpoint_id), []).append(delivery)
        if not lanes or self._stop.is_set():
            return
        started = asyncio.run_coroutine_threadsafe(self._start(lanes, now, wait), _SENDER.loop)
        if wait:
            started.result()

    async def _start(self, lanes: dict[Lane, list[Delivery]], now: float, wait: bool) -> None:
        """A run of each lane. A lane still at its last run is left to a later tick (on the
        system clock's, the next second's), unless `wait`: then the new run follows it, and
        this returns once the runs started here are over."""
        runs = []
        for lane, deliveries in lanes.items():
            previous = self._lanes.get(lane)
            if self._stop.is_set() or (previous is not None and not wait):
                continue
            run = asyncio.create_task(self._run(previous, deliveries, now))
            self._lanes[lane] = run
            self._runs.add(run)
            run.add_done_callback(partial(self._ended, lane))
            runs.append(run)
        if wait and runs:
            await asyncio.wait(runs)

    def _ended(self, lane: Lane, run: asyncio.Task[None]) -> None:
        self._runs.discard(run)
        if self._lanes.get(lane) is run:
            del self._lanes[lane]

    async def _run(
        self, previous: asyncio.Task[None] | None, deliveries: list[Delivery], now: float
    ) -> None:
        """One endpoint's attempts due by `now`, earliest first, once its previous run is over:
        a retry that falls due before `now` (a clock moved by hours at once) is made in the
        same run, after those due before it, so one move makes every attempt its time span
        holds. An attempt that breaks off (a fault of the mock's, not the receiver's) is
        logged and leaves its delivery to a later tick; the others go on."""
        if previous is not None:
            await asyncio.wait([previous])
        # as they are now: the previous run may have made some of their attempts
        found = self.backend.get_many([self._delivery_key(d.tenant, d.id) for d in deliveries])
        due = [
            (d.due, d.order, d)
            for d in found
            if d is not None and d.due is not None and d.due <= now
        ]
        heapq.heapify(due)
        tenant = deliveries[0].tenant
        key_places = self._key_places.setdefault(tenant, asyncio.Semaphore(SENDING_PER_KEY))
        while due and not self._stop.is_set():
            at, _, delivery = heapq.heappop(due)
            try:
                async with key_places, self._places:
                    after = await self._attempt(delivery, self._sent_at(at))
            except Exception:
                log.exception("webhook delivery %s: its attempt broke off", delivery.id)
                continue
            if after is not None and after.due is not None and after.due <= now:
                heapq.heappush(due, (after.due, after.order, after))

    def _sent_at(self, due: float) -> float:
        """When an attempt due at `due` is made: on a manual clock at that very time, however
        far past it the clock was moved (time stood still while it waited, so its retries
        keep the documented spacing); on a running clock now, as it is really sent now."""
        return due if self.state.clock.manual else self.state.now()

    def _emit_jobs(self, tenant: str, now: float) -> None:
        """The events the tenant's jobs made by `now` that were not made yet, each one's data
        made only then. A job that has ended triggers nothing more once its events are made:
        it is settled, and later ticks do not read it again (a tick costs what the running
        jobs cost, not what every job kept costs). Once the store has forgotten a settled
        job, its settled mark and the marks of its events go too."""
        settled_key = self._settled_key(tenant)
        settled = self.backend.entries(settled_key)
        jobs = self.state.store.jobs(self.api, tenant, skipping=settled)
        self._make_events(tenant, list(jobs), now)
        if len(settled) > self.state.store.capacity:  # some of these jobs are gone from the store
            for job_id in settled.keys() - set(self.state.store.ids(tenant)):
                self.backend.delete(*settled[job_id])
                self.backend.discard(settled_key, job_id)

    def ended(self, job: Job, now: float) -> None:
        """`job` has just ended by a request (a cancel, the status read that ends a per-poll
        job): the events it triggered by `now` are made at once, not at the next tick, as the
        store may evict it before then (only a clock move ticks on a manual clock). Nothing
        for a key without endpoints: ticks do not follow it."""
        if self.backend.fetch(self._tenants, job.tenant) is not None:
            self._make_events(job.tenant, [job], now)

    def _make_events(self, tenant: str, jobs: list[Job], now: float) -> None:
        """The events `jobs` (the tenant's) triggered by `now` that were not made yet; each
        job that has ended is marked settled, with the marks of its events."""
        settled_key = self._settled_key(tenant)
        found = [(job, happening) for job in jobs for happening in self.happened(job, now)]
        names = [_event_name(job, happening) for job, happening in found]
        keys = [self._mark_key(tenant, name) for name in names]
        marks: dict[str, list[str]] = {job.id: [] for job in jobs}
        made = self.backend.get_many(keys)
        for (job, happening), name, mark, was_made in zip(found, names, keys, made, strict=True):
            marks[job.id].append(mark)
            if was_made is None:
                topic, _, at, _ = happening
                self.emit(Event(name, tenant, topic, at, self.data_of(job, happening)))
        for job in jobs:
            if job.snapshot(now).terminal:
                self.backend.put(settled_key, job.id, marks[job.id])

    def _waiting(self) -> list[Delivery]:
        """The deliveries waiting for an attempt, once each; those that no longer wait leave
        the list."""
        store, entries = self.backend, self.backend.items(self._pending)
        found = store.get_many([self._delivery_key(tenant, i) for tenant, i in entries])
        waiting: dict[str, Delivery] = {}
        for entry, delivery in zip(entries, found, strict=True):
            if delivery is None or delivery.due is None:
                store.remove(self._pending, entry)
            else:
                waiting[delivery.id] = delivery
        return list(waiting.values())

    def _forget_old(self) -> None:
        """Forget the oldest finished deliveries past `DELIVERIES_KEPT`; a waiting one goes to
        the back of the line."""
        store = self.backend
        for _ in range(FORGET_LOOKS):
            if store.length(self._all) <= DELIVERIES_KEPT:
                return
            entry = store.pop(self._all)
            if entry is None:
                return
            tenant, delivery_id = entry
            delivery = self.delivery(tenant, delivery_id)
            if delivery is not None and delivery.due is not None:
                store.push(self._all, entry)
                continue
            attempts = range(1, (delivery.attempts if delivery is not None else 0) + 2)
            store.delete(
                self._delivery_key(tenant, delivery_id),
                *(self._attempt_key(tenant, delivery_id, number) for number in attempts),
            )
            store.remove(key(tenant, self.api, "deliveries"), delivery_id)

    async def _attempt(self, delivery: Delivery, at: float) -> Delivery | None:
        """Attempt `delivery` once at server time `at`, unless another worker (or thread)
        claimed this attempt: the delivery after it, or None if this made none (that worker
        goes on with its retries)."""
        number = delivery.attempts + 1
        claim = self._attempt_key(delivery.tenant, delivery.id, number)
        if not self._claim(claim, at):
            return None
        slot = self._delivery_key(delivery.tenant, delivery.id)
        endpoint = self.get(delivery.tenant, delivery.endpoint_id)
        if endpoint is None or not endpoint.is_active:  # nothing sent: a retry may send it
            self.backend.update(
                slot, lambda held: None if held is None else replace(held, due=None, status=FAILED)
            )
            self.backend.delete(claim)
            return None
        # signed with the real time of sending: receivers check `t` against their own clock
        # (the docs' verifier refuses one 300 s off), which the server clock may be far from
        sent = int(time.time())
        try:
            answer = await self._post(endpoint.url, endpoint.signing_secret, delivery, sent)
        except asyncio.CancelledError:  # cut short by `close` or a reset: no answer came
            log.info("delivery %s to %s cut short", delivery.id, endpoint.url)
            self._record(delivery, endpoint, number, at, (None, None))
            raise
        return self._record(delivery, endpoint, number, at, answer)

    def _record(
        self,
        delivery: Delivery,
        endpoint: Endpoint,
        number: int,
        at: float,
        answer: tuple[int | None, str | None],
    ) -> Delivery | None:
        """Attempt `number` of `delivery`, made at `at` and answered `answer` (the status and
        the start of the body), noted on its endpoint and on it, with its next attempt's due
        time if it failed: the delivery after it."""
        status, text = answer
        slot = self._delivery_key(delivery.tenant, delivery.id)
        succeeded = status is not None and 200 <= status < 300
        outcome = SUCCESS if succeeded else FAILED
        noted = self.backend.update(
            self._endpoint_key(endpoint.tenant, endpoint.id),
            lambda held: (
                None
                if held is None
                else replace(held, last_delivery_status=outcome, last_delivery_at=at)
            ),
        )
        retry = number <= len(RETRY_DELAYS) and noted is not None and noted.is_active

        def attempted(held: Delivery | None) -> Delivery | None:
            if held is None:  # forgotten meanwhile
                return None
            done = replace(held, attempts=number, response_status=status, response_body=text)
            if succeeded:
                return replace(done, status=SUCCESS, delivered_at=at, due=None)
            # failed from its first failed attempt on, a retry waiting or not (the docs'
            # example: `"status": "failed", "attempts": 4, "next_retry_at": "…"`)
            due = at + RETRY_DELAYS[number - 1] if retry else None
            return replace(done, status=FAILED, due=due)

        return self.backend.update(slot, attempted)

    def _claim(self, claim: str, now: float) -> bool:
        """Take the attempt `claim` names: when no one has it, or when its claim has lapsed
        (the worker that took it was killed before the attempt ended)."""
        mine = [now, self.wall() + CLAIM_SECONDS]  # server time, then when it lapses
        if self.backend.add(claim, mine):
            return True
        taken = False

        def take_over(held: Any) -> Any:
            nonlocal taken  # the run that is kept is the last one: this is its answer
            lapsed = isinstance(held, list) and held[1] < self.wall()
            taken = held is None or lapsed
            return mine if taken else held

        self.backend.update(claim, take_over)
        return taken

    async def _post(
        self, url: str, secret: str, delivery: Delivery, timestamp: int
    ) -> tuple[int | None, str | None]:
        """The receiver's status and the start of its answer; (None, None) if none came
        within `timeout` (all of it: connecting, sending, the answer's head and start) or the
        attempt broke off."""
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(secret, timestamp, delivery.body),
            EVENT_HEADER: delivery.event,
            DELIVERY_HEADER: delivery.id,
        }
        if targets_admin(url):  # a tenant must not drive the mock's own admin API
            log.info("delivery %s to %s refused: the admin API is no webhook", delivery.id, url)
            return None, None
        try:
            async with asyncio.timeout(self.timeout):
                status, start = await _exchange(url, delivery.body, headers)
        except TimeoutError:
            log.info("delivery %s to %s failed: no answer in %g s", delivery.id, url, self.timeout)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            log.info("delivery %s to %s failed: %s", delivery.id, url, exc)
        except Exception:  # this attempt's own fault (a host no resolver takes): it failed
            log.exception("delivery %s to %s broke off", delivery.id, url)
        else:
            log.info("delivery %s to %s -> %s", delivery.id, url, status)
            return status, start.decode("utf-8", "replace")
        return None, None

    def _current_era(self) -> str:
        """The era of the store's contents, marked now if it has none: the first dispatcher
        to look after a reset (of any process) marks the next."""
        self.backend.add(self._era_key, secrets.token_hex(8))
        return str(self.backend.get(self._era_key))

    def _reset_since(self) -> bool:
        """Whether the store was reset since this dispatcher last looked: its era is another."""
        if self.backend.get(self._era_key) == self._era:
            return False
        self._era = self._current_era()
        return True

    def _rng(self, tenant: str) -> Random:
        return self.state.ids.rng(f"{self.api}:webhooks", tenant)

    # --- system clock ------------------------------------------------------------------------

    def _start_thread(self) -> None:
        """Real time moves deliveries along too, once the first endpoint exists."""
        if self.state.clock.manual or self._thread is not None:
            return
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._tick_each_second, name=f"{self.api}-webhooks", daemon=True
            )
            self._thread.start()
        atexit.register(self.close)

    def _safe_tick(self, wait: bool = True) -> None:
        """A broken tick must neither kill the dispatcher nor fail the clock move."""
        try:
            self.tick(wait)
        except Exception:
            log.exception("webhook dispatcher tick failed")

    def _tick_each_second(self) -> None:
        while not self._stop.wait(SYSTEM_TICK_SECONDS):
            self._safe_tick(wait=False)

    def close(self) -> None:
        """Stop delivering, promptly: the background thread ends, and the attempts under way
        are cut short (each a failed attempt without a response), so that a clock move
        waiting for them returns."""
        self._stop.set()
        self._cut_short()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=CLOSE_SECONDS)

    def _cut_short(self) -> None:
        """Cut short the attempts under way (each recorded as failed without a response,
        where its delivery is still kept), and wait for that, `CLOSE_SECONDS` at most."""
        if _SENDER.started:
            cut = asyncio.run_coroutine_threadsafe(self._cut(), _SENDER.loop)
            with contextlib.suppress(TimeoutError):  # recording them hangs: the store is down
                cut.result(timeout=CLOSE_SECONDS)

    async def _cut(self) -> None:
        runs = list(self._runs)
        for run in runs:
            run.cancel()
        if runs:
            await asyncio.wait(runs)
