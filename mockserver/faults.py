"""Fault injection: the ways a real API misbehaves, on demand and reproducibly.

A fault rule says what goes wrong (`fault`) and where: which API, which operations
(operationIds of the contract), which tenant (API key), which scenario. Rules come from the
server config (`faults:`), the admin API (`/__mock__/faults`) or a scenario's options
(`X-Mock-Scenario: completed; fault=429; retry_after=3`). The kinds:

- `latency`: the answer comes `delay` seconds (of server time) later.
- `rate_limit` (`429`): a 429 with `Retry-After`; while that window is open on the server
  clock, every matching request of the tenant is refused too, as a real rate limit does.
- `error` (`500`, `503`): a 5xx in the API's own error format.
- `reset`: the connection is dropped without an answer.
- `stall`: the jobs a create request starts never finish (the engine's `stalled` scenario).
- `variety`: a 2xx JSON answer is replaced by another payload the contract allows, drawn
  from the contract's Hypothesis strategies with a seed.

Everything happens in a middleware before the handler runs, so a create request that is
refused or dropped stores no job and a client's retry cannot make a duplicate. A fault only
fires where the operation documents the status it produces: the mock never breaks its own
contract, faults included.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import math
import re
import socket
import struct
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from random import Random
from typing import TYPE_CHECKING, Any

import anyio
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import contracts
from contracts.document import Contract, Operation
from contracts.validate import check
from mockserver.engine.scenarios import HEADER, STALLED, Scenario, ScenarioError
from mockserver.errors import REASONS, ApiError

if TYPE_CHECKING:
    from mockserver.service import ApiService
    from mockserver.state import MockState

log = logging.getLogger("mockserver")

LATENCY = "latency"
RATE_LIMIT = "rate_limit"
ERROR = "error"
RESET = "reset"
STALL = "stall"
VARIETY = "variety"
KINDS = (LATENCY, RATE_LIMIT, ERROR, RESET, STALL, VARIETY)
ALIASES = {
    "429": RATE_LIMIT,
    "5xx": ERROR,
    "connection_reset": RESET,
    "stalled": STALL,
    "delay": LATENCY,
    "payload": VARIETY,
}
REFUSALS = (RATE_LIMIT, ERROR, RESET)  # faults that answer (or drop) instead of the handler
PAYLOADS = ("faithful", "replace")
DEFAULT_RETRY_AFTER = 2
DEFAULT_DELAY = 1.0
RULE_KEYS = (
    "fault",
    "api",
    "operation",
    "tenant",
    "scenario",
    "times",
    "rate",
    "status",
    "retry_after",
    "delay",
    "seed",
    "payload",
)
# what a scenario's options may say about its fault (the rest are the scenario's own options)
SCENARIO_KEYS = ("fault", "operation", "times", "rate", "retry_after", "delay", "seed", "payload")
ALWAYS = "always"


class FaultError(ValueError):
    """A fault rule that cannot be understood; the message says which key and why."""


# --- rules ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultRule:
    """One fault and where it applies. Empty filters match everything."""

    fault: str  # one of KINDS
    api: str | None = None
    operations: tuple[str, ...] = ()  # operationIds; none = every operation (stall: creates)
    tenant: str | None = None
    scenario: str | None = None  # the outcome word of the request's scenario
    times: int | None = None  # fires this often per tenant (rate_limit: windows); None = always
    rate: float = 1.0  # share of matching requests it fires on (seeded, so reproducible)
    status: int | None = None  # 429, or the 5xx of an `error`
    retry_after: int | None = None  # seconds: the 429 window; optional header of a 5xx
    delay: float = 0.0  # latency, in seconds of server time
    seed: int | None = None  # variety: None = the server's seed
    payload: str = "faithful"  # variety: "faithful" keeps what a client relies on; "replace"
    id: str = ""
    source: str = "admin"  # config, admin or scenario

    @classmethod
    def parse(cls, data: Mapping[str, Any], rule_id: str = "", source: str = "admin") -> FaultRule:
        """A rule from JSON/YAML (or a scenario's options, all strings). Raises FaultError."""
        unknown = sorted(set(data) - set(RULE_KEYS))
        if unknown:
            raise FaultError(
                f"unknown fault rule key {unknown[0]!r}; known: {', '.join(RULE_KEYS)}"
            )
        kind, status = _kind(data.get("fault"), data.get("status"))
        api = _optional_text(data, "api")
        if api is not None and api not in contracts.APIS:
            raise FaultError(f"'api' must be one of: {', '.join(contracts.APIS)} (got {api!r})")
        one_shot = source == "scenario" and kind in REFUSALS
        retry_after = _whole(data, "retry_after", 1)
        if kind == RATE_LIMIT and retry_after is None:
            retry_after = DEFAULT_RETRY_AFTER
        delay = _seconds(data, "delay")
        return cls(
            fault=kind,
            api=api,
            operations=_operations(api, data.get("operation")),
            tenant=_optional_text(data, "tenant"),
            scenario=(_optional_text(data, "scenario") or "").lower() or None,
            times=_times(data.get("times"), 1 if one_shot else None),
            rate=_rate(data.get("rate")),
            status=status,
            retry_after=retry_after,
            delay=DEFAULT_DELAY if delay is None and kind == LATENCY else (delay or 0.0),
            seed=_whole(data, "seed", 0),
            payload=_payload(data.get("payload")),
            id=rule_id,
            source=source,
        )

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["operation"] = list(data.pop("operations"))
        return data

    def matches(self, call: Call) -> bool:
        if self.api is not None and self.api != call.api:
            return False
        if self.tenant is not None and self.tenant != call.tenant:
            return False
        if self.scenario is not None and (
            call.scenario is None or call.scenario.outcome != self.scenario
        ):
            return False
        if self.operations:
            return call.operation.id in self.operations
        return call.creates if self.fault == STALL else True


def _kind(value: Any, status: Any) -> tuple[str, int | None]:
    """The canonical kind and status of `fault` (`429`, `503`, `reset`...)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise FaultError(
            "'fault' must name a fault: latency, 429, 500, 503, reset, stall or variety"
        )
    name = value.strip().lower()
    if name.isdigit() and 500 <= int(name) <= 599:
        return ERROR, int(name)
    kind = ALIASES.get(name, name)
    if kind not in KINDS:
        raise FaultError(
            f"unknown fault {value!r}; known: latency, 429 (rate_limit), 500, 503 (error), "
            "reset, stall, variety"
        )
    if kind == RATE_LIMIT:
        return kind, 429
    if kind != ERROR:
        return kind, None
    code = _whole({"status": status}, "status", 500) if status is not None else 500
    if code is None or code > 599:
        raise FaultError(f"'status' of an error fault must be a 5xx (got {status!r})")
    return kind, code


def _optional_text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise FaultError(f"'{name}' must be a non-empty string (got {value!r})")
    return value.strip()


def _operations(api: str | None, value: Any) -> tuple[str, ...]:
    """operationIds, from a list or a comma-separated string; each must exist in a contract."""
    if value is None:
        return ()
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise FaultError("'operation' must be an operationId or a list of them")
    names = tuple(n.strip() for n in names if n.strip())
    known = _operation_ids(api)
    for name in names:
        if name not in known:
            where = api or "any contract"
            raise FaultError(
                f"'operation' {name!r} is not an operationId of {where}; "
                f"known: {', '.join(sorted(known))}"
            )
    return names


def _operation_ids(api: str | None) -> set[str]:
    apis = [api] if api else list(contracts.APIS)
    return {op.id for name in apis for op in contracts.load(name).operations}


def _number(data: Mapping[str, Any], name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise FaultError(f"'{name}' must be a number (got {data[name]!r})") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FaultError(f"'{name}' must be a number (got {data[name]!r})")
    return float(value)


def _whole(data: Mapping[str, Any], name: str, minimum: int) -> int | None:
    value = _number(data, name)
    if value is None:
        return None
    if not value.is_integer() or value < minimum:
        raise FaultError(f"'{name}' must be a whole number >= {minimum} (got {data[name]!r})")
    return int(value)


def _seconds(data: Mapping[str, Any], name: str) -> float | None:
    value = _number(data, name)
    if value is not None and value < 0:
        raise FaultError(f"'{name}' must not be negative (got {data[name]!r})")
    return value


def _times(value: Any, default: int | None) -> int | None:
    if value is None:
        return default
    if isinstance(value, str) and value.strip().lower() == ALWAYS:
        return None
    count = _whole({"times": value}, "times", 1)
    assert count is not None
    return count


def _rate(value: Any) -> float:
    rate = _number({"rate": value}, "rate")
    if rate is None:
        return 1.0
    if not 0 < rate <= 1:
        raise FaultError(f"'rate' must be in (0, 1] (got {value!r})")
    return rate


def _payload(value: Any) -> str:
    if value is None:
        return "faithful"
    if value not in PAYLOADS:
        raise FaultError(f"'payload' must be one of: {', '.join(PAYLOADS)} (got {value!r})")
    return value


def scenario_rule(scenario: Scenario) -> FaultRule | None:
    """The fault a scenario's options ask for (`completed; fault=429`), or None."""
    if "fault" not in scenario.options:
        return None
    options = {k: v for k, v in scenario.options.items() if k in SCENARIO_KEYS}
    return FaultRule.parse(options, f"scenario:{scenario.describe()}", "scenario")


# --- the book: rules and what they have done --------------------------------------------------


@dataclass
class _Tally:
    """What one rule has done to one tenant."""

    fired: int = 0
    window_end: float = -math.inf
    rng: Random | None = None


class FaultBook:
    """The server's fault rules, and per rule and tenant how often each fired.

    Thread-safe. `reset()` (the admin reset) brings back the configured rules and forgets
    counts and open rate-limit windows; `clear()` removes every rule.
    """

    def __init__(self, configured: Iterable[Mapping[str, Any]] = (), seed: int = 0) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._configured: list[FaultRule] = []
        for data in configured:
            if not isinstance(data, Mapping):
                raise FaultError(f"each fault rule must be a mapping (got {data!r})")
            self._configured.append(FaultRule.parse(data, self._next_id(), "config"))
        self._rules = list(self._configured)
        self._tallies: dict[tuple[str, str, str], _Tally] = {}
        self._from_scenarios: dict[str, FaultRule | None] = {}

    def _next_id(self) -> str:
        return f"fault-{next(self._ids)}"

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def add(self, data: Mapping[str, Any]) -> FaultRule:
        rule = FaultRule.parse(data, self._next_id(), "admin")
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            kept = [rule for rule in self._rules if rule.id != rule_id]
            found = len(kept) != len(self._rules)
            self._rules = kept
        return found

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    def reset(self) -> None:
        with self._lock:
            self._rules = list(self._configured)
            self._tallies.clear()

    def for_scenario(self, scenario: Scenario) -> FaultRule | None:
        """The rule of a scenario's `fault=` options (parsed once per scenario text)."""
        text = scenario.describe()
        with self._lock:
            if text in self._from_scenarios:
                return self._from_scenarios[text]
        rule = scenario_rule(scenario)
        with self._lock:
            if len(self._from_scenarios) > 1024:
                self._from_scenarios.clear()
            self._from_scenarios[text] = rule
        return rule

    def fire(self, rule: FaultRule, api: str, tenant: str | None, now: float) -> int | None:
        """Count one firing of `rule` for this tenant: None when it does not fire, else how
        many the rule has fired before (for a rate limit, seconds left in its window)."""
        key = (rule.id, api, tenant or "")
        with self._lock:
            tally = self._tallies.setdefault(key, _Tally())
            if rule.fault == RATE_LIMIT and now < tally.window_end:
                return max(1, math.ceil(tally.window_end - now))
            if rule.times is not None and tally.fired >= rule.times:
                return None
            if rule.rate < 1.0:
                tally.rng = tally.rng or Random(f"{self.seed}:{rule.id}:{api}:{tenant}")
                if tally.rng.random() >= rule.rate:
                    return None
            tally.fired += 1
            if rule.fault == RATE_LIMIT:
                assert rule.retry_after is not None
                tally.window_end = now + rule.retry_after
                return rule.retry_after
            return tally.fired - 1

    def describe(self) -> list[dict[str, Any]]:
        """Every rule with, per tenant, how often it fired."""
        with self._lock:
            fired: dict[str, dict[str, int]] = {}
            for (rule_id, _, tenant), tally in self._tallies.items():
                per_tenant = fired.setdefault(rule_id, {})
                per_tenant[tenant] = per_tenant.get(tenant, 0) + tally.fired
            return [{**rule.as_dict(), "fired": fired.get(rule.id, {})} for rule in self._rules]


# --- one request as the rules see it ----------------------------------------------------------


@dataclass
class Call:
    api: str
    operation: Operation
    creates: bool  # the operation starts a job
    tenant: str | None
    scenario: Scenario | None  # header, the job in the path, the queue (creates), the key
    scenario_from_header: bool


def creating_operations(contract: Contract) -> set[str]:
    """operationIds that start a job: those with `links` from a success answer (the contracts
    link each create to its status operation); without links, every non-GET operation."""
    linked = {op.id for op in contract.operations if op.method != "GET" and _links(contract, op)}
    return linked or {op.id for op in contract.operations if op.method != "GET"}


def polling_operations(contract: Contract) -> set[str]:
    """operationIds other than creates that a client reaches from a create by following
    `links`: status reads, results, downloads."""
    by_id = {op.id: op for op in contract.operations}
    creates = creating_operations(contract)
    seen: set[str] = set(creates)
    todo = [by_id[name] for name in creates]
    while todo:
        for link in _links(contract, todo.pop()):
            target = link.get("operationId")
            if target in by_id and target not in seen:
                seen.add(target)
                todo.append(by_id[target])
    return (seen - creates) or {op.id for op in contract.operations if op.method == "GET"}


def _links(contract: Contract, operation: Operation) -> list[dict[str, Any]]:
    found = []
    for status, response in operation.spec.get("responses", {}).items():
        if str(status).startswith("2"):
            links = contract.resolve(response).get("links", {})
            found += [contract.resolve(link) for link in links.values()]
    return found


# --- the middleware ---------------------------------------------------------------------------


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
        service = self.services.get(scope.get("state", {}).get("api") or "")
        if scope["type"] != "http" or service is None:
            await self.app(scope, receive, send)
            return
        call = self._call(scope, service)
        try:
            rules = self._rules(call) if call is not None else []
        except FaultError as exc:  # a malformed `fault=` in the request's own header
            assert call is not None
            if "400" in call.operation.spec.get("responses", {}):
                response = service.error_response(
                    Request(scope, receive), ApiError(400, f"X-Mock-Scenario: {exc}")
                )
                await response(scope, receive, send)
                return
            log.warning("ignoring X-Mock-Scenario fault: %s", exc)
            rules = []
        if call is None or not rules:
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
        book = self.state.faults
        delay = sum(
            rule.delay
            for rule in rules
            if rule.fault == LATENCY
            and book.fire(rule, call.api, call.tenant, self.state.now()) is not None
        )
        if delay:
            await self._wait(delay)
        for rule in rules:
            if rule.fault not in REFUSALS or not _documents(call.operation, rule):
                continue
            fired = book.fire(rule, call.api, call.tenant, self.state.now())
            if fired is not None:
                await self._refuse(rule, fired, call, service, scope, receive, send)
                return
        if any(
            rule.fault == STALL
            and book.fire(rule, call.api, call.tenant, self.state.now()) is not None
            for rule in rules
        ):
            _ask_for_stall(scope)
        variety = next((rule for rule in rules if rule.fault == VARIETY), None)
        if variety is not None:
            send = Variety(self.state, service, call, variety).wrap(send)
        await self.app(scope, receive, send)

    def _call(self, scope: Scope, service: ApiService) -> Call | None:
        found = service.contract.operation(scope["method"], scope["state"].get("api_path", ""))
        if found is None:
            return None
        operation, params = found
        tenant = _tenant(service, scope)
        creates = operation.id in self.creates[service.name]
        header = _header(scope, HEADER.encode())
        scenario = None
        if header:
            with contextlib.suppress(ScenarioError):
                scenario = Scenario.parse(header, "header")
        elif tenant is not None:
            scenario = self._scenario_of(service.name, tenant, params, creates)
        return Call(service.name, operation, creates, tenant, scenario, bool(header))

    def _scenario_of(
        self, api: str, tenant: str, params: dict[str, str], creates: bool
    ) -> Scenario | None:
        """The scenario of the job a path names, else the queued one (for a create), else the
        one bound to the key."""
        for value in params.values():
            job = self.state.store.get(api, tenant, value)
            if job is not None and job.scenario:
                with contextlib.suppress(ScenarioError):
                    return Scenario.parse(job.scenario, "job")
        queued = self.state.scenarios.peek(api, tenant) if creates else None
        return queued or self.state.scenarios.key_bindings.get(tenant)

    def _rules(self, call: Call) -> list[FaultRule]:
        """Rules matching the call: the book's in order, then the scenario's own fault."""
        book = self.state.faults
        matching = [rule for rule in book.rules if rule.matches(call)]
        if call.scenario is not None and "fault" in call.scenario.options:
            try:
                own = book.for_scenario(call.scenario)
            except FaultError:
                if call.scenario_from_header:
                    raise
                log.warning("ignoring the fault of scenario %r", call.scenario.describe())
                own = None
            if own is not None and own.matches(call):
                matching.append(own)
        return matching

    async def _wait(self, seconds: float) -> None:
        """Server time passes: a manual clock is moved on, a running one is waited for."""
        clock = self.state.clock
        if clock.manual:
            clock.advance(seconds)
        else:
            await anyio.sleep(seconds / getattr(clock, "scale", 1.0))

    async def _refuse(
        self,
        rule: FaultRule,
        fired: int,
        call: Call,
        service: ApiService,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        if rule.fault == RESET:
            await drop_connection()
            return
        assert rule.status is not None
        headers: dict[str, str] = {}
        if rule.fault == RATE_LIMIT:
            headers = self._rate_limit_headers(call.operation, retry_after=fired)
            detail = f"Too many requests: retry in {fired} s (rate limit injected by the mock)"
        else:
            if rule.retry_after is not None:
                headers["Retry-After"] = str(rule.retry_after)
            title = REASONS.get(rule.status, ("", "Server error"))[1]
            detail = f"{title} (fault injected by the mock)"
        error = ApiError(rule.status, detail, headers=headers)
        response = service.error_response(Request(scope, receive), error)
        await response(scope, receive, send)

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


def _documents(operation: Operation, rule: FaultRule) -> bool:
    """A refusal fires only where the operation documents its status."""
    if rule.fault == RESET:
        return True
    return rule.status is not None and str(rule.status) in operation.spec.get("responses", {})


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _tenant(service: ApiService, scope: Scope) -> str | None:
    """The request's API key as the handlers will see it; None when it would be refused."""
    try:
        return service.tenant_of(Request(scope))
    except ApiError:
        return None


def _ask_for_stall(scope: Scope) -> None:
    """Make the handler create a stalled job: the scenario header is the first thing it reads.
    Options of a scenario the request already names are kept."""
    text = _header(scope, HEADER.encode())
    options = ""
    if text:
        with contextlib.suppress(ScenarioError):
            named = Scenario.parse(text)
            options = "".join(
                f"; {key}={value}"
                for key, value in named.options.items()
                if key not in SCENARIO_KEYS
            )
    headers = [(k, v) for k, v in scope["headers"] if k.lower() != HEADER.encode()]
    scope["headers"] = [*headers, (HEADER.encode(), f"{STALLED}{options}".encode())]


# --- connection reset -------------------------------------------------------------------------


class InjectedReset(ConnectionResetError):
    """The reset of an in-process request, which has no connection to drop: Starlette's
    TestClient and httpx's ASGITransport raise it from the request call."""


async def drop_connection() -> None:
    """Close the client's connection with a TCP reset and no answer.

    Under uvicorn the request runs in a task of its connection's protocol; its transport is
    aborted with SO_LINGER 0, so the client reads ECONNRESET. Without a server connection
    (an in-process ASGI client), InjectedReset is raised instead.
    """
    cycle = _server_cycle()
    if cycle is None:
        raise InjectedReset("connection reset by the mock (fault injection)")
    transport: asyncio.Transport = cycle.transport
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    for _ in range(100):  # connection_lost runs on the next loop turns
        if getattr(cycle, "disconnected", True):
            break
        await asyncio.sleep(0)


def _server_cycle() -> Any | None:
    """uvicorn's request-response cycle running this request, found through the task that
    runs it (`cycle.run_asgi(app)`); None elsewhere."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        return None
    frame = getattr(task.get_coro(), "cr_frame", None) if task is not None else None
    cycle = frame.f_locals.get("self") if frame is not None else None
    transport = getattr(cycle, "transport", None)
    if isinstance(transport, asyncio.Transport) and hasattr(cycle, "disconnected"):
        return cycle
    return None


# --- payload variety --------------------------------------------------------------------------

MESSAGE_KEY = re.compile(r"(^|_)(message|details?|description|reason|error|note)s?$")
_DRAWING = threading.Lock()  # Hypothesis draws one value at a time per process


class Variety:
    """Replaces the 2xx JSON answer of one request with a contract-valid variant.

    `faithful` (the default) keeps everything a correct client may rely on: IDs, links,
    timestamps, numbers, flags, nested objects, which keys are present and any terminal state
    word. It varies what the contract leaves open: a running state word becomes another
    running word of the same enum (Neural Analog `in_progress` -> `processing`), messages
    become other strings, and the key order changes. `replace` serves any payload the contract
    allows. The n-th varied answer of a tenant comes from seed (rule seed or server seed,
    API, operation, n), so the same seed and requests give the same answers.
    """

    def __init__(self, state: MockState, service: ApiService, call: Call, rule: FaultRule):
        self.state = state
        self.service = service
        self.call = call
        self.rule = rule

    def wrap(self, send: Send) -> Send:
        start: Message | None = None
        chunks = bytearray()

        async def varied(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and self._eligible(message):
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            body = self.vary(start["status"], bytes(chunks))
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        return varied

    def _eligible(self, start: Message) -> bool:
        status = start["status"]
        content_type = dict(start.get("headers", [])).get(b"content-type", b"").decode("latin-1")
        media = self.call.operation.response_media(status, content_type)
        return 200 <= status < 300 and media is not None and "json" in media[0]

    def vary(self, status: int, raw: bytes) -> bytes:
        """The variant of `raw`, or `raw` itself when the rule is used up or no variant fits."""
        call, rule = self.call, self.rule
        try:
            real = json.loads(raw)
        except ValueError:
            return raw
        if rule.payload == "faithful" and not isinstance(real, dict):
            return raw
        count = self.state.faults.fire(rule, call.api, call.tenant, self.state.now())
        if count is None:
            return raw
        base = rule.seed if rule.seed is not None else self.state.faults.seed
        seed = _seed(base, call.api, call.operation.id, count)
        media = call.operation.response_media(status, "application/json")
        assert media is not None
        schema = media[1].get("schema", {})
        try:
            value = self._draw(schema, status, real, seed)
            if check(call.operation, schema, value, "body"):
                return raw  # never serve what the contract refuses
            return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        except Exception:  # a schema the strategies cannot draw from: serve the real answer
            log.warning("no payload variety for %s %s", call.api, call.operation.id, exc_info=True)
            return raw

    def _draw(self, schema: dict[str, Any], status: int, real: Any, seed: int) -> Any:
        from contracts import strategies  # Hypothesis is loaded only when a variety fires

        api, operation = self.call.api, self.call.operation
        if self.rule.payload == "replace":
            strategy = strategies.responses(api, operation.id, status)
        else:
            pinned = faithful_schema(self.service.contract, schema, real, self.service.outcomes)
            strategy = strategies.from_schema(api, pinned)
        with _DRAWING:
            return strategies.example(strategy, seed)


def faithful_schema(
    contract: Contract, schema: dict[str, Any], real: dict[str, Any], outcomes: Iterable[str]
) -> dict[str, Any]:
    """`schema` narrowed to the variants of `real` a correct client must handle alike."""
    terminal = set(outcomes)
    declared = _properties(contract, schema)
    pins: dict[str, Any] = {name: False for name in declared if name not in real}
    for name, value in real.items():
        prop = declared.get(name, {})
        words = [w for w in prop.get("enum", []) if isinstance(w, str)]
        if isinstance(value, str) and terminal & set(words) and value not in terminal:
            others = [w for w in words if w not in terminal and w != value]
            pins[name] = {"enum": others or [value]}
        elif isinstance(value, str) and MESSAGE_KEY.search(name) and _free_text(prop):
            pins[name] = {"type": "string"}
        else:
            pins[name] = {"const": value}
    narrowing = {"type": "object", "properties": pins, "required": list(real)}
    return {"allOf": [schema, narrowing]}


def _properties(contract: Contract, schema: Any) -> dict[str, dict[str, Any]]:
    """Top-level property schemas, resolved, from the schema and its allOf/oneOf/anyOf."""
    schema = contract.resolve(schema)
    if not isinstance(schema, dict):
        return {}
    found = {name: contract.resolve(prop) for name, prop in schema.get("properties", {}).items()}
    for keyword in ("allOf", "oneOf", "anyOf"):
        for branch in schema.get(keyword, []):
            for name, prop in _properties(contract, branch).items():
                found.setdefault(name, prop)
    return found


def _free_text(prop: dict[str, Any]) -> bool:
    types = prop.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    return "string" in types and not {"enum", "const", "format", "pattern"} & set(prop)


def _seed(base: int, *parts: Any) -> int:
    digest = hashlib.sha256(":".join(map(str, (base, *parts))).encode()).digest()
    return int.from_bytes(digest[:4], "big")
