"""The fault middleware: applies the rules to each request of an emulated API.

Faults fire before the handler does anything that lasts, so a create request that is refused
or dropped stores no job and a client's retry cannot make a duplicate. Most fire before the
handler runs. What depends on a create's scenario fires when the handler takes it (header,
queue, key, magic input, default: `ScenarioBook.choose` shows it to the middleware), before
its job is planned: only the create really taking a scenario meets its faults (a queued word
some creates pass over is not theirs; an idempotent replay takes none), and a refusal then
gives a queued scenario back. A stall, which changes the job the handler makes, is offered to
it (`stall`); a latency the answer waits, a variety varies it. A fault only fires where the
operation documents the status it produces: the mock never breaks its own contract, faults
included.

A scenario's own fault (`fault=`) counts its `times` per use of the scenario, that is per job:
a create's count (per key and where its scenario came from) goes on over the retries of a
refused create until one gets past the fault and uses the scenario up, and the next create
starts afresh; a job's other requests count per job (`_use`, `_spent`).
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING

import anyio
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver.contracts.document import Operation
from mockserver.engine.scenarios import (
    HEADER_KEY,
    Scenario,
    ScenarioError,
    header_once,
    watching,
)
from mockserver.errors import REASONS, ApiError
from mockserver.faults.operations import creating_operations
from mockserver.faults.reset import drop_connection
from mockserver.faults.rules import (
    LATENCY,
    RATE_LIMIT,
    REFUSALS,
    RESET,
    STALL,
    VARIETY,
    Call,
    FaultError,
    FaultRule,
)
from mockserver.faults.stall import offer_stall
from mockserver.faults.variety import Variety
from mockserver.request import ApiRequest, all_values, first_headers
from mockserver.service import REFUSED_BY_SCENARIO

if TYPE_CHECKING:
    from mockserver.engine.jobs import Job
    from mockserver.service import ApiService
    from mockserver.state import MockState

log = logging.getLogger("mockserver")


class FaultMiddleware:
    """Applies the fault rules to each request of an emulated API.

    It sits inside the request middleware, so a faulted answer gets a request ID and is
    journaled like any other (a dropped connection shows as status 0).
    """

    def __init__(self, app: ASGIApp, services: dict[str, ApiService], state: MockState) -> None:
        self.app = app
        self.services = services
        self.state = state
        self.creates = {name: creating_operations(s.contract) for name, s in services.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.idle(scope):  # the common case: two lookups
            await self.app(scope, receive, send)
            return
        with self.state.store.handing_on():  # the jobs a path names are read once, here
            await self._handle(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        info = ApiRequest.of(scope)
        service = self.services.get(info.api or "") if info is not None else None
        operation = info.operation if info is not None else None
        if info is None or service is None or operation is None:
            await self.app(scope, receive, send)
            return
        call: Call | None = None
        try:
            call = self._call(scope, info, service, operation, _header(scope))
            rules = self._rules(call)
        except (FaultError, ScenarioError) as exc:  # a header the API refuses, or its `fault=`
            if "400" in operation.spec.get("responses", {}):
                error = ApiError(400, f"X-Mock-Scenario: {exc}")
                await _answer(service, error, scope, receive, send)
                return
            log.warning("ignoring X-Mock-Scenario fault: %s", exc)
            if call is None:  # the header itself was refused (sent twice): as if not sent
                call = self._call(scope, info, service, operation, "")
            rules = self._book_rules(call)
        if not rules and not call.creates:
            await self.app(scope, receive, send)
            return
        await self._apply(rules, call, service, scope, receive, send)

    async def _apply(
        self,
        rules: list[FaultRule],
        call: Call,
        service: ApiService,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """Fire `rules` and hand the request on, or answer in its place; a create's scenario
        fires its own when the handler takes it (`_taking`)."""
        delay = self._delay(rules, call)
        if delay:
            await self._wait(delay)
            self.state.store.read_again()  # others may have changed the jobs meanwhile
        refused = self._refused(rules, call)
        if refused is not None:
            await self._refuse(*refused, call.operation, service, scope, receive, send)
            return
        pending = _Pending()
        pending.leave(rules, call)
        answering = self._answering(pending, service, send)
        if not call.creates:
            await self.app(scope, receive, answering)
            return
        # fired when the handler plans a job, once the API took the scenario
        offer_stall(
            scope, lambda: any(self._fire(rule, at) is not None for rule, at in pending.stalls)
        )
        try:
            with watching(partial(self._taking, call, pending)):
                await self.app(scope, receive, answering)
        except _Refused as taken:
            if pending.delay:
                await self._wait(pending.delay)
            await self._refuse(
                taken.rule, taken.fired, call.operation, service, scope, receive, send
            )

    def _taking(self, call: Call, pending: _Pending, scenario: Scenario) -> None:
        """The create takes `scenario`: the rules that depend on it fire now, as the others
        did before the handler. A refusal is raised (`_Refused`), through the handler, which
        gives a queued scenario back. A create that gets past the scenario's own fault ends
        that use of it if it uses the scenario up (`_answering`)."""
        taken = replace(call, scenario=scenario)
        rules = [rule for rule in self.state.faults.rules if rule.scenario and rule.matches(taken)]
        own = self._own(taken)
        if own is not None:
            rules.append(own)
        pending.delay += self._delay(rules, taken)
        refused = self._refused(rules, taken)
        if refused is not None:
            raise _Refused(*refused)
        if own is not None:
            pending.using = own, taken
        pending.leave(rules, taken)

    def _delay(self, rules: list[FaultRule], call: Call) -> float:
        """Seconds the answer waits: the latency rules' that fire."""
        return sum(
            rule.delay
            for rule in rules
            if rule.fault == LATENCY and self._fire(rule, call) is not None
        )

    def _refused(self, rules: list[FaultRule], call: Call) -> tuple[FaultRule, int] | None:
        """The first refusal (429, 5xx, reset) of `rules` that fires, and what it fired with."""
        for rule in rules:
            if rule.fault in REFUSALS and _documents(call.operation, rule):
                fired = self._fire(rule, call)
                if fired is not None:
                    return rule, fired
        return None

    async def _refuse(
        self,
        rule: FaultRule,
        fired: int,
        operation: Operation,
        service: ApiService,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """Answer with the refusal in the handler's place, or drop the connection."""
        if rule.fault == RESET:
            await drop_connection(scope)
        else:
            await _answer(service, self._refusal(rule, fired, operation), scope, receive, send)

    def _answering(self, pending: _Pending, service: ApiService, send: Send) -> Send:
        """`send`, once the answer begins: after the latency `pending` holds, through its
        variety. A create that uses its scenario up (stores its job, or answers the 402 its
        word asks for) ends that use of the scenario: the next create with it counts the
        scenario's fault afresh (`FaultBook.forget`)."""
        target = send

        async def answering(message: Message) -> None:
            nonlocal target
            if message["type"] == "http.response.start":
                status = message["status"]
                if pending.using and (status < 300 or status == REFUSED_BY_SCENARIO):
                    rule, call = pending.using
                    self.state.faults.forget(rule, call.api, call.tenant)
                if pending.delay:
                    await self._wait(pending.delay)
                if pending.variety is not None:
                    rule, call = pending.variety
                    target = Variety(self.state, service, call, rule).wrap(send)
            await target(message)

        return answering

    def idle(self, scope: Scope) -> bool:
        """No rule and no scenario with a fault anywhere: the common case, decided cheaply.
        The request middleware asks first, and goes past this layer when it is idle. A
        scenario header sent twice makes it busy: `_handle` refuses it (or ignores it)."""
        sent = first_headers(scope).get(HEADER_KEY)
        if sent is not None:  # the rare request that names its scenario
            if b"fault" in sent:
                self.state.scenarios.note_fault()
            if len(all_values(scope, HEADER_KEY)) > 1:
                return False
        return not self.state.faults.rules and not self.state.scenarios.faults_named

    def _fire(self, rule: FaultRule, call: Call) -> int | None:
        """Count one firing of `rule` for the call's tenant now (see `FaultBook.fire`)."""
        return self.state.faults.fire(rule, call.api, call.tenant, self.state.now())

    def _call(
        self, scope: Scope, info: ApiRequest, service: ApiService, operation: Operation, header: str
    ) -> Call:
        """The request as the rules see it, its scenario the one `header` (its X-Mock-Scenario,
        "" for none) names, else the one of the job its path names or of its key; a create's
        is the one it takes, known when the handler takes it (`_taking`)."""
        tenant = _tenant(service, scope)
        creates = operation.id in self.creates[service.name]
        # a scenario only matters to a rule that targets it or to a `fault=` in it: most
        # requests of a server without rules skip the parsing
        targeted = bool(self.state.faults.rules)
        scenario = None
        if header and (targeted or "fault" in header):
            with contextlib.suppress(ScenarioError):
                scenario = Scenario.parse(header, "header")
        job = None
        if tenant is not None and not creates:
            job = self._job(service.name, tenant, info.path_params)
            if not header:
                scenario = self._scenario_of(job, tenant, service, targeted)
        return Call(service.name, operation, creates, tenant, scenario, bool(header), job)

    def _job(self, api: str, tenant: str, params: dict[str, str]) -> Job | None:
        """The job the path names, if any (read once: the handler is handed it)."""
        jobs = self.state.store.read_ahead(api, tenant, list(params.values()))
        return next((job for job in jobs if job is not None), None)

    def _scenario_of(
        self, job: Job | None, tenant: str, service: ApiService, targeted: bool
    ) -> Scenario | None:
        """The scenario of the job the path names, else the one bound to the key."""
        if job is not None:
            if not (targeted or "fault" in job.scenario):
                return None
            with contextlib.suppress(ScenarioError):
                return Scenario.parse(job.scenario, "job")
        return self.state.scenarios.bound(tenant, service.magic_words, service.known_options())

    def _rules(self, call: Call) -> list[FaultRule]:
        """Rules matching the call before its handler runs: the book's in order, then the
        scenario's own fault. A create's scenario is the one the handler takes: the rules
        that depend on it wait for it (`_taking`), but a header's is checked now, so that the
        400 of a scenario the API refuses comes before any fault."""
        own = self._own(call)
        if own is None or call.creates:
            return self._book_rules(call)
        return [*self._book_rules(call), own]

    def _book_rules(self, call: Call) -> list[FaultRule]:
        """The book's rules matching the call before its handler runs: they apply whatever its
        scenario says; on a create, one naming a scenario waits for the one it takes."""
        return [
            rule
            for rule in self.state.faults.rules
            if rule.matches(call) and not (call.creates and rule.scenario)
        ]

    def _own(self, call: Call) -> FaultRule | None:
        """The fault the call's scenario names (`fault=`), counted for this use of it
        (`_use`); None when it names none, does not apply to the call, is spent on its job
        (`_spent`), or when the API refuses the scenario: a header's refusal is raised (its
        400), another's logged (a scenario the API refuses fires none of its faults)."""
        scenario = call.scenario
        if scenario is None or "fault" not in scenario.options:
            return None
        try:
            # a scenario the API refuses (`completed` on Camb, a misspelt `tmes=2`) is
            # refused before any of its faults fires: its 400, not a 503 first
            self.services[call.api].check_scenario(scenario)
            own = self.state.faults.for_scenario(scenario, _use(call))
        except (FaultError, ScenarioError) as exc:
            if call.scenario_from_header:
                raise
            log.warning("ignoring the fault of scenario %r: %s", scenario.describe(), exc)
            return None
        if own is None or not own.matches(call) or self._spent(own, call):
            return None
        return own

    def _spent(self, rule: FaultRule, call: Call) -> bool:
        """Whether the call's job was made with the rule's scenario by a create the rule
        applies to, the rule being a 429, 5xx or reset counted `times`: that create got past
        it only once the use was over (or its `rate` let it through), so the job's other
        requests meet it no more."""
        job, scenario = call.job, call.scenario
        return (
            job is not None
            and scenario is not None
            and job.scenario == scenario.describe()
            and rule.fault in REFUSALS
            and rule.times is not None
            and (not rule.operations or not self.creates[call.api].isdisjoint(rule.operations))
        )

    async def _wait(self, seconds: float) -> None:
        """This answer alone waits; the shared clock is not moved by a client's fault. A
        running clock is waited for in its own time; a manual clock stands still, so the wait
        is in real seconds. Either way it is at most `max_fault_delay` real seconds. A server
        with one client at a time (`latency_moves_clock`: check-client, the pytest plugin's)
        moves its manual clock instead."""
        clock = self.state.clock
        if clock.manual and self.state.config.latency_moves_clock:
            await anyio.to_thread.run_sync(clock.advance, seconds)  # a listener may call us
            return
        real = seconds if clock.manual else seconds / getattr(clock, "scale", 1.0)
        await anyio.sleep(min(real, self.state.config.max_fault_delay))

    def _refusal(self, rule: FaultRule, fired: int, operation: Operation) -> ApiError:
        """The error a refusal answers with: a 429 for the rest of its window (`fired` seconds)
        or the rule's 5xx."""
        assert rule.status is not None
        headers: dict[str, str] = {}
        if rule.fault == RATE_LIMIT:
            headers = self._rate_limit_headers(operation, retry_after=fired)
            detail = f"Too many requests: retry in {fired} s (rate limit injected by the mock)"
        else:
            if rule.retry_after is not None:
                headers["Retry-After"] = str(rule.retry_after)
            title = REASONS.get(rule.status, ("", "Server error"))[1]
            detail = f"{title} (fault injected by the mock)"
        return ApiError(rule.status, detail, headers=headers)

    def _rate_limit_headers(self, operation: Operation, retry_after: int) -> dict[str, str]:
        """`Retry-After`, plus the `X-RateLimit-*` headers where the contract requires them."""
        headers = {"Retry-After": str(retry_after)}
        documented = {name.lower() for name in (operation.response(429) or {}).get("headers", {})}
        values = {
            "x-ratelimit-limit": str(self.state.config.rate_limit or 60),
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(math.ceil(self.state.now() + retry_after)),
        }
        headers.update({name: value for name, value in values.items() if name in documented})
        return headers


class _Refused(Exception):
    """A refusal that fired when a create took its scenario (`FaultMiddleware._taking`):
    raised through the handler, which then stores nothing and gives a queued scenario back,
    and answered by the middleware."""

    def __init__(self, rule: FaultRule, fired: int) -> None:
        super().__init__(rule.fault)
        self.rule, self.fired = rule, fired


@dataclass
class _Pending:
    """What the fired rules leave to the handler and its answer: the stall rules the planning
    of its first job fires, the variety rule that varies the answer, the latency the answer
    waits for (those found when a create takes its scenario: before the handler, the wait is
    over), and the scenario's own fault whose use the answer may end. Each with the call it
    is counted for."""

    stalls: list[tuple[FaultRule, Call]] = field(default_factory=list)
    variety: tuple[FaultRule, Call] | None = None
    delay: float = 0.0
    using: tuple[FaultRule, Call] | None = None  # the create's scenario's own fault, got past

    def leave(self, rules: list[FaultRule], call: Call) -> None:
        """Keep the stall and variety rules of `rules` (the first variety rule wins)."""
        self.stalls += [(rule, call) for rule in rules if rule.fault == STALL]
        if self.variety is None:
            self.variety = next(((rule, call) for rule in rules if rule.fault == VARIETY), None)


def _use(call: Call) -> str:
    """What a scenario's own fault counts per on this call: the job its path names; for a
    create, where its scenario came from (header, queue, key), until a create uses it up
    (`FaultMiddleware._answering`); else the key alone."""
    if call.job is not None:
        return call.job.id
    if call.creates and call.scenario is not None:
        return call.scenario.source
    return ""


async def _answer(
    service: ApiService, error: ApiError, scope: Scope, receive: Receive, send: Send
) -> None:
    """Answer in the handler's place, in the API's own error format."""
    response = service.error_response(Request(scope, receive), error)
    await response(scope, receive, send)


def _documents(operation: Operation, rule: FaultRule) -> bool:
    """A refusal fires only where the operation documents its status."""
    if rule.fault == RESET:
        return True
    return rule.status is not None and str(rule.status) in operation.spec.get("responses", {})


def _header(scope: Scope) -> str:
    """The request's X-Mock-Scenario header ("" without one); ScenarioError when it is sent
    more than once."""
    if HEADER_KEY not in first_headers(scope):
        return ""
    return header_once(all_values(scope, HEADER_KEY))


def _tenant(service: ApiService, scope: Scope) -> str | None:
    """The request's API key as the handlers will see it; None when it would be refused."""
    try:
        return service.tenant_of(Request(scope))
    except ApiError:
        return None
