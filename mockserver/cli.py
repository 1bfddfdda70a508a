"""`mockserver serve`: all four APIs (or one) on one port, on a real or a manual clock;
`mockserver check-client`: a client flow against every outcome and fault of one API."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import gc
import importlib.util
import logging
import os
import secrets
import socket
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from mockserver import apis, command
from mockserver.config import ServerConfig, checked_seed, cut, read_file
from mockserver.live import ClosedAtShutdown
from mockserver.stores import StoreError, shown
from mockserver.workers import MAX_WORKERS

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from mockserver.clientcheck import Report

DESCRIPTION = """\
A local twin of the Neural Analog, Camb.ai, NeuroLinker and Neural Draft job APIs.
Jobs follow plans on a virtual clock; any outcome can be forced per request
(header X-Mock-Scenario: failed), per key, or through the admin API at /__mock__/."""


DEFAULTS = ServerConfig()
LOG_LEVELS = ["critical", "error", "warning", "info", "debug", "trace"]
MAX_EXAMPLES = 100_000  # `mockserver schemathesis --max-examples`: past it, a run takes days
HYPOTHESIS_DIRECTORY = "HYPOTHESIS_STORAGE_DIRECTORY"  # where Hypothesis keeps its files


class Mistake(Exception):
    """A mistake of the user's, told in one line: no usage block, no traceback."""


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line naming the command, then exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


class CommandParser(Parser):
    """A subcommand's parser. argparse hands the arguments it does not know to the top parser,
    whose mistake line would name `mockserver` and its help: they are this command's."""

    def parse_known_args(self, *args: Any, **kwargs: Any) -> tuple[Any, list[str]]:
        parsed, unknown = super().parse_known_args(*args, **kwargs)
        if unknown:
            self.error(f"unrecognized arguments: {' '.join(unknown)}")
        return parsed, unknown


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="mockserver", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)
    serve = commands.add_parser(
        "serve",
        help="start the mock server",
        description="Start the mock server. Flags override the values of --config; each "
        "default below is ServerConfig's.",
    )
    serve.add_argument("--host", default=None, help=f"interface to bind (default {DEFAULTS.host})")
    serve.add_argument(
        "--port", type=int, default=None, help=f"port to bind, 1-65535 (default {DEFAULTS.port})"
    )
    serve.add_argument(
        "--api",
        choices=apis.names(),
        default=None,
        help="serve this one API alone, at the root (as if it were the real host)",
    )
    serve.add_argument(
        "--clock",
        choices=["system", "manual"],
        default=None,
        help="system: time flows (see --time-scale); manual: time moves only via "
        f"POST /__mock__/clock/advance (default {DEFAULTS.clock})",
    )
    serve.add_argument(
        "--time-scale",
        type=float,
        default=None,
        metavar="X",
        help="speed of the system clock, above 0: 60 makes a one-minute job take one second "
        f"(default {DEFAULTS.time_scale:g})",
    )
    serve.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="N",
        help="same seed + same requests = same timelines and outcomes; the same IDs too on a "
        "fresh shared --store, or with id_salt set in --config (the memory store draws a new "
        "id_salt each start, so a restart never repeats an ID) (default: random)",
    )
    serve.add_argument(
        "--strict",
        action="store_true",
        default=None,
        help="answer requests that break the contract with a 4xx instead of serving them "
        "(default off)",
    )
    serve.add_argument(
        "--config",
        metavar="FILE",
        type=_config_path,
        default=None,
        help="settings file (JSON, TOML or YAML; see docs/install-and-cli.md)",
    )
    serve.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="info",
        metavar="LEVEL",
        help=f"log level: {', '.join(LOG_LEVELS)} (default info)",
    )
    serve.add_argument(
        "--loop",
        choices=["auto", "uvloop", "asyncio"],
        default="auto",
        help="event loop: auto (unless given) takes uvloop where installed, else asyncio",
    )
    serve.add_argument(
        "--http",
        choices=["auto", "httptools", "h11"],
        default="auto",
        help="HTTP parser: auto (unless given) takes httptools where installed, else h11",
    )
    serve.add_argument(
        "--admin-token",
        default=None,
        metavar="TOKEN",
        help="token the admin API requires (default: none on loopback, else generated)",
    )
    serve.add_argument(
        "--max-upload-bytes",
        type=int,
        default=None,
        metavar="BYTES",
        help="largest upload (default 100 MiB)",
    )
    serve.add_argument(
        "--store",
        metavar="URL",
        default=None,
        help="where state is kept: memory, sqlite:///path/state.db, redis://host:port/db, "
        f"rediss://..., redis+cluster://host:port (default {DEFAULTS.store})",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help=f"worker processes, 1 to {MAX_WORKERS}; more than one needs a shared store, sqlite "
        "or redis (default: one process)",
    )
    add_check_client(commands)
    add_schemathesis(commands)
    return parser


def add_schemathesis(commands: argparse._SubParsersAction) -> None:
    from mockserver.schemathesis_run import DEFAULT_MAX_EXAMPLES

    run = commands.add_parser(
        "schemathesis",
        help="test the mock against its own contracts with schemathesis (CI recipe)",
        description="Serve the mock on a free port and run `schemathesis run` against each "
        "API's served document, with the settings shipped in the package. Arguments after "
        "`--` go to `schemathesis run`. Exit code 1 when any API fails, 2 when schemathesis "
        "refuses the options after `--`.",
    )
    run.add_argument(
        "--api",
        choices=apis.names(),
        action="append",
        help="test this API (repeatable; default: all four)",
    )
    run.add_argument(
        "--max-examples",
        type=_max_examples,
        default=DEFAULT_MAX_EXAMPLES,
        metavar="N",
        help=f"examples per operation and phase, 1 to {MAX_EXAMPLES} "
        f"(default {DEFAULT_MAX_EXAMPLES})",
    )
    run.add_argument(
        "--seed",
        type=_schemathesis_seed,
        default=None,
        metavar="N",
        help="schemathesis's seed, as it prints one (0 to 2^128 - 1); the mock's comes from it",
    )
    run.add_argument("extra", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    run.set_defaults(command_parser=run)  # its mistakes name `mockserver schemathesis`


def _max_examples(text: str) -> int:
    """`--max-examples`: schemathesis's own refusal of 0 read as the API failing."""
    try:
        number = int(text)
    except ValueError:
        number = 0  # refused below, in the same words
    if not 1 <= number <= MAX_EXAMPLES:
        raise argparse.ArgumentTypeError(
            f"{text} is not allowed; expected a whole number from 1 to {MAX_EXAMPLES}"
        )
    return number


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
    check.set_defaults(command_parser=check)  # its mistakes name `mockserver check-client`
    check.add_argument("function", metavar="FUNCTION", help="the client flow, as module:function")
    check.add_argument("--api", choices=apis.names(), required=True, help="the API it calls")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument(
        "--budget",
        type=_budget,
        default=None,
        metavar="S",
        help="virtual seconds a scenario may take before the client counts as hung, above 0 "
        "up to a year (default 3600)",
    )
    check.add_argument(
        "--seed", type=_seed, default=0, metavar="N", help="seed of IDs and payload variety"
    )
    check.add_argument(
        "--only",
        default=None,
        metavar="A,B",
        help="comma-separated scenarios to run, in any case (default: all)",
    )


def _config_path(text: str) -> str:
    """`--config`: an empty path (an unset variable in a script) would serve the defaults."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path is not allowed; give a settings file")
    return text


def _seed(text: str) -> int:
    """`--seed`: a whole number in the bounds `serve --seed` and the config file's have."""
    try:
        return checked_seed(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _schemathesis_seed(text: str) -> int:
    """`schemathesis --seed`: what schemathesis prints to replay a run, up to 128 bits."""
    digits = text.strip()
    seed = int(digits) if digits.isdigit() and len(digits) <= 40 else -1
    if not 0 <= seed < 2**128:
        raise argparse.ArgumentTypeError(
            f"{cut(text)} is not allowed; expected a whole number from 0 to {2**128 - 1}"
        )
    return seed


def _budget(text: str) -> float:
    """`--budget`: a number of virtual seconds that ends (`checked_budget`)."""
    from mockserver.virtualtime import checked_budget

    try:
        seconds: object = float(text)
    except ValueError:
        seconds = text
    try:
        return checked_budget(seconds)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def check_client(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Exit 0 when every row is handled (or not applicable), 1 when one is not, 2 for a
    mistake or when no row could be checked, 130 when interrupted."""
    try:
        # with --json the output is the JSON document alone: what the flow prints (on import
        # too), and what its subprocesses write to file descriptor 1, goes to stderr
        with (
            hypothesis_files_in_user_cache(),  # its variety row draws with Hypothesis
            _stdout_to_stderr() if args.json else contextlib.nullcontext(),
        ):
            report = _run_check_client(args, parser)
    except KeyboardInterrupt:
        print("mockserver check-client: interrupted", file=sys.stderr)
        return 130
    report.client = args.function
    print(report.to_json() if args.json else report.table(), flush=True)
    if not report.checked:
        return 2
    return 0 if report.ok else 1


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Standard output sent to standard error while the block runs: `sys.stdout`, and file
    descriptor 1 too, which a subprocess (curl, a command-line client) inherits and C code
    writes to."""
    stdout = sys.stdout
    stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        stdout.flush()  # what was written to it meanwhile (a handler holding it) to stderr too
        os.dup2(saved, 1)
        os.close(saved)


def _run_check_client(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Report:
    from mockserver.clientcheck import (
        DEFAULT_BUDGET,
        CannotLoad,
        UnknownScenario,
        check_client,
        load_function,
    )

    try:
        flow = load_function(args.function)
    except CannotLoad as exc:
        parser.error(f"cannot load {args.function}: {exc}")
    budget = DEFAULT_BUDGET if args.budget is None else args.budget
    try:
        return check_client(args.api, flow, budget=budget, seed=args.seed, only=args.only)
    except UnknownScenario as exc:
        parser.error(f"--only: {exc}")


def config_from(args: argparse.Namespace) -> ServerConfig:
    """The settings: the config file's, then the flags'. Raises ConfigError (one line per
    mistake, naming the file and key, or the flag)."""
    from mockserver.configschema import check_clock, validate

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
            "store": args.store,
        }.items()
        if value is not None
    }
    validate(overrides, "", flags=True)
    data = read_file(args.config) if args.config is not None else {}
    validate(data, args.config or "config")
    check_clock(data, overrides, args.config or "config")
    return ServerConfig.from_dict({**data, **overrides})


SHUTDOWN_SECONDS = 2  # on SIGINT or SIGTERM, requests still open after this are cut off


def log_requests(level: int) -> None:
    """The log of a served process: one line per request naming its request ID (uvicorn's
    access log is off), at `level`. Each worker process sets it up as `serve` does."""
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def build_app(config: ServerConfig) -> Starlette:
    """The app `serve` runs. On the memory store its IDs are salted per start, so a restarted
    server never hands out an ID a client of the previous one may still be polling (same seed
    or not); a shared store keeps the ID counters, so it goes on where it stopped unsalted (the
    same seed gives the same IDs from a fresh store)."""
    from mockserver.app import create_app

    if config.id_salt is None and config.store == "memory":
        config.id_salt = secrets.token_hex(8)
    return create_app(config)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, so the banner is printed only once clients can
    connect. Raises Mistake, in one line, when the port is taken or the host unknown."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:  # the host may be the config file's: no flag is named
        raise Mistake(f"cannot bind to host {host}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise Mistake(f"port {port} on {host} is in use: choose another with --port") from None
        raise Mistake(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def banner(app: object, root: str) -> str:
    """The one line printed on start: every API's base URL, as `GET /` and health say."""
    from mockserver.admin import describe
    from mockserver.app import ADMIN_PREFIX

    bases = "  ".join(f"{name}={url}" for name, url in describe(app, root).items())
    return f"mockserver on {root}  {bases}  admin={root}{ADMIN_PREFIX}"


def serve(
    config: ServerConfig,
    log_level: str = "info",
    loop: str = "auto",
    http: str = "auto",
    workers: int = 1,
) -> None:
    """Serve until SIGINT or SIGTERM. Every setting is checked (Mistake) before the start-up
    line is printed: a script that waits for it may connect, and nothing fails after it. With
    workers, it is printed once every worker serves."""
    import uvicorn

    from mockserver import workers as processes
    from mockserver.collector import collect_when_quiet
    from mockserver.faults.reset import resettable_protocol

    refused = processes.refusal(config, workers)
    if refused:
        raise Mistake(refused)
    level = log_level_number(log_level)
    loop = _installed("--loop", loop, "uvloop", "asyncio")
    http = _installed("--http", http, "httptools", "h11")
    app = build_app(config)
    sock = bind(config.host, config.port)
    logging.addLevelName(level, log_level.upper())  # uvicorn's TRACE, which logging lacks
    log_requests(level)
    settings: dict[str, Any] = {
        "log_level": level,
        "access_log": False,
        "loop": loop,
        "timeout_graceful_shutdown": SHUTDOWN_SECONDS,  # a hanging request cannot hold SIGTERM
    }
    host = f"[{config.host}]" if ":" in config.host else config.host
    many = f", {workers} workers on {shown(config.store)}" if workers > 1 else ""
    lines = [
        f"{banner(app, f'http://{host}:{config.port}')}  ({loop}, {http}{many})",
        *token_lines(config, app.state.admin_token),
    ]

    def announce() -> None:
        for line in lines:
            print(line, flush=True)

    if workers > 1:
        # the token generated here is the one every worker requires, and the one printed
        shared = dataclasses.replace(config, admin_token=app.state.admin_token)
        supervisor = processes.supervisor(shared, workers, sock, announce, http=http, **settings)
        app.state.mock.backend.close()  # each worker opens its own, and collects on its own
        supervisor.run()  # says the lines once every worker serves
        return
    # connection resets (fault injection) need the resettable twin of uvicorn's protocol
    served = ClosedAtShutdown(app)
    server = uvicorn.Server(uvicorn.Config(served, http=resettable_protocol(http), **settings))
    announce()  # the socket listens: a client may connect
    # what exists now (contracts, validators, routes) lives as long as the server: the
    # collector need not walk it again, which keeps its pauses short under load; its full
    # collections wait for a quiet moment
    gc.freeze()
    collect_when_quiet(app)
    server.run(sockets=[sock])


@contextlib.contextmanager
def hypothesis_files_in_user_cache() -> Iterator[None]:
    """Payload variety and NeuroLinker field extraction draw with Hypothesis, whose first draw
    builds a Unicode table (seconds) and keeps it in `.hypothesis/` under the working directory.
    A command (`serve`, `check-client`) keeps it in the user's cache instead: built once a
    machine, not once a checkout, and never left in the directory it was run from. Hypothesis's
    own `HYPOTHESIS_STORAGE_DIRECTORY`, when set, still decides; when not, it is set while the
    command runs only (a test may run it in-process). Not for the pytest plugin: in a guest's
    process it would move the guest's own Hypothesis example database too."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    given = HYPOTHESIS_DIRECTORY in os.environ
    os.environ.setdefault(
        HYPOTHESIS_DIRECTORY, os.path.join(cache, "asyncjob-mockserver", "hypothesis")
    )
    try:
        yield
    finally:
        if not given:
            os.environ.pop(HYPOTHESIS_DIRECTORY, None)


def token_lines(config: ServerConfig, token: str | None) -> list[str]:
    """What the start-up output says of the admin API's token: a generated one in full (no one
    knows it else); one the user gave, never (a CI log would keep it)."""
    if token is None:
        return []
    if token != config.admin_token:
        return [f"admin API token: {token}  (send it as X-Mock-Admin-Token)"]
    return ["admin API token: the one configured  (send it as X-Mock-Admin-Token)"]


def log_level_number(name: str) -> int:
    """`--log-level` as a number: uvicorn's levels, `trace` (5) among them, which Python's
    logging does not name."""
    from uvicorn.config import LOG_LEVELS as UVICORN_LEVELS

    if name not in UVICORN_LEVELS:
        raise Mistake(
            f"--log-level: {name!r} is not allowed; expected one of: {', '.join(LOG_LEVELS)}"
        )
    return UVICORN_LEVELS[name]


def _installed(flag: str, choice: str, fast: str, fallback: str) -> str:
    """What uvicorn's `auto` picks: the compiled implementation where it is installed. One
    asked for by name must be installed: uvicorn would fail only once the line is printed."""
    found = importlib.util.find_spec(fast) is not None
    if choice == "auto":
        return fast if found else fallback
    if choice == fast and not found:
        raise Mistake(
            f"{flag} {fast}: {fast} is not installed (pip install {fast}, or {flag} {fallback})"
        )
    return choice


def main(argv: Sequence[str] | None = None) -> int:
    """`mockserver ARGV` in this process; the console script is `mockserver.command:main`."""
    return command.run(argv)


def other_command(args: argparse.Namespace) -> int:
    """`check-client` or `schemathesis`: their exit status."""
    if args.command == "check-client":
        return check_client(args, args.command_parser)
    from mockserver.schemathesis_run import run

    if importlib.util.find_spec("schemathesis") is None:
        print("mockserver schemathesis: needs schemathesis (pip install schemathesis)")
        return 2
    if args.extra[:1] not in ([], ["--"]):  # a stray word would reach schemathesis run
        args.command_parser.error(
            f"unrecognized arguments: {' '.join(args.extra)} (schemathesis run's own options "
            "go after --)"
        )
    return run(args.api or apis.names(), args.max_examples, args.seed, args.extra[1:])


def serve_command(args: argparse.Namespace) -> int:
    """`mockserver serve`: 0 once stopped, 2 for a mistake (one line each)."""
    try:
        with hypothesis_files_in_user_cache():  # payload variety draws with Hypothesis
            serve(config_from(args), args.log_level, args.loop, args.http, args.workers)
    except (Mistake, ValueError, StoreError) as exc:  # ConfigError, FaultError: ValueErrors
        for line in str(exc).splitlines():
            print(f"mockserver serve: {line}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(command.main())
