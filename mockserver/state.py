"""Everything one server holds: its clock, jobs, scenarios, journal and secrets."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable

from mockserver.config import ServerConfig
from mockserver.engine.artifacts import Signer
from mockserver.engine.clock import Clock, ManualClock, SystemClock
from mockserver.engine.ids import IdFactory
from mockserver.engine.jobs import Store
from mockserver.engine.journal import Journal
from mockserver.engine.scenarios import Profile, ScenarioBook
from mockserver.faults import FaultBook
from mockserver.pollcache import PollCache


class MockState:
    def __init__(self, config: ServerConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or (
            ManualClock() if config.clock == "manual" else SystemClock(config.time_scale)
        )
        self.ids = IdFactory(config.seed, config.id_salt)
        self.store = Store(self.clock.now, config.store_capacity)
        self.scenarios = ScenarioBook(
            {key: spec["scenario"] for key, spec in config.keys.items() if "scenario" in spec},
            Profile(config.duration_scale, config.failure_rate),
            config.max_queued_scenarios,
        )
        self.journal = Journal(config.journal_size, config.journal_bytes)
        self.faults = FaultBook(config.faults, self.ids.seed)
        self.signer = Signer(secrets.token_bytes(32))
        self.strict = config.strict
        self.polls = PollCache()  # answers of status polls, until the job's next transition
        self.clock.on_change(self.polls.invalidate)
        self.lock = threading.RLock()  # for multi-step changes spanning store and API state
        self._reset_hooks: list[Callable[[], None]] = []

    def now(self) -> float:
        return self.clock.now()

    def on_reset(self, hook: Callable[[], None]) -> None:
        """Call `hook` on `reset()`: for what an API keeps besides jobs (webhooks, caches)."""
        self._reset_hooks.append(hook)

    def reset(self) -> None:
        """Forget every job, queued scenario, journal entry and fault added since the start (the
        configured faults come back); the clock keeps its time."""
        self.store.clear()
        self.scenarios.clear()
        self.journal.clear()
        self.ids.reset()
        self.faults.reset()
        self.polls.invalidate()
        for hook in self._reset_hooks:
            hook()
