"""The `mockserver` command (its console script), light on purpose: SIGINT and SIGTERM are
caught before the server's modules are imported (a tenth of a second), so a signal at any
moment of `serve`'s start ends it with status 0, as one later does."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator, Sequence
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Stopped(BaseException):
    """SIGINT or SIGTERM reached `serve` outside uvicorn's own handling: the user asked it to
    stop. A BaseException, so no `except Exception` on the way (a store's client opening its
    connection) mistakes it for a failure."""


def _stop(number: int, frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(number).name)


@contextlib.contextmanager
def stopping_on_signals() -> Iterator[None]:
    """Within it SIGINT (Ctrl-C) and SIGTERM raise Stopped wherever the main thread is: in the
    imports, while a store is opened. While uvicorn serves it handles both itself (open
    requests get their grace, see `mockserver.live.ClosedAtShutdown`), then raises the signal
    again for the handler it found, this one: Stopped, rather than Python's KeyboardInterrupt
    traceback (SIGINT) or a death by the signal (SIGTERM)."""
    previous = {number: signal.signal(number, _stop) for number in HANDLED}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def run(argv: Sequence[str] | None = None) -> int:
    """`mockserver ARGV` in this process: `serve`'s exit status (0 once stopped, 2 for a
    mistake), or another command's."""
    try:
        with stopping_on_signals():  # from the first moment `serve` may be stopped
            from mockserver import cli

            args = cli.build_parser().parse_args(argv)
            if args.command == "serve":
                return cli.serve_command(args)
    except Stopped:  # exit status 0, as uvicorn's supervisor (`--workers`) ends on them
        return 0
    return cli.other_command(args)  # check-client and schemathesis take Ctrl-C their own way


def main() -> int:
    """The console script: `run`, then SIGINT and SIGTERM are ignored while the process ends.
    A second Ctrl-C (uvicorn's `(CTRL+C to force quit)` invites one) lands there as often as
    not: Python's own handlers would turn the exit into a KeyboardInterrupt traceback, and
    once it has restored the system's, into a death by the signal."""
    try:
        return run(sys.argv[1:])
    finally:
        for number in HANDLED:
            signal.signal(number, signal.SIG_IGN)
