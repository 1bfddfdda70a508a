"""Webhook endpoints, the dispatcher that delivers events to them, and the delivery log.

Job progress stays a pure function of time; only deliveries are actions. Each time the
dispatcher ticks it (1) turns what jobs did since the last tick into events (the service's
`events` callback says which, with their times), one delivery per subscribed endpoint, and
(2) attempts every delivery that is due. A failed attempt (no 2xx within 30 s) is retried
30 s, 2 min, 10 min, 1 h and 6 h after the previous one, all on the server clock; then the
delivery is `failed`. Every delivery stays listed (`GET /v1/webhook-deliveries`) and can be
sent again by hand (`POST /v1/webhook-deliveries/{id}/retry`).

When does it tick? Whenever the clock is moved by hand (`clock.advance`, `clock.set`, the
admin `POST /__mock__/clock/advance`): the deliveries are made before that call returns, so a
test can assert right after advancing. On the system clock a background thread, started with
the first endpoint, also ticks once a second of real time.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from mockserver.admin_guard import targets_admin
from mockserver.engine.clock import isoformat
from mockserver.engine.ids import base62
from mockserver.engine.jobs import Job
from mockserver.state import MockState

log = logging.getLogger("mockserver.neuraldraft.webhooks")

RETRY_DELAYS = (30.0, 120.0, 600.0, 3600.0, 21_600.0)  # after attempts 1..5; 6 attempts in all
TIMEOUT_SECONDS = 30.0  # the docs: "responds 2xx within 30 seconds"
SYSTEM_TICK_SECONDS = 1.0
RESPONSE_BODY_LIMIT = 1024  # the docs: "First 1KB of the response body"
DELIVERIES_KEPT = 10_000  # the oldest finished deliveries are forgotten past this
SIGNATURE_HEADER = "X-Neural-Draft-Signature"
EVENT_HEADER = "X-Neural-Draft-Event"
DELIVERY_HEADER = "X-Neural-Draft-Delivery"
SUCCESS, FAILED, PENDING = "success", "failed", "pending"
SECRET_LENGTH = 34  # base62 characters after `whsec_`, as in the docs' example


@dataclass(frozen=True, slots=True)
class Event:
    """Something a client may subscribe to: `key` is unique per happening (never sent twice)."""

    key: str
    tenant: str
    topic: str
    at: float
    data: dict[str, Any]


Events = Callable[[Job, float], list[Event]]  # what a job has triggered by a given time


@dataclass(slots=True)
class Endpoint:
    id: str
    tenant: str
    url: str
    events: list[str]
    is_active: bool
    signing_secret: str
    created_at: float
    last_delivery_status: str | None = None
    last_delivery_at: float | None = None

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


@dataclass(slots=True)
class Delivery:
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


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, as receivers verify it."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


@dataclass
class Webhooks:
    """The endpoints of every tenant and their deliveries."""

    state: MockState
    api: str
    events: Events
    _endpoints: dict[str, Endpoint] = field(default_factory=dict)
    _deliveries: OrderedDict[str, Delivery] = field(default_factory=OrderedDict)
    _emitted: set[str] = field(default_factory=set)  # keys of the events that exist already
    _order: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _client: httpx.Client | None = None
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.state.clock.on_change(self._safe_tick)

    # --- endpoints ---------------------------------------------------------------------------

    def create(self, tenant: str, url: str, events: list[str], is_active: bool) -> Endpoint:
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
        with self._lock:
            self._endpoints[endpoint.id] = endpoint
        self._start_thread()
        return endpoint

    def endpoints(self, tenant: str) -> list[Endpoint]:
        with self._lock:
            return [e for e in self._endpoints.values() if e.tenant == tenant]

    def get(self, tenant: str, endpoint_id: str) -> Endpoint | None:
        with self._lock:
            found = self._endpoints.get(endpoint_id)
        return found if found is not None and found.tenant == tenant else None

    def update(self, endpoint: Endpoint, changes: dict[str, Any]) -> Endpoint:
        with self._lock:
            if "url" in changes:
                endpoint.url = changes["url"]
            if "events" in changes:
                endpoint.events = list(dict.fromkeys(changes["events"]))
            if "is_active" in changes:
                endpoint.is_active = changes["is_active"]
            if not endpoint.is_active:  # a paused endpoint drops its pending retries
                self._drop(endpoint.id)
        return endpoint

    def delete(self, endpoint: Endpoint) -> None:
        with self._lock:
            self._endpoints.pop(endpoint.id, None)
            self._drop(endpoint.id)

    def clear(self) -> None:
        with self._lock:
            self._endpoints.clear()
            self._deliveries.clear()
            self._emitted.clear()

    def _drop(self, endpoint_id: str) -> None:
        """A paused or deleted endpoint gets no more attempts; its log stays."""
        for delivery in self._deliveries.values():
            if delivery.endpoint_id == endpoint_id and delivery.due is not None:
                delivery.due, delivery.status = None, FAILED

    # --- the delivery log --------------------------------------------------------------------

    def deliveries(self, tenant: str) -> list[Delivery]:
        """The tenant's deliveries, newest first."""
        with self._lock:
            return [d for d in reversed(self._deliveries.values()) if d.tenant == tenant]

    def delivery(self, tenant: str, delivery_id: str) -> Delivery | None:
        with self._lock:
            found = self._deliveries.get(delivery_id)
        return found if found is not None and found.tenant == tenant else None

    def retry(self, delivery: Delivery) -> bool:
        """Queue one more attempt now (sent at the next tick); False if its endpoint is gone
        or paused."""
        with self._lock:
            endpoint = self._endpoints.get(delivery.endpoint_id)
            if endpoint is None or not endpoint.is_active:
                return False
            delivery.due, delivery.status = self.state.now(), PENDING
        return True

    # --- dispatch ----------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """One event, delivered to each active endpoint subscribed to it that existed then."""
        with self._lock:
            if event.key in self._emitted:
                return
            self._emitted.add(event.key)
            targets = [
                e
                for e in self._endpoints.values()
                if e.tenant == event.tenant and e.is_active and event.topic in e.events
                if e.created_at <= event.at
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
            now = self.state.now()
            for endpoint in targets:
                self._order += 1
                delivery = Delivery(
                    "whd_" + base62(rng, 12),
                    event.tenant,
                    endpoint.id,
                    event.topic,
                    raw,
                    now,
                    now,
                    self._order,
                )
                self._deliveries[delivery.id] = delivery
            self._forget_old()

    def tick(self) -> None:
        """Create the events of what jobs did since the last tick, then attempt every due
        delivery."""
        now = self.state.now()
        with self._lock:
            if not self._endpoints:
                return
            self._emit_jobs(now)
            due = sorted(
                (d for d in self._deliveries.values() if d.due is not None and d.due <= now),
                key=lambda d: d.order,
            )
            for delivery in due:
                delivery.due = None  # claimed while in flight
        for delivery in due:
            self._attempt(delivery, now)

    def _emit_jobs(self, now: float) -> None:
        tenants = {endpoint.tenant for endpoint in self._endpoints.values()}
        for tenant in sorted(tenants):
            for job in self.state.store.jobs(self.api, tenant):
                for event in self.events(job, now):
                    self.emit(event)

    def _forget_old(self) -> None:
        finished = [d.id for d in self._deliveries.values() if d.due is None]
        for delivery_id in finished[: max(0, len(self._deliveries) - DELIVERIES_KEPT)]:
            del self._deliveries[delivery_id]

    def _attempt(self, delivery: Delivery, now: float) -> None:
        with self._lock:
            endpoint = self._endpoints.get(delivery.endpoint_id)
            if endpoint is None or not endpoint.is_active:
                delivery.status = FAILED
                return
            url, secret = endpoint.url, endpoint.signing_secret
            delivery.attempts += 1
        status, text = self._post(url, secret, delivery, int(now))
        succeeded = status is not None and 200 <= status < 300
        with self._lock:
            delivery.response_status, delivery.response_body = status, text
            endpoint.last_delivery_status = SUCCESS if succeeded else FAILED
            endpoint.last_delivery_at = now
            if succeeded:
                delivery.status, delivery.delivered_at = SUCCESS, now
                return
            retry = delivery.attempts <= len(RETRY_DELAYS)
            if retry and self._endpoints.get(endpoint.id) is endpoint and endpoint.is_active:
                delivery.due = now + RETRY_DELAYS[delivery.attempts - 1]
                delivery.status = PENDING
            else:
                delivery.status = FAILED

    def _post(
        self, url: str, secret: str, delivery: Delivery, timestamp: int
    ) -> tuple[int | None, str | None]:
        """The receiver's status and the start of its answer; (None, None) if none came."""
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
            answer = self._http().post(url, content=delivery.body, headers=headers)
        except httpx.HTTPError as exc:
            log.info("delivery %s to %s failed: %s", delivery.id, url, exc)
            return None, None
        log.info("delivery %s to %s -> %s", delivery.id, url, answer.status_code)
        return answer.status_code, answer.content[:RESPONSE_BODY_LIMIT].decode("utf-8", "replace")

    def _http(self) -> httpx.Client:
        if self._client is None:
            # trust_env=False: a proxy from the environment must not swallow local receivers
            self._client = httpx.Client(timeout=TIMEOUT_SECONDS, trust_env=False)
        return self._client

    def _rng(self, tenant: str):
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
                target=self._run, name=f"{self.api}-webhooks", daemon=True
            )
            self._thread.start()
        atexit.register(self.close)

    def _safe_tick(self) -> None:
        """A broken tick must neither kill the dispatcher nor fail the clock move."""
        try:
            self.tick()
        except Exception:
            log.exception("webhook dispatcher tick failed")

    def _run(self) -> None:
        while not self._stop.wait(SYSTEM_TICK_SECONDS):
            self._safe_tick()

    def close(self) -> None:
        """Stop the background thread and the HTTP client."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=TIMEOUT_SECONDS + 1)
        if self._client is not None:
            self._client.close()
            self._client = None
