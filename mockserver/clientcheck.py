"""The client check: does a client flow survive every outcome and fault its API can produce?

`check_client(api, function)` runs `function(base_url, api_key)` (a plain or `async`
function: the user's own client flow) once per row of a matrix: every terminal outcome the
API documents, then each fault kind. Each row gets a fresh tenant (API key) on one in-process
live server with a manual clock, and the client's thread runs on virtual time: its sleeps
move the server clock, so a ten-minute poll loop takes milliseconds.

Convention: returning normally means the client claims success; raising means it reports a
failure. Verdicts:

- `handled`: success claimed when every job completed; failure reported when a job ended in
  a failure (or the API refused it); a stalled job given up on after its usual duration.
- `crashed`: raised where the flow could have succeeded (a transient fault it did not ride
  out, a payload it could not read), or raised before its job had ended.
- `hung`: still waiting when the virtual budget ran out, still running (blocked, never
  asking) at the wall-time limit, or it kept polling a job that had already ended and then
  gave up with its own timeout.
- `hasty`: polled in a loop that never sleeps (stopped after `MAX_STILL` requests with the
  clock standing still), whatever its job became; see also the behaviour verdicts below.
- `wrong`: claimed success on a failure, or while its job had not completed.
- `not_applicable`: the row cannot run for this flow (the API cannot produce its scenario for
  the flow's request, e.g. `partial` for one document); not a failure, never `handled`.

A flow that survives every outcome may still misbehave across requests: the behaviour verdicts
of `mockserver.verdicts` (`altered`, `duplicated`, `hasty`, `lingered`) replace `handled`.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import itertools
import json
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from types import FrameType
from typing import Any

from mockserver.admin import describe
from mockserver.app import create_app
from mockserver.config import ServerConfig
from mockserver.engine.clock import Clock
from mockserver.engine.jobs import Job
from mockserver.engine.journal import Entry
from mockserver.engine.scenarios import Scenario
from mockserver.faults import creating_operations, polling_operations
from mockserver.hang import hung_reason, short_id
from mockserver.live import LiveServer
from mockserver.service import ApiService
from mockserver.state import MockState
from mockserver.verdicts import HASTY, behaviour, never_slept, scenario_refused
from mockserver.virtualtime import REAL, NeverSleeps, OutOfTime, VirtualTime, checked_budget

HANDLED, CRASHED, HUNG, WRONG = "handled", "crashed", "hung", "wrong"
NOT_APPLICABLE = "not_applicable"
CREDITS = "insufficient_credits"  # the scenario word of a create refused with 402
DEFAULT_BUDGET = 3600.0  # virtual seconds a row may take: far more than any job plans
WALL_LIMIT = 60.0  # real seconds a row may take (a client blocked, or busy without asking)
MAX_WALL_LIMIT = 3600.0  # the most `wall_limit` may be: an hour of real time per row
STOP_GRACE = 5.0  # real seconds a client past its limit has to reach a function call
MAX_SLEEPS = 20_000
MAX_STILL = 200  # requests with the clock standing still: a poll loop that never sleeps
# the client's function calls between two looks at its limits: the looks cost more than the
# calls they watch, and a request takes hundreds of calls
CHECK_EVERY = 64
LINGER_READS = 3  # requests naming a job after it ended that still count as reading it

ClientFlow = Callable[[str, str], Any]


class UnknownScenario(ValueError):
    """`only` names a row the matrix does not have."""


# --- the matrix -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One row: the outcome bound to the tenant's key and the faults set on it."""

    name: str
    outcome: str  # the API's terminal word every job of the row ends with
    faults: tuple[dict[str, Any], ...] = ()
    expects_success: bool = True
    stall: bool = False


def cases(service: ApiService) -> list[Case]:
    """Every documented outcome, then each fault kind on a flow that would succeed.

    Transient faults hit the first create and the first status read of the tenant, so a
    client that retries as documented gets through.
    """
    success, *failures = service.outcomes
    creates = sorted(creating_operations(service.contract))
    polls = sorted(polling_operations(service.contract))

    def twice(**rule: Any) -> tuple[dict[str, Any], ...]:
        return ({**rule, "operation": creates}, {**rule, "operation": polls})

    return [
        Case(success, success),
        *(Case(word, word, expects_success=False) for word in failures if word != CREDITS),
        *([Case("402", CREDITS, expects_success=False)] if refuses_credits(service) else []),
        Case("latency", success, ({"fault": "latency", "delay": 5},)),
        Case("429", success, twice(fault="429", retry_after=5, times=1)),
        Case("500", success, twice(fault="500", times=1)),
        Case("503", success, twice(fault="503", retry_after=2, times=1)),
        Case("reset", success, twice(fault="reset", times=1)),
        Case("stalled", success, ({"fault": "stall"},), expects_success=False, stall=True),
        Case("variety", success, ({"fault": "variety", "operation": polls},)),
    ]


def refuses_credits(service: ApiService) -> bool:
    """Whether a create can be refused with 402 for want of credits (documented, and the mock
    has the scenario word for it)."""
    operations = {op.id: op for op in service.contract.operations}
    documented = any(
        "402" in operations[name].spec.get("responses", {})
        for name in creating_operations(service.contract)
    )
    try:
        service.outcome_word(Scenario(CREDITS))
    except ValueError:
        return False
    return documented


# --- one run of the client --------------------------------------------------------------------


@dataclass
class Attempt:
    """What the client did: returned a value, raised, or ran out of time (`never_slept`:
    stopped for asking again and again while the clock stood still)."""

    returned: Any = None
    error: BaseException | None = None
    out_of_time: str | None = None
    never_slept: bool = False

    def describe(self) -> str:
        if self.out_of_time is not None:
            return self.out_of_time
        if self.error is not None:
            return f"raised {error_text(self.error)}"
        return f"returned {_short(repr(self.returned), 60)}"


def error_text(error: BaseException) -> str:
    return _short(f"{type(error).__name__}: {error}", 120)


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_client(
    function: ClientFlow,
    base_url: str,
    api_key: str,
    clock: Clock,
    budget: float = DEFAULT_BUDGET,
    wall_limit: float = WALL_LIMIT,
    requests: Callable[[], int] | None = None,
) -> Attempt:
    """Run the flow in its own thread on budgeted virtual time.

    A client past its wall-clock limit, or past `MAX_STILL` of the server's `requests` while
    the clock stood still, is stopped cooperatively: OutOfTime is raised in its thread at its
    next function call (a trace function of that thread alone, `sys.settrace`) or its next
    look at the clock. A loop that calls nothing at all cannot be stopped from outside; its
    thread is left behind (a daemon) and the row is reported hung all the same.
    """
    attempt = Attempt()
    overdue = f"still running after {wall_limit:g} s of real time"
    real_now = REAL["monotonic"]
    deadline = real_now() + wall_limit

    def run() -> None:
        previous = sys.gettrace()  # a coverage tool's or debugger's tracer keeps working
        timer = VirtualTime(
            clock, budget, max_sleeps=MAX_SLEEPS, requests=requests, max_still=MAX_STILL
        )
        calls = itertools.count()

        def stop_when_overdue(frame: FrameType, event: Any, arg: Any) -> Any:
            if not next(calls) % CHECK_EVERY:
                if real_now() > deadline:
                    timer.stop(OutOfTime(overdue))
                timer.check_still()  # also for a client that never reads the clock
            return previous(frame, event, arg) if previous is not None else None

        sys.settrace(stop_when_overdue)
        try:
            with timer.running():
                result = function(base_url, api_key)
                if inspect.isawaitable(result):
                    result = asyncio.run(_awaited(result))
            attempt.returned = result
        except BaseException as exc:
            attempt.error = exc
        finally:
            sys.settrace(previous)
        if timer.stopped is not None:  # whatever it became on its way out of the client
            attempt.returned, attempt.error = None, None
            attempt.out_of_time = str(timer.stopped)
            attempt.never_slept = isinstance(timer.stopped, NeverSleeps)

    thread = threading.Thread(target=run, name="clientcheck", daemon=True)
    thread.start()
    thread.join(wall_limit + STOP_GRACE)
    if thread.is_alive() or attempt.out_of_time == overdue:
        attempt.out_of_time = overdue
    return attempt


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


# --- judging ----------------------------------------------------------------------------------


def judge(
    case: Case, attempt: Attempt, jobs: list[Job], entries: list[Entry], success: str, now: float
) -> tuple[str, str]:
    """The verdict of one row and why, from what the client did and what its jobs became."""
    if attempt.out_of_time is not None:
        return HUNG, hung_reason(attempt.out_of_time, jobs, entries, now)
    ended = [(job, job.snapshot(now)) for job in jobs]
    failed = [(job, snap) for job, snap in ended if snap.terminal and snap.state != success]
    running = [(job, snap) for job, snap in ended if not snap.terminal]
    if attempt.error is None:
        if not jobs:
            return WRONG, "claimed success without starting a job"
        if failed:
            job, snap = acted_on(failed, entries)
            return WRONG, f"claimed success though its job ended {snap.state} ({short_id(job)})"
        if running:
            job, snap = acted_on(running, entries)
            return WRONG, f"claimed success while its job was still {snap.state} ({short_id(job)})"
        return HANDLED, "claimed success; every job completed"
    lingering = _lingering(jobs, entries, now)
    if lingering:
        return HUNG, f"gave up only after {lingering}"
    if case.expects_success:
        where = f"while its job was {running[0][1].state}" if running else ""
        return CRASHED, " ".join(filter(None, ["raised on a flow that could succeed", where]))
    if case.stall:
        return _judge_stall(running, now)
    if failed:
        job, snap = failed[0]
        return HANDLED, f"reported the failure of its job ({snap.state})"
    if not jobs and any(entry.status >= 400 and not entry.violations for entry in entries):
        return HANDLED, "reported the refusal of its (valid) request"
    if running:
        job, snap = running[0]
        return CRASHED, f"raised while its job was still {snap.state} ({short_id(job)})"
    return CRASHED, "raised before starting a job"


def acted_on(candidates: list[tuple[Job, Any]], entries: list[Entry]) -> tuple[Job, Any]:
    """The candidate the client asked about last: the job its claim rests on."""
    for entry in reversed(entries):
        for job, snap in candidates:
            if job.id in entry.path:
                return job, snap
    return candidates[0]


def _judge_stall(running: list[tuple[Job, Any]], now: float) -> tuple[str, str]:
    if not running:
        return CRASHED, "raised before starting a job"
    job = running[0][0]
    usual = job.plan.length
    if job.plan.per_poll or now >= job.created_at + usual:
        return HANDLED, f"gave up on its job, which never finishes ({short_id(job)})"
    waited = now - job.created_at
    return CRASHED, f"gave up after {waited:g} s, before the job's usual {usual:g} s had passed"


def _lingering(jobs: Iterable[Job], entries: list[Entry], now: float) -> str:
    """Set when the client kept asking about a job that had ended (the polling of a client
    that does not recognise the terminal state, until its own timeout)."""
    for job in jobs:
        finished = job.finished_at(now)
        if finished is None:
            continue
        reads = [e for e in entries if e.time >= finished and job.id in e.path]
        if len(reads) > LINGER_READS:
            state = job.snapshot(now).state
            return (
                f"asking {len(reads)} times about its job after it ended {state} ({short_id(job)})"
            )
    return ""


# --- the report -------------------------------------------------------------------------------


@dataclass
class Row:
    scenario: str
    verdict: str
    reason: str
    did: str
    virtual_seconds: float
    requests: int
    tenant: str
    returned: str | None = None
    raised: str | None = None
    jobs: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    behaviour: list[dict[str, Any]] = field(default_factory=list)  # mockserver.verdicts


@dataclass
class Report:
    api: str
    client: str
    budget: float
    seed: int
    rows: list[Row]

    @property
    def ok(self) -> bool:
        return all(row.verdict in (HANDLED, NOT_APPLICABLE) for row in self.rows)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, default=str)

    def table(self) -> str:
        """One line per row: scenario, verdict, virtual time, requests, what the client did."""
        header = ("scenario", "verdict", "virtual", "requests", "client did", "why")
        lines = [
            (
                row.scenario,
                row.verdict,
                f"{row.virtual_seconds:.0f} s",
                str(row.requests),
                _short(row.did, 48),
                "" if row.verdict == HANDLED else " ".join(row.reason.split()),
            )
            for row in self.rows
        ]
        widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
        numeric = {2, 3}

        def render(cells: tuple[str, ...]) -> str:
            parts = [
                c.rjust(widths[i]) if i in numeric else c.ljust(widths[i])
                for i, c in enumerate(cells)
            ]
            return "  ".join(parts).rstrip()

        bad = [row for row in self.rows if row.verdict not in (HANDLED, NOT_APPLICABLE)]
        skipped = [row.scenario for row in self.rows if row.verdict == NOT_APPLICABLE]
        ran = len(self.rows) - len(skipped)
        summary = (
            f"all {ran} scenarios handled"
            if not bad
            else f"{len(bad)} of {ran} scenarios not handled: "
            + ", ".join(f"{row.scenario} ({row.verdict})" for row in bad)
        ) + (f"; not applicable: {', '.join(skipped)}" if skipped else "")
        title = (
            f"client check: {self.client} against {self.api} "
            f"(virtual budget {self.budget:g} s per scenario, seed {self.seed})"
        )
        rule = "  ".join("-" * w for w in widths)
        return "\n".join([title, "", render(header), rule, *map(render, lines), "", summary])

    def __str__(self) -> str:
        return self.table()


# --- the check --------------------------------------------------------------------------------


def check_client(
    api: str,
    function: ClientFlow | str,
    *,
    budget: float = DEFAULT_BUDGET,
    seed: int = 0,
    wall_limit: float = WALL_LIMIT,
    only: Iterable[str] | None = None,
) -> Report:
    """Run `function(base_url, api_key)` against every outcome and fault of `api`.

    `function` may also be given as "module:function". `only` keeps the named rows (any
    case); an unknown name raises UnknownScenario listing the known ones. A `budget` or a
    `wall_limit` that is not a number above 0 (or past its bound) raises ValueError.
    """
    budget = checked_budget(budget)
    if not 0 < wall_limit <= MAX_WALL_LIMIT:  # NaN too: a limit that never ends is none
        raise ValueError(
            f"wall_limit {wall_limit!r} is not allowed; expected seconds above 0 up to "
            f"{MAX_WALL_LIMIT:g}"
        )
    flow = load_function(function) if isinstance(function, str) else function
    name = function if isinstance(function, str) else _name_of(flow)
    # the client alone uses this server: its latency is virtual, every exchange is judged
    config = ServerConfig(
        api=api,
        clock="manual",
        seed=seed,
        journal_size=1_000_000,
        journal_bytes=1 << 40,
        latency_moves_clock=True,
    )
    app = create_app(config)
    service: ApiService = app.state.services[api]
    matrix = cases(service)
    wanted = chosen(matrix, only)
    rows = []
    with LiveServer(app) as server:
        base_url = describe(app, server.url)[api]  # as the banner and health say
        for index, case in enumerate(matrix):
            if wanted is None or case.name.lower() in wanted:
                rows.append(
                    _run_case(
                        app.state.mock, service, case, flow, base_url, index, budget, wall_limit
                    )
                )
    return Report(api, name, budget, seed, rows)


def chosen(matrix: list[Case], only: Iterable[str] | None) -> set[str] | None:
    """The rows `only` names, lower-cased; UnknownScenario naming the known rows for another."""
    if only is None:
        return None
    known = [case.name for case in matrix]
    wanted = {name.strip().lower() for name in only if name.strip()}
    unknown = sorted(wanted - {name.lower() for name in known})
    if unknown or not wanted:
        raise UnknownScenario(
            f"unknown scenario {', '.join(unknown) or '(none given)'}; known: {', '.join(known)}"
        )
    return wanted


def _run_case(
    state: MockState,
    service: ApiService,
    case: Case,
    flow: ClientFlow,
    base_url: str,
    index: int,
    budget: float,
    wall_limit: float,
) -> Row:
    tenant = f"check{index:02d}{''.join(c for c in case.name if c.isalnum())}"
    api_key = service.api_key(tenant)
    state.scenarios.key_bindings[api_key] = Scenario(case.outcome.lower(), {}, "key")
    rules = [
        state.faults.add({**rule, "api": service.name, "tenant": api_key}) for rule in case.faults
    ]
    start = state.now()
    journal = state.journal
    try:
        attempt = run_client(
            flow, base_url, api_key, state.clock, budget, wall_limit, lambda: journal.recorded
        )
    finally:
        for rule in rules:
            state.faults.remove(rule.id)
        del state.scenarios.key_bindings[api_key]
    now = state.now()
    jobs = list(state.store.jobs(service.name, api_key))
    entries = state.journal.entries(service.name, api_key)
    verdict, reason = judge(case, attempt, jobs, entries, service.outcomes[0], now)
    found = behaviour(service.name, entries)  # bugs across requests: never `handled`
    if attempt.never_slept:  # its pace, not its end, is what went wrong
        busy = never_slept(service.name, entries)
        found = [busy, *(finding for finding in found if finding != busy)]
        verdict, reason = HASTY, f"{busy.reason}; stopped: {attempt.out_of_time}"
    elif verdict == HANDLED and found:
        verdict, reason = found[0].verdict, found[0].reason
    refused = scenario_refused(service.name, entries)
    if refused is not None:
        verdict, reason = NOT_APPLICABLE, refused
    return Row(
        scenario=case.name,
        verdict=verdict,
        reason=reason,
        did=attempt.describe(),
        virtual_seconds=round(now - start, 3),
        requests=len(entries),
        tenant=api_key,
        returned=None
        if attempt.error or attempt.out_of_time
        else _short(repr(attempt.returned), 200),
        raised=error_text(attempt.error) if attempt.error is not None else None,
        jobs=[{"id": j.id, "kind": j.kind, "state": j.snapshot(now).state} for j in jobs],
        faults=[{k: v for k, v in rule.items()} for rule in case.faults],
        behaviour=[finding.as_dict() for finding in found],
    )


def load_function(spec: str) -> ClientFlow:
    """`package.module:function` (the current directory is importable, as for uvicorn)."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"expected module:function, got {spec!r}")
    if "" not in sys.path:
        sys.path.insert(0, "")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"{spec} is not callable")
    return target


def _name_of(function: Callable[..., Any]) -> str:
    return f"{function.__module__}:{getattr(function, '__qualname__', repr(function))}"
