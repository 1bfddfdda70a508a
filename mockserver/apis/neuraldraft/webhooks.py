"""Webhook endpoints and the dispatcher that delivers job events to them.

Job progress stays a pure function of time; only deliveries are actions. Each time the
dispatcher ticks it (1) turns jobs that have finished since the last tick into events, one
delivery per subscribed endpoint, dated at the job's finish time, and (2) attempts every
delivery that is due. A failed attempt is retried 30 s, 2 min, 10 min, 1 h and 6 h after the
previous one, all on the server clock.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from mockserver.admin_guard import targets_admin
from mockserver.apis.neuraldraft.models import event_for
from mockserver.engine.clock import isoformat
from mockserver.engine.ids import base62
from mockserver.engine.jobs import Job
from mockserver.state import MockState

log = logging.getLogger("mockserver.neuraldraft.webhooks")

RETRY_DELAYS = (30.0, 120.0, 600.0, 3600.0, 21_600.0)  # after attempts 1..5; 6 attempts in all
TIMEOUT_SECONDS = 5.0
SYSTEM_TICK_SECONDS = 1.0
SIGNATURE_HEADER = "X-Neural-Draft-Signature"
EVENT_HEADER = "X-Neural-Draft-Event"
DELIVERY_HEADER = "X-Neural-Draft-Delivery"

Renderer = Callable[[Job, float], dict[str, Any]]


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
    endpoint_id: str
    event: str
    body: bytes
    due: float
    order: int
    attempts: int = 0


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, as receivers verify it."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


@dataclass
class Webhooks:
    """The endpoints of every tenant and their pending deliveries."""

    state: MockState
    api: str
    render: Renderer
    _endpoints: dict[str, Endpoint] = field(default_factory=dict)
    _pending: list[Delivery] = field(default_factory=list)
    _emitted: set[str] = field(default_factory=set)  # jobs whose event exists already
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
            "whsec_" + base62(rng, 32),
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
            self._pending.clear()
            self._emitted.clear()

    def _drop(self, endpoint_id: str) -> None:
        self._pending = [d for d in self._pending if d.endpoint_id != endpoint_id]

    # --- dispatch ----------------------------------------------------------------------------

    def tick(self) -> None:
        """Create the events of newly finished jobs, then attempt every due delivery."""
        now = self.state.now()
        with self._lock:
            if not self._endpoints:
                return
            self._emit(now)
            due = sorted((d for d in self._pending if d.due <= now), key=lambda d: d.order)
            self._pending = [d for d in self._pending if d.due > now]  # claimed while in flight
        for delivery in due:
            self._attempt(delivery, now)

    def _emit(self, now: float) -> None:
        tenants = {endpoint.tenant for endpoint in self._endpoints.values()}
        for tenant in sorted(tenants):
            for job in self.state.store.jobs(self.api, tenant):
                if job.id in self._emitted or job.created_at > now:
                    continue
                finished = job.finished_at(now)
                outcome = job.snapshot(now).outcome
                if finished is None or outcome is None:
                    continue
                self._emitted.add(job.id)
                self._event(job, event_for(job, outcome), finished, now)

    def _event(self, job: Job, event: str, finished: float, now: float) -> None:
        """One event, delivered to each active endpoint subscribed to it that existed then."""
        targets = [
            e
            for e in self._endpoints.values()
            if e.tenant == job.tenant and e.is_active and event in e.events
            if e.created_at <= finished
        ]
        if not targets:
            return
        rng = self._rng(job.tenant)
        body = {
            "id": "evt_" + base62(rng, 12),
            "type": event,
            "created_at": isoformat(finished),
            "data": {"job": self.render(job, now)},
        }
        raw = json.dumps(body, separators=(",", ":")).encode()
        for endpoint in targets:
            self._order += 1
            delivery = Delivery("dlv_" + base62(rng, 12), endpoint.id, event, raw, now, self._order)
            self._pending.append(delivery)

    def _attempt(self, delivery: Delivery, now: float) -> None:
        with self._lock:
            endpoint = self._endpoints.get(delivery.endpoint_id)
            if endpoint is None or not endpoint.is_active:
                return
            url, secret = endpoint.url, endpoint.signing_secret
        delivery.attempts += 1
        succeeded = self._post(url, secret, delivery, int(now))
        with self._lock:
            endpoint.last_delivery_status = "succeeded" if succeeded else "failed"
            endpoint.last_delivery_at = now
            retry = not succeeded and delivery.attempts <= len(RETRY_DELAYS)
            if retry and self._endpoints.get(endpoint.id) is endpoint and endpoint.is_active:
                delivery.due = now + RETRY_DELAYS[delivery.attempts - 1]
                self._pending.append(delivery)

    def _post(self, url: str, secret: str, delivery: Delivery, timestamp: int) -> bool:
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(secret, timestamp, delivery.body),
            EVENT_HEADER: delivery.event,
            DELIVERY_HEADER: delivery.id,
        }
        if targets_admin(url):  # a tenant must not drive the mock's own admin API
            log.info("delivery %s to %s refused: the admin API is no webhook", delivery.id, url)
            return False
        try:
            answer = self._http().post(url, content=delivery.body, headers=headers)
        except httpx.HTTPError as exc:
            log.info("delivery %s to %s failed: %s", delivery.id, url, exc)
            return False
        log.info("delivery %s to %s -> %s", delivery.id, url, answer.status_code)
        return 200 <= answer.status_code < 300

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
