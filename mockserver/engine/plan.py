"""Plans: what a job will go through, so its status is a pure function of time.

A plan is an ordered list of phases and a terminal outcome. Where a job stands is a *position*
along the plan: seconds since creation for a timed plan, or the number of status reads for a
per-poll plan (every phase then lasts one read). Nothing runs in the background; reading the
status at any moment just evaluates the plan at that position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

EPSILON = 1e-6  # positions are float sums: a phase ends a hair early rather than a hair late
PLANS_KEPT = 256  # distinct timings whose phases are kept for the next job planned alike


@dataclass(frozen=True, slots=True)
class Phase:
    """A stretch of work shown as one state (`state`), with a human detail (step name...)."""

    state: str
    duration: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a job ends: the API's own terminal word, a message, and outcome options."""

    state: str
    message: str | None = None
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)


class Snapshot(NamedTuple):
    """Where a job stands at one position of its plan. A named tuple, not a frozen dataclass:
    every create and status read makes one or more, and a frozen dataclass's `__init__` sets
    each field through `object.__setattr__` (four times the cost)."""

    state: str
    detail: str
    phase: int  # index of the current phase; len(phases) once terminal
    fraction: float  # 0.0 .. 1.0 of the whole plan done
    outcome: Outcome | None  # set once terminal
    phase_started: float  # position at which the current phase (or the outcome) began

    @property
    def terminal(self) -> bool:
        return self.outcome is not None


@dataclass(frozen=True, slots=True)
class Plan:
    phases: tuple[Phase, ...]
    outcome: Outcome | None  # None: the job stalls in its last phase forever
    per_poll: bool = False
    # position at which the outcome is reached: summed once, as every status read needs it
    length: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "length", sum(phase.duration for phase in self.phases))

    def at(self, position: float) -> Snapshot:
        start = 0.0
        for index, phase in enumerate(self.phases):
            end = start + phase.duration
            if position < end - EPSILON or (self.outcome is None and index == len(self.phases) - 1):
                total = self.length or 1.0
                return Snapshot(
                    phase.state, phase.detail, index, min(position / total, 1.0), None, start
                )
            start = end
        assert self.outcome is not None
        return Snapshot(self.outcome.state, "", len(self.phases), 1.0, self.outcome, start)

    def cut(self, position: float, outcome: Outcome) -> Plan:
        """The same plan, ended at `position` with `outcome` (a cancel or a forced transition).

        Phases already finished at `position` stay finished; the running one is shortened, or
        lengthened when it is a stall's last phase, which lasts until something ends it.
        """
        phases: list[Phase] = []
        start = 0.0
        last = len(self.phases) - 1
        for index, phase in enumerate(self.phases):
            if start >= position:
                break
            stalls = self.outcome is None and index == last
            length = position - start if stalls else min(phase.duration, position - start)
            phases.append(Phase(phase.state, length, phase.detail))
            start += phase.duration
        return Plan(tuple(phases), outcome, self.per_poll)


def stretch(
    steps: list[tuple[str, float, str]], total: float, outcome: Outcome | None, per_poll: bool
) -> Plan:
    """Build a plan from weighted steps `(state, weight, detail)` lasting `total` in all.

    Per-poll plans ignore the weights: each phase lasts exactly one status read. A plan is
    a value (frozen): one whose outcome has no options is made once per timing and shared.
    """
    phases = _phases(tuple(steps), total, per_poll)
    if outcome is not None and outcome.options:
        return Plan(phases, outcome, per_poll)
    state, message = (outcome.state, outcome.message) if outcome else (None, None)
    return _plan(phases, state, message, per_poll)


@lru_cache(maxsize=PLANS_KEPT)
def _plan(
    phases: tuple[Phase, ...], state: str | None, message: str | None, per_poll: bool
) -> Plan:
    return Plan(phases, None if state is None else Outcome(state, message), per_poll)


@lru_cache(maxsize=PLANS_KEPT)
def _phases(
    steps: tuple[tuple[str, float, str], ...], total: float, per_poll: bool
) -> tuple[Phase, ...]:
    """The phases of `stretch`, made once per timing: phases never change, so the jobs
    planned alike share them (the time to make them, and the memory and collector work of
    keeping them per job). Per poll a step takes one status read; a step of no weight (one
    the request switched off) takes none, as it takes no time on the clock."""
    weight = sum(step[1] for step in steps) or 1.0
    return tuple(
        Phase(state, (1.0 if share else 0.0) if per_poll else total * share / weight, detail)
        for state, share, detail in steps
    )
