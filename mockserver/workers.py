"""`mockserver serve --workers N`: N processes on one listening socket and one shared store.

uvicorn's supervisor starts the workers (and starts a worker again when one dies); each
builds its own app from the settings the parent passes in the environment (the admin token
the parent generated and printed among them), logs as one `serve` process does, and finds
every other worker's state in the store (Redis or SQLite): one world, whichever worker answers.
The parent prints the start-up line once every worker serves.

A worker that cannot reach the store as it starts (Redis restarting while a worker is
replaced) does not die: dying, it would be started again and again, a traceback each time,
while the clients its socket holds got no answer. It serves as every worker does during an
outage, each API's 503 in its own format (`StoreAwaited`), and becomes a whole worker once
the store answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import gc
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from uvicorn import Config
from uvicorn.supervisors import Multiprocess

from mockserver.config import ServerConfig
from mockserver.stores import MemoryStore, StateStore, StoreError

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("mockserver")

ENVIRONMENT = "MOCKSERVER_WORKER_CONFIG"  # the parent's settings and log level, as JSON
# each worker is a whole server (about 90 MB): a typo such as 1000 must not fork the machine away
MAX_WORKERS = 64
RETRY_SECONDS = 1.0  # a worker that found no store at its start tries again at most this often
READY_POLL_SECONDS = 0.05  # how often the parent asks its starting workers whether they serve


def refusal(config: ServerConfig, workers: int) -> str | None:
    """Why `workers` processes cannot run on `config`'s store, in one line (None: they can)."""
    if not 1 <= workers <= MAX_WORKERS:
        return (
            f"--workers: {workers} is not allowed; expected a whole number from 1 to {MAX_WORKERS}"
        )
    if workers > 1 and config.store == "memory":
        return (
            f"--workers {workers} needs a shared store: the memory store lives in one process "
            "(use --store sqlite:///path/state.db or --store redis://host:6379/0)"
        )
    return None


def app_from_environment() -> ASGIApp:
    """A worker's app (uvicorn calls it in each worker process), logged, collected and shut
    down as `serve`'s is; while the store cannot be reached, a `StoreAwaited`."""
    from mockserver.app import create_app
    from mockserver.cli import log_requests
    from mockserver.live import ClosedAtShutdown

    given = json.loads(os.environ[ENVIRONMENT])
    log_requests(given["log_level"])
    config = ServerConfig(**given["config"])
    try:
        app: ASGIApp = serving(create_app(config))
    except StoreError as exc:
        app = StoreAwaited(config, exc)
    return ClosedAtShutdown(app)


def serving(app: Starlette) -> Starlette:
    """`app`, about to serve in this worker: what exists now lives as long as the worker (the
    full collections need not walk it again), and they wait for a quiet moment."""
    from mockserver.collector import collect_when_quiet

    gc.freeze()
    collect_when_quiet(app)
    return app


def _refusing(cls: type[Refusing]) -> type[Refusing]:
    """Every operation of the store (but `close`) raises the store's `error` once it is
    `refusing`."""

    def refused(name: str) -> Callable[..., Any]:
        held = getattr(MemoryStore, name)

        @functools.wraps(held)
        def operation(store: Refusing, *args: Any, **kwargs: Any) -> Any:
            if store.refusing:
                raise store.error
            return held(store, *args, **kwargs)

        return operation

    for name, value in vars(StateStore).items():
        if callable(value) and not name.startswith("_") and name != "close":
            setattr(cls, name, refused(name))
    return cls


@_refusing
class Refusing(MemoryStore):
    """The store of `StoreAwaited`'s stand-in app: memory while the app is built, then every
    operation fails with `error`, as the store it stands for did. Shared, as that store is: a
    request reads it before anything else, and is refused there, as during any outage."""

    shared = True

    def __init__(self, url: str, error: StoreError) -> None:
        super().__init__()
        self.url = url
        self.error = error
        self.refusing = False


class StoreAwaited:
    """A worker's app while the store could not be reached: the whole app, built on a store
    that refuses every operation (so each request is answered exactly as during an outage
    after the start: each API's 503 in its own format, one log line), until an attempt to
    build the real one succeeds. A request makes the attempt, at most every `retry` seconds
    and one at a time, in a thread (the others are answered meanwhile), then is served by
    whichever app there is."""

    def __init__(self, config: ServerConfig, error: StoreError, retry: float = RETRY_SECONDS):
        from mockserver.app import create_app

        self.config = config
        self.retry = retry
        self.store = Refusing(config.store, error)
        self.app: ASGIApp = create_app(config, store=self.store)
        self.store.refusing = True
        self.ready = False  # the real app serves
        self._next = time.monotonic() + retry
        self._trying = False
        log.warning(
            "worker %d: the store cannot be reached (%s): each API answers 503 until it can",
            os.getpid(),
            error,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        due = not self.ready and not self._trying and time.monotonic() >= self._next
        if due and scope["type"] == "http":  # the lifespan stays the stand-in's
            await self._attempt()
        await self.app(scope, receive, send)

    async def _attempt(self) -> None:
        from mockserver.app import create_app

        self._trying = True
        try:
            app = await asyncio.to_thread(create_app, self.config)
        except StoreError as exc:
            self.store.error = exc  # what the next refusals say
            self._next = time.monotonic() + self.retry
            return
        finally:
            self._trying = False
        self.app = app  # it has no start-up of its own: its lifespan is not missed
        self.ready = True
        gc.collect()  # the stand-in, before what is left is frozen
        serving(app)
        log.info("worker %d: the store answers: serving", os.getpid())


class Supervisor(Multiprocess):
    """uvicorn's supervisor, calling `announce` once every worker it started serves (or has
    died: its loop then starts it again, or stops on a start-up failure)."""

    def __init__(self, config: Config, sockets: list[socket.socket], announce: Callable[[], None]):
        super().__init__(config, sockets=sockets)
        self.announce = announce

    def init_processes(self) -> None:
        super().init_processes()
        waiting = list(self.processes)
        served = False
        while waiting and not self.signal_queue:  # SIGINT, SIGTERM: its loop handles them
            time.sleep(READY_POLL_SECONDS)
            starting = [p for p in waiting if p.exitcode is None]
            ready = [p for p in starting if p.is_ready(timeout=1)]
            served = served or bool(ready)
            waiting = [p for p in starting if p not in ready]
        if served and not self.signal_queue:
            self.announce()


def supervisor(
    config: ServerConfig,
    workers: int,
    sock: socket.socket,
    announce: Callable[[], None],
    **settings: Any,
) -> Supervisor:
    """What serves on `sock` with `workers` processes until SIGINT or SIGTERM, once run, and
    calls `announce` once they serve.

    Built before anything is printed, so nothing it checks fails after it.
    """
    from mockserver.faults.reset import protocol_path

    given = {"config": dataclasses.asdict(config), "log_level": settings["log_level"]}
    os.environ[ENVIRONMENT] = json.dumps(given)
    http = settings.pop("http")
    options = Config(
        f"{__name__}:app_from_environment",
        factory=True,
        workers=workers,
        http=protocol_path(http),
        **settings,
    )
    return Supervisor(options, [sock], announce)
