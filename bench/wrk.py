"""The load generator: `wrk` (C, one thread), and the proof that it is not the bottleneck.

Each round runs `wrk -t1` against one server and reads three things: requests/s and latency
percentiles from wrk's report, wrk's own CPU time from the kernel (`wait4` resource usage of
the finished process) and the server's CPU time (`/proc/<pid>/stat` of the server process and
of its descendants: a supervisor's workers), and, when asked, a store process's CPU time too
(redis-server's). A generator that kept its core busy most of the round measured itself, not
the server: such a round is flagged and no ratio is printed from it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SATURATED = 0.90  # share of one core above which the generator, not the server, is the limit
TICKS = os.sysconf("SC_CLK_TCK")
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass(frozen=True)
class Round:
    """One wrk run against one server."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx answers and socket errors
    generator_cpu: float  # wrk's CPU seconds / wall seconds (1.0 = one core busy)
    server_cpu: float  # the server's processes', same unit
    store_cpu: float | None = None  # the store process's (redis-server), same unit

    @property
    def generator_bound(self) -> bool:
        return self.generator_cpu >= SATURATED

    @property
    def cpu_per_request_us(self) -> float:
        """The server's CPU time per answer, in µs: what a request costs it, busy or not."""
        return self.server_cpu / self.rps * 1e6 if self.rps else 0.0


def cpu_split() -> tuple[set[int], set[int]] | None:
    """(the servers' CPUs, the generator's): the last CPU this process may run on goes to
    wrk, the others to the server. Left to the scheduler, the two take turns on the cores: a
    server then waits for the generator at times instead of working, which flatters the
    slower of two servers. None on a single CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    return (set(cpus[:-1]), {cpus[-1]}) if len(cpus) > 1 else None


def pinned(cpus: set[int] | None) -> Callable[[], None] | None:
    """A `preexec_fn` running the child (and the threads and processes it starts) on `cpus`."""
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk not found: `apt-get install wrk` (make bench installs it)")
    return found


def version() -> str:
    """wrk's own banner line (`wrk 4.1.0 [epoll] ...`)."""
    done = subprocess.run([wrk_binary(), "-v"], capture_output=True, text=True)
    return (done.stdout or done.stderr).splitlines()[0].split(" Copyright")[0]


def _stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (field 3, the state, first)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def processes(pid: int) -> list[int]:
    """A process and its descendants (a supervisor's workers), from every process's parent
    in /proc: kernels built without CONFIG_PROC_CHILDREN have no `children` file."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(int(_stat(int(entry.name))[1]), []).append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):  # ended meanwhile
                continue
    found = [pid]
    for parent in found:  # grows while walked: breadth first
        found += children.get(parent, [])
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process and its descendants, from the kernel's
    accounting (a descendant that ends meanwhile is left out)."""
    total = 0.0
    for each in processes(pid):
        try:
            fields = _stat(each)
        except (FileNotFoundError, ProcessLookupError):
            if each == pid:
                raise
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)
    return total


def script(directory: Path, method: str, body: bytes, content_type: str) -> Path:
    """A wrk Lua script sending `method` with `body` (GETs need none)."""
    path = directory / f"{method.lower()}-{abs(hash(body))}.lua"
    text = body.decode().replace("\\", "\\\\").replace("'", "\\'")
    path.write_text(
        f"wrk.method = '{method}'\nwrk.body = '{text}'\n"
        f"wrk.headers['Content-Type'] = '{content_type}'\n"
    )
    return path


def run(
    url: str,
    headers: dict[str, str],
    seconds: int,
    server_pid: int,
    connections: int = 16,
    lua: Path | None = None,
    store_pid: int | None = None,
) -> Round:
    argv = [wrk_binary(), "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    if lua is not None:
        argv += ["-s", str(lua)]
    store_before = cpu_seconds(store_pid) if store_pid is not None else 0.0
    server_before, started = cpu_seconds(server_pid), time.perf_counter()
    split = cpu_split()
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=pinned(split[1] if split else None),
    )
    assert process.stdout is not None
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    wall = time.perf_counter() - started
    server_cpu = (cpu_seconds(server_pid) - server_before) / wall
    store_cpu = (cpu_seconds(store_pid) - store_before) / wall if store_pid is not None else None
    if process.returncode != 0 or "Requests/sec" not in output:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{output}")
    return Round(
        rps=float(_match(r"Requests/sec:\s+([\d.]+)", output)),
        p50_ms=_latency(output, "50%"),
        p99_ms=_latency(output, "99%"),
        errors=_errors(output),
        generator_cpu=(usage.ru_utime + usage.ru_stime) / wall,
        server_cpu=server_cpu,
        store_cpu=store_cpu,
    )


def _match(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"no {pattern!r} in wrk's report:\n{text}")
    return found.group(1)


def _latency(text: str, percentile: str) -> float:
    found = re.search(rf"^\s*{percentile}\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if found is None:
        raise RuntimeError(f"no {percentile} latency in wrk's report:\n{text}")
    return float(found.group(1)) * _UNITS[found.group(2)]


def _errors(text: str) -> int:
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    count = int(non_2xx.group(1)) if non_2xx else 0
    return count + (sum(int(n) for n in sockets.groups()) if sockets else 0)
