"""`python -m bench` (`make bench`): the mock against a bare Starlette app, and the rest.

Throughput: both servers run alike (one uvicorn process each, same loop and HTTP parser, no
access log), both stay up, and `wrk` loads them in alternating rounds, so a burst of noise on
the machine hits both alike; the medians are compared. A round where the generator kept its
own core busy is flagged and its load gets no ratio: it measured wrk, not the server.
Then the Neural Analog status poll on each store (memory, SQLite, Redis with one worker and
with two), each against a bare app of its own, reported without targets. Then, without
assertions: SSE fan-out, memory at 100k jobs, a whole job lifecycle through
the in-process ASGI fixture, and one API's client-check matrix.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import NamedTuple

import httpx

from bench import extras, wrk
from bench.apps import SAMPLES_ENV
from bench.scenarios import Load, prepare
from bench.servers import BARE, MOCK, VARIANTS, poll_target, redis_server, server

BUSY = 0.8  # a server loaded to its limit keeps one core busy; below this, others took it
ROUNDS, SECONDS = 5, 3  # per load, by default
# per store, by default: four stores, each with servers of its own, in about a minute
STORE_ROUNDS, STORE_SECONDS = 3, 2


def measure(
    load: Load,
    mock: tuple[str, int],
    bare: tuple[str, int],
    seconds: int,
    rounds: int,
    lua: Path,
    store_pid: int | None = None,
) -> tuple[list[wrk.Round], list[wrk.Round]]:
    """Alternating rounds of `load` on the mock and on the bare app; a create's server is
    reset between rounds, so the store never fills. `store_pid`: a store process whose CPU
    each round reads too."""
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
                    store_pid=store_pid,
                )
            )
    return runs


class Comparison(NamedTuple):
    """The mock over the bare app: medians of requests/s and of p99, and the spread of the
    requests/s ratios of each pair of rounds run one after the other (how far the machine's
    noise moved the ratio: a verdict inside it could print the other way in another run)."""

    ratio: float
    p99: float
    lowest: float
    highest: float

    def spread(self) -> str:
        return f"rounds {self.lowest:.2f}-{self.highest:.2f}"


def compare(load: Load, mine: list[wrk.Round], bare: list[wrk.Round]) -> Comparison | None:
    """Print both servers' medians, and compare the mock's with the bare app's; None (and
    why) when the rounds cannot give a ratio."""

    def med(runs: list[wrk.Round], attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in runs)

    print(f"{load.name}  ({load.method} {load.path.split('/')[1]}...)")
    for label, runs in (("mock", mine), ("bare", bare)):
        redis = "" if runs[0].store_cpu is None else f"  redis cpu {med(runs, 'store_cpu'):4.2f}"
        print(
            f"  {label}  {med(runs, 'rps'):8.0f} req/s  p50 {med(runs, 'p50_ms'):5.2f} ms"
            f"  p99 {med(runs, 'p99_ms'):6.2f} ms  server cpu {med(runs, 'server_cpu'):4.2f}"
            f" ({statistics.median(r.cpu_per_request_us for r in runs):5.1f} µs/req)"
            f"  wrk cpu {med(runs, 'generator_cpu'):4.2f}{redis}"
            f"  errors {sum(r.errors for r in runs)}"
        )
    errors = sum(r.errors for r in mine + bare)
    bound = sum(r.generator_bound for r in mine + bare)
    if bound:
        print(f"  NO RATIO: the generator saturated its core in {bound} round(s)")
        return None
    if errors:
        print(f"  NO RATIO: {errors} error answers")
        return None
    per_cpu = statistics.median(r.rps / r.server_cpu for r in mine if r.server_cpu) / (
        statistics.median(r.rps / r.server_cpu for r in bare if r.server_cpu) or 1
    )
    busy = min(med(mine, "server_cpu"), med(bare, "server_cpu"))
    if busy < BUSY:
        print(
            f"  note: a server had only {busy:.2f} of a core (the machine is busy, or it waited"
            f" for its store): requests per server CPU-second, mock over bare: {per_cpu:.2f}"
        )
    pairs = [m.rps / b.rps for m, b in zip(mine, bare, strict=True) if b.rps]
    return Comparison(
        med(mine, "rps") / med(bare, "rps"),
        med(mine, "p99_ms") / med(bare, "p99_ms"),
        min(pairs, default=0.0),
        max(pairs, default=0.0),
    )


def report(load: Load, mine: list[wrk.Round], bare: list[wrk.Round]) -> bool:
    """`compare`, and whether the load met its targets."""
    compared = compare(load, mine, bare)
    if compared is None:
        return False
    ratio_target, p99_target = load.targets
    ok = compared.ratio >= ratio_target and compared.p99 <= p99_target
    print(
        f"  ratio {compared.ratio:.2f} (target >= {ratio_target:.2f}; {compared.spread()})"
        f"  p99 {compared.p99:.2f}x (target <= {p99_target:g}x)  {'ok' if ok else 'MISSED'}"
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


def per_store(seconds: int, rounds: int, only: str | None) -> None:
    """The Neural Analog status poll on each store, each against a bare app answering what
    that mock answered: what keeping the state in a store costs a poll. No targets: a shared
    store answers no poll from the memory store's cache."""
    wanted = [v for v in VARIANTS if not only or only in f"poll neuralanalog, {v.name}"]
    with tempfile.TemporaryDirectory() as temporary, ExitStack() as stack:
        folder = Path(temporary)
        redis = None
        if any(variant.store == "redis" for variant in wanted):
            redis = stack.enter_context(redis_server(folder / "redis"))
        wanted = [v for v in wanted if v.store != "redis" or redis is not None]
        for variant in wanted:
            url, pid = redis if redis is not None and variant.store == "redis" else (None, None)
            with (
                poll_target(variant, folder, url) as (mock, load, answer),
                server(BARE, {SAMPLES_ENV: json.dumps({load.path: answer})}) as bare,
            ):
                mine, theirs = measure(load, mock, bare, seconds, rounds, folder, pid)
            compared = compare(load, mine, theirs)
            if compared is not None:
                print(
                    f"  ratio {compared.ratio:.2f} ({compared.spread()})"
                    f"  p99 {compared.p99:.2f}x  (reported, no target)"
                )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--seconds",
        type=int,
        help=f"duration of one wrk round (default {SECONDS}; {STORE_SECONDS} per store)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help=f"alternating rounds per load (default {ROUNDS}; {STORE_ROUNDS} per store)",
    )
    parser.add_argument("--only", default=None, help="loads whose name contains this")
    parser.add_argument("--no-extras", action="store_true", help="throughput only")
    args = parser.parse_args()
    split = wrk.cpu_split()
    cpus = "" if split is None else f": wrk on CPU {_cpus(split[1])}, servers on {_cpus(split[0])}"
    print(f"generator: {wrk.version()}, one thread, 16 connections; {os.cpu_count()} cores{cpus}")
    ok = throughput(args.seconds or SECONDS, args.rounds or ROUNDS, args.only)
    per_store(args.seconds or STORE_SECONDS, args.rounds or STORE_ROUNDS, args.only)
    if not args.no_extras:
        extras.run_all()
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def _cpus(cpus: set[int]) -> str:
    return ",".join(str(cpu) for cpu in sorted(cpus))


if __name__ == "__main__":
    sys.exit(main())
