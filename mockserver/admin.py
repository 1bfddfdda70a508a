"""The admin API under `/__mock__/`: steer the clock, queue outcomes, inspect jobs and traffic.

JSON in, JSON out; errors are `{"error": "..."}` with a 4xx.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import anyio
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route, Router
from starlette.types import Receive, Scope, Send

from mockserver import pages
from mockserver.admin_guard import signs_page
from mockserver.contracts.lifecycle import lifecycles_in
from mockserver.engine.artifacts import render_budget
from mockserver.engine.clock import MAX_STEP, MICROS_Z, SPAN, PastTheEnd, parse_time
from mockserver.engine.jobs import Job
from mockserver.engine.journal import mask
from mockserver.engine.scenarios import Scenario, ScenarioError
from mockserver.errors import ApiError, repeated, shown_value
from mockserver.faults import FaultRule
from mockserver.request import MAX_KEY_LENGTH, key_problem
from mockserver.service import ApiService, JobEnded
from mockserver.state import MockState
from mockserver.stores import shown

RESERVED = {"api", "outcome", "tenant", "count"}
DASHBOARD_ROWS = 200  # a server may hold 100,000 jobs: the page shows the newest
DASHBOARD_REQUESTS = 50
MAX_DIGITS = 9  # of a count in a query (`limit`, `offset`)
TIME_FORMS = f"Unix seconds or an ISO 8601 time such as 2026-03-01T12:00:00Z, {SPAN}"


Endpoint = Callable[[Request], Awaitable[Response]]


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _state(request: Request) -> MockState:
    return request.app.state.mock


def _services(request: Request) -> dict[str, ApiService]:
    return request.app.state.services


async def _json(request: Request, *known: str) -> dict[str, Any]:
    """The body's JSON object; with `known`, a key outside them is a 422, as a fault rule's
    is: ignored, a misspelt key would leave the call doing what its author did not mean."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise AdminError(400, "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise AdminError(400, "the body must be a JSON object")
    unknown = sorted(set(data) - set(known)) if known else []
    if unknown:
        raise AdminError(
            422, f"unknown key {shown_value(unknown[0])} in the body; known: {', '.join(known)}"
        )
    return data


def takes(
    handler: Endpoint, query: Mapping[str, tuple[str, ...]] | None = None, body: str | None = None
) -> Endpoint:
    """`handler`, refusing what it would ignore: a query parameter its method does not read
    (`query`: method -> names; `token`, the admin token, goes everywhere) or given values that
    differ (each takes one), and a body on a method other than `body`. Ignored, `?tenant=` or
    `{"tenant": ...}` on a reset would wipe every tenant, not the one meant, and of
    `?api=a&api=b` one would be dropped. No body (or `{}`) is none, as clients send it."""
    reads = query or {}

    async def endpoint(request: Request) -> Response:
        await _refuse_extras(request, reads.get(request.method, ()), body)
        return await handler(request)

    return endpoint


async def _refuse_extras(request: Request, reads: tuple[str, ...], body: str | None) -> None:
    """`takes()`'s refusals (an AdminError): a query parameter outside `reads` and `token`,
    one given more than one value (the same value again is that value: a page's link carries
    `?token=`, to which a client may add its own), a body on a method other than `body`."""
    known, params = (*reads, "token"), request.query_params
    unknown = sorted(set(params) - set(known))
    if unknown:
        takes_only = f"takes only {', '.join(reads)}" if reads else "takes none"
        raise AdminError(
            422,
            f"unknown query parameter {shown_value(unknown[0])}; "
            f"{request.method} {_path(request)} {takes_only}",
        )
    twice = sorted(name for name in params if len(set(params.getlist(name))) > 1)
    if twice:  # each takes one value: the last used and the others dropped, without a word
        given = repeated(params.getlist(twice[0]))
        raise AdminError(
            422, f"query parameter {shown_value(twice[0])} is given {given}: give it once"
        )
    if request.method != body:
        data = await _json(request)
        if data:
            raise AdminError(
                422,
                f"unknown key {shown_value(min(data))} in the body; "
                f"{request.method} {_path(request)} takes no body",
            )


def takes_page(handler: Endpoint, reads: tuple[str, ...], home: str) -> Endpoint:
    """A page's `takes()` (a GET reading the query parameters `reads`): its refusals, and
    those of the filters it shares with the JSON views, are the same words and status, on a
    page (a person reads them) linking the dashboard (`home`, from the page); a refused
    signed page links nothing of the admin API."""

    async def endpoint(request: Request) -> Response:
        try:
            await _refuse_extras(request, reads, None)
            return await handler(request)
        except AdminError as exc:
            signed = "signature" in request.query_params
            link = None if signed else home + _links(request).query
            return HTMLResponse(pages.refusal(exc.message, link), exc.status)

    return endpoint


def _tenant(value: Any) -> str | None:
    """A `tenant` (in a body or a `?tenant=` filter): an API key a request can send, as an
    API reads it (surrounding spaces dropped). A blank or longer one could never name a key:
    queued, it would hold a slot for ever; a filter, it would quietly match nothing."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise AdminError(422, "'tenant' must be an API key string")
    key = value.strip()
    if not key:
        raise AdminError(422, f"'tenant' must be an API key, not blank (got {shown_value(value)})")
    if len(key) > MAX_KEY_LENGTH:
        raise AdminError(422, f"'tenant' must be an API key of at most {MAX_KEY_LENGTH} characters")
    problem = key_problem(key)  # what a config file's key is refused for, as its own words
    if problem is not None:
        raise AdminError(422, f"'tenant' must be an API key a request can send: {problem}")
    return key


def _tenant_filter(request: Request) -> str | None:
    return _tenant(request.query_params.get("tenant"))


def _served(request: Request, job: Job) -> ApiService | None:
    """`job`'s API on this server; None where it serves no such API: servers with different
    `--api` may share a store, and the admin API of each shows every job in it."""
    return _services(request).get(job.api)


def _time_style(service: ApiService | None, kind: str) -> str:
    """How an admin page writes the instants of a job of `kind`: as its API writes them, or,
    for a job of an API this server does not serve, to the microsecond (whole seconds could
    disagree with what its client read)."""
    return MICROS_Z if service is None else service.time_style_of(kind)


def _service(request: Request, name: Any) -> ApiService:
    services = _services(request)
    if not isinstance(name, str) or name not in services:
        raise AdminError(
            422, f"'api' must be one of: {', '.join(services)} (got {shown_value(name)})"
        )
    return services[name]


def _api_filter(request: Request) -> str | None:
    """The `?api=` filter: a name no API of this server has would quietly match nothing."""
    name = request.query_params.get("api")
    return None if name is None else _service(request, name).name


def _status_filter(request: Request, api: str | None) -> str | None:
    """The `?status=` filter, lower case: a state no job of these APIs can show would quietly
    match nothing too (an API whose contract describes no lifecycle takes any word). The
    contract's states are every word a job shows, its ends included (the plans are checked
    against them); an outcome word that only refuses a create, such as NeuroLinker's
    `insufficient_credits`, is none."""
    wanted = (request.query_params.get("status") or "").lower()
    if not wanted:
        return None
    services = _services(request)
    known: set[str] = set()
    for service in [services[api]] if api is not None else services.values():
        cycles = lifecycles_in(service.name, service.contract_path)
        if not cycles:
            return wanted
        known |= {state.lower() for cycle in cycles.values() for state in cycle.states}
    if wanted not in known:
        raise AdminError(
            422,
            f"'status' must be one of: {', '.join(sorted(known))} "
            f"(got {shown_value(request.query_params['status'])})",
        )
    return wanted


def _status_keep(request: Request, api: str | None, now: float) -> Callable[[Job], bool] | None:
    """The `?status=` filter as a test of a job at `now` (None: every job)."""
    wanted = _status_filter(request, api)
    if wanted is None:
        return None
    return lambda job: job.snapshot(now).state.lower() == wanted


def _number(data: dict[str, Any], name: str) -> float:
    """A finite number: JSON integers too large for a float are refused like NaN."""
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AdminError(422, f"'{name}' must be a number (got {shown_value(value)})")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise AdminError(422, f"'{name}' must be a finite number (got {shown_value(value)})")
    return number


def describe(app: Any, root: str) -> dict[str, str]:
    """Base URL of every API on a server whose root is `root` (health, banner, fixtures)."""
    services: dict[str, ApiService] = app.state.services
    alone = app.state.mock.config.api is not None
    return {name: root + ("" if alone else s.prefix) + s.base_path for name, s in services.items()}


def handles_errors(handler: Endpoint) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except AdminError as exc:
            return JSONResponse({"error": exc.message}, exc.status)
        except (ScenarioError, ValueError, OverflowError) as exc:
            return JSONResponse({"error": str(exc)}, 422)

    return endpoint


async def health(request: Request) -> Response:
    state = _state(request)
    root = str(request.base_url).rstrip("/")
    return JSONResponse(
        {
            "status": "ok",
            "apis": describe(request.app, root),
            "clock": state.clock.describe(),
            "jobs": len(state.store),
            "strict": state.strict,
            "store": shown(state.config.store),
        }
    )


async def reset(request: Request) -> Response:
    state = _state(request)
    state.reset()
    await _off_the_loop(state.clock.changed)  # open streams end at once: their jobs are gone
    return JSONResponse({"reset": True})


async def clock(request: Request) -> Response:
    return JSONResponse(_state(request).clock.describe())


async def clock_advance(request: Request) -> Response:
    state = _state(request)
    seconds = _number(await _json(request, "seconds"), "seconds")
    if not 0 <= seconds <= MAX_STEP:  # the clock only moves forward
        raise AdminError(422, f"'seconds' must be from 0 to {MAX_STEP:.0f} (got {seconds:g})")
    try:
        await _off_the_loop(state.clock.advance, seconds)
    except PastTheEnd as exc:
        raise AdminError(422, f"'seconds' is too large: {exc}") from None
    return JSONResponse(state.clock.describe())


async def clock_set(request: Request) -> Response:
    moment = _moment(await _json(request, "time", "timestamp"))
    state = _state(request)
    await _off_the_loop(state.clock.set, moment)
    return JSONResponse(state.clock.describe())


def _moment(data: dict[str, Any]) -> float:
    """The instant `clock/set` names in `time` (or its alias `timestamp`), as Unix seconds;
    both at once is a 422: one would be dropped without a word."""
    if "time" in data and "timestamp" in data:
        raise AdminError(422, "give 'time' or its alias 'timestamp', not both")
    name = "timestamp" if "timestamp" in data else "time"
    value = data.get(name)
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        try:
            return parse_time(value)
        except (ValueError, OverflowError):  # not ISO 8601, an offset past a day, out of range
            pass
    raise AdminError(422, f"'{name}' must be {TIME_FORMS} (got {shown_value(value)})")


async def _off_the_loop(move: Callable[..., Any], *args: Any) -> Any:
    """Run a clock change in a worker thread: its listeners may deliver webhooks, and one
    aimed at this very server must find the event loop free to answer it."""
    return await anyio.to_thread.run_sync(move, *args)


async def scenarios(request: Request) -> Response:
    """The queue: GET lists it (`?tenant=` a key's own queues), POST adds to it and lists it
    all, DELETE clears it."""
    state = _state(request)
    if request.method == "GET":
        return JSONResponse({"queued": _queued(state, _tenant_filter(request))})
    if request.method == "DELETE":
        state.scenarios.clear()
        return JSONResponse({"queued": []})
    data = await _json(request)
    service = _service(request, data.get("api"))
    outcome = data.get("outcome")
    if not isinstance(outcome, str) or not outcome.strip():
        raise AdminError(422, "'outcome' must be a terminal status word, e.g. 'failed'")
    count = data.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise AdminError(422, "'count' must be a positive integer")
    if count > state.scenarios.limit:
        raise AdminError(422, f"'count' must be at most {state.scenarios.limit}")
    tenant = _tenant(data.get("tenant"))
    extra = {k: v for k, v in data.items() if k not in RESERVED}
    scenario = Scenario.parse_with(outcome, "queue", extra)
    service.check_scenario(scenario)  # refuses a word, an option or a fault it cannot apply
    state.scenarios.queue(service.name, scenario, tenant, count)
    return JSONResponse({"queued": _queued(state)}, 201)


def _queued(state: MockState, tenant: str | None = None) -> list[dict[str, Any]]:
    """The queued scenarios as admin views show them: API keys masked (`tenant`, the real
    key, keeps that key's queues alone)."""
    return [
        {**entry, "tenant": mask(entry["tenant"])}
        for entry in state.scenarios.queued()
        if tenant is None or entry["tenant"] == tenant
    ]


async def faults(request: Request) -> Response:
    """Fault rules: GET lists them (with how often each fired per tenant; `?tenant=` the rules
    naming that key), POST adds one rule or `{"faults": [...]}`, DELETE removes them all."""
    book = _state(request).faults
    if request.method == "DELETE":
        book.clear()
        return JSONResponse({"faults": []})
    if request.method == "POST":
        items = _rule_objects(await _json(request))
        rules = [FaultRule.parse(item) for item in items]
        for rule in rules:  # all or nothing
            if rule.api is not None:
                _service(request, rule.api)
        added = {rule.id for rule in book.add_all(rules)}
        listed = [_rule(r) for r in book.describe() if r["id"] in added]
        return JSONResponse({"faults": listed}, 201)
    tenant = _tenant_filter(request)
    listed = [_rule(r) for r in book.describe() if tenant is None or r["tenant"] == tenant]
    return JSONResponse({"faults": listed})


def _rule(described: dict[str, Any]) -> dict[str, Any]:
    """A fault rule as admin views show it: its API key and those of its tallies masked (two
    keys masked alike share a count)."""
    fired: dict[str, int] = {}
    for tenant, count in described["fired"].items():
        shown = mask(tenant) or ""
        fired[shown] = fired.get(shown, 0) + count
    return {**described, "tenant": mask(described["tenant"]), "fired": fired}


def _rule_objects(data: dict[str, Any]) -> list[dict[str, Any]]:
    """One rule, or `{"faults": [...]}` alone: a rule beside the list would be dropped."""
    if "faults" not in data:
        return [data]
    items = data["faults"]
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise AdminError(422, "'faults' must be a list of fault rule objects")
    others = sorted(set(data) - {"faults"})
    if others:
        raise AdminError(
            422,
            f"'faults' takes no keys beside it (got {shown_value(others[0])}): put each rule in it",
        )
    return items


async def fault(request: Request) -> Response:
    rule_id = request.path_params["rule_id"]
    if not _state(request).faults.remove(rule_id):
        raise AdminError(404, f"no fault rule {shown_value(rule_id)}")
    return JSONResponse({"deleted": rule_id})


async def jobs(request: Request) -> Response:
    """The jobs, oldest first; `?limit=` the newest that many, `?offset=` after passing over
    that many newer ones (`more` says whether older ones remain)."""
    state = _state(request)
    now = state.now()
    params = request.query_params
    api = _api_filter(request)
    found, more = state.store.newest(
        _whole(params, "limit"),
        api,
        _tenant_filter(request),
        _whole(params, "offset") or 0,
        _status_keep(request, api, now),
    )
    shown = [_summary(job, now) for job in reversed(found)]
    return JSONResponse({"jobs": shown, "count": len(shown), "more": more})


def _summary(job: Job, now: float) -> dict[str, Any]:
    """A job as admin views show it: its API key masked, as the journal's (a filter still
    takes the real key)."""
    return {**job.summary(now), "tenant": mask(job.tenant)}


def _whole(params: QueryParams, name: str) -> int | None:
    """A query parameter that counts (None when not sent): digits, at most nine of them."""
    value = params.get(name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= MAX_DIGITS):
        raise AdminError(422, f"'{name}' must be a whole number below 10^{MAX_DIGITS}")
    return int(value)


def _job(request: Request) -> Job:
    job = _state(request).store.lookup(request.path_params["job_id"])
    if job is None:
        raise AdminError(404, f"no job {shown_value(request.path_params['job_id'])}")
    return job


async def job(request: Request) -> Response:
    return JSONResponse(_summary(_job(request), _state(request).now()))


def _endings(service: ApiService, kind: str) -> tuple[str, ...]:
    """The outcomes a job of `kind` can be ended in: an API's words may include one that only
    refuses a create (NeuroLinker's `insufficient_credits`) or that fits another kind of its
    jobs (a NeuroLinker document never ends `partial`); `stalled` never ends."""
    return tuple(word for word in service.outcomes if _can_end(service, kind, word))


def _can_end(service: ApiService, kind: str, word: str) -> bool:
    try:
        service.outcome(kind, Scenario(word.lower(), {}, "admin"))
    except ScenarioError:
        return False
    return True


def _links(request: Request) -> pages.Links:
    """An admin page's links: with the `?token=` it was opened with, as its buttons send it."""
    return pages.Links(token=request.query_params.get("token"))


async def dashboard(request: Request) -> Response:
    """The jobs and the latest requests for people, newest first, with the clock and buttons
    that steer both; filtered as the JSON views filter (an unknown `?api=` is a 404 page). A
    job of an API this server does not serve is listed without buttons."""
    state = _state(request)
    services = _services(request)
    api = request.query_params.get("api")
    if api is not None and api not in services:
        raise AdminError(
            404,
            f"no API named {shown_value(api)} on this server; it emulates: "
            f"{', '.join(sorted(services))}",
        )
    now = state.now()
    tenant, keep = _tenant_filter(request), _status_keep(request, api, now)
    jobs, more = state.store.newest(DASHBOARD_ROWS, api, tenant, keep=keep)
    # known without reading every job only when neither an API nor a status filters them
    total = state.store.count(tenant) if api is None and keep is None else None
    entries = state.journal.entries(api, tenant, DASHBOARD_REQUESTS)
    kinds = {(job.api, job.kind) for job in jobs}
    words = {(n, k): _endings(services[n], k) for n, k in kinds if n in services}
    page = pages.dashboard(
        jobs,
        total,
        more,
        entries[::-1],
        now,
        state.clock.describe(),
        {
            job.id: tuple(
                w for w in words[job.api, job.kind] if services[job.api].can_end_in(job, w, now)
            )
            for job in jobs
            if (job.api, job.kind) in words
        },
        {(name, kind): _time_style(services.get(name), kind) for name, kind in kinds},
        _links(request),
    )
    return HTMLResponse(page)


async def job_page(request: Request) -> Response:
    """The job for a person: what an API's "web UI page" links point at. Opened by that
    link, its `signature` (the admin guard let it pass) shows the client this one job,
    read-only, while its API would (not before the job's creation, when the clock was set
    back); else it is an admin page, which shows any job the admin API lists. To a caller the
    guard did not check, an unknown job and a wrong signature are one 404."""
    state = _state(request)
    now = state.now()
    signature = request.query_params.get("signature")
    if signature is None:
        found, links = _job(request), _links(request)
    else:
        signed = state.store.lookup(request.path_params["job_id"])
        if signed is None or signed.created_at > now or not signs_page(signed, signature):
            raise AdminError(
                404, "no job page at this link: its job does not exist or the signature is not its"
            )
        found, links = signed, pages.Links(signed=True)
    style = _time_style(_served(request, found), found.kind)
    return HTMLResponse(pages.job_page(found, now, state.store, links, style))


async def transition(request: Request) -> Response:
    """Force a job into a terminal state now: `{"outcome": "failed", "message": "..."}`, and
    the options of its API that shape an end (Neural Draft's `code`...). A job of an API this
    server does not serve is a 409: it has no words to end it in."""
    state = _state(request)
    found = _job(request)
    service = _served(request, found)
    if service is None:
        raise AdminError(
            409,
            f"this server does not serve {found.api} (it emulates "
            f"{', '.join(sorted(_services(request)))}): end {found.api} job "
            f"{shown_value(found.id)} through a server that does",
        )
    outcome, options = await _end_asked(request, service)
    words = _endings(service, found.kind)
    word = Scenario.parse_with(outcome, "admin", options).outcome
    if word not in {known.lower() for known in words}:  # `stalled` is no end
        raise AdminError(
            422,
            f"'outcome' {shown_value(word)} is not a job outcome here: a {found.api} "
            f"{found.kind} job ends in {', '.join(words)}",
        )
    try:
        service.force_end(found, outcome, options)
    except JobEnded as exc:
        raise AdminError(409, str(exc)) from None
    await _off_the_loop(state.clock.changed)  # streams and webhooks see the end at once
    return JSONResponse(_summary(found, state.now()))


async def _end_asked(request: Request, service: ApiService) -> tuple[str, dict[str, Any]]:
    """A forced end's outcome and options; a 422 for what it would ignore: a key other than
    `outcome`, `message` and the options of `service` that shape an end (no `after=` to wait
    for, no fault to fire), and a blank `message` (the API's own would stand in)."""
    data, keys = await _json(request), ("outcome", "message", *service.scenario_options)
    unknown = sorted(set(data) - set(keys))
    if unknown:
        raise AdminError(
            422,
            f"key {shown_value(unknown[0])} does not apply to a forced end; it takes "
            + ", ".join(keys),
        )
    outcome, message = data.pop("outcome", None), data.get("message")
    if not isinstance(outcome, str) or not outcome.strip():
        raise AdminError(422, "'outcome' must be a terminal status word, e.g. 'failed'")
    if "message" in data and (not isinstance(message, str) or not message.strip()):
        raise AdminError(
            422,
            "'message' must be the text a client reads, not blank; leave it out for the "
            f"API's own (got {shown_value(message)})",
        )
    return outcome, data


async def journal(request: Request) -> Response:
    """The entries, oldest first; `?limit=` and `?offset=` page from the newest as `/jobs`
    does: the newest `limit` after passing over the `offset` newest."""
    state = _state(request)
    params = request.query_params
    api, tenant = _api_filter(request), _tenant_filter(request)
    if request.method == "DELETE":
        _no_count(params, "limit", "offset")
        state.journal.clear(api, tenant)
        return JSONResponse({"entries": []})
    limit, offset = _whole(params, "limit"), _whole(params, "offset") or 0
    entries = [] if limit == 0 else state.journal.entries(api, tenant)
    entries = entries[: max(0, len(entries) - offset)]
    if limit:
        entries = entries[-limit:]
    return JSONResponse({"entries": [e.as_dict() for e in entries]})


def _no_count(params: QueryParams, *names: str) -> None:
    """Clearing takes the filters alone: a count would read as "clear the latest N" and
    clear them all (a count that is no whole number is refused as a read refuses it)."""
    for name in names:
        if _whole(params, name) is not None:
            raise AdminError(
                422,
                f"'{name}' does not apply to clearing: it clears every entry ?api= and "
                "?tenant= match",
            )


async def violations(request: Request) -> Response:
    found = _state(request).journal.violations(_api_filter(request), _tenant_filter(request))
    return JSONResponse({"violations": found, "count": len(found)})


async def strict(request: Request) -> Response:
    """Strict mode at run time: `{"strict": true}` answers contract violations with a 4xx."""
    state = _state(request)
    if request.method == "POST":
        value = (await _json(request, "strict")).get("strict")
        if not isinstance(value, bool):
            raise AdminError(422, f"'strict' must be true or false (got {shown_value(value)})")
        state.strict = value
    return JSONResponse({"strict": state.strict})


async def contracts(request: Request) -> Response:
    """Where each API serves its OpenAPI document (no key needed), e.g. for schemathesis."""
    root = str(request.base_url).rstrip("/")
    alone = _state(request).config.api is not None  # one API served at the root
    listed = [
        {
            "api": name,
            "title": service.contract.document["info"]["title"],
            "version": service.contract.document["info"]["version"],
            "openapi": service.contract.document["openapi"],
            "url": root + ("" if alone else service.prefix) + service.contract.document_path,
            "operations": len(service.contract.operations),
        }
        for name, service in _services(request).items()
    ]
    return JSONResponse({"contracts": listed})


async def files(request: Request) -> Response:
    """A signed, expiring link to a file rendered from a job (downloads, archives, results)."""
    state = _state(request)
    job_id, name = request.path_params["job_id"], request.path_params["name"]
    query = request.query_params
    if any(len(query.getlist(part)) > 1 for part in ("expires", "signature")):  # one is used
        return JSONResponse(
            {"error": "AccessDenied", "message": "Repeated expires or signature"}, 403
        )
    sent = query.get("expires", "")
    try:
        if not (sent.isascii() and sent.isdigit()):
            raise ValueError(sent)  # int() reads '٤' as 4, and ' 4', '+4' and '4_0' too
        expires = int(sent)
    except ValueError:  # the digits past the 4,300 int() reads too
        return JSONResponse({"error": "AccessDenied", "message": "Missing or bad expires"}, 403)
    if not state.signer.valid(job_id, name, expires, query.get("signature", "")):
        return JSONResponse({"error": "AccessDenied", "message": "Signature does not match"}, 403)
    if state.now() > expires:
        return JSONResponse({"error": "AccessDenied", "message": "Request has expired"}, 403)
    found, now = state.store.lookup(job_id), state.now()
    if found is None or found.created_at > now:  # gone, or not made yet (clock set back)
        return JSONResponse({"error": "NoSuchKey", "message": "The file no longer exists"}, 404)
    service, limit = _served(request, found), state.config.max_render_bytes
    if service is None:  # another server's, on a shared store: it renders its own files
        message = f"This server does not serve {found.api}: download it from one that does"
        return JSONResponse({"error": "NoSuchKey", "message": message}, 404)
    ended = found.snapshot(now).outcome
    if ended is None or ended.state != service.outcomes[0]:  # the clock set back before its end
        return JSONResponse({"error": "NoSuchKey", "message": "The file does not exist yet"}, 404)

    def render() -> tuple[bytes, str]:
        with render_budget(limit):  # whatever an upload's header said
            return service.render_file(found, name)

    try:
        # in a worker thread: encoding minutes of audio must not hold up every other request
        data, media_type = await anyio.to_thread.run_sync(render)
    except ApiError as exc:
        return JSONResponse({"error": "NoSuchKey", "message": exc.detail}, exc.status)
    headers = {"Content-Disposition": attachment(name.rsplit("/", 1)[-1])}
    return Response(data, media_type=media_type, headers=headers)


def attachment(filename: str) -> str:
    """A `Content-Disposition` any name fits in (a header is Latin-1, without control
    characters: such a name would be a 500): a printable-ASCII stand-in, and the name itself as
    RFC 6266's `filename*` when it is not one already."""
    plain = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in filename)
    if plain == filename:
        return f'attachment; filename="{plain}"'
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _path(request: Request) -> str:
    """The path asked, for a message, cut short."""
    path = request.url.path
    return path if len(path) <= 100 else path[:100] + "..."


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """No admin endpoint at that path: JSON, as every admin error (Starlette's is text)."""
    message = f"no admin endpoint at {_path(Request(scope))}"
    await JSONResponse({"error": message}, 404)(scope, receive, send)


class AdminRoute(Route):
    """A wrong method's 405 in JSON, with `Allow`, as every admin error (Starlette's is text).
    An empty path parameter matches nothing: `/files/x/` is no file link (a file link's
    `{name:path}` would take it), `/jobs//page` no job's page."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE and "" in child["path_params"].values():
            return Match.NONE, {}
        return match, child

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            allowed = ", ".join(sorted(self.methods))
            message = f"{scope['method']} is not allowed on {_path(Request(scope))}; use {allowed}"
            response = JSONResponse({"error": message}, 405, headers={"Allow": allowed})
            await response(scope, receive, send)
            return
        await super().handle(scope, receive, send)


# `limit` and `offset` on a DELETE are refused by the journal itself, in words of its own
JOURNAL_QUERY = {
    "GET": ("api", "tenant", "limit", "offset"),
    "DELETE": ("api", "tenant", "limit", "offset"),
}


def admin_routes() -> list[BaseRoute]:
    endpoints = [
        ("/health", takes(health), ["GET"]),
        ("/reset", takes(reset), ["POST"]),
        ("/clock", takes(clock), ["GET"]),
        ("/clock/advance", takes(clock_advance, body="POST"), ["POST"]),
        ("/clock/set", takes(clock_set, body="POST"), ["POST"]),
        ("/scenarios", takes(scenarios, {"GET": ("tenant",)}, "POST"), ["GET", "POST", "DELETE"]),
        ("/faults", takes(faults, {"GET": ("tenant",)}, "POST"), ["GET", "POST", "DELETE"]),
        ("/faults/{rule_id}", takes(fault), ["DELETE"]),
        ("/jobs", takes(jobs, {"GET": ("api", "tenant", "status", "limit", "offset")}), ["GET"]),
        ("/jobs/{job_id}", takes(job), ["GET"]),
        ("/jobs/{job_id}/transition", takes(transition, body="POST"), ["POST"]),
        ("/journal", takes(journal, JOURNAL_QUERY), ["GET", "DELETE"]),
        ("/violations", takes(violations, {"GET": ("api", "tenant")}), ["GET"]),
        ("/strict", takes(strict, body="POST"), ["GET", "POST"]),
        ("/contracts", takes(contracts), ["GET"]),
        # pages: the same refusals, as pages
        ("/dashboard", takes_page(dashboard, ("api", "tenant", "status"), "dashboard"), ["GET"]),
        ("/jobs/{job_id}/page", takes_page(job_page, ("signature",), "../../dashboard"), ["GET"]),
        # a download link an API issued: its refusals are the file store's, and no body
        # could change what it answers
        ("/files/{job_id}/{name:path}", files, ["GET"]),
    ]
    routes = [
        AdminRoute(path, handles_errors(fn), methods=methods) for path, fn, methods in endpoints
    ]
    # one router of their own, whose default answers a path no admin endpoint has, a
    # trailing slash included (Starlette's would redirect `/jobs/` to `/jobs`)
    return [Mount("", app=Router(routes, redirect_slashes=False, default=_not_found))]
