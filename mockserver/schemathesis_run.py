"""`mockserver schemathesis`: schemathesis against the mock's own served documents, with the
settings the APIs declare (`ApiService.schemathesis`), from any directory (a user's CI, not
only this repository).

A mock server starts in this process on a free port; each API's document is fetched from it
(its `servers` point back at it) and `schemathesis run` tests it with a key of one tenant.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from mockserver import apis as registry
from mockserver.app import create_app
from mockserver.config import ServerConfig
from mockserver.live import LiveServer
from mockserver.schemathesis_config import config, to_toml

TENANT = "ci-key"
DEFAULT_MAX_EXAMPLES = 25


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


def run(apis: Sequence[str], max_examples: int, seed: int | None, extra: Sequence[str] = ()) -> int:
    """Serve the mock, run schemathesis on each API; 0 when every run passed."""
    options = ["--max-examples", str(max_examples)]
    if seed is not None:
        options += ["--seed", str(seed)]
    failed = []
    with (
        tempfile.TemporaryDirectory() as folder,
        LiveServer(create_app(ServerConfig(seed=seed))) as live,
    ):
        settings = Path(folder) / "schemathesis.toml"
        settings.write_text(to_toml(config(apis)))
        for api, command in commands(live.url, apis, settings, [*options, *extra]).items():
            print(f"mockserver schemathesis: {api}: {' '.join(command[1:])}", flush=True)
            if subprocess.run(command, check=False).returncode != 0:
                failed.append(api)
    verdict = f"failed: {', '.join(failed)}" if failed else "every API passed"
    print(f"mockserver schemathesis: {verdict}", flush=True)
    return 1 if failed else 0
