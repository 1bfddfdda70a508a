"""The fault middleware: applies the rules to each request of an emulated API.

Everything happens before the handler runs, so a create request that is refused or dropped
stores no job and a client's retry cannot make a duplicate; but a stall, which changes the job
the handler makes, is offered to it (`stall`). A fault only fires where the operation documents
the status it produces: the mock never breaks its own contract, faults included.
"""

from __future__ import annotations

import contextlib
import logging
import math
from typing import TYPE_CHECKING

import anyio
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.contracts.document import Operation
from mockserver.engine.scenarios import HEADER_KEY, Scenario, ScenarioError, header_once
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

if TYPE_CHECKING:
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
        if not rules:
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
        delay = sum(
            rule.delay
            for rule in rules
            if rule.fault == LATENCY and self._fire(rule, call) is not None
        )
        if delay:
            await self._wait(delay)
            self.state.store.read_again()  # others may have changed the jobs meanwhile
        for rule in rules:
            if rule.fault not in REFUSALS or not _documents(call.operation, rule):
                continue
            fired = self._fire(rule, call)
            if fired is None:
                continue
            if rule.fault == RESET:
                await drop_connection(scope)
            else:
                error = self._refusal(rule, fired, call.operation)
                await _answer(service, error, scope, receive, send)
            return
        stalls = [rule for rule in rules if rule.fault == STALL]
        if stalls:  # fired when the handler plans a job, once the API took the scenario
            offer_stall(scope, lambda: any(self._fire(rule, call) is not None for rule in stalls))
        variety = next((rule for rule in rules if rule.fault == VARIETY), None)
        if variety is not None:
            send = Variety(self.state, service, call, variety).wrap(send)
        await self.app(scope, receive, send)

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
        "" for none) names, else the one its key's job, queue or binding gives."""
        params = info.path_params
        tenant = _tenant(service, scope)
        creates = operation.id in self.creates[service.name]
        # a scenario only matters to a rule that targets it or to a `fault=` in it: most
        # requests of a server without rules skip the parsing
        targeted = bool(self.state.faults.rules)
        scenario = None
        if header:
            if targeted or "fault" in header:
                with contextlib.suppress(ScenarioError):
                    scenario = Scenario.parse(header, "header")
        elif tenant is not None:
            scenario = self._scenario_of(service.name, tenant, params, creates, targeted)
        return Call(service.name, operation, creates, tenant, scenario, bool(header))

    def _scenario_of(
        self, api: str, tenant: str, params: dict[str, str], creates: bool, targeted: bool
    ) -> Scenario | None:
        """The scenario of the job a path names, else the queued one (for a create), else the
        one bound to the key."""
        for job in self.state.store.read_ahead(api, tenant, list(params.values())):
            if job is not None and job.scenario:
                if not (targeted or "fault" in job.scenario):
                    return None
                with contextlib.suppress(ScenarioError):
                    return Scenario.parse(job.scenario, "job")
        queued = self.state.scenarios.peek(api, tenant) if creates else None
        service = self.services[api]
        return queued or self.state.scenarios.bound(
            tenant, service.magic_words, service.known_options()
        )

    def _rules(self, call: Call) -> list[FaultRule]:
        """Rules matching the call: the book's in order, then the scenario's own fault."""
        book = self.state.faults
        matching = self._book_rules(call)
        if call.scenario is not None and "fault" in call.scenario.options:
            try:
                # a scenario the API refuses (`completed` on Camb, a misspelt `tmes=2`) is
                # refused before any of its faults fires: its 400, not a 503 first
                self.services[call.api].check_scenario(call.scenario)
                own = book.for_scenario(call.scenario)
            except (FaultError, ScenarioError) as exc:
                if call.scenario_from_header:
                    raise
                log.warning("ignoring the fault of scenario %r: %s", call.scenario.describe(), exc)
                own = None
            if own is not None and own.matches(call):
                matching.append(own)
        return matching

    def _book_rules(self, call: Call) -> list[FaultRule]:
        """The book's rules matching the call: they apply whatever its scenario says."""
        return [rule for rule in self.state.faults.rules if rule.matches(call)]

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
