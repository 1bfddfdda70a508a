"""`python -m bench` (`make bench`): the mock against a bare Starlette app, and the rest.

Throughput: both servers run alike (one uvicorn process each, same loop and HTTP parser, no
access log), both stay up, and `wrk` loads them in alternating rounds, so a burst of noise on
the machine hits both alike; the medians are compared. A round where the generator kept its
own core busy is flagged and its load gets no ratio: it measured wrk, not the server.
Then, without assertions: SSE fan-out, memory at 100k jobs, a whole job lifecycle through
the in-process ASGI fixture, and one API's client-check matrix.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench import extras, wrk
from bench.apps import SAMPLES_ENV
from bench.scenarios import Load, prepare
from mockserver.live import free_port

BUSY = 0.8  # a server loaded to its limit keeps one core busy; below this, others took it

MOCK = [sys.executable, "-m", "mockserver.cli", "serve", "--clock", "manual"]
BARE = [sys.executable, "-m", "uvicorn", "bench.apps:bare_app", "--factory", "--no-access-log"]


@contextmanager
def server(argv: list[str], env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """One server process: (base URL, pid). The mock runs as `mockserver serve` does, the
    bare app under the same uvicorn (uvloop and httptools where installed)."""
    port = free_port()
    argv = [*argv, "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(argv, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(400):
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None:
                    raise RuntimeError(f"{argv} exited with {process.returncode}") from None
                time.sleep(0.05)
        yield base, process.pid
    finally:
        process.terminate()
        process.wait()


def measure(
    load: Load, mock: tuple[str, int], bare: tuple[str, int], seconds: int, rounds: int, lua: Path
) -> tuple[list[wrk.Round], list[wrk.Round]]:
    """Alternating rounds of `load` on the mock and on the bare app; a create's server is
    reset between rounds, so the store never fills."""
    script = wrk.script(lua, load.method, load.encoded(), "application/json")
    runs: tuple[list[wrk.Round], list[wrk.Round]] = ([], [])
    for _ in range(rounds):
        for (base, pid), kept in zip((mock, bare), runs, strict=True):
            if load.method != "GET":
                httpx.post(mock[0] + "/__mock__/reset").raise_for_status()
            kept.append(
                wrk.run(
                    base + load.path,
                    load.headers,
                    seconds,
                    pid,
                    lua=script if load.method != "GET" else None,
                )
            )
    return runs


def report(load: Load, mine: list[wrk.Round], bare: list[wrk.Round]) -> bool:
    def med(runs: list[wrk.Round], attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in runs)

    ratio_target, p99_target = load.targets
    print(f"{load.name}  ({load.method} {load.path.split('/')[1]}...)")
    for label, runs in (("mock", mine), ("bare", bare)):
        print(
            f"  {label}  {med(runs, 'rps'):8.0f} req/s  p50 {med(runs, 'p50_ms'):5.2f} ms"
            f"  p99 {med(runs, 'p99_ms'):6.2f} ms  server cpu {med(runs, 'server_cpu'):4.2f}"
            f"  wrk cpu {med(runs, 'generator_cpu'):4.2f}  errors {sum(r.errors for r in runs)}"
        )
    errors = sum(r.errors for r in mine + bare)
    bound = sum(r.generator_bound for r in mine + bare)
    if bound:
        print(f"  NO RATIO: the generator saturated its core in {bound} round(s)")
        return False
    if errors:
        print(f"  NO RATIO: {errors} error answers")
        return False
    ratio = med(mine, "rps") / med(bare, "rps")
    p99 = med(mine, "p99_ms") / med(bare, "p99_ms")
    per_cpu = statistics.median(r.rps / r.server_cpu for r in mine if r.server_cpu) / (
        statistics.median(r.rps / r.server_cpu for r in bare if r.server_cpu) or 1
    )
    busy = min(med(mine, "server_cpu"), med(bare, "server_cpu"))
    if busy < BUSY:
        print(
            f"  note: a server had only {busy:.2f} of a core: the machine is busy, and"
            f" requests per server CPU-second compare the two better: {per_cpu:.2f}"
        )
    ok = ratio >= ratio_target and p99 <= p99_target
    print(
        f"  ratio {ratio:.2f} (target >= {ratio_target:.2f})  p99 {p99:.2f}x"
        f" (target <= {p99_target:g}x)  {'ok' if ok else 'MISSED'}"
    )
    return ok


def throughput(seconds: int, rounds: int, only: str | None) -> bool:
    ok = True
    with server(MOCK) as mock, tempfile.TemporaryDirectory() as lua:
        with httpx.Client(base_url=mock[0]) as client:
            loads = [load for load in prepare(client) if not only or only in load.name]
            samples = {
                load.path: client.get(load.path, headers=load.headers).json()
                for load in loads
                if load.method == "GET"
            }
        with server(BARE, {SAMPLES_ENV: json.dumps(samples)}) as bare:
            for load in loads:
                mine, theirs = measure(load, mock, bare, seconds, rounds, Path(lua))
                ok = report(load, mine, theirs) and ok
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--seconds", type=int, default=3, help="duration of one wrk round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per load")
    parser.add_argument("--only", default=None, help="loads whose name contains this")
    parser.add_argument("--no-extras", action="store_true", help="throughput only")
    args = parser.parse_args()
    print(f"generator: {wrk.version()}, one thread, 16 connections; {os.cpu_count()} cores")
    ok = throughput(args.seconds, args.rounds, args.only)
    if not args.no_extras:
        extras.run_all()
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
