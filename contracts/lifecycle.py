"""Job lifecycles as each contract describes them (its `x-lifecycle` extension), and the check
of an observed sequence of status answers against them.

One source for what a job may go through: states, the moves between them, the end states, the
fields set or null in each state, the fields that never change, the usual duration. The APIs'
plans take their state names, end states and durations from it while they are imported
(`lifecycles_in`, `Lifecycle.stages`), and check there what their code adds (`conform`).
`check_lifecycle` reads a recording of the real service, a user's own stub or the mock
itself, and reports the first step the contract does not allow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from mockserver import apis
from mockserver.contracts.document import load, read

EXTENSION = "x-lifecycle"


class LifecycleMismatch(ValueError):
    """The mock's plans and a contract's `x-lifecycle` disagree. Raised while the API's code
    is imported, so no server starts with plans its contract does not allow."""


@dataclass(frozen=True)
class State:
    """One state: where it may go, and what its status answer shows."""

    name: str
    next: frozenset[str]  # other states it may move to; staying is always allowed
    terminal: bool
    present: tuple[str, ...]  # fields set (not null) in this state
    unset: tuple[str, ...]  # fields null or absent in this state
    equal: Mapping[str, Any]  # fields with a fixed value in this state

    def problems(self, body: Mapping[str, Any]) -> list[str]:
        """What in `body` this state does not allow, one sentence each."""
        found = [f"{name} is missing or null" for name in self.present if body.get(name) is None]
        found += [
            f"{name} is {body[name]!r}, not null"
            for name in self.unset
            if body.get(name) is not None
        ]
        found += [
            f"{name} is {body.get(name)!r}, not {value!r}"
            for name, value in self.equal.items()
            if body.get(name) != value
        ]
        return found


@dataclass(frozen=True)
class Lifecycle:
    """How one kind of job of one API moves, polled through one status operation."""

    api: str
    kind: str
    operation: str  # operationId of the status read
    id_parameter: str  # its path parameter that names the job
    state_field: str  # the field of the status answer that holds the state
    initial: tuple[str, ...]
    states: Mapping[str, State]
    fixed: tuple[str, ...]
    usual_seconds: float

    @property
    def terminal(self) -> tuple[str, ...]:
        return tuple(name for name, state in self.states.items() if state.terminal)

    def transitions(self) -> set[tuple[str, str]]:
        """Every move between two different states the contract allows."""
        return {(a, b) for a, state in self.states.items() for b in state.next}

    def reachable(self, start: str) -> set[str]:
        """States a job in `start` may be seen in later: polling can miss the ones between."""
        seen: set[str] = set()
        todo = [start]
        while todo:
            for after in self.states[todo.pop()].next:
                if after not in seen:
                    seen.add(after)
                    todo.append(after)
        return seen

    def state_of(self, body: Any) -> str | None:
        return body.get(self.state_field) if isinstance(body, Mapping) else None

    @property
    def running(self) -> tuple[str, ...]:
        """The states that are not an end, in the order a job meets them: the initial ones,
        then along `next` as listed."""
        order = list(self.initial)
        for name in order:
            order += [n for n in self.states[name].next if n not in order]
        return tuple(name for name in order if not self.states[name].terminal)

    def stages(self, count: int) -> tuple[str, ...]:
        """The first `count` running states: the state names the mock's plans use, one per
        stage a job goes through (queued, at work...)."""
        if len(self.running) < count:
            raise LifecycleMismatch(
                f"{self._where}: the mock's plans have {count} running stages, the contract "
                f"lists {len(self.running)} running state(s): {', '.join(self.running)}"
            )
        return self.running[:count]

    def conform(self, phases: Sequence[str], ends: Sequence[str]) -> None:
        """Check the plans the mock's code makes for this kind: `phases` the states its
        plans go through, in order, and `ends` the end states it names, in the contract's
        order (success first). LifecycleMismatch says what the contract does not allow."""
        where = self._where
        if tuple(ends) != self.terminal:
            raise LifecycleMismatch(
                f"{where}: the mock's plans end in {', '.join(ends)}; the contract's end "
                f"states are {', '.join(self.terminal)}"
            )
        if not phases or phases[0] not in self.initial:
            raise LifecycleMismatch(
                f"{where}: the mock's plans start in {phases[0] if phases else 'no state'}, "
                f"not in an initial state ({', '.join(self.initial)})"
            )
        for name in phases:
            if name not in self.running:
                raise LifecycleMismatch(
                    f"{where}: the mock's plans run through {name!r}, not a running state "
                    f"({', '.join(self.running)})"
                )
        for before, after in zip(phases, phases[1:], strict=False):
            if before != after and after not in self.states[before].next:
                raise LifecycleMismatch(
                    f"{where}: the mock's plans move {before} -> {after}, which no "
                    f"transition allows (from {before}: {', '.join(self.states[before].next)})"
                )
        for name in dict.fromkeys(phases):  # a job may be ended in any phase (cancel, force)
            unreachable = [end for end in ends if end not in self.reachable(name)]
            if unreachable:
                raise LifecycleMismatch(
                    f"{where}: a job in {name} may end {', '.join(unreachable)}, which no "
                    f"transition from {name} leads to"
                )

    @property
    def _where(self) -> str:
        return f"{self.api} contract, {EXTENSION} kind {self.kind}"


@dataclass
class LifecycleReport:
    """What `check_lifecycle` found: the states seen, the moves made, the first illegal step."""

    api: str
    kind: str
    states: list[str | None] = field(default_factory=list)
    transitions: list[tuple[str, str]] = field(default_factory=list)
    step: int | None = None  # index of the first illegal answer
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        seen = " -> ".join(str(s) for s in self.states) or "nothing"
        if self.ok:
            return f"{self.api} {self.kind}: legal lifecycle ({seen})"
        return f"{self.api} {self.kind}: step {self.step} is illegal: {self.problem} (seen: {seen})"


def check_lifecycle(api: str, kind: str | None, observed: Iterable[Any]) -> LifecycleReport:
    """Check the status answers of one job, in the order they were received, against the
    lifecycle of `kind` in `api`'s contract (`kind` may be None for an API with one kind).

    Observation may start late and skip states; what it may not do is go where no transition
    leads, leave an end state, change a field that never changes, or show a field a state does
    not allow (`download_url` before completion, `completed_at` set while running...).
    """
    cycle = lifecycle(api, kind)
    report = LifecycleReport(api, cycle.kind)
    previous: str | None = None
    first_seen: dict[str, Any] = {}
    for index, body in enumerate(observed):
        name = cycle.state_of(body)
        report.states.append(name)
        problem = _problem(cycle, body, name, previous, first_seen)
        if problem is not None:
            report.step, report.problem = index, problem
            return report
        assert name is not None
        if previous is not None and previous != name:
            report.transitions.append((previous, name))
        previous = name
    return report


def _problem(
    cycle: Lifecycle, body: Any, name: str | None, previous: str | None, first: dict[str, Any]
) -> str | None:
    if name is None:
        return f"no {cycle.state_field!r} in the answer"
    state = cycle.states.get(name)
    if state is None:
        known = ", ".join(cycle.states)
        return f"{cycle.state_field} {name!r} is not a state of {cycle.kind} ({known})"
    if previous is not None and previous != name:
        before = cycle.states[previous]
        if before.terminal:
            return f"{name} after the end state {previous}: an ended job does not move"
        if name not in cycle.reachable(previous):
            allowed = ", ".join(sorted(cycle.reachable(previous))) or "nothing"
            return f"{previous} -> {name}: no transition leads there (from {previous}: {allowed})"
    for key in cycle.fixed:
        if key in body:
            seen = first.setdefault(key, body[key])
            if body[key] != seen:
                return f"{key} changed from {seen!r} to {body[key]!r}; it never changes"
    found = state.problems(body)
    return f"in state {name}: " + "; ".join(found) if found else None


# --- reading the contracts ------------------------------------------------------------------


def lifecycles_of(api: str) -> Lifecycles:
    """Every lifecycle `api`'s contract describes, by kind."""
    return lifecycles_in(api, apis.service_class(api).contract_path)


class Lifecycles(dict[str, Lifecycle]):
    """One contract's lifecycles by kind; a kind it lacks is a LifecycleMismatch."""

    def __init__(self, api: str, cycles: Mapping[str, Lifecycle]) -> None:
        super().__init__(cycles)
        self.api = api

    def conform(self, kinds: Iterable[str], phases: Sequence[str], ends: Sequence[str]) -> None:
        """`Lifecycle.conform` for each of `kinds`: plans of the same shape."""
        for kind in kinds:
            self[kind].conform(phases, ends)

    def __missing__(self, kind: str) -> Lifecycle:
        raise LifecycleMismatch(
            f"{self.api} contract: the mock plans jobs of kind {kind!r}, which its "
            f"{EXTENSION} does not describe (kinds: {', '.join(self) or 'none'})"
        )


@cache
def lifecycles_in(api: str, path: Path) -> Lifecycles:
    """Every lifecycle the contract at `path` describes, by kind: how an API's own modules
    read theirs while the API is imported (its plans' states, ends and durations)."""
    spec = read(path).get(EXTENSION) or {"kinds": {}}
    return Lifecycles(
        api, {kind: _lifecycle(api, kind, raw) for kind, raw in spec["kinds"].items()}
    )


def end_states(cycles: Iterable[Lifecycle]) -> tuple[str, ...]:
    """The end states of `cycles`, each once, in the order the contract lists them: an
    API's outcome words, success first."""
    return tuple(dict.fromkeys(end for cycle in cycles for end in cycle.terminal))


def lifecycle(api: str, kind: str | None = None) -> Lifecycle:
    """The lifecycle of `kind` in `api`; `kind` may be left out for an API with one kind."""
    known = lifecycles_of(api)
    if kind is None and len(known) == 1:
        return next(iter(known.values()))
    if kind is None or kind not in known:
        raise KeyError(f"no lifecycle {kind!r} in {api}; known: {', '.join(known)}")
    return known[kind]


def min_poll_interval(api: str) -> float:
    """Seconds between two status reads of one job below which polling is hasty."""
    spec = load(api).document.get(EXTENSION) or {}
    return float(spec.get("poll", {}).get("min_interval", 0))


def all_lifecycles() -> list[Lifecycle]:
    return [cycle for api in apis.names() for cycle in lifecycles_of(api).values()]


def _lifecycle(api: str, kind: str, raw: Mapping[str, Any]) -> Lifecycle:
    named = [*raw["initial"], *(n for spec in raw["states"].values() for n in spec.get("next", ()))]
    unknown = sorted(set(named) - set(raw["states"]))
    if unknown:
        raise LifecycleMismatch(
            f"{api} contract, {EXTENSION} kind {kind}: {', '.join(unknown)} named but not "
            f"among its states ({', '.join(raw['states'])})"
        )
    states = {
        name: State(
            name,
            frozenset(spec.get("next", ())),
            bool(spec.get("terminal", False)),
            tuple(spec.get("present", ())),
            tuple(spec.get("unset", ())),
            dict(spec.get("equal", {})),
        )
        for name, spec in raw["states"].items()
    }
    return Lifecycle(
        api=api,
        kind=kind,
        operation=raw["operation"],
        id_parameter=raw["id_parameter"],
        state_field=raw.get("state_field", "status"),
        initial=tuple(raw["initial"]),
        states=states,
        fixed=tuple(raw.get("fixed", ())),
        usual_seconds=float(raw.get("usual_seconds", 0)),
    )
