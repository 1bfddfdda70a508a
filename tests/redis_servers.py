"""Real Redis servers for the tests: one `redis-server`, or a three-node Redis Cluster, on free
ports in a temporary directory, and the store URLs the tests run on.

Starting one takes about 50 ms, the cluster about 2 s (redis-cli waits for the nodes to
agree). Tests that need them skip, naming the Debian package, where `redis-server` is
missing; CI installs it (`make test`).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import RedisError

MISSING = "needs redis-server and redis-cli (Debian package redis-server)"
MISSING_OPENSSL = "needs openssl to make a TLS certificate (Debian package openssl)"
START_SECONDS = 10.0
_ATTEMPTS = 5  # a free port may be taken between choosing it and redis binding it


def require_redis() -> None:
    """Skip the calling test when Redis is not installed."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip(MISSING)


def require_openssl() -> None:
    if shutil.which("openssl") is None:
        pytest.skip(MISSING_OPENSSL)


def self_signed(certificate: Path, key: Path) -> None:
    """Write a certificate for 127.0.0.1 and its key, made by `openssl`: the certificate is
    its own authority, so a client trusting it checks the server's name as it would any
    other."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(certificate)],
        check=True,
        capture_output=True,
        timeout=30,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(ready: Callable[[], bool], what: str) -> None:
    """Poll an external process until `ready()`, for at most START_SECONDS."""
    deadline = time.monotonic() + START_SECONDS
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {START_SECONDS:.0f} s")
        time.sleep(0.01)


@dataclass
class RedisServer:
    """One redis-server process; `durable` writes every command to the append-only file
    before answering (`appendfsync always`), so a `kill -9` loses nothing; `tls` serves TLS
    only, with a certificate of its own (`self_signed`)."""

    dir: Path
    durable: bool = False
    cluster: bool = False
    tls: bool = False
    port: int = field(default_factory=free_port)
    bus_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def certificate(self) -> Path:
        return self.dir / "tls.crt"

    @property
    def key(self) -> Path:
        return self.dir / "tls.key"

    @property
    def url(self) -> str:
        if self.tls:
            return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.certificate}"
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        if self.tls:
            args = ["redis-server", "--port", "0", "--tls-port", str(self.port)]
            args += ["--tls-cert-file", str(self.certificate)]
            args += ["--tls-key-file", str(self.key), "--tls-auth-clients", "no"]
        else:
            args = ["redis-server", "--port", str(self.port)]
        args += ["--bind", "127.0.0.1"]
        args += ["--dir", str(self.dir), "--daemonize", "no", "--logfile", "redis.log"]
        args += ["--save", "", "--appendonly", "yes" if self.durable else "no"]
        args += ["--appendfsync", "always"] if self.durable else []
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-port", str(self.bus_port)]
            args += ["--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000"]
        return args

    def start(self) -> None:
        """Run it and wait until it answers; RuntimeError if it exits first."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.tls and not self.certificate.exists():
            self_signed(self.certificate, self.key)
        self.process = process = subprocess.Popen(self.command(), cwd=self.dir)
        client = Redis.from_url(self.url, socket_connect_timeout=0.5)

        def answers() -> bool:
            if process.poll() is not None:
                log = (self.dir / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server on port {self.port} exited:\n{log}")
            try:
                return bool(client.ping())
            except RedisError:
                return False

        try:
            wait_ready(answers, f"redis-server on port {self.port}")
        finally:
            client.close()

    def cluster_ok(self) -> bool:
        """Whether this cluster node serves every slot."""
        with Redis(port=self.port) as client:
            return bool(client.cluster("INFO")["cluster_state"] == "ok")

    def kill(self) -> None:
        """`kill -9`: no shutdown, no last save."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def restart_after_kill(self) -> None:
        """Kill it with -9, then start it again on the same port and directory (with
        `durable`, the append-only file brings the data back)."""
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=START_SECONDS)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None


def start_server(
    dir: Path, durable: bool = False, cluster: bool = False, tls: bool = False
) -> RedisServer:
    """A started server on free ports (other ones when those were taken meanwhile)."""
    for attempt in range(_ATTEMPTS):
        server = RedisServer(dir, durable=durable, cluster=cluster, tls=tls)
        try:
            server.start()
            return server
        except RuntimeError:
            server.stop()
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


@dataclass
class RedisClusterServers:
    """Three primaries, no replicas, every slot assigned."""

    nodes: list[RedisServer]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def start_cluster(dir: Path) -> RedisClusterServers:
    servers = RedisClusterServers([start_server(dir / f"node{n}", cluster=True) for n in range(3)])
    try:
        addresses = [f"127.0.0.1:{node.port}" for node in servers.nodes]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses]
            + ["--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        for node in servers.nodes:
            wait_ready(node.cluster_ok, f"cluster node {node.port}")
    except BaseException:
        servers.stop()
        raise
    return servers


def fresh_prefix() -> str:
    """A namespace of its own for one test: tests sharing a server never see each other."""
    return f"t{uuid.uuid4().hex[:12]}"


def store_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL of `kind` (memory, sqlite, redis, redis-cluster) that is this test's own."""
    if kind == "memory":
        return "memory"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    fixture = {"redis": "redis_server", "redis-cluster": "redis_cluster"}[kind]
    server: RedisServer | RedisClusterServers = request.getfixturevalue(fixture)
    return f"{server.url}?prefix={fresh_prefix()}"
