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
  out, a payload it could not read), or raised before its job had ended. Its reason names
  the exception, and the last request the API refused for breaking the contract.
- `hung`: still waiting when the virtual budget ran out, still running (blocked, never
  asking) at the wall-time limit, sleeping next to nothing again and again (`DEFAULT_MAX_SLEEPS` in
  a row), or it kept polling a job that had already ended and then gave up with its own timeout
  (a few polls after the end, then another error: `lingered`).
- `hasty`: polled in a loop that never sleeps (stopped after `MAX_STILL` requests of its own
  with the clock standing still), whatever its job became; see also the behaviour verdicts
  below.
- `wrong`: claimed success on a failure, or while its job had not completed.
- `not_applicable`: the row cannot run for this flow (the API cannot produce its scenario for
  the flow's request, e.g. `partial` for one document); not a failure, never `handled`.

A flow that survives every outcome may still misbehave across requests: the behaviour verdicts
of `mockserver.verdicts` (`altered`, `duplicated`, `hasty`, `lingered`) replace `handled`.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import itertools
import json
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

from mockserver.admin import describe
from mockserver.app import create_app
from mockserver.config import ServerConfig
from mockserver.engine.clock import Clock
from mockserver.engine.jobs import Job
from mockserver.engine.journal import Entry
from mockserver.engine.scenarios import Scenario
from mockserver.faults import FaultError, FaultRule, creating_operations, polling_operations
from mockserver.hang import hung_reason, polls_after_end, short, short_id
from mockserver.live import LiveServer
from mockserver.requestcount import Requests
from mockserver.service import ApiService
from mockserver.state import MockState
from mockserver.verdicts import HASTY, LINGERED, behaviour, never_slept, scenario_refused
from mockserver.virtualtime import (
    DEFAULT_MAX_SLEEPS,
    REAL,
    NeverSleeps,
    OutOfTime,
    VirtualTime,
    checked_budget,
    patched,
)

if TYPE_CHECKING:
    pass

HANDLED, CRASHED, HUNG, WRONG = "handled", "crashed", "hung", "wrong"
NOT_APPLICABLE = "not_applicable"
CREDITS = "insufficient_credits"  # the scenario word of a create refused with 402
DEFAULT_BUDGET = 3600.0  # virtual seconds a row may take: far more than any job plans
WALL_LIMIT = 60.0  # real seconds a row may take (a client blocked, or busy without asking)
MAX_WALL_LIMIT = 3600.0  # the most `wall_limit` may be: an hour of real time per row
STOP_GRACE = 5.0  # real seconds a client past its limit has to reach a function call
MAX_STILL = 200  # requests of its own with the clock standing still: a loop that never sleeps
# the client's function calls between two looks at its limits: the looks cost more than the
# calls they watch, and a request takes hundreds of calls
CHECK_EVERY = 64
LINGER_READS = 3  # requests naming a job after it ended that still count as reading it
ERROR_CHARS = 200  # of an exception's type and message, or a refusal, in a row: enough to act on
# why the budget ran out on a flow: what the code that was sleeping then read of the clocks
REAL_CLOCKS = (
    "the code sleeping when it ran out read no clock virtual time moves, so it has no timeout "
    "(add one) or one on a clock virtual time does not move (datetime, asyncio.wait_for, "
    "asyncio.timeout, loop.time, a clock bound as a default argument), which never fires here"
)
LONGER_TIMEOUT = (
    "the code sleeping when it ran out reads the virtual clock, so a timeout it has is longer "
    "than the budget (raise --budget, or shorten the timeout) or it has none (add one)"
)

ClientFlow = Callable[[str, str], Any]


class UnknownScenario(ValueError):
    """`only` names a row the matrix does not have."""


class CannotLoad(ValueError):
    """A "module:function" that names no flow: a malformed name, a module that cannot be
    found or raised while it was imported, a missing or uncallable attribute. One line."""


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
    client that retries as documented gets through. A fault whose status the API does not
    document has no row: it could never fire.
    """
    success, *failures = service.outcomes
    creates = sorted(creating_operations(service.contract))
    polls = sorted(polling_operations(service.contract))

    def twice(**rule: Any) -> tuple[dict[str, Any], ...]:
        return ({**rule, "operation": creates}, {**rule, "operation": polls})

    matrix = [
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
    return [case for case in matrix if all(_fires(service, rule) for rule in case.faults)]


def _fires(service: ApiService, rule: dict[str, Any]) -> bool:
    """Whether the fault rule can fire on this API: a status its contract documents on none of
    the rule's operations (an API of your own without a 503) is refused, and its row left out."""
    try:
        FaultRule.parse({**rule, "api": service.name})
    except FaultError:
        return False
    return True


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
    stopped for asking again and again while the clock stood still); how it spent virtual
    time (`VirtualTime.slept`, `waited`, `sleeper_read_clock`)."""

    returned: Any = None
    error: BaseException | None = None
    out_of_time: str | None = None
    never_slept: bool = False
    overdue: bool = False  # stopped at the wall-time limit
    slept: float = 0.0  # zero-length sleeps (an async client's scheduling points) add nothing
    waited: float = 0.0
    sleeper_read_clock: bool | None = None

    def describe(self) -> str:
        if self.out_of_time is not None:
            return self.out_of_time
        if self.error is not None:
            return f"raised {error_text(self.error)}"
        return f"returned {_short(repr(self.returned), 60)}"


def error_text(error: BaseException) -> str:
    """The exception's type and message, on one line."""
    message = str(error)
    return _short(
        f"{type(error).__name__}: {message}" if message else type(error).__name__, ERROR_CHARS
    )


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

    A client past its wall-clock limit, or past `MAX_STILL` of its `requests` (a count of
    those it made so far) while the clock stood still, is stopped cooperatively: OutOfTime is
    raised in its thread at its next function call (a trace function of that thread alone,
    `sys.settrace`; not in its event loop's callbacks: `reaches_the_client`) or its next look
    at the clock. A loop that calls nothing at all, or one
    that swallows OutOfTime, cannot be stopped; its thread is left behind (a daemon,
    `VirtualTime.abandon`) and the row is reported hung all the same. From then on its every
    sleep and clock read raises OutOfTime: it moves no clock, and an HTTP client that reads
    the clock per request (httpx) sends none.
    """
    attempt = Attempt()
    overdue = f"still running after {wall_limit:g} s of real time"
    real_now = REAL["monotonic"]
    deadline = real_now() + wall_limit
    # made here: how it spent virtual time is read even of a client left behind, blocked
    timer = VirtualTime(
        clock, budget, max_sleeps=DEFAULT_MAX_SLEEPS, requests=requests, max_still=MAX_STILL
    )

    def run() -> None:
        previous = sys.gettrace()  # a coverage tool's or debugger's tracer keeps working
        calls = itertools.count()

        def stop_when_overdue(frame: FrameType, event: Any, arg: Any) -> Any:
            if not next(calls) % CHECK_EVERY and reaches_the_client(frame):
                if real_now() > deadline:
                    timer.stop(OutOfTime(overdue))
                timer.check_still()  # also for a client that never reads the clock
            return previous(frame, event, arg) if previous is not None else None

        try:
            with timer.running():
                sys.settrace(stop_when_overdue)  # inside: its way out of the block is not traced
                try:
                    result = function(base_url, api_key)
                    if inspect.isawaitable(result):
                        result = asyncio.run(_awaited(result))
                finally:
                    sys.settrace(previous)
            attempt.returned = result
        except BaseException as exc:
            attempt.error = exc
        if timer.stopped is not None:  # whatever it became on its way out of the client
            attempt.returned, attempt.error = None, None
            attempt.out_of_time = str(timer.stopped)
            attempt.never_slept = isinstance(timer.stopped, NeverSleeps)

    thread = threading.Thread(target=run, name="clientcheck", daemon=True)
    thread.start()
    thread.join(wall_limit + STOP_GRACE)
    if thread.is_alive():
        timer.abandon(OutOfTime(overdue))
    if thread.is_alive() or attempt.out_of_time == overdue:
        attempt.out_of_time, attempt.overdue = overdue, True
    attempt.slept, attempt.waited = timer.slept, timer.waited
    attempt.sleeper_read_clock = timer.sleeper_read_clock
    return attempt


# an event loop's own machinery: an exception raised in it never reaches the client's code
LOOP_MODULES = frozenset({"asyncio", "selectors"})
# frames that are a task's step when an event loop's callback calls them (`Task.__step`, in
# C, leaves no frame between the callback runner and the coroutine it resumes)
RESUMED = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR | inspect.CO_GENERATOR


def reaches_the_client(frame: FrameType) -> bool:
    """Whether OutOfTime raised at the call of `frame` reaches the client's code. Not in an
    event loop's machinery, nor in a plain callback the loop runs (`Handle._run`): the loop
    would log it and lose it, and a task waiting on that callback would wait for ever (its
    thread then stuck in `asyncio.run`'s cancelling). In a task's step it ends that task, as
    in synchronous code it ends the client."""
    if frame.f_globals.get("__name__", "").partition(".")[0] in LOOP_MODULES:
        return False
    while frame.f_back is not None:
        caller = frame.f_back
        module = caller.f_globals.get("__name__", "")
        if module == "asyncio.tasks":  # a task's step written in Python
            return True
        if module == "asyncio.events":  # run by the loop: a task's step, or a callback
            return bool(frame.f_code.co_flags & RESUMED)
        frame = caller
    return True


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


# --- judging ----------------------------------------------------------------------------------


def judge(
    case: Case, attempt: Attempt, jobs: list[Job], entries: list[Entry], success: str, now: float
) -> tuple[str, str]:
    """The verdict of one row and why, from what the client did and what its jobs became."""
    if attempt.out_of_time is not None:
        return HUNG, _hung(attempt, jobs, entries, now)
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
    if lingering and timed_out(attempt.error):
        return HUNG, f"gave up only after {lingering}"
    verdict, reason = _judge_failure(case, jobs, entries, failed, running, now)
    if verdict != CRASHED:
        return verdict, reason
    return CRASHED, "; ".join(
        filter(None, [f"{reason}: {error_text(attempt.error)}", refusal(entries)])
    )


def _judge_failure(
    case: Case,
    jobs: list[Job],
    entries: list[Entry],
    failed: list[tuple[Job, Any]],
    running: list[tuple[Job, Any]],
    now: float,
) -> tuple[str, str]:
    """The verdict of a flow that raised, before naming what it raised."""
    if case.expects_success:
        where = f"while its job was {running[0][1].state}" if running else ""
        return CRASHED, " ".join(filter(None, ["raised on a flow that could succeed", where]))
    if case.stall:
        return _judge_stall(jobs, running, now)
    if failed:
        job, snap = failed[0]
        return HANDLED, f"reported the failure of its job ({snap.state})"
    if not jobs and any(entry.status >= 400 and not entry.violations for entry in entries):
        return HANDLED, "reported the refusal of its (valid) request"
    if running:
        job, snap = running[0]
        return CRASHED, f"raised while its job was still {snap.state} ({short_id(job)})"
    return CRASHED, "raised before starting a job"


def timed_out(error: BaseException | None) -> bool:
    """Whether the flow gave up at a timeout of its own: a TimeoutError, or an exception
    whose type is named for one (`PollingTimeout`...)."""
    return isinstance(error, TimeoutError) or "timeout" in type(error).__name__.lower()


def refusal(entries: list[Entry]) -> str:
    """The last request the API refused for breaking its contract, and the fields it named
    (what a 422 says), or ""."""
    for entry in reversed(entries):
        if 400 <= entry.status < 500 and entry.violations:
            problems = "; ".join(
                f"{violation.pointer.strip('/').replace('/', '.')}: {violation.message}"
                for violation in entry.violations
            )
            return _short(
                f"the API refused {entry.method} {entry.path} ({entry.status}): {problems}",
                ERROR_CHARS,
            )
    return ""


def _hung(attempt: Attempt, jobs: list[Job], entries: list[Entry], now: float) -> str:
    """`hung_reason`, and what shows of why: it never slept on virtual time (its waits were
    real: zero-length sleeps are scheduling points, not waits), or, the budget run out in a
    sleep, whether the code sleeping then (a poll loop, its own or an SDK's) ever read the
    virtual clock: if so a timeout it has is longer than the budget, if not it has none or
    one on a real clock."""
    assert attempt.out_of_time is not None
    reason = hung_reason(attempt.out_of_time, jobs, entries, now)
    if attempt.overdue and entries and not (attempt.slept or attempt.waited):
        return (
            f"{reason}; it never slept on virtual time, so its job's clock stood still: a wait "
            "on real time (threading.Event.wait, a lock's timeout, select) does not move it"
        )
    if attempt.sleeper_read_clock is None:
        return reason
    return f"{reason}; {LONGER_TIMEOUT if attempt.sleeper_read_clock else REAL_CLOCKS}"


def acted_on(candidates: list[tuple[Job, Any]], entries: list[Entry]) -> tuple[Job, Any]:
    """The candidate the client asked about last: the job its claim rests on."""
    for entry in reversed(entries):
        for job, snap in candidates:
            if job.id in entry.path:
                return job, snap
    return candidates[0]


def _judge_stall(jobs: list[Job], running: list[tuple[Job, Any]], now: float) -> tuple[str, str]:
    """A stalled job given up on after its usual duration is handled, cancelled by the client
    (it ended: it never would have otherwise) or left running."""
    if not jobs:
        return CRASHED, "raised before starting a job"
    job = running[0][0] if running else jobs[0]
    usual = job.plan.length
    if job.plan.per_poll or now >= job.created_at + usual:
        ended = "" if running else f", and ended it {job.snapshot(now).state}"
        return HANDLED, f"gave up on its job, which never finishes{ended} ({short_id(job)})"
    waited = now - job.created_at
    return CRASHED, f"gave up after {waited:g} s, before the job's usual {usual:g} s had passed"


def _lingering(jobs: Iterable[Job], entries: list[Entry], now: float) -> str:
    """Set when the client kept asking about a job that had ended (the polling of a client
    that does not recognise the terminal state), counted from its end (a cancel's time)."""
    for job in jobs:
        reads = polls_after_end(job, entries, now)
        if reads is not None and reads > LINGER_READS:
            state = job.snapshot(now).state
            return f"asking {reads} times {_after_end(state, job.id)}"
    return ""


def _after_end(state: str, job_id: str) -> str:
    """How a `hung` reason names the ended job its flow kept asking about: the `lingered`
    finding on that job counts the same polls (from the answer that showed the end, not from
    the end), and is not repeated beside it."""
    return f"about its job after it ended {state} ({short(job_id)})"


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

    def why(self) -> str:
        """The reason, then each behaviour finding it does not say already: those listed
        beside a `crashed`, `hung` or `wrong` verdict, the others beside the first."""
        if self.verdict == HANDLED:
            return ""
        beside = [
            f"{finding['verdict']}: {finding['reason']}"
            for finding in self.behaviour
            if finding["reason"] not in self.reason
            and not (
                finding["verdict"] == LINGERED
                and _after_end(finding["state"], finding["job"]) in self.reason
            )
        ]
        return " ".join("; also ".join([self.reason, *beside]).split())


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

    @property
    def checked(self) -> int:
        """Rows that said something of the client: not `not_applicable`."""
        return sum(row.verdict != NOT_APPLICABLE for row in self.rows)

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
                row.why(),
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
        ran = self.checked
        summary = (
            "nothing was checked: no scenario run applies to this flow"
            if not ran
            else f"all {ran} scenarios handled"
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
    only: Iterable[str] | str | None = None,
) -> Report:
    """Run `function(base_url, api_key)` against every outcome and fault of `api`.

    `function` may also be given as "module:function". `only` keeps the named rows (any
    case): names, or one string of them comma-separated as `--only` takes them; an unknown
    name raises UnknownScenario listing the known ones. A `budget` or a `wall_limit` that is
    not a number above 0 (or past its bound) raises ValueError.
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
    rows: list[Row] = []
    requests = Requests(app)
    # one patch for every row: a flow left behind in one cannot undo or redo a later row's
    with LiveServer(requests) as server, patched():
        base_url = describe(app, server.url)[api]  # as the banner and health say
        for index, case in enumerate(matrix):
            if wanted is None or case.name.lower() in wanted:
                earlier = tuple(row.tenant for row in rows)  # the keys flows left behind use
                rows.append(
                    _run_case(
                        app.state.mock,
                        service,
                        case,
                        flow,
                        base_url,
                        index,
                        budget,
                        wall_limit,
                        functools.partial(requests.made, excluding=earlier),
                    )
                )
    return Report(api, name, budget, seed, rows)


def chosen(matrix: list[Case], only: Iterable[str] | str | None) -> set[str] | None:
    """The rows `only` names (a string: comma-separated), lower-cased; UnknownScenario naming
    the known rows for another."""
    if only is None:
        return None
    if isinstance(only, str):  # not its letters
        only = only.split(",")
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
    requests: Callable[[], int],
) -> Row:
    tenant = f"check{index:02d}{''.join(c for c in case.name if c.isalnum())}"
    api_key = service.api_key(tenant)
    bound = state.scenarios.key_bindings[api_key] = Scenario(case.outcome.lower(), {}, "key")
    rules = [
        state.faults.add({**rule, "api": service.name, "tenant": api_key}) for rule in case.faults
    ]
    start = state.now()
    try:
        attempt = run_client(flow, base_url, api_key, state.clock, budget, wall_limit, requests)
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
    refused = scenario_refused(service.name, entries, bound)
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
    """`package.module:function` (the current directory is importable, as for uvicorn).
    CannotLoad says why it names no flow, in one line: whatever the module raised while it
    was imported is the user's bug, not the check's (a SyntaxError with its file:line)."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise CannotLoad(f"expected module:function, got {spec!r}")
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        target: Any = importlib.import_module(module_name)
    except SyntaxError as exc:  # IndentationError too: its file:line, not the module's name
        where = f"{exc.filename}:{exc.lineno}" if exc.filename else f"line {exc.lineno}"
        raise CannotLoad(f"{type(exc).__name__}: {exc.msg} ({where})") from None
    except (Exception, SystemExit) as exc:  # a module that calls sys.exit() on import too
        raise CannotLoad(error_text(exc)) from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise CannotLoad(str(exc)) from None
    if not callable(target):
        raise CannotLoad(f"{spec} is not callable")
    return target


def _name_of(function: Callable[..., Any]) -> str:
    return f"{function.__module__}:{getattr(function, '__qualname__', repr(function))}"
