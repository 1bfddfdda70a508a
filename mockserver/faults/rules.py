"""Fault rules: what goes wrong and where, parsed and checked before anything fires.

A rule names a fault kind and filters on the API, operations (operationIds of the contract),
tenant (API key) and scenario. Rules come from the server config (`faults:`), the admin API
(`/__mock__/faults`) or a scenario's options (`X-Mock-Scenario: completed; fault=429;
retry_after=3`); all three go through `FaultRule.parse`, so one bad key is refused the same
way wherever it was written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from mockserver import apis, contracts
from mockserver.contracts.document import Contract, Operation
from mockserver.engine.scenarios import FAULT_OPTIONS, Scenario, option_float
from mockserver.errors import shown_value
from mockserver.faults.operations import creating_operations, varied_operations
from mockserver.request import MAX_KEY_LENGTH, key_problem
from mockserver.stores.codec import storable

if TYPE_CHECKING:
    from mockserver.engine.jobs import Job

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
MAX_DELAY = 3600.0  # a latency rule's `delay` (the server's `max_fault_delay` caps the wait)
MAX_WHOLE = 1_000_000_000  # `times`, `retry_after`, `seed`
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
ALWAYS = "always"
NUMBERS = ("times", "rate", "status", "retry_after", "delay", "seed")  # of a rule's keys
# the keys that say how one kind misbehaves: given for another kind, they would be ignored
KIND_KEYS = {
    LATENCY: ("delay",),
    RATE_LIMIT: ("retry_after",),
    ERROR: ("status", "retry_after"),
    RESET: (),
    STALL: (),
    VARIETY: ("seed", "payload"),
}
KIND_ONLY = tuple(sorted({name for names in KIND_KEYS.values() for name in names}))
KNOWN_FAULTS = "latency, 429 (rate_limit), 500 to 599 (error), reset, stall, variety"
# the kinds that act on some operations only, which and why: named elsewhere, they never fire
# (the others act on any operation; a 429 or 5xx where its status is documented)
ACTS_ON: dict[str, tuple[Callable[[Contract], set[str]], str]] = {
    STALL: (creating_operations, "starts a job (a stall holds the job a create starts)"),
    VARIETY: (varied_operations, "answers 2xx JSON (what a variety varies)"),
}


class FaultError(ValueError):
    """A fault rule that cannot be understood; the message says which key and why."""


@dataclass
class Call:
    """One request as the rules see it: what a rule's filters are matched against."""

    api: str
    operation: Operation
    creates: bool  # the operation may start a job (`creating_operations`)
    tenant: str | None
    # header, else the job in the path or the key's; a create's: the one it takes (none
    # before the handler takes it)
    scenario: Scenario | None
    scenario_from_header: bool
    job: Job | None = None  # the job its path names


@storable
@dataclass(frozen=True)
class FaultRule:
    """One fault and where it applies. Empty filters match everything."""

    fault: str  # one of KINDS
    api: str | None = None
    operations: tuple[str, ...] = ()  # operationIds; none = every operation (stall: creates)
    tenant: str | None = None
    scenario: str | None = None  # the outcome word of the request's scenario
    # fires this often per tenant (a scenario's rule: per use of it, `FaultBook.for_scenario`;
    # rate_limit: windows); None = always
    times: int | None = None
    rate: float = 1.0  # share of matching requests it fires on (seeded, so reproducible)
    status: int | None = None  # 429, or the 5xx of an `error`
    retry_after: int | None = None  # seconds: the 429 window; optional header of a 5xx
    delay: float = 0.0  # latency, in seconds of server time
    seed: int | None = None  # variety: None = the server's seed
    payload: str = "faithful"  # variety: "faithful" keeps what a client relies on; "replace"
    id: str = ""
    source: str = "admin"  # config, admin or scenario

    state_tag: ClassVar[str] = "fault"

    def to_state(self) -> list[Any]:
        return [getattr(self, field.name) for field in fields(self)]

    @classmethod
    def from_state(cls, data: list[Any]) -> FaultRule:
        values = dict(zip((field.name for field in fields(cls)), data, strict=True))
        return cls(**{**values, "operations": tuple(values["operations"])})

    @classmethod
    def parse(cls, data: Mapping[str, Any], rule_id: str = "", source: str = "admin") -> FaultRule:
        """A rule from JSON/YAML (or a scenario's options, all strings). Raises FaultError."""
        unknown = sorted(set(data) - set(RULE_KEYS))
        if unknown:
            raise FaultError(
                f"unknown fault rule key {shown_value(unknown[0])}; known: {', '.join(RULE_KEYS)}"
            )
        if source != "scenario":  # a scenario's options are all text; JSON and YAML have numbers
            _numbers_are_numbers(data)
        kind, status = _kind(data.get("fault"), data.get("status"))
        _check_applies(kind, data)
        api = _optional_text(data, "api")
        if api is not None and api not in apis.names():
            raise FaultError(
                f"'api' must be one of: {', '.join(apis.names())} (got {shown_value(api)})"
            )
        one_shot = source == "scenario" and kind in REFUSALS
        retry_after = _whole(data, "retry_after", 1)
        if kind == RATE_LIMIT and retry_after is None:
            retry_after = DEFAULT_RETRY_AFTER
        delay = _seconds(data, "delay")
        operations = _operations(api, data.get("operation"))
        _check_acts(kind, api, operations)
        if status is not None:
            _check_documented(status, api, operations)
        return cls(
            fault=kind,
            api=api,
            operations=operations,
            tenant=_tenant(data),
            scenario=_scenario_word(api, _optional_text(data, "scenario")),
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
        """The rule as JSON, keyed as it is written: an `operation` left out is null, as every
        other filter left out is (an empty list is no rule's)."""
        data = asdict(self)
        data["operation"] = list(data.pop("operations")) or None
        return data

    @cached_property
    def content(self) -> str:
        """What the rule says, without its ID and source: a `rate` draws from it, so the same
        rule fires alike after a reset gave it another ID."""
        data = self.as_dict()
        del data["id"], data["source"]
        return json.dumps(data, sort_keys=True)

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
        raise FaultError(f"'fault' must name a fault: {KNOWN_FAULTS} (got {shown_value(value)})")
    name = value.strip().lower()
    if name.isascii() and name.isdigit() and 500 <= int(name) <= 599:  # not '²' nor '٥٠٣'
        if status is not None:
            raise FaultError(f"'status' does not apply: 'fault' {value!r} names the status")
        return ERROR, int(name)
    kind = ALIASES.get(name, name)
    if kind not in KINDS:
        raise FaultError(f"unknown fault {shown_value(value)} in 'fault'; known: {KNOWN_FAULTS}")
    if kind == RATE_LIMIT:
        return kind, 429
    if kind != ERROR:
        return kind, None
    code = _whole({"status": status}, "status", 500, 599) if status is not None else 500
    if code is None or code > 599:
        raise FaultError(f"'status' of an error fault must be a 5xx (got {shown_value(status)})")
    return kind, code


def _check_documented(status: int, api: str | None, operations: tuple[str, ...]) -> None:
    """Refuses a status no operation the rule applies to documents: a fault answers only with
    a status its contract lists, so the rule would never fire."""
    documented = _documented(api, operations)
    if status in documented:
        return
    where = (
        f"named in 'operation' ({', '.join(operations)})"
        if operations
        else "of " + (api or "any API")
    )
    same = sorted(code for code in documented if code // 100 == status // 100)
    listed = f" (they document {', '.join(map(str, same))})" if same else ""
    raise FaultError(f"status {status} would never fire: no operation {where} documents it{listed}")


def _documented(api: str | None, operations: tuple[str, ...]) -> frozenset[int]:
    """The statuses the operations of `api` (of every API without it), or those of them named
    in `operations`, document."""
    names = [api] if api else apis.names()
    return frozenset(
        int(status)
        for name in names
        for op in contracts.load(name).operations
        if not operations or op.id in operations
        for status in op.spec.get("responses", {})
        if str(status).isdigit()
    )


def _check_acts(kind: str, api: str | None, operations: tuple[str, ...]) -> None:
    """Refuses a stall or variety rule none of whose operations it can act on (`ACTS_ON`) in
    `api` (in any API without it): it would never fire."""
    if not operations or kind not in ACTS_ON:
        return
    acting, why = ACTS_ON[kind]
    names = [api] if api else apis.names()
    if any(not acting(contracts.load(name)).isdisjoint(operations) for name in names):
        return
    raise FaultError(
        f"{kind} would never fire: no operation named in 'operation' ({', '.join(operations)}) "
        f"{why}"
    )


def _check_applies(kind: str, data: Mapping[str, Any]) -> None:
    """Refuses a key of another kind (`delay` on a 503): ignored, it would hide that the rule
    does not do what its author meant."""
    for name in KIND_ONLY:
        if data.get(name) is not None and name not in KIND_KEYS[kind]:
            takes = ", ".join(KIND_KEYS[kind]) or f"none of {', '.join(KIND_ONLY)}"
            raise FaultError(f"'{name}' does not apply to {kind} faults; they take {takes}")


def _tenant(data: Mapping[str, Any]) -> str | None:
    """An API key a request can send: another (longer, a masked `sk-l…cdef`, a control
    character) could never match a request, and its rule would never fire."""
    tenant = _optional_text(data, "tenant")
    if tenant is not None and len(tenant) > MAX_KEY_LENGTH:
        raise FaultError(f"'tenant' must be an API key of at most {MAX_KEY_LENGTH} characters")
    problem = None if tenant is None else key_problem(tenant)
    if problem is not None:
        raise FaultError(f"'tenant' must be an API key a request can send: {problem}")
    return tenant


def _optional_text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise FaultError(f"'{name}' must be a non-empty string (got {shown_value(value)})")
    return value.strip()


def _operations(api: str | None, value: Any) -> tuple[str, ...]:
    """operationIds, from a list or a comma-separated string; each must exist in a contract."""
    if value is None:
        return ()
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise FaultError("'operation' must be an operationId or a list of them")
    names = tuple(n.strip() for n in names if n.strip())
    if not names:  # read as "every operation" it would hide a list its author left empty
        raise FaultError(
            f"'operation' must name at least one operationId (got {shown_value(value)}); "
            "leave it out for every operation"
        )
    known = _operation_ids(api)
    for name in names:
        if name not in known:
            where = api or "any contract"
            raise FaultError(
                f"'operation' {shown_value(name)} is not an operationId of {where}; "
                f"known: {', '.join(sorted(known))}"
            )
    return names


def _scenario_word(api: str | None, value: str | None) -> str | None:
    """The outcome word a rule targets, lower case as a scenario's is; one no scenario of the
    API (or of any) can name would never match."""
    if not value:
        return None
    names = [api] if api else apis.names()
    known = {word.lower() for name in names for word in apis.service_class(name).scenario_words()}
    if value.lower() not in known:
        raise FaultError(
            f"'scenario' {shown_value(value)} is not an outcome of {api or 'any API'}; "
            f"known: {', '.join(sorted(known))}"
        )
    return value.lower()


def _operation_ids(api: str | None) -> set[str]:
    names = [api] if api else apis.names()
    return {op.id for name in names for op in contracts.load(name).operations}


def _number(data: Mapping[str, Any], name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    try:
        if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            value = option_float(value)
    except (ValueError, OverflowError):
        raise FaultError(f"'{name}' must be a number (got {shown_value(data[name])})") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FaultError(f"'{name}' must be a number (got {shown_value(data[name])})")
    return float(value)


def _whole(
    data: Mapping[str, Any], name: str, minimum: int, maximum: int = MAX_WHOLE
) -> int | None:
    value = _number(data, name)
    if value is None:
        return None
    if not value.is_integer() or not minimum <= value <= maximum:
        raise FaultError(
            f"'{name}' must be a whole number from {minimum} to {maximum} "
            f"(got {shown_value(data[name])})"
        )
    return int(value)


def _seconds(data: Mapping[str, Any], name: str) -> float | None:
    value = _number(data, name)
    if value is not None and not 0 <= value <= MAX_DELAY:
        raise FaultError(
            f"'{name}' must be from 0 to {MAX_DELAY:g} seconds (got {shown_value(data[name])})"
        )
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
        raise FaultError(f"'rate' must be in (0, 1] (got {shown_value(value)})")
    return rate


def _payload(value: Any) -> str:
    if value is None:
        return "faithful"
    if value not in PAYLOADS:
        raise FaultError(
            f"'payload' must be one of: {', '.join(PAYLOADS)} (got {shown_value(value)})"
        )
    return value


def scenario_rule(scenario: Scenario) -> FaultRule | None:
    """The fault a scenario's options ask for (`completed; fault=429`), or None."""
    if "fault" not in scenario.options:
        return None
    options = {k: v for k, v in scenario.options.items() if k in FAULT_OPTIONS}
    return FaultRule.parse(options, f"scenario:{scenario.describe()}", "scenario")


def _numbers_are_numbers(data: Mapping[str, Any]) -> None:
    """FaultError for a number written as text in JSON or YAML (`"status": "503"`): the
    parser reads text for a scenario's options, where everything is, not as a rule's."""
    for name in NUMBERS:
        value = data.get(name)
        if isinstance(value, str) and not (name == "times" and value.strip().lower() == ALWAYS):
            raise FaultError(
                f"'{name}' must be a number (got {shown_value(value)}): a JSON one, not text"
            )
