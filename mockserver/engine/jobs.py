"""Jobs and the store that keeps them, keyed by API, tenant (the API key) and ID."""

from __future__ import annotations

import contextlib
import math
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from mockserver.engine.plan import EPSILON, Outcome, Plan, Snapshot

EVICTION_LOOKS = 8  # jobs eviction may look at per job added, at most
# the jobs added by the request being handled: removed again if it fails
_added: ContextVar[list[str] | None] = ContextVar("added", default=None)


@dataclass(slots=True, eq=False)
class Job:
    """One unit of asynchronous work. Its status is derived from `plan` and the clock."""

    api: str
    tenant: str
    id: str
    kind: str  # the API's object type or job type
    created_at: float
    plan: Plan
    data: dict[str, Any] = field(default_factory=dict)
    scenario: str = ""
    poll_times: list[float] = field(default_factory=list)  # per-poll plans only

    def position(self, now: float) -> float:
        if self.plan.per_poll:
            return float(len(self.poll_times))
        return max(0.0, now - self.created_at)

    def time_of(self, position: float) -> float:
        """Clock time at which the job reached `position` of its plan."""
        if self.plan.per_poll:
            index = int(position) - 1
            return self.poll_times[index] if index >= 0 else self.created_at
        return self.created_at + position

    def snapshot(self, now: float) -> Snapshot:
        return self.plan.at(self.position(now))

    def finished_at(self, now: float, snap: Snapshot | None = None) -> float | None:
        """When the job reached its outcome, or None while it is still running (`snap`: the
        snapshot at `now`, when the caller has it already)."""
        snap = snap or self.snapshot(now)
        return self.time_of(snap.phase_started) if snap.terminal else None

    def changes_at(self, now: float) -> float | None:
        """The clock time before which the job's snapshot stays as it is at `now` (inf: until
        something is done to it); None for a per-poll plan, which moves on every read."""
        if self.plan.per_poll:
            return None
        if now < self.created_at:
            return self.created_at
        snap = self.snapshot(now)
        phases = self.plan.phases
        if snap.terminal or (self.plan.outcome is None and snap.phase == len(phases) - 1):
            return math.inf
        end = snap.phase_started + phases[snap.phase].duration
        # `Plan.at` leaves a phase EPSILON early; a millisecond more absorbs float rounding
        return self.created_at + end - EPSILON - 1e-3

    def observe(self, now: float) -> None:
        """A client read the status: a per-poll plan moves one phase on."""
        if self.plan.per_poll and len(self.poll_times) <= self.plan.length:
            self.poll_times.append(now)

    def force(self, now: float, outcome: Outcome) -> None:
        """End the job now with `outcome`, keeping the phases it already finished."""
        self.plan = self.plan.cut(self.position(now), outcome)

    def summary(self, now: float) -> dict[str, Any]:
        snap = self.snapshot(now)
        return {
            "api": self.api,
            "tenant": self.tenant,
            "id": self.id,
            "kind": self.kind,
            "state": snap.state,
            "terminal": snap.terminal,
            "scenario": self.scenario,
            "created_at": self.created_at,
            "finished_at": self.finished_at(now),
            "phases": [
                {"state": p.state, "duration": p.duration, "detail": p.detail}
                for p in self.plan.phases
            ],
            "outcome": (
                None
                if self.plan.outcome is None
                else {"state": self.plan.outcome.state, "message": self.plan.outcome.message}
            ),
            "per_poll": self.plan.per_poll,
        }


class Store:
    """Every job of the server. Thread-safe; past `capacity`, finished jobs go, oldest first.

    IDs are unique across the server, so one dict holds them; `get` then checks that the
    job belongs to the asking API and tenant, which is what keeps tenants apart.

    Eviction looks at a bounded number of jobs per add, oldest first: a running job it meets
    goes to the back of the line to be looked at again later. So a store full of stalled jobs
    keeps creates O(1) (it holds more than `capacity` until some jobs finish).
    """

    def __init__(self, clock_now: Callable[[], float], capacity: int = 100_000) -> None:
        self._now = clock_now
        self.capacity = capacity
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._line: deque[str] = deque()  # eviction candidates: creation order, running rotated
        self._aliases: dict[str, str] = {}
        self._aliases_of: dict[str, tuple[str, ...]] = {}
        self._lock = threading.RLock()
        self.looked_at = 0  # jobs eviction has examined, in all: its cost, for the curious

    def __len__(self) -> int:
        return len(self._jobs)

    def add(self, job: Job, *aliases: str) -> Job:
        with self._lock:
            self._jobs[job.id] = job
            self._line.append(job.id)
            if aliases:
                self._aliases_of[job.id] = aliases
                for alias in aliases:
                    self._aliases[alias] = job.id
            if len(self._jobs) > self.capacity:
                self._evict()
        added = _added.get()
        if added is not None:
            added.append(job.id)
        return job

    @contextlib.contextmanager
    def all_or_nothing(self) -> Iterator[None]:
        """The jobs added inside the block are removed again if it raises: a create that
        fails stores nothing, so a client's retry cannot duplicate a job."""
        added: list[str] = []
        token = _added.set(added)
        try:
            yield
        except BaseException:
            with self._lock:
                for job_id in reversed(added):
                    self._remove(job_id)
                    if self._line and self._line[-1] == job_id:
                        self._line.pop()
            raise
        finally:
            _added.reset(token)

    def get(self, api: str, tenant: str, job_id: str) -> Job | None:
        """The job `job_id` (or an alias of it) if it belongs to this API and tenant."""
        job = self.lookup(job_id)
        if job is None or job.api != api or job.tenant != tenant:
            return None
        return job

    def lookup(self, job_id: str) -> Job | None:
        """Any tenant's job: for the admin API and signed file links only."""
        with self._lock:
            return self._jobs.get(job_id) or self._jobs.get(self._aliases.get(job_id, ""))

    def jobs(self, api: str | None = None, tenant: str | None = None) -> Iterator[Job]:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            if (api is None or job.api == api) and (tenant is None or job.tenant == tenant):
                yield job

    def clear(self) -> None:
        with self._lock:
            self._jobs.clear()
            self._line.clear()
            self._aliases.clear()
            self._aliases_of.clear()

    def _evict(self) -> None:
        now = self._now()
        looks = EVICTION_LOOKS
        while looks and self._line and len(self._jobs) > self.capacity:
            looks -= 1
            job_id = self._line.popleft()
            job = self._jobs.get(job_id)
            if job is None:  # removed already
                continue
            self.looked_at += 1
            if job.snapshot(now).terminal:
                self._remove(job_id)
            else:
                self._line.append(job_id)

    def _remove(self, job_id: str) -> None:
        """Forget a job; its place in the eviction line is skipped when reached."""
        self._jobs.pop(job_id, None)
        for alias in self._aliases_of.pop(job_id, ()):
            self._aliases.pop(alias, None)
