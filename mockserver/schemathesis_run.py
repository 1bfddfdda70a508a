"""`mockserver schemathesis`: schemathesis against the mock's own served documents, with the
settings the APIs declare (`ApiService.schemathesis`), from any directory (a user's CI, not
only this repository).

A mock server starts in this process on a free port; each API's document is fetched from it
(its `servers` point back at it) and `schemathesis run` tests it with a key of one tenant.
Two passes, as the suite's own run: one server ends its jobs at once (a share failing) and the
links reach results and downloads; another keeps them running for the stateful phase. Both
servers keep a manual clock that nothing moves, so a job ends at once or never, and Neural
Draft, which delivers webhooks as its clock moves, sends none: the endpoints' URLs are hosts
schemathesis makes up, and a run on the system clock posted to them thousands of times.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mockserver import apis as registry
from mockserver.app import create_app
from mockserver.config import ServerConfig
from mockserver.live import LiveServer
from mockserver.schemathesis_config import config, to_toml

TENANT = "ci-key"
DEFAULT_MAX_EXAMPLES = 25
PLACEHOLDER_LOCATION = "http://127.0.0.1/openapi.json"  # parsed, never fetched
UNPARSABLE = "Invalid HTTP request received."  # uvicorn's warning for a request it answers 400


class _NegativeTesting(logging.Filter):
    """Drops uvicorn's warning for a request it cannot parse: schemathesis sends such requests
    on purpose (a CR in a header name), and the 400 they get is checked by the run itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != UNPARSABLE


def quiet_negative_testing() -> None:
    """The warnings the run's malformed requests are meant to cause stay off stderr: uvicorn's
    for a request line or header it cannot parse, python-multipart's for a form it cannot
    parse (answered 400 too). Errors, and every other warning, still show."""
    logging.getLogger("uvicorn.error").addFilter(_NegativeTesting())
    logging.getLogger("python_multipart").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Pass:
    """One run over the APIs, against a server whose jobs behave one way."""

    name: str
    server: dict[str, Any]  # ServerConfig settings
    phases: tuple[str, ...] = ()  # schemathesis phases (none named: all)


PASSES = (
    Pass("jobs end at once, 30% fail", {"duration_scale": 0, "failure_rate": 0.3}),
    Pass("jobs keep running", {}, ("stateful",)),
)


def server_config(one: Pass, seed: int | None) -> ServerConfig:
    """The server of pass `one`: its settings, on a manual clock (see above), seeded from
    schemathesis's seed when one is given."""
    mock_seed = None if seed is None else seed % 2**63  # the bounds of a mock's seed
    return ServerConfig(clock="manual", seed=mock_seed, **one.server)


def passes_for(extra: Sequence[str]) -> tuple[Pass, ...]:
    """Both passes; the first alone when the options after `--` choose the phases."""
    chosen = any(arg == "--phases" or arg.startswith("--phases=") for arg in extra)
    return PASSES[:1] if chosen else PASSES


def commands(
    url: str, apis: Sequence[str], settings: Path, extra: Sequence[str]
) -> dict[str, list[str]]:
    """The `schemathesis run` command line of each API, against the server at `url`."""
    found = {}
    for api in apis:
        service = registry.service_class(api)
        headers = service.auth_headers(service.api_key(TENANT))
        found[api] = [
            *[sys.executable, "-m", "schemathesis.cli", "--config-file", str(settings)],
            *["run", url + service.document_url_path()],
            *[arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")],
            *extra,
        ]
    return found


def usage_error(options: Sequence[str]) -> str | None:
    """What `schemathesis run` would refuse in these options (an unknown flag, a bad value),
    found before any server starts: run, each API would fail with the same usage error."""
    from click import UsageError
    from schemathesis.cli import run as run_command

    try:
        run_command.make_context("run", [PLACEHOLDER_LOCATION, *options])
    except UsageError as error:
        return error.format_message()
    return None


def run(apis: Sequence[str], max_examples: int, seed: int | None, extra: Sequence[str] = ()) -> int:
    """Serve the mock, run schemathesis on each API in each pass; 0 when every run passed,
    2 when schemathesis would refuse the options."""
    options = ["--max-examples", str(max_examples)]
    if seed is not None:
        options += ["--seed", str(seed)]
    if (refused := usage_error([*options, *extra])) is not None:
        print(f"mockserver schemathesis: {refused}", file=sys.stderr, flush=True)
        return 2
    failed = []
    quiet_negative_testing()
    with tempfile.TemporaryDirectory() as folder:
        settings = Path(folder) / "schemathesis.toml"
        settings.write_text(to_toml(config(apis)))
        for one in passes_for(extra):
            phases = ["--phases", ",".join(one.phases)] if one.phases else []
            with LiveServer(create_app(server_config(one, seed))) as live:
                found = commands(live.url, apis, settings, [*options, *phases, *extra])
                for api, command in found.items():
                    line = f"mockserver schemathesis: {api}, {one.name}: {' '.join(command[1:])}"
                    print(line, flush=True)
                    if subprocess.run(command, check=False).returncode != 0:
                        failed.append(f"{api} ({one.name})")
    verdict = f"failed: {', '.join(failed)}" if failed else "every API passed"
    print(f"mockserver schemathesis: {verdict}", flush=True)
    return 1 if failed else 0
