"""`mockserver serve` as a real process (with its workers), for tests of what outlives one."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from typing import Any

import httpx

from mockserver import apis
from mockserver.live import free_port

START_SECONDS = 30.0  # bound on a server's start (imports, workers spawning): a failure, not a wait


class ServerProcess:
    """`mockserver serve --store URL --clock manual` on a free port, in its own process group
    (so `kill_9` takes its workers too). `client` talks to it over real sockets."""

    def __init__(self, store: str, *flags: str, port: int | None = None) -> None:
        self.store = store
        self.flags = flags
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[str] | None = None
        self.client = httpx.Client(base_url=self.url, timeout=START_SECONDS)

    def start(self) -> ServerProcess:
        command = [sys.executable, "-m", "mockserver.cli", "serve", "--port", str(self.port)]
        command += ["--store", self.store, "--clock", "manual", "--seed", "7", *self.flags]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._await_banner()
        return self

    def _await_banner(self) -> None:
        """Read the output until the banner (printed once the socket listens)."""
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + START_SECONDS
        seen: list[str] = []
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 1.0)
            if not ready:
                continue
            line = self.process.stdout.readline()
            if not line:
                break
            seen.append(line)
            if line.startswith("mockserver on "):
                return
        self.kill_9()
        raise AssertionError(f"the server did not start: {''.join(seen)[-3000:]}")

    @staticmethod
    def headers(api: str, key: str) -> dict[str, str]:
        service = apis.service_class(api)
        return service.auth_headers(service.api_key(key))

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request on a connection of its own: under several workers, any may take it."""
        headers = {**kwargs.pop("headers", {}), "Connection": "close"}
        return self.client.request(method, path, headers=headers, **kwargs)

    def kill_9(self) -> None:
        """SIGKILL to the server and every worker: nothing gets to clean up."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):  # gone already
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=START_SECONDS)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None

    def stop(self) -> None:
        self.kill_9()
        self.client.close()
