"""`mockserver schemathesis`: schemathesis against the mock's own served documents, with the
settings shipped in the package, from any directory (a user's CI, not only this repository).

A mock server starts in this process on a free port; each API's document is fetched from it
(its `servers` point back at it) and `schemathesis run` tests it with a key of one tenant.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from importlib.resources import as_file, files

from mockserver.app import create_app
from mockserver.config import ServerConfig
from mockserver.fixtures.live import LiveServer
from mockserver.fixtures.server import MockServer

TENANT = "ci-key"
DEFAULT_MAX_EXAMPLES = 25


def settings_file() -> str:
    """The shipped settings: what every check may and may not expect of this mock, and why."""
    with as_file(files("mockserver.contracts") / "schemathesis.toml") as path:
        return str(path)


def commands(url: str, apis: Sequence[str], extra: Sequence[str]) -> dict[str, list[str]]:
    """The `schemathesis run` command line of each API, against the server at `url`."""
    server = MockServer(create_app(ServerConfig(clock="manual")), url, TENANT)
    found = {}
    for api in apis:
        service = server.app.state.services[api]
        document = url + service.prefix + service.contract.document_path
        headers = [f"{name}: {value}" for name, value in server.headers(api).items()]
        found[api] = [
            *[sys.executable, "-m", "schemathesis.cli", "--config-file", settings_file()],
            *["run", document, *[arg for header in headers for arg in ("-H", header)]],
            *extra,
        ]
    return found


def run(apis: Sequence[str], max_examples: int, seed: int | None, extra: Sequence[str] = ()) -> int:
    """Serve the mock, run schemathesis on each API; 0 when every run passed."""
    options = ["--max-examples", str(max_examples)]
    if seed is not None:
        options += ["--seed", str(seed)]
    failed = []
    with LiveServer(create_app(ServerConfig(seed=seed))) as live:
        for api, command in commands(live.url, apis, [*options, *extra]).items():
            print(f"mockserver schemathesis: {api}: {' '.join(command[1:])}", flush=True)
            if subprocess.run(command, check=False).returncode != 0:
                failed.append(api)
    verdict = f"failed: {', '.join(failed)}" if failed else "every API passed"
    print(f"mockserver schemathesis: {verdict}", flush=True)
    return 1 if failed else 0
