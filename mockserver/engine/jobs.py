"""Jobs and the store that keeps them, keyed by API, tenant (the API key) and ID."""

from __future__ import annotations

import math
from collections.abc import Callable, Container, Iterator, Sequence
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from mockserver.engine.plan import EPSILON, Outcome, Phase, Plan, Snapshot
from mockserver.stores import MemoryStore, StateStore, key, recurring_key, subkey
from mockserver.stores.codec import dumps, register, storable

EVICTION_LOOKS = 8  # jobs eviction may look at per job added, at most
NEWEST_CHUNK = 256  # jobs `newest` reads at a time, back from the newest


@storable
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

    state_tag: ClassVar[str] = "job"

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

    def as_at(self, position: float) -> Job:
        """The job as it stood on reaching `position` of its plan, to be read at
        `time_of(position)`: for a timed plan itself (the time says where it was), for a
        per-poll plan a copy without the reads made after (several reads may share one clock
        time, so a time cannot say how many had been made by then)."""
        if not self.plan.per_poll:
            return self
        return replace(self, poll_times=self.poll_times[: int(position)])

    def finished_at(self, now: float, snap: Snapshot | None = None) -> float | None:
        """When the job reached its outcome, or None while it is still running (`snap`: the
        snapshot at `now`, when the caller has it already)."""
        snap = snap or self.snapshot(now)
        return self.time_of(snap.phase_started) if snap.terminal else None

    def changes_at(self, now: float, snap: Snapshot | None = None) -> float | None:
        """The clock time before which the job's snapshot stays as it is at `now` (inf: until
        something is done to it); None for a per-poll plan, which moves on every read.
        `snap`: the snapshot at `now`, when the caller has it already."""
        if self.plan.per_poll:
            return None
        if now < self.created_at:
            return self.created_at
        snap = snap or self.snapshot(now)
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

    def to_state(self) -> dict[str, Any]:
        return {
            "api": self.api,
            "tenant": self.tenant,
            "id": self.id,
            "kind": self.kind,
            "created_at": self.created_at,
            "plan": self.plan,
            "data": self.data,
            "scenario": self.scenario,
            "poll_times": self.poll_times,
        }

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> Job:
        return cls(**data)


def _plan_state(plan: Plan) -> list[Any]:
    outcome = plan.outcome
    return [
        [[phase.state, phase.duration, phase.detail] for phase in plan.phases],
        None if outcome is None else [outcome.state, outcome.message, outcome.options],
        plan.per_poll,
    ]


def _plan_from_state(data: list[Any]) -> Plan:
    phases, outcome, per_poll = data
    return Plan(
        tuple(Phase(*phase) for phase in phases),
        None if outcome is None else Outcome(*outcome),
        per_poll,
    )


register(Plan, "plan", _plan_state, _plan_from_state)  # plans are kept in jobs, and job data


class _Session:
    """The unit of work of one request (`JobStore.all_or_nothing`): the jobs it added and
    read, so its end can undo or keep its work. A class, not a generator-based context
    manager: every request of every API enters one."""

    __slots__ = ("jobs", "added", "seen", "token")

    def __init__(self, jobs: JobStore) -> None:
        self.jobs = jobs
        self.added: list[Job] = []
        self.seen: dict[str, tuple[Job, bytes]] = {}  # job ID -> job, its encoding when read

    def __enter__(self) -> None:
        self.token = _session.set(self)

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            if kind is not None:
                for job in reversed(self.added):
                    self.jobs._remove(job.tenant, job.id)
            else:
                for job, before in self.seen.values():
                    if dumps(job) != before:
                        self.jobs.save(job)
        finally:
            _session.reset(self.token)


# the session of the request being handled (see `JobStore.all_or_nothing`)
_session: ContextVar[_Session | None] = ContextVar("session", default=None)
# the jobs the request being handled read ahead, by (tenant, ID or alias) (`JobStore.read_ahead`)
_ahead: ContextVar[dict[tuple[str, str], Job] | None] = ContextVar("ahead", default=None)


class _HandingOn:
    """The block in which `JobStore.read_ahead` hands on what it read (`JobStore.handing_on`)."""

    __slots__ = ("token",)

    def __enter__(self) -> None:
        self.token = _ahead.set({})

    def __exit__(self, *_: object) -> None:
        _ahead.reset(self.token)


class JobStore:
    """Every job of the server, kept in a `StateStore`; past `capacity`, finished jobs go,
    oldest first.

    A job lives under its tenant's key (`{tenant}:job:ID`, with its aliases beside it), so a
    tenant can only ever read its own; a server-wide index (`where`) finds any job by ID or
    alias for the admin API and signed file links.

    Eviction looks at a bounded number of jobs per add, oldest first: a running job it meets
    goes to the back of the line to be looked at again later. So a store full of stalled jobs
    keeps creates O(1) (it holds more than `capacity` until some jobs finish). When every job
    it looked at was running, it looks at one per add until the clock reaches the time the
    first of them moves on, or until one it meets has finished (a cancelled job). On a stopped
    clock past 150,000 stalled jobs, eight looks made a Neural Draft create cost 143-149 µs
    in-process; with one it costs 114-125 µs (108 on a fresh store).
    """

    def __init__(
        self,
        clock_now: Callable[[], float],
        capacity: int = 100_000,
        store: StateStore | None = None,
    ) -> None:
        self._now = clock_now
        self.capacity = capacity
        self._store = store or MemoryStore()
        self.looked_at = 0  # jobs eviction has examined, in all: its cost, for the curious
        # told of each ended job just before eviction forgets it (the app asks its API)
        self.on_evict: Callable[[Job, float], None] | None = None
        self._stalled_until = -math.inf  # before this clock time, eviction looks at one job

    def __len__(self) -> int:
        return self._store.length(_ORDER)

    def add(self, job: Job, *aliases: str) -> Job:
        store, tenant = self._store, job.tenant
        where = [tenant, job.id]  # one list in every place (values are never changed in place)
        values = {subkey(recurring_key(tenant, "job"), job.id): job, subkey(_WHERE, job.id): where}
        if aliases:
            values[key(tenant, "aliases", job.id)] = list(aliases)
            for alias in aliases:
                values[key(tenant, "alias", alias)] = job.id
                values[subkey(_WHERE, alias)] = where
        # the job and its aliases before the lists that name it; all in one round trip
        appends = [(recurring_key(tenant, "jobs"), job.id), (_LINE, where), (_ORDER, where)]
        if store.write(values, appends)[-1] > self.capacity:
            self._evict()
        session = _session.get()
        if session is not None:
            session.added.append(job)
            if store.shared:
                session.seen[job.id] = (job, dumps(job))
        return job

    def all_or_nothing(self) -> AbstractContextManager[None]:
        """The unit of work of one request. The jobs added inside the block are removed again
        if it raises: a create that fails stores nothing, so a client's retry cannot duplicate
        a job. When it ends well, a shared store gets back every job the block changed."""
        return _Session(self)

    def save(self, job: Job) -> None:
        """Keep a change made to `job` outside a request (the memory store holds the object
        itself: nothing to do)."""
        if self._store.shared:
            self._store.set(key(job.tenant, "job", job.id), job)

    def handing_on(self) -> AbstractContextManager[None]:
        """A block (the rest of a request) in which each job `read_ahead` finds is what the
        next `get` of it answers, unread: a request that looks at its jobs before it handles
        them (the fault middleware) reads each once. Later `get`s read the store again (an
        open stream must see what other processes change)."""
        return _HandingOn()

    def read_ahead(self, api: str, tenant: str, job_ids: Sequence[str]) -> list[Job | None]:
        """`get` of each of `job_ids`, in one read of the store (and one more for aliases)."""
        if not job_ids:  # a path naming no job (a create's)
            return []
        store, jobs, count = self._store, recurring_key(tenant, "job"), len(job_ids)
        found = store.get_many(
            [subkey(jobs, job_id) for job_id in job_ids]
            + [key(tenant, "alias", job_id) for job_id in job_ids]
        )
        read: list[Job | None] = found[:count]
        aliased = [i for i in range(count) if read[i] is None and found[count + i] is not None]
        if aliased:
            real = store.get_many([subkey(jobs, str(found[count + i])) for i in aliased])
            for i, job in zip(aliased, real, strict=True):
                read[i] = job
        ahead = _ahead.get()
        if ahead is not None:
            ahead.update(
                ((tenant, job_id), job) for job_id, job in zip(job_ids, read, strict=True) if job
            )
        return [None if job is None or job.api != api else self._seen(job) for job in read]

    def read_again(self) -> None:
        """Hand nothing more on (the request waited since it read ahead): `get` reads."""
        ahead = _ahead.get()
        if ahead:
            ahead.clear()

    def get(self, api: str, tenant: str, job_id: str) -> Job | None:
        """The job `job_id` (or an alias of it) if it belongs to this API and tenant."""
        ahead = _ahead.get()
        job = ahead.pop((tenant, job_id), None) if ahead else None
        if job is None:
            job = self._read(tenant, job_id)
        if job is None or job.api != api:
            return None
        return self._seen(job)

    def _read(self, tenant: str, job_id: str) -> Job | None:
        store = self._store
        jobs = recurring_key(tenant, "job")
        job = store.get(subkey(jobs, job_id))
        if job is None:
            real_id = store.get(key(tenant, "alias", job_id))
            job = None if real_id is None else store.get(subkey(jobs, real_id))
        return job

    def lookup(self, job_id: str) -> Job | None:
        """Any tenant's job: for the admin API and signed file links only."""
        where = self._store.get(key(None, "where", job_id))
        if where is None:
            return None
        job = self._store.get(key(where[0], "job", where[1]))
        return None if job is None else self._seen(job)

    def ids(self, tenant: str) -> list[str]:
        """The IDs of the tenant's jobs (of every API), in creation order."""
        return self._store.items(key(tenant, "jobs"))

    def jobs(
        self, api: str | None = None, tenant: str | None = None, skipping: Container[str] = ()
    ) -> Iterator[Job]:
        """Jobs in creation order, of one API and tenant or all; with a tenant, those whose IDs
        are in `skipping` are not read."""
        store = self._store
        if tenant is not None:
            keys = [key(tenant, "job", i) for i in self.ids(tenant) if i not in skipping]
        else:
            keys = [key(owner, "job", job_id) for owner, job_id in store.items(_ORDER)]
        for job in store.get_many(keys):
            if job is not None and (api is None or job.api == api):
                yield self._seen(job)

    def newest(
        self,
        limit: int | None = None,
        api: str | None = None,
        tenant: str | None = None,
        offset: int = 0,
        keep: Callable[[Job], bool] | None = None,
    ) -> tuple[list[Job], bool]:
        """Up to `limit` jobs (None: all) of one API and tenant or all, for which `keep` holds,
        newest first, the `offset` newest of them passed over; and whether older ones remain.
        Read back from the newest in chunks: a page costs what it shows, not what the server
        holds (a dashboard on 100,000 jobs)."""
        store = self._store
        listed = _ORDER if tenant is None else key(tenant, "jobs")
        found: list[Job] = []
        # another worker evicting between two reads moves older jobs to lower positions: the
        # next chunk then starts with jobs already read, passed over here
        seen: set[str] = set()
        end = store.length(listed)
        while end > 0:
            start = max(0, end - NEWEST_CHUNK)
            names = store.items(listed, start, end - 1)
            if tenant is None:
                keys = [key(owner, "job", job_id) for owner, job_id in names]
            else:
                keys = [key(tenant, "job", job_id) for job_id in names]
            keys = [name for name in keys if name not in seen]
            seen.update(keys)
            for job in reversed(store.get_many(keys)):
                if job is None or (api is not None and job.api != api):
                    continue
                if keep is not None and not keep(job):
                    continue
                if offset:
                    offset -= 1
                elif limit is not None and len(found) >= limit:
                    return found, True
                else:
                    found.append(self._seen(job))
            end = start
        return found, False

    def count(self, tenant: str | None = None) -> int:
        """The jobs kept, of one tenant or all (of every API): one read."""
        return self._store.length(_ORDER if tenant is None else key(tenant, "jobs"))

    def _seen(self, job: Job) -> Job:
        """The one object this request works on for `job`, noted to be saved if changed."""
        session = _session.get()
        if session is None or not self._store.shared:
            return job
        known = session.seen.get(job.id)
        if known is not None:
            return known[0]
        session.seen[job.id] = (job, dumps(job))
        return job

    def _evict(self) -> None:
        store, now = self._store, self._now()
        looks = EVICTION_LOOKS if now >= self._stalled_until else 1
        evicted = running = False
        moves_on = math.inf  # when the first running job looked at moves on, by the clock
        while looks and store.length(_ORDER) > self.capacity:
            looks -= 1
            entry = store.pop(_LINE)
            if entry is None:
                break
            tenant, job_id = entry
            job = store.get(key(tenant, "job", job_id))
            if job is None:  # removed already
                continue
            self.looked_at += 1
            snap = job.snapshot(now)
            if snap.terminal:
                if self.on_evict is not None:
                    self.on_evict(job, now)
                self._remove(tenant, job_id, in_line=False)
                store.remove(_ORDER, entry)
                evicted = True
            else:
                store.push(_LINE, entry)
                running = True
                changes = job.changes_at(now, snap)  # None: a per-poll job, moved by reads
                if changes is not None:
                    moves_on = min(moves_on, changes)
        stalled = running and not evicted and moves_on > now
        self._stalled_until = moves_on if stalled else -math.inf

    def _remove(self, tenant: str, job_id: str, in_line: bool = True) -> None:
        """Forget a job, its aliases and its places in the lists."""
        store = self._store
        aliases = store.get(key(tenant, "aliases", job_id)) or []
        store.delete(
            key(tenant, "job", job_id),
            key(tenant, "aliases", job_id),
            key(None, "where", job_id),
            *(key(tenant, "alias", alias) for alias in aliases),
        )
        store.delete(*(key(None, "where", alias) for alias in aliases))
        store.remove(key(tenant, "jobs"), job_id)
        if in_line:
            store.remove(_ORDER, [tenant, job_id])
            store.remove(_LINE, [tenant, job_id])


_ORDER = key(None, "jobs")  # every job, oldest first: what the admin API lists
_LINE = key(None, "line")  # eviction candidates: creation order, running ones rotated
_WHERE = key(None, "where")  # under it, each job's and alias's [tenant, job ID]
