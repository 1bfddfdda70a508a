"""What every emulated API is made of, and the request context its handlers receive.

An API is an `ApiService`: its name, where it is mounted, how it authenticates, how it writes
errors, how it plans a job for a scenario, how it renders a file, and its routes. Handlers
are `async def handler(ctx: Ctx) -> Response`; authentication, body parsing against the
contract, scenario choice, IDs and links are all done here, once, for every API.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import orjson
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from mockserver import contracts
from mockserver.admin_guard import signed_page_path
from mockserver.contracts.validate import (
    NOT_A_MODEL,
    FilePart,
    Violation,
    check,
    coerce,
    coerce_form,
    uploads_expected,
)
from mockserver.engine.clock import SECONDS_Z, isoformat
from mockserver.engine.jobs import Job
from mockserver.engine.plan import Outcome, Plan, stretch
from mockserver.engine.scenarios import (
    FAULT_OPTIONS,
    HEADER_KEY,
    SHARED_OPTIONS,
    STALLED,
    Scenario,
    ScenarioError,
    Taken,
    refusal,
)
from mockserver.errors import ApiError, FieldError, fastapi_error, shown_value
from mockserver.faults.rules import FaultError, scenario_rule
from mockserver.faults.stall import stalled, stalls
from mockserver.request import MAX_KEY_LENGTH, ApiRequest, first_headers, header
from mockserver.routing import route_path
from mockserver.state import MockState

Handler = Callable[["Ctx"], Awaitable[Response]]
JSON_MEDIA_TYPE = "application/json"
JSON_MEDIA_TYPE_BYTES = JSON_MEDIA_TYPE.encode()
PlanLike = TypeVar("PlanLike")  # a plan, or plans made together
REFUSED_BY_SCENARIO = 402  # a create a scenario word refuses (no credits, a plan too low)
USUAL_PLANS_KEPT = 256  # plans of scenarios without options, kept per API
MAX_PART_SIZE = 200 * 1024 * 1024  # one part of a form, as the request check reads it too
# schemathesis settings several APIs share (see `ApiService.schemathesis`):
# a multipart/form-data body carries every value as text, so "negative" data (a number where
# a string is due, a list for a scalar) is valid once encoded and rightly served
MULTIPART: dict[str, Any] = {"checks.negative_data_rejection.enabled": False}
# schema-valid data the API refuses by design with a documented 4xx
REFUSED_ON_PURPOSE = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
# Starlette's JSONResponse options, in one encoder made once: `json.dumps` with options makes
# a new encoder per call, a measurable share of a status poll
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def render_json(content: Any) -> bytes:
    """`content` as Starlette's JSONResponse writes it: compact, UTF-8, not ASCII-escaped.

    orjson writes those bytes about ten times faster than the standard encoder (a Job body
    took 5 µs, a share of every create and poll). What orjson refuses (an integer past 64
    bits, a key that is not a string) goes to the standard encoder, which writes it as
    before. The two differ in how they spell a small float's exponent (`1e-7`, `1e-07`), and
    orjson writes NaN as null where the standard encoder refused it (no answer of the mock
    holds one: its numbers are finite and bounded).

    orjson's bytes hold a 4 KiB buffer however short the JSON; the journal keeps every answer,
    so the bytes are copied to their own size."""
    try:
        return bytes(memoryview(orjson.dumps(content)))
    except TypeError:
        return _encode(content).encode("utf-8")


class ApiJSONResponse(JSONResponse):
    """A JSONResponse, rendered by `render_json`, its two usual headers written at once."""

    def render(self, content: Any) -> bytes:
        return render_json(content)

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        has_body = self.status_code >= 200 and self.status_code not in (204, 304)
        if headers is not None or self.media_type != JSON_MEDIA_TYPE or not has_body:
            # Starlette's own way, for everything else
            super().init_headers(headers)
            return
        self.raw_headers = [
            (b"content-length", b"%d" % len(self.body)),
            (b"content-type", JSON_MEDIA_TYPE_BYTES),
        ]


class JobEnded(ValueError):
    """A job that has reached its outcome cannot be forced to another."""


class ApiService:
    """Base of every emulated API, and its one declaration: the class attributes are all the
    kit reads about an API (the registry, `mockserver.apis`, finds the class through the
    `mockserver.apis` entry-point group). Subclasses set them and implement `routes`, `plan`
    and, where they serve files, `render_file`."""

    name: ClassVar[str]  # "neuralanalog": its entry-point name and the admin's `api`
    prefix: ClassVar[str]  # "/neuralanalog": stands in for the real host's root
    hosts: ClassVar[tuple[str, ...]]  # Host headers that select this API at the root
    base_path: ClassVar[str] = ""  # where clients' base URL points on the host: "/apis", "/v1"
    auth_header: ClassVar[str]  # "x-api-key", or "authorization" for a bearer token
    key_format: ClassVar[str] = "{tenant}"  # a key in the API's own style: "nl_{tenant}"
    outcomes: ClassVar[tuple[str, ...]]  # terminal words; [0] is success, [1] the usual failure
    # scenario options of its own (`reason=`), besides those every API takes (`after=`...)
    scenario_options: ClassVar[tuple[str, ...]] = ()
    # the outcomes whose job shows a `message=` (its failure message); None: the usual failure
    message_outcomes: ClassVar[tuple[str, ...] | None] = None
    contract_path: ClassVar[Path]  # its OpenAPI 3.1 document (YAML or JSON)
    # module of its polling lifecycles (`STATUS_OPERATIONS`, `lifecycle(object_type)`)
    strategies: ClassVar[str | None] = None
    # schemathesis settings of its operations, as `[[project.operations]]` entries of a
    # schemathesis.toml with dotted keys ("checks.negative_data_rejection.enabled": False)
    schemathesis: ClassVar[tuple[dict[str, Any], ...]] = ()
    path_aliases: ClassVar[dict[str, str]] = {}  # alternative path prefix -> documented prefix
    time_style: ClassVar[str] = SECONDS_Z  # how its timestamps are spelled (engine.clock)
    # a body of an undocumented content type: None reads it as FastAPI does (422 naming the
    # missing fields); a status code refuses it outright
    wrong_media_status: ClassVar[int | None] = None
    # headers (lower case) whose values differ on every answer, such as a rate limit's count:
    # a status poll's answer is kept without them, and `own_headers` gives each replay its own
    own_header_names: ClassVar[frozenset[bytes]] = frozenset()
    # documented paths of POSTs that only read (a batch of results asked for by ID): like a
    # GET, they leave the status answers kept (`mockserver.pollcache`) as they are
    reading_posts: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, state: MockState) -> None:
        self.state = state
        self.contract = contracts.load(self.name)
        self._usual_plans: dict[Hashable, Any] = {}
        # the words a `mock-<word>` marker may name (a scenario's outcome is lower case)
        self.magic_words = frozenset(word.lower() for word in self.scenario_words())

    @classmethod
    def document_url_path(cls) -> str:
        """Where the server serves this API's document: `/camb/apis/openapi.json`."""
        return cls.prefix + contracts.load(cls.name).document_path

    # --- what each API decides -------------------------------------------------------------

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def plan(self, kind: str, scenario: Scenario, inputs: dict[str, Any]) -> Plan:
        raise NotImplementedError

    def retire(self, key: str) -> None:
        """The API key `key` is done with (its pytest test ended): stop what it left that would
        act later, unasked (a webhook endpoint a later clock move delivers to). Its jobs stay,
        reached by its key alone."""

    def evicting(self, job: Job, now: float) -> None:
        """The store is about to forget `job`, ended (`store_capacity`): make now what it
        still owes that a later tick would have made from it. Nothing, unless the API owes
        something (Neural Draft: the webhook events of its end)."""

    def close(self) -> None:
        """The server stops: end what this API runs beside requests, promptly (a request may
        be waiting for it). Nothing, unless the API runs something."""

    def render_file(self, job: Job, name: str) -> tuple[bytes, str]:
        """Bytes and media type of file `name` of `job` (for signed links)."""
        raise ApiError(404, "No such file")

    def error_response(self, request: Request, error: ApiError) -> Response:
        return fastapi_error(request, error)

    # --- keys ------------------------------------------------------------------------------

    @classmethod
    def api_key(cls, tenant: str) -> str:
        """A key for `tenant` in the API's own style (`nl_acme` for NeuroLinker)."""
        return cls.key_format.format(tenant=tenant)

    @classmethod
    def auth_headers(cls, key: str) -> dict[str, str]:
        """The header that carries `key`, as the API's clients send it."""
        if cls.auth_header == "authorization":
            return {"Authorization": f"Bearer {key}"}
        return {cls.auth_header: key}

    @classmethod
    def key_in(cls, header: str) -> str | None:
        """The key in a value of the auth header, unjudged: None when there is none."""
        raw = header.strip()
        if cls.auth_header == "authorization":
            return (raw[7:].strip() or None) if raw[:7].lower() == "bearer " else None
        return raw or None

    def key_sent(self, scope: Scope) -> str | None:
        """The key the request sent, unjudged (None: none)."""
        return self.key_in(header(scope, self.auth_header) or "")

    def tenant_of(self, request: Request) -> str:
        """The API key of the request: its tenant. 401 when missing, 401/403 when refused."""
        info = ApiRequest.of(request.scope)
        if info is not None and info.api == self.name:  # read by the request middleware
            key = info.tenant
        else:
            key = self.key_sent(request.scope)
        if key is None:
            raise ApiError(401, self.missing_key_message())
        if len(key) > MAX_KEY_LENGTH:  # a key is a tenant: kept, cached, journalled
            raise ApiError(401, f"Invalid API key: longer than {MAX_KEY_LENGTH} characters")
        configured = self.state.config.keys.get(key)
        refused = configured.get("status") if configured else None
        if refused in (401, 403):
            raise ApiError(int(refused), "Invalid API key" if refused == 401 else "Forbidden")
        return key

    def missing_key_message(self) -> str:
        return f"Missing API key: send it in the {self.auth_header} header"

    def own_headers(self, tenant: str, now: float) -> list[tuple[bytes, bytes]] | None:
        """The `own_header_names` of a poll answered from the poll cache, counted as its
        handler would count them; None when the handler must answer (a refusal)."""
        return []

    # --- shared machinery ------------------------------------------------------------------

    def route(self, path: str, handler: Handler, methods: Iterable[str] = ("GET",)) -> Route:
        """A route whose handler gets a `Ctx` once the key is checked."""

        template = self.canonical(path)
        operations = {op.method: op for op in self.contract.operations if op.template == template}
        path = route_path(path, operations.values())
        if "GET" in operations:  # Starlette answers HEAD on GETs
            operations.setdefault("HEAD", operations["GET"])

        async def endpoint(request: Request) -> Response:
            operation = operations.get(request.scope["method"])
            ctx = Ctx(
                self, request, self.tenant_of(request), request_info(self, request), operation
            )
            try:
                try:
                    with self.state.store.all_or_nothing():  # a failed create stores nothing
                        return await handler(ctx)
                except ScenarioError as exc:  # an option read late (`after=`, `failing=`)
                    raise ApiError(400, f"X-Mock-Scenario: {exc}") from None
                except RecursionError:  # JSON nested past Python's stack, inside a form field
                    problem = FieldError(("body",), "Value nested too deeply", "value_error")
                    raise ApiError(422, problem.msg, errors=[problem]) from None
            except BaseException as exc:
                ctx.failed(exc)
                raise

        return Route(path, endpoint, methods=list(methods))

    def usual_plan(self, usual: Hashable, make: Callable[[], PlanLike]) -> PlanLike:
        """`make()` for a scenario without options, made once per `usual` (what the plan
        depends on: kind, steps, outcome) and profile speed, then shared: plans are values,
        and making one was a tenth of a create."""
        found_key = (usual, self.state.scenarios.profile.duration_scale)
        found = self._usual_plans.get(found_key)
        if found is None:
            if len(self._usual_plans) >= USUAL_PLANS_KEPT:
                self._usual_plans.clear()
            found = self._usual_plans[found_key] = make()
        return found

    def canonical(self, path: str) -> str:
        """The documented path for an alias (NeuroLinker's `/v1/...` is `/api/v1/...`)."""
        return self.contract.canonical(path)

    def outcome(self, kind: str, scenario: Scenario) -> Outcome:
        """The terminal outcome a scenario names, in this API's words."""
        word = self.outcome_word(scenario)
        message = scenario.options.get("message") or self.default_message(kind, word)
        return Outcome(word, message, scenario.options)

    def default_message(self, kind: str, word: str) -> str | None:
        return None

    def time_style_of(self, kind: str) -> str:
        """How this API spells the instants of a job of `kind` (the admin pages write them
        so): its `time_style`, unless a kind of its jobs has its own."""
        return self.time_style

    def force_end(self, job: Job, outcome: str, options: dict[str, Any]) -> None:
        """End `job` now with the terminal `outcome` ("failed; message=..." and `options`); the
        phases it finished stay finished and the jobs tied to it follow. The caller then tells
        the clock's listeners (`Clock.changed`), from where a webhook delivery may block.
        ValueError (`JobEnded` for a job already at its outcome) when it cannot be done."""
        scenario = Scenario.parse_with(outcome, "admin", options)
        self.check_options(scenario)  # a misspelt option first, as every scenario's
        applying = ("message", *self.scenario_options)  # it ends now: no after=, no fault
        unusable = sorted(set(scenario.options) - set(applying))
        if unusable:
            raise ValueError(
                f"option {shown_value(unusable[0])} does not apply to a forced end; it takes "
                + ", ".join(applying)
            )
        self.check_scenario(scenario)
        if scenario.outcome == STALLED:
            raise ValueError("a job can only be forced into a terminal state")
        with self.state.lock, self.state.store.all_or_nothing():  # the jobs tied to it, saved
            now = self.state.now()
            snap = job.snapshot(now)
            if snap.terminal:
                raise JobEnded(f"{self.name} job {job.id} is already {snap.state}")
            job.force(now, self.outcome(job.kind, scenario))
            self.state.store.save(job)
            self.after_transition(job, now)
        self.state.polls.invalidate()  # whoever forced it, no poll may show the job as it was

    def can_end_in(self, job: Job, word: str, now: float) -> bool:
        """Whether `job` could be forced into `word` (one of its kind's endings) now: the
        admin pages offer a button only then. Any, unless the API says otherwise."""
        return True

    def after_transition(self, job: Job, now: float) -> None:
        """The admin API forced `job` to end now: bring the jobs tied to it along (a parent's
        unfinished children, a child's parent). Nothing to do for a job that stands alone."""

    def success_failure(self) -> tuple[str, str]:
        return self.outcomes[0], self.outcomes[1]

    @classmethod
    def scenario_words(cls) -> set[str]:
        """The words a scenario may name: the outcomes, and `stalled`."""
        return {*cls.outcomes, STALLED}

    @classmethod
    def check_scenario(cls, scenario: Scenario) -> Scenario:
        """`scenario`, or ScenarioError when it names an outcome or an option this API does
        not know. A class's check: a key's scenario in the config is checked before any
        service exists."""
        word = cls.outcome_word(scenario)
        cls.check_options(scenario)
        shown = cls.message_outcomes or cls.outcomes[1:2]
        if "message" in scenario.options and word not in shown:
            raise ScenarioError(
                f"message= applies to {', '.join(shown)} only (the failure message a "
                f"client reads), not to {word}"
            )
        try:
            scenario_rule(scenario)  # and a `fault=` that could not fire (`fault=502`)
        except FaultError as exc:
            raise ScenarioError(str(exc)) from None
        return scenario

    @classmethod
    def check_options(cls, scenario: Scenario) -> None:
        """ScenarioError when `scenario` has an option this API does not know."""
        scenario.check_options(cls.known_options(), cls.name)

    @classmethod
    @cache  # per API class: asked at every create
    def known_options(cls) -> tuple[str, ...]:
        """The scenario options this API takes: every API's, the faults', and its own."""
        return (*SHARED_OPTIONS, *FAULT_OPTIONS, *cls.scenario_options)

    @classmethod
    def outcome_word(cls, scenario: Scenario) -> str:
        """The API's own spelling of the scenario's outcome; 'stalled' for a stall."""
        if scenario.outcome == STALLED:
            return STALLED
        for word in cls.outcomes:
            if word.lower() == scenario.outcome.lower():
                return word
        others = sorted(cls.scenario_words() - {*cls.outcomes, STALLED})  # words, no outcomes
        known = ", ".join([*cls.outcomes, STALLED, *others])
        raise ScenarioError(
            f"unknown outcome {shown_value(scenario.outcome)} for {cls.name}; known: {known}"
        )

    def timed_plan(
        self,
        steps: list[tuple[str, float, str]],
        default_seconds: float,
        scenario: Scenario,
        outcome: Outcome,
    ) -> Plan:
        """Steps stretched over `after=` seconds (or the default duration of the profile)."""
        total = scenario.number("after")
        if total is None:
            total = default_seconds * self.state.scenarios.profile.duration_scale
        stalled = scenario.outcome == STALLED
        return stretch(steps, total, None if stalled else outcome, scenario.per_poll)

    async def http_exception(self, request: Request, exc: Exception) -> Response:
        """Starlette's own 404/405 (unknown path, wrong method) in the API's format."""
        assert isinstance(exc, HTTPException)
        return self.error_response(
            request, ApiError(exc.status_code, exc.detail, headers=dict(exc.headers or {}))
        )

    async def api_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return self.error_response(request, exc)


def request_info(service: ApiService, request: Request) -> ApiRequest:
    """What the pipeline learned about the request (its ID, operation, checked body...); a
    blank record for a request that did not come through it."""
    scope = request.scope
    info = ApiRequest.of(scope)
    if info is None:
        info = ApiRequest("-", service.name, service.prefix, request.url.path)
        info.headers = first_headers(scope)
        info.tenant = service.key_sent(scope)
        info.content_type = info.header(b"content-type")
        info.attach(scope)
    return info


@dataclass
class Ctx:
    """One authenticated request to one API."""

    service: ApiService
    request: Request
    tenant: str
    info: ApiRequest  # what the pipeline learned about the request (`request_info`)
    known_operation: contracts.Operation | None = None  # found once, when the route was made
    taken: list[Taken] = field(default_factory=list)  # scenarios it took from the queues
    # when its first job was made: the jobs one request makes (a NeuroLinker request and its
    # documents, a workflow and its steps) were made at one time, not a clock read apart
    made_at: float | None = None

    @property
    def state(self) -> MockState:
        return self.service.state

    @property
    def now(self) -> float:
        return self.state.now()

    @property
    def base_url(self) -> str:
        """This API's base as the client reached it: `http://host:port/neuralanalog` or the root."""
        return self.server_url + self.info.prefix

    @property
    def server_url(self) -> str:
        """`scheme://host[:port]` as the client reached the server (its Host header)."""
        scope = self.request.scope
        host = self.info.header(b"host")
        if not host:
            server_host, port = scope.get("server") or ("localhost", 80)
            host = f"{server_host}:{port}"
        return f"{scope.get('scheme', 'http')}://{host}"

    @property
    def api_path(self) -> str:
        """The request path as the real API sees it (no mock prefix)."""
        return self.info.path

    def operation(self) -> contracts.Operation:
        if self.known_operation is not None:
            return self.known_operation
        # Starlette answers HEAD on every GET route: it is the GET operation without a body
        method = "GET" if self.request.method == "HEAD" else self.request.method
        found = self.service.contract.operation(method, self.api_path)
        assert found is not None, f"route without contract operation: {self.api_path}"
        return found[0]

    async def body(self) -> dict[str, Any]:
        """The request body, parsed by content type and checked against the contract.

        What the real service would refuse (missing or mistyped fields, bad enums, a body
        that is not JSON) is a 422 naming each field; form values come back typed.
        """
        content_type = self.info.content_type or ""
        operation = self.operation()
        checked = self.info.body
        if isinstance(checked, dict):  # parsed and found valid by the request check
            media = operation.request_media(content_type or "application/json")
            if media is not None and media[0] == "application/json":
                problems = uploads_expected(operation, media[1].get("schema", {}), checked)
                if problems:
                    raise _invalid(problems)
                return checked
        is_form = "multipart/form-data" in content_type or "x-www-form-urlencoded" in content_type
        fastapi = self.service.wrong_media_status is None
        if is_form and operation.request_media(content_type) is not None:
            data = await self._form()
        elif not (await self.request.body()).strip():
            if fastapi and operation.request_media("application/json"):
                # no body for a body model: FastAPI's `missing` at `body` itself
                raise _invalid(
                    [Violation(operation.id, "/body", "Field required", None, "missing")]
                )
            data = {}
            content_type = content_type or "application/json"
        elif is_form and not (fastapi and operation.request_media("application/json")):
            data = {}  # FastAPI parses forms only where it expects one: no 400 for a bad one
        elif fastapi and operation.request_media("application/json") and not _is_json(content_type):
            # FastAPI parses JSON only when the content type says JSON (or says nothing): any
            # other body is a string, not an object
            text = (await self.request.body()).decode("utf-8", "replace")
            raise _invalid(
                [Violation(operation.id, "/body", NOT_A_MODEL, text, "model_attributes_type")]
            )
        else:
            try:
                data = json.loads(await self.request.body())
            except ValueError as exc:
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                where = ("body", exc.pos if isinstance(exc, json.JSONDecodeError) else 0)
                error = FieldError(
                    where, "JSON decode error", "json_invalid", {}, {"error": reason}
                )
                raise ApiError(422, "JSON decode error", errors=[error]) from None
            content_type = "application/json"
        media = operation.request_media(content_type)
        if media is None:
            documented = self.service.contract.resolve(operation.spec["requestBody"])["content"]
            if self.service.wrong_media_status is not None:
                accepted = ", ".join(documented)
                raise ApiError(
                    self.service.wrong_media_status,
                    f"Unsupported content type {shown_value(content_type)}; send {accepted}",
                )
            # FastAPI reads what it can and reports the fields it did not find
            media = next(iter(documented.items()))
            if not isinstance(data, dict) or (media[0] == "application/json") != (
                content_type == "application/json"
            ):
                data = {}
        media_type, entry = media
        schema = entry.get("schema", {})
        typed = (
            data
            if media_type == "application/json"
            else coerce_form(data, schema, self.service.contract)
        )
        problems = check(operation, schema, typed, "body")
        if media_type != "application/json":
            # a form has no object to show: FastAPI's input for a missing form field is null
            problems = [replace(p, value=None) if p.kind == "missing" else p for p in problems]
            problems += uploads_expected(operation, schema, typed)
        if problems:
            raise _invalid(problems)
        return {key: _handed(data[key], value) for key, value in typed.items()}

    def params(self) -> dict[str, Any]:
        """Path and query parameters, typed and checked against the contract (422 if not)."""
        operation = self.operation()
        # the request check of the middleware has usually looked at them already
        seen = self.info.violations
        verify = seen is None or any(v.pointer.startswith(("/path/", "/query/")) for v in seen)
        values: dict[str, Any] = {}
        problems: list[Violation] = []
        path_params = self.request.path_params
        for param in operation.parameters():
            where = param["in"]
            if where == "path":
                source: Any = path_params
            elif where == "query":
                source = self.request.query_params  # parsed only for operations that have any
            else:
                continue
            name, schema = param["name"], param.get("schema", {})
            if name not in source:
                if param.get("required"):
                    problems.append(
                        Violation(
                            operation.id, f"/{where}/{name}", "Field required", None, "missing"
                        )
                    )
                elif "default" in schema:
                    values[name] = schema["default"]
                continue
            raw = source.getlist(name) if where == "query" else source[name]
            values[name] = coerce(raw, schema, self.service.contract)
            if verify:
                problems += check(operation, schema, values[name], f"{where}/{name}")
        if problems:
            raise _invalid(problems)
        return values

    async def _form(self) -> dict[str, Any]:
        form = self.info.form  # parsed by the request check already, as a rule
        if form is None:  # lenient mode, and the request check found it unreadable
            try:
                form = await self.request.form(max_part_size=MAX_PART_SIZE)
            except ValueError as exc:  # a charset codecs cannot look up (`charset=\x00`)
                raise ApiError(400, f"unreadable form body: {exc}") from None
        return form_fields(form)

    def scenario(
        self, *magic_inputs: str | None, takes: Callable[[Scenario], bool] | None = None
    ) -> Scenario:
        """The scenario of a job this request creates (header, queue, key, magic, default);
        `takes`: whether a queued one applies to this create (`ScenarioBook.choose`)."""
        scenario: Scenario | None = None  # a header that does not parse
        try:
            scenario = self.state.scenarios.choose(
                self.service.name,
                self.tenant,
                self.info.header(HEADER_KEY),
                magic_inputs,
                lambda: self.state.ids.draws(self.service.name, self.tenant),
                self.service.success_failure(),
                self.service.magic_words,
                takes,
                self.taken,
                self.service.known_options(),
            )
            return self.service.check_scenario(scenario) if scenario.options else scenario
        except ScenarioError as exc:
            raise ApiError(400, refusal(exc, scenario)) from None

    def failed(self, error: BaseException) -> None:
        """The request failed, so its create stored nothing: the scenarios it took go back to
        the head of their queues, for the next create. Not after a 402: that is the refusal a
        scenario makes itself (`insufficient_credits`, `plan_required`), which uses it up."""
        if not self.taken or (isinstance(error, ApiError) and error.status == REFUSED_BY_SCENARIO):
            return
        for taken in self.taken:
            self.state.scenarios.give_back(taken)

    def fresh_until(self, *jobs: Job, until: float = math.inf) -> None:
        """This answer depends on `jobs` (and on nothing else that changes before `until`): it
        may be served again until the first of them moves on by itself. A per-poll job moves
        on every read, so an answer showing one is never kept."""
        for job in jobs:
            changes = job.changes_at(self.now)
            if changes is None:
                return
            until = min(until, changes)
        self.info.fresh_until = until

    @property
    def rng(self):
        return self.state.ids.rng(self.service.name, self.tenant)

    def new_uuid(self) -> str:
        """The tenant's next ID in UUID form: `new_uuid(ctx.rng)`, drawn without a generator."""
        return self.state.ids.uuid(self.service.name, self.tenant)

    def new_base62(self, length: int) -> str:
        """The tenant's next ID as `length` BASE62 characters: `base62(ctx.rng, length)`."""
        return self.state.ids.base62(self.service.name, self.tenant, length)

    def plan(self, kind: str, scenario: Scenario, data: dict[str, Any]) -> Plan:
        """The plan of a new job of `kind`; a 400 for a scenario option it cannot use. A
        handler that writes more than the job (a post) plans first, so a create refused for
        its scenario writes nothing. Under a `stall` fault the job is planned for its scenario
        (refused as without the fault), then stalled (`mockserver.faults.stall`)."""
        try:
            plan = self.service.plan(kind, scenario, data)
            if stalls(self.request.scope):
                plan = self.service.plan(kind, stalled(scenario), data)
            return plan
        except ScenarioError as exc:
            raise ApiError(400, refusal(exc, scenario)) from None

    def create_job(
        self,
        kind: str,
        job_id: str,
        scenario: Scenario,
        data: dict[str, Any],
        *aliases: str,
        plan: Plan | None = None,
    ) -> Job:
        """A new job, stored; `plan`: made already (`Ctx.plan`), else made here."""
        if plan is None:
            plan = self.plan(kind, scenario, data)
        if self.made_at is None:
            self.made_at = self.now
        job = Job(
            self.service.name,
            self.tenant,
            job_id,
            kind,
            self.made_at,
            plan,
            data,
            scenario.describe(),
        )
        return self.state.store.add(job, *aliases)

    def job(self, job_id: str, *kinds: str, what: str = "Object") -> Job:
        """This tenant's job `job_id` of one of `kinds`, or a 404 in the API's format."""
        job = self.state.store.get(self.service.name, self.tenant, job_id)
        if job is None or (kinds and job.kind not in kinds) or job.created_at > self.now:
            raise ApiError(404, f"{what} {job_id} not found")
        return job

    def file_url(self, job: Job, name: str, ttl: int | None = None) -> str:
        """An absolute, signed link to a file of `job`, expiring on the server clock."""
        expires = int(self.now + (ttl if ttl is not None else self.state.config.link_ttl))
        return self.server_url + self.state.signer.path(job.id, name, expires)

    def page_url(self, job: Job) -> str:
        """An absolute link to the admin API's page about `job`: where an API links to its
        web UI (a job page, a dashboard), the mock links to a page it really serves, signed
        so that the client given it opens it without the admin token."""
        return self.server_url + signed_page_path(job)

    def iso(self, timestamp: float | None, style: str | None = None) -> str | None:
        """`timestamp` as this API spells it (or in another documented `style`)."""
        if timestamp is None:
            return None
        return isoformat(timestamp, style or self.service.time_style)

    @staticmethod
    def json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
        return ApiJSONResponse(data, status, headers=headers)


def form_fields(form: FormData) -> dict[str, Any]:
    """A form as FastAPI reads it: a repeated field is a list, and a field sent empty
    (`name=`) counts as not sent, so it is missing if required and its default if not."""
    fields: dict[str, Any] = {}
    for key in form:
        values = [value for value in form.getlist(key) if value != ""]
        if values:
            fields[key] = values if len(values) > 1 else values[0]
    return fields


def _is_json(content_type: str) -> bool:
    """What FastAPI reads as JSON: no content type, `application/json` or `application/*+json`."""
    media = content_type.split(";")[0].strip().lower()
    return (
        not media
        or media == "application/json"
        or (media.startswith("application/") and media.endswith("+json"))
    )


def _handed(sent: Any, typed: Any) -> Any:
    """What a handler gets of a form field: its typed value, or the upload itself where the
    schema takes a file (the last one, when a field taking one was sent twice)."""
    if isinstance(typed, FilePart):
        return sent[-1] if isinstance(sent, list) else sent
    if isinstance(typed, list) and any(isinstance(item, FilePart) for item in typed):
        return sent if isinstance(sent, list) else [sent]
    return typed


def _invalid(problems: list[Violation]) -> ApiError:
    return ApiError(
        422,
        "; ".join(str(p) for p in problems),
        errors=[FieldError.of(p) for p in problems],
    )
