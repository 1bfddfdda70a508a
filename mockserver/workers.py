"""`mockserver serve --workers N`: N processes on one listening socket and one shared store.

uvicorn's supervisor starts the workers (and starts a worker again when one dies); each
builds its own app from the settings the parent passes in the environment (the admin token
the parent generated and printed among them), logs as one `serve` process does, and finds
every other worker's state in the store (Redis or SQLite): one world, whichever worker answers.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import socket
from typing import TYPE_CHECKING, Any

from mockserver.config import ServerConfig

if TYPE_CHECKING:
    from starlette.types import ASGIApp
    from uvicorn.supervisors import Multiprocess

ENVIRONMENT = "MOCKSERVER_WORKER_CONFIG"  # the parent's settings and log level, as JSON
# each worker is a whole server (about 90 MB): a typo such as 1000 must not fork the machine away
MAX_WORKERS = 64


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
    down as `serve`'s is."""
    from mockserver.app import create_app
    from mockserver.cli import ClosedAtShutdown, log_requests
    from mockserver.collector import collect_when_quiet

    given = json.loads(os.environ[ENVIRONMENT])
    log_requests(given["log_level"])
    app = create_app(ServerConfig(**given["config"]))
    gc.freeze()  # what exists now lives as long as the worker
    collect_when_quiet(app)
    return ClosedAtShutdown(app)


def supervisor(
    config: ServerConfig, workers: int, sock: socket.socket, **settings: Any
) -> Multiprocess:
    """What serves on `sock` with `workers` processes until SIGINT or SIGTERM, once run.

    Built before the start-up line is printed, so nothing it checks fails after it.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from mockserver.faults.reset import protocol_path

    given = {"config": dataclasses.asdict(config), "log_level": settings["log_level"]}
    os.environ[ENVIRONMENT] = json.dumps(given)
    http = settings.pop("http")
    options = uvicorn.Config(
        f"{__name__}:app_from_environment",
        factory=True,
        workers=workers,
        http=protocol_path(http),
        **settings,
    )
    return Multiprocess(options, sockets=[sock])
