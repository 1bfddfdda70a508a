"""`mockserver serve --workers N` as one process would be: the admin token it prints opens every
worker, each request is logged, and the start-up line hides a store's password. Each worker
used to generate a token of its own (none the printed one), to log no request, and the line
showed `redis://:password@...` in clear."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

from redis import Redis

from mockserver.live import free_port
from tests.redis_servers import RedisServer, fresh_prefix
from tests.server_processes import START_SECONDS, ServerProcess


def lines_after_the_banner(server: ServerProcess, count: int) -> list[str]:
    """The next `count` lines of the server's output (the banner is read already)."""
    assert server.process is not None and server.process.stdout is not None
    return [server.process.stdout.readline() for _ in range(count)]


def test_the_printed_admin_token_opens_every_worker(
    servers: list[ServerProcess], tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path / 'state.db'}"
    server = ServerProcess(store, "--host", "0.0.0.0", "--workers", "2").start()
    servers.append(server)
    (line,) = lines_after_the_banner(server, 1)
    found = re.fullmatch(r"admin API token: (\S+)  \(send it as X-Mock-Admin-Token\)\n", line)
    assert found, line
    token = {"X-Mock-Admin-Token": found[1]}
    # fresh connections: either worker takes each, and none was ever open to another token
    answers = [server.request("GET", "/__mock__/health", headers=token) for _ in range(8)]
    assert [answer.status_code for answer in answers] == [200] * 8
    refused = server.request("GET", "/__mock__/health", headers={"X-Mock-Admin-Token": "wrong"})
    assert refused.status_code == 401


def test_workers_log_each_request_as_one_process_does(
    servers: list[ServerProcess], tmp_path: Path
) -> None:
    server = ServerProcess(f"sqlite:///{tmp_path / 'state.db'}", "--workers", "2").start()
    servers.append(server)
    headers = server.headers("neuralanalog", "logged")
    for _ in range(3):
        missing = server.request("GET", "/neuralanalog/status/audio/missing", headers=headers)
        assert missing.status_code == 404
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    out, _ = server.process.communicate(timeout=START_SECONDS)
    logged = re.findall(
        r"^INFO mockserver: req_\w+ GET /status/audio/missing -> 404 \(neuralanalog\)$",
        out,
        re.MULTILINE,
    )
    assert len(logged) == 3, out


def test_the_start_up_line_hides_the_stores_password(redis_server: RedisServer) -> None:
    """As the health check shows the store: `user:***@`."""
    with Redis.from_url(redis_server.url) as admin:  # a user of its own: others keep theirs
        admin.acl_setuser(
            "mock",
            enabled=True,
            passwords=["+s3cretpw"],
            keys="*",
            channels="*",
            commands=["+@all"],
        )
    port = free_port()
    store = f"redis://mock:s3cretpw@127.0.0.1:{redis_server.port}/0?prefix={fresh_prefix()}"
    command = [sys.executable, "-m", "mockserver.cli", "serve", "--port", str(port)]
    command += ["--store", store, "--workers", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=START_SECONDS)
    assert line.startswith(f"mockserver on http://127.0.0.1:{port}"), line
    assert "s3cretpw" not in line
    masked = store.replace(":s3cretpw@", ":***@")
    assert line.rstrip().endswith(f", 2 workers on {masked})"), line
