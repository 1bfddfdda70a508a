"""`mockserver serve`: all four APIs (or one) on one port, on a real or a manual clock;
`mockserver check-client`: a client flow against every outcome and fault of one API."""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mockserver.apis import SERVICES
from mockserver.config import ServerConfig

if TYPE_CHECKING:
    from starlette.applications import Starlette

DESCRIPTION = """\
A local twin of the Neural Analog, Camb.ai, NeuroLinker and Neural Draft job APIs.
Jobs follow plans on a virtual clock; any outcome can be forced per request
(header X-Mock-Scenario: failed), per key, or through the admin API at /__mock__/."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mockserver", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="start the mock server",
        description="Start the mock server. Flags override the values of --config.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    serve.add_argument("--host", default=None, help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port to bind (default 8000)")
    serve.add_argument(
        "--api",
        choices=sorted(SERVICES),
        default=None,
        help="serve this one API alone, at the root (as if it were the real host)",
    )
    serve.add_argument(
        "--clock",
        choices=["system", "manual"],
        default=None,
        help="system: time flows (see --time-scale); manual: time moves only via "
        "POST /__mock__/clock/advance (default system)",
    )
    serve.add_argument(
        "--time-scale",
        type=float,
        default=None,
        help="speed of the system clock: 60 makes a one-minute job take one second (default 1)",
    )
    serve.add_argument(
        "--seed", type=int, default=None, help="same seed + same requests = same IDs and timelines"
    )
    serve.add_argument(
        "--strict",
        action="store_true",
        default=None,
        help="answer requests that break the contract with a 4xx instead of serving them",
    )
    serve.add_argument(
        "--config", metavar="FILE", default=None, help="settings file (JSON, TOML or YAML)"
    )
    serve.add_argument(
        "--admin-token",
        default=None,
        help="token the admin API requires (default: none on loopback, else generated)",
    )
    serve.add_argument(
        "--max-upload-bytes", type=int, default=None, help="largest upload (default 100 MiB)"
    )
    serve.add_argument("--log-level", default="info", help="uvicorn log level")
    add_check_client(commands)
    return parser


def add_check_client(commands: argparse._SubParsersAction) -> None:
    check = commands.add_parser(
        "check-client",
        help="run a client flow against every outcome and fault of an API",
        description="Run FUNCTION(base_url, api_key) once per scenario (each terminal outcome "
        "of the API, then latency, 429, 500, 503, reset, stalled and payload variety) on a "
        "fresh key of an in-process server, on virtual time. Returning means the client "
        "claims success; raising means it reports a failure. Exit code 1 when any scenario "
        "is not handled.",
    )
    check.add_argument("function", metavar="FUNCTION", help="the client flow, as module:function")
    check.add_argument("--api", choices=sorted(SERVICES), required=True, help="the API it calls")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument(
        "--budget",
        type=float,
        default=None,
        help="virtual seconds a scenario may take before the client counts as hung (3600)",
    )
    check.add_argument("--seed", type=int, default=0, help="seed of IDs and payload variety")
    check.add_argument(
        "--only", default=None, help="comma-separated scenarios to run (default: all)"
    )


def check_client(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from mockserver.clientcheck import DEFAULT_BUDGET, check_client, load_function

    try:
        flow = load_function(args.function)
    except (ImportError, AttributeError, ValueError) as exc:
        parser.error(f"cannot load {args.function}: {exc}")
    only = [name.strip() for name in args.only.split(",")] if args.only else None
    report = check_client(
        args.api, flow, budget=args.budget or DEFAULT_BUDGET, seed=args.seed, only=only
    )
    report.client = args.function
    print(report.to_json() if args.json else report.table(), flush=True)
    return 0 if report.ok else 1


def config_from(args: argparse.Namespace) -> ServerConfig:
    overrides = {
        key: value
        for key, value in {
            "host": args.host,
            "port": args.port,
            "api": args.api,
            "clock": args.clock,
            "time_scale": args.time_scale,
            "seed": args.seed,
            "strict": args.strict,
            "admin_token": args.admin_token,
            "max_upload_bytes": args.max_upload_bytes,
        }.items()
        if value is not None
    }
    if args.config:
        return ServerConfig.from_file(args.config, **overrides)
    return ServerConfig.from_dict(overrides)


SHUTDOWN_SECONDS = 2  # on SIGTERM, requests still open after this are cut off


def build_app(config: ServerConfig) -> Starlette:
    """The app `serve` runs: its IDs salted per start, so a restarted server never hands out
    an ID a client of the previous one may still be polling (same seed or not)."""
    from mockserver.app import create_app

    if not config.id_salt:
        config.id_salt = secrets.token_hex(8)
    return create_app(config)


def serve(config: ServerConfig, log_level: str = "info") -> None:
    import uvicorn

    from mockserver.admin import describe

    app = build_app(config)
    root = f"http://{config.host}:{config.port}"
    bases = "  ".join(f"{name}={url}" for name, url in describe(app, root).items())
    print(f"mockserver on {root}  {bases}  admin={root}/__mock__", flush=True)
    if app.state.admin_token is not None:
        print(f"admin API token: {app.state.admin_token}  (send it as X-Mock-Admin-Token)")
    # one log line per request, naming its request ID, replaces uvicorn's access log
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=SHUTDOWN_SECONDS,  # a hanging request cannot hold SIGTERM
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "check-client":
        return check_client(args, parser)
    try:
        config = config_from(args)
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    if args.command == "serve":
        serve(config, args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
