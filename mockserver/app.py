"""The ASGI app: every API under its prefix (or at the root by Host), the admin API, files."""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.datastructures import URLPath
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Match, Mount, NoMatchFound, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver import apis
from mockserver.admin import admin_routes, describe
from mockserver.admin_guard import AdminGuard, admin_token
from mockserver.config import ServerConfig
from mockserver.engine.clock import Clock
from mockserver.engine.jobs import Job
from mockserver.engine.journal import BODY_LIMIT, Entry
from mockserver.engine.scenarios import HEADER_KEY
from mockserver.errors import ApiError
from mockserver.exchange import Exchange
from mockserver.faults.middleware import FaultMiddleware
from mockserver.faults.reset import InjectedReset
from mockserver.limits import BodyLimits
from mockserver.pollcache import Answer, Key, Recorder, key_of
from mockserver.request import ApiRequest, first_headers, kept_body
from mockserver.routing import ADMIN_PREFIX, ApiRoutes
from mockserver.service import ApiService
from mockserver.state import MockState
from mockserver.stores import StateStore, StoreError, open_store
from mockserver.validation import RequestCheck, document_route, for_journal

log = logging.getLogger("mockserver")
END_OF_BODY: Message = {"type": "http.response.body", "body": b"", "more_body": False}


def create_app(
    config: ServerConfig | None = None,
    *,
    clock: Clock | None = None,
    store: StateStore | None = None,
) -> Starlette:
    """The whole server. `app.state.mock` is its `MockState`, `app.state.services` its APIs.
    `store` is where its state lives (default: the one `config.store` names, opened here, and
    closed again if the app cannot be built on it: Redis still loading its data, say)."""
    config = (config or ServerConfig()).check()  # one built in code is checked as a file is
    if store is not None:
        return _built(config, clock, store)
    opened = open_store(config.store)
    try:
        return _built(config, clock, opened)
    except BaseException:
        opened.close()
        raise


def _closing(
    services: dict[str, ApiService],
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """The app's lifespan: at its shutdown each API stops what runs beside requests (Neural
    Draft's webhook attempts, which a clock move's request may be waiting for: uvicorn sends
    the shutdown once it gave up waiting for requests)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        for service in services.values():
            await anyio.to_thread.run_sync(service.close)

    return lifespan


def _evicting(services: dict[str, ApiService]) -> Callable[[Job, float], None]:
    """What eviction tells before it forgets an ended job: the job's API, where this server
    serves it (a shared store holds the jobs of APIs other servers serve)."""

    def evicting(job: Job, now: float) -> None:
        service = services.get(job.api)
        if service is not None:
            service.evicting(job, now)

    return evicting


def _built(config: ServerConfig, clock: Clock | None, store: StateStore) -> Starlette:
    state = MockState(config, store, clock)
    names = [config.api] if config.api else list(apis.names())
    unknown = [name for name in names if name not in apis.names()]
    if unknown:
        raise ValueError(f"unknown API {unknown[0]!r}; known: {', '.join(apis.names())}")
    services = {name: apis.service_class(name)(state) for name in names}
    state.store.on_evict = _evicting(services)
    routes_of = {name: s.routes() for name, s in services.items()}
    mounts = {
        name: Mount(s.prefix, routes=[document_route(s), *_one_route_per_path(routes_of[name])])
        for name, s in services.items()
    }
    routes = [
        ApiMounts(mounts),
        Mount(ADMIN_PREFIX, routes=admin_routes()),
        Route("/", _index),
    ]
    # one app, not one per API: each error is written in the format of the API it is for
    handlers = {HTTPException: _http_error, ApiError: _api_error, Exception: _crash}
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=_closing(services))
    app.state.mock = state
    app.state.services = services
    endpoints = {name: _endpoints(services[name], routes_of[name]) for name in services}
    app.add_middleware(OperationDispatch, endpoints=endpoints)  # innermost: before the router
    found = ApiRoutes(services, config.api)  # a request's API, found once for both
    app.add_middleware(RequestMiddleware, services=services, state=state, routes=found)
    app.add_middleware(BodyLimits, state=state, routes=found)  # before a body is read
    app.state.admin_token = admin_token(config)  # the banner prints it
    app.add_middleware(AdminGuard, config=config, token=app.state.admin_token)  # outermost
    return app


class ApiMounts(BaseRoute):
    """The mount of the API the request middleware chose: a lookup, not a scan. Only what
    `OperationDispatch` left reaches it: unknown paths and methods, HEAD, the document."""

    def __init__(self, mounts: dict[str, Mount]) -> None:
        self.mounts = mounts

    def _mount(self, scope: Scope) -> Mount | None:
        info = ApiRequest.of(scope)
        return self.mounts.get(info.api or "") if info is not None else None

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        mount = self._mount(scope)
        return mount.matches(scope) if mount is not None else (Match.NONE, {})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        mount = self._mount(scope)
        assert mount is not None
        await mount.handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)


Endpoint = Callable[[Request], Awaitable[Response]]


class OperationDispatch:
    """Hands a request for a documented operation straight to its handler.

    The request middleware has found the API, the operation and its path parameters already;
    finding them again through Starlette's router (the mount, then the route, each by regex,
    each layer wrapped for errors) costs about as much as a status poll's own work. Anything
    else goes on to the router: unknown paths (404), wrong methods (405), HEAD, the document.
    Errors a handler raises are answered by the app's own handlers, in the API's format; any
    other exception is a bug, answered by the request middleware (a 500 with the request ID).
    """

    def __init__(self, app: ASGIApp, endpoints: dict[str, dict[tuple[str, str], Endpoint]]):
        self.app = app
        self.endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        info = ApiRequest.of(scope)
        endpoint = None
        if info is not None and info.api is not None and info.operation is not None:
            endpoint = self.endpoints[info.api].get((scope["method"], info.operation.template))
        if endpoint is None or info is None:
            await self.app(scope, receive, send)
            return
        scope["path_params"] = info.path_params
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except ApiError as exc:
            response = await _api_error(request, exc)
        except HTTPException as exc:
            response = await _http_error(request, exc)
        await response(scope, receive, send)


def _endpoints(service: ApiService, routes: list[Route]) -> dict[tuple[str, str], Endpoint]:
    """(method, documented path) -> endpoint; where an alias path shares the documented path,
    the first route listed wins, as it does in the router."""
    endpoints: dict[tuple[str, str], Endpoint] = {}
    for route in routes:
        for method in route.methods or ():
            endpoints.setdefault((method, service.canonical(route.path_format)), route.endpoint)
    return endpoints


def _one_route_per_path(routes: list[Route]) -> list[Route]:
    """Routes sharing a path become one, so a wrong method's 405 lists every method in `Allow`
    (Starlette answers it from the first route of the path alone)."""
    by_path: dict[str, list[Route]] = {}
    for route in routes:
        by_path.setdefault(route.path, []).append(route)
    return [
        group[0]
        if len(group) == 1
        else Route(
            path, _ByMethod(group), methods=sorted({m for r in group for m in r.methods or ()})
        )
        for path, group in by_path.items()
    ]


class _ByMethod:
    """The ASGI app of a merged route: the route of the request's method handles it."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = next(r for r in self.routes if scope["method"] in (r.methods or ()))
        await route.app(scope, receive, send)


def _service(request: Request) -> ApiService | None:
    services: dict[str, ApiService] = request.app.state.services
    info = ApiRequest.of(request.scope)
    return services.get(info.api or "") if info is not None else None


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's 404/405 (unknown path, wrong method) in the format of the API asked."""
    assert isinstance(exc, HTTPException)
    service = _service(request)
    if service is not None:
        return await service.http_exception(request, exc)
    return PlainTextResponse(exc.detail, exc.status_code, headers=exc.headers)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    service = _service(request)
    if service is not None:
        return service.error_response(request, exc)
    return JSONResponse({"error": exc.detail}, exc.status, headers=exc.headers)


async def _crash(request: Request, exc: Exception) -> Response:
    """A bug of the mock: still an answer in the API's format, and a traceback in the log. A
    store that cannot be reached is no bug: a 503 saying so, and one line in the log."""
    info = ApiRequest.of(request.scope)
    request_id = info.id if info is not None else "-"
    where = f"{request_id} {request.method} {request.url.path}"
    if isinstance(exc, StoreError):  # no bug: the store is down, and its error says why
        log.warning("%s: %s", where, exc)
        error = ApiError(503, f"The mock's state store is unavailable: {exc}")
    else:
        if isinstance(exc, InjectedReset):  # an in-process client whose transport keeps errors
            log.info("%s %s", request_id, exc)
        else:
            log.exception("%s: unexpected error", where)
        error = ApiError(500, f"Internal mock error: {exc}")
    service = _service(request)
    if service is not None:
        return service.error_response(request, error)
    return JSONResponse({"error": error.detail}, error.status)


async def _index(request: Request) -> Response:
    """The root lists every API's base URL (as health and the banner do) and the admin API."""
    root = str(request.base_url).rstrip("/")
    return JSONResponse({"apis": describe(request.app, root), "admin": root + ADMIN_PREFIX})


class RequestMiddleware:
    """Gives each request an ID, finds which API it is for, and journals it.

    The API and operation come from the `ApiRoutes` the body limits asked before it (see
    `mockserver.routing`); a path reached by Host or in single-API mode is re-rooted under
    the API's prefix here. A status poll whose answer is still fresh (`mockserver.pollcache`)
    is answered from the cache, journalled like any other; every request but a GET or HEAD
    (of an API or of the admin API) or a POST that only reads (`ApiService.reading_posts`)
    empties the cache before and after it is served (and, on a shared store, counts one
    change before its answer begins).

    The fault layer sits inside it, so a faulted answer is journalled like any other; a
    request of an API goes through that layer only when a fault could fire (the rare case).
    """

    def __init__(
        self, app: ASGIApp, services: dict[str, ApiService], state: MockState, routes: ApiRoutes
    ) -> None:
        self.app = app
        self.faults = FaultMiddleware(app, services, state)
        self.state = state
        self.services = services
        self.routes = routes
        self.checks = {name: RequestCheck(s) for name, s in services.items()}
        self.request_ids = random.Random()  # unique enough for a log, and no syscall per request
        self.polls = state.polls

    def _route(self, scope: Scope, info: ApiRequest, host: bytes) -> ApiService | None:
        """The request's API, with what `info` learns of it."""
        found = self.routes.find(host, scope["method"], scope["path"])
        if found is None:
            return None
        service, scope["path"], info.prefix, info.path, operation, params = found
        info.api = service.name
        if operation is not None:  # found once here, used by the check, the faults, the dispatch
            info.operation, info.path_params = operation, dict(params)
        return service

    def _cacheable(self, scope: Scope, info: ApiRequest, headers: dict[bytes, bytes]) -> bool:
        """A GET of a documented operation read from path and query alone, by a key, with no
        fault that could fire: its answer may come from (and go to) the poll cache."""
        operation = info.operation
        return (
            operation is not None
            and scope["method"] == "GET"
            and info.tenant is not None
            and not operation.reads_headers
            and HEADER_KEY not in headers
            and not self.state.faults.rules
            and not self.state.scenarios.faults_named
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = first_headers(scope)
        info = ApiRequest(f"req_{self.request_ids.getrandbits(64):016x}", headers=headers)
        info.attach(scope)
        host = headers.get(b"host", b"")
        service = self._route(scope, info, host)
        # on a shared store: what other processes changed (the clock...), read once, kept
        read = self.state.synced()
        try:
            read.__enter__()
        except StoreError as exc:  # nothing was sent: the API answers it, as any failure
            response = await _crash(Request(scope, receive), exc)
            response.headers["x-request-id"] = info.id
            await response(scope, receive, send)
            return
        try:
            info.tenant = _tenant(scope, service)
            content_type = headers.get(b"content-type")
            info.content_type = None if content_type is None else content_type.decode("latin-1")
            entry = Entry(
                id=info.id,
                time=self.state.now(),
                api=info.api,
                tenant=info.tenant,
                method=scope["method"],
                path=info.path or scope["path"],
                query=scope.get("query_string", b"")[:BODY_LIMIT].decode("latin-1"),
                request_type=info.content_type or "",
            )
            changes = scope["method"] not in ("GET", "HEAD") and not _reads_only(service, info)
            # on a shared store, other processes learn of changes from a count: it moves first
            announce = self.state.changed_jobs if changes and self.state.backend.shared else None
            journal = self.state.journal if service else None
            exchange = Exchange(entry, journal, receive, send, announce)
            raw = kept_body(scope)
            if raw is not None:
                exchange.body_read(raw)
            key = None
            try:
                if changes:
                    self.polls.invalidate()
                elif service is not None and info.tenant and self._cacheable(scope, info, headers):
                    key = key_of(scope, service.name, info.tenant, host)
                    answer = self.polls.get(key, entry.time)
                    own = None if answer is None else service.own_headers(info.tenant, entry.time)
                    if answer is not None and own is not None:
                        await answer.replay(exchange.send, own)
                        return
                await self._serve(scope, info, service, exchange, key)
            except InjectedReset:
                raise  # an in-process client's dropped connection
            except ClientDisconnect:
                pass  # gone before its body was whole: nothing is served, nor answered
            except Exception as exc:
                if not entry.status:
                    if isinstance(exc, StoreError):  # one wait for the store per request
                        exchange.without_store()
                    # answered here, not by the outermost handler, so it carries the request ID
                    response = await _crash(Request(scope, receive), exc)
                    await response(scope, receive, exchange.send)
                elif isinstance(exc, StoreError):
                    # the store went away under an event stream: no bug, one line, and the
                    # stream ends as streams do (its client may connect again)
                    log.warning("%s: the answer ends here: %s", info.id, exc)
                    if not exchange.ended:
                        await exchange.send(END_OF_BODY)
                else:
                    raise  # the answer had begun: nothing left to say but the log
            finally:
                if changes:
                    self.polls.invalidate()
                exchange.announce()  # no answer began (a dropped connection): count it now
                exchange.record()  # an answer that never ended (a dropped connection) is journalled
                if info.form is not None:  # the uploads the request check parsed, read by now
                    await info.form.close()
        finally:
            read.__exit__(None, None, None)

    async def _serve(
        self,
        scope: Scope,
        info: ApiRequest,
        service: ApiService | None,
        exchange: Exchange,
        key: Key | None,
    ) -> None:
        receive_app: Receive = exchange.receive
        if service is not None:  # checked against the contract before it is served
            check = self.checks[service.name]
            found, receive_app = await check.inspect(scope, receive_app)
            exchange.entry.violations = for_journal(found) if found else []
            info.violations = found  # the handler's own checks build on it
            rejection = check.rejection(scope, found) if self.state.strict else None
            if rejection is not None:
                await rejection(scope, receive_app, exchange.send)
                return
        app = self.app if service is None or self.faults.idle(scope) else self.faults
        if key is None:
            await app(scope, receive_app, exchange.send)
            return
        assert service is not None  # only an API's poll has a key
        generation = self.polls.generation
        recorder = Recorder(exchange.send)
        await app(scope, receive_app, recorder)
        if (
            info.fresh_until is not None
            and not info.violations
            and recorder.status == 200
            and recorder.complete
        ):
            kept = [h for h in recorder.headers if h[0] not in service.own_header_names]
            answer = Answer(recorder.status, kept, recorder.body, info.fresh_until)
            self.polls.put(key, answer, generation)


def _reads_only(service: ApiService | None, info: ApiRequest) -> bool:
    """A POST of an API that only reads: a GET, for the status answers kept."""
    operation = info.operation
    return (
        service is not None
        and operation is not None
        and operation.template in service.reading_posts
    )


def _tenant(scope: Scope, service: ApiService | None) -> str | None:
    """The tenant for the journal, read without judging the key (that is the handler's job)."""
    return None if service is None else service.key_sent(scope)
