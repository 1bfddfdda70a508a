"""Everything one server holds: its clock, jobs, scenarios, journal and secrets."""

from __future__ import annotations

import secrets
import threading
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from mockserver.config import ServerConfig
from mockserver.engine.artifacts import Signer
from mockserver.engine.clock import CLOCK, Clock, ManualClock, SystemClock
from mockserver.engine.ids import IdFactory
from mockserver.engine.jobs import JobStore
from mockserver.engine.journal import Journal
from mockserver.engine.scenarios import FAULTS_NAMED, Profile, ScenarioBook
from mockserver.faults import FaultBook
from mockserver.faults.book import RULES
from mockserver.pollcache import LIMIT as POLL_ANSWERS
from mockserver.pollcache import PollCache
from mockserver.stores import StateStore, key, lasting_key, view

# what a reset keeps is at lasting keys, which its `clear(keep_lasting=True)` leaves where they
# are: taken out and put back, each would be missing meanwhile to the other processes (and one
# of them would make it anew)
SECRET = lasting_key(None, "secret")  # signs file links: one per store, any worker checks them
SEED = lasting_key(None, "seed")  # of a server started without one: one per store
STRICT = lasting_key(None, "strict")  # strict mode as set at run time (absent: the config's)
# requests that changed jobs, counted on a shared store; a reset moves the count on by a step
# no process counting meanwhile reaches, so it never comes back to a value a process saw
CHANGES = key(None, "changes")
CHANGES_PER_RESET = 2**32
# a random mark a shared store holds for as long as it keeps its contents: gone, or another,
# the store lost them (Redis restarted empty, a SQLite file deleted) under the servers that
# knew the mark
GENERATION = lasting_key(None, "generation")
# what a request on a shared store reads first, all at once
SYNCED = (CLOCK, STRICT, RULES, FAULTS_NAMED, GENERATION, CHANGES)
_NOTHING_TO_READ = nullcontext()


class MockState:
    def __init__(self, config: ServerConfig, store: StateStore, clock: Clock | None = None) -> None:
        self.config = config
        self.backend = store
        self.clock = clock or (
            ManualClock() if config.clock == "manual" else SystemClock(config.time_scale)
        )
        self.clock.attach(self.backend)
        seed = config.seed
        if seed is None:
            self.backend.add(SEED, secrets.randbits(32))
            seed = int(str(self.backend.get(SEED)))
        self.ids = IdFactory(seed, config.id_salt or "", self.backend)
        self._generation = self._marked() if self.backend.shared else None
        self.store = JobStore(self.clock.now, config.store_capacity, self.backend)
        self.scenarios = ScenarioBook(
            {key: spec["scenario"] for key, spec in config.keys.items() if "scenario" in spec},
            Profile(config.duration_scale, config.failure_rate),
            config.max_queued_scenarios,
            self.backend,
        )
        self.journal = Journal(config.journal_size, config.journal_bytes, self.backend)
        self.faults = FaultBook(config.faults, self.ids.seed, self.backend)
        self.signer = self._shared_signer()
        # answers of status polls, until the job's next transition. On a shared store another
        # process may change a job at any moment: the requests that change jobs are counted
        # there (`changed_jobs`), each request reads the count first (`synced`), and the
        # answers go when another process moved it
        self.polls = PollCache(POLL_ANSWERS)
        self._changes_seen: object = None  # the count as this process last knew it
        self.clock.on_change(self.polls.invalidate)
        self.lock = threading.RLock()  # for multi-step changes spanning store and API state

    def now(self) -> float:
        return self.clock.now()

    @property
    def strict(self) -> bool:
        """Whether contract violations are answered with a 4xx (read per request)."""
        held = view.held(self.backend, STRICT)
        return self.config.strict if held is None else bool(held)

    @strict.setter
    def strict(self, value: bool) -> None:
        self.backend.set(STRICT, value)
        view.wrote(self.backend, STRICT, value)

    def synced(self) -> AbstractContextManager[object]:
        """The block of one request. On a shared store, it starts by reading what other
        processes change (the clock, strict mode, the fault rules, whether a scenario named a
        fault, the count of changes) in one operation, which the request then keeps to its end
        (`stores.view`); the memory store has nothing to read."""
        if not self.backend.shared:
            return _NOTHING_TO_READ
        return view.ReadOnce(self.backend, SYNCED, self._adopt)

    def _adopt(self, values: list[Any | None]) -> None:
        """What a request on a shared store read first: the clock, the store's mark, and the
        count of changes, which drops the kept answers when another process changed jobs."""
        clock, *_, generation, changes = values
        if generation == self._generation:
            self.clock.adopt(clock)
        else:  # the store lost its contents: its clock and secret went with them
            self.clock.put_back()  # the time this server knew, not a newcomer's start
            self.signer = self._shared_signer()
            self._generation = self.ids.generation = self._marked()  # all done: marked last
        if changes != self._changes_seen:
            self.polls.invalidate()
            self._changes_seen = changes

    def _shared_signer(self) -> Signer:
        """What signs file links, with the store's secret (made now if it has none): every
        process sharing the store signs alike, so a link made by one downloads from another."""
        self.backend.add(SECRET, secrets.token_hex(32))
        return Signer(bytes.fromhex(str(self.backend.get(SECRET))))

    def _marked(self) -> str:
        """The store's mark, made now if it has none. At the start, or when the mark this
        server knew is gone or another: the store lost its contents, ID counters included, so
        the ID streams go on under the new mark and never draw an ID of before again. A server
        started on the store takes what it holds, clock included: it cannot tell a loss from
        a new store."""
        mark = secrets.token_hex(8)
        self.backend.add(GENERATION, mark)
        return str(self.backend.get(GENERATION) or mark)

    def changed_jobs(self) -> None:
        """Jobs changed (a request that may change them is answering): this process's kept
        answers go, and on a shared store every other process's with its next request. Before
        the answer leaves, so a client's next poll, whichever process it reaches, sees the
        change."""
        self.polls.invalidate()
        if self.backend.shared:
            # every change counted up to here is in the store, and nothing is kept here now
            self._changes_seen = self.backend.incr(CHANGES)

    def reset(self) -> None:
        """Forget every job, queued scenario, journal entry and fault added since the start (the
        configured faults come back); the clock keeps its time, file links stay valid, the seed
        and strict mode stay, the journal goes on counting requests and the fault book its
        rule IDs (a client's stale `DELETE /faults/fault-2` must not remove a newer rule), and
        no job ID is handed out again. All these are at lasting keys, which the store's clear
        passes by: none is taken out and put back, so none is missing to another process
        while the store is emptied (an ID counter or a rule number counted again from 1)."""
        changes = self.backend.get(CHANGES)
        self.backend.clear(keep_lasting=True)
        view.forget(self.backend)
        self.journal.clear()
        if self.backend.shared:
            self.backend.incr(CHANGES, int(changes or 0) + CHANGES_PER_RESET)
        self.polls.invalidate()
