"""`python -m bench`: status-poll throughput against a bare Starlette app, and memory at 100k jobs.

Both servers run the same way (uvicorn, one process, same flags) and are loaded the same way
(keep-alive HTTP/1.1 connections from worker processes), so their ratio is meaningful on any
machine. Targets: the status poll reaches >= 70% of the bare app's requests/s; a server
holding 100,000 finished jobs stays under 300 MB resident.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.apps import SAMPLE_ENV
from mockserver.live import free_port

THROUGHPUT_TARGET = 0.70
MEMORY_TARGET_MB = 300
MEMORY_PROBE = Path(__file__).with_name("memory.py")


def start(argv: list[str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    for line in process.stderr:  # uvicorn announces the bound socket
        if b"Uvicorn running on" in line:
            return process
    raise RuntimeError(f"server on port {port} did not start: {argv}")


def hammer(
    port: int, path: str, headers: dict[str, str], seconds: float, counts: multiprocessing.Queue
) -> None:
    """One load worker: sequential keep-alive GETs for `seconds`; reports its count."""
    connection = http.client.HTTPConnection("127.0.0.1", port)
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}")
        done += 1
    counts.put(done)


def load(port: int, path: str, headers: dict[str, str], seconds: float, workers: int) -> float:
    counts: multiprocessing.Queue = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=hammer, args=(port, path, headers, seconds, counts))
        for _ in range(workers)
    ]
    for proc in procs:
        proc.start()
    total = sum(counts.get() for _ in procs)
    for proc in procs:
        proc.join()
    return total / seconds


def uvicorn_argv(factory: str, port: int) -> list[str]:
    """Both servers start exactly alike: one uvicorn process, no access log."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        factory,
        "--factory",
        "--port",
        str(port),
        "--log-level",
        "info",
        "--no-access-log",
    ]


def throughput(seconds: float, workers: int, rounds: int) -> tuple[float, float]:
    """Median requests/s of the mock's status poll and of the bare app, loaded in alternating
    rounds while both run, so a burst of noise on the machine hits both alike."""
    mock_port, bare_port = free_port(), free_port()
    mock = start(uvicorn_argv("bench.apps:mock_app", mock_port), mock_port)
    bare = None
    try:
        base = f"http://127.0.0.1:{mock_port}"
        headers = {"X-API-Key": "bench"}
        audio_id = httpx.post(
            f"{base}/neuralanalog/from-link", headers=headers, json={"url": "https://x/a.wav"}
        ).json()["audio_id"]
        httpx.post(f"{base}/__mock__/clock/advance", json={"seconds": 60})
        path = f"/neuralanalog/status/audio/{audio_id}"
        sample = httpx.get(base + path, headers=headers).json()
        assert sample["is_complete"], sample
        os.environ[SAMPLE_ENV] = json.dumps(sample)
        bare = start(uvicorn_argv("bench.apps:bare_app", bare_port), bare_port)
        mock_runs, bare_runs = [], []
        for _ in range(rounds):
            mock_runs.append(load(mock_port, path, headers, seconds / rounds, workers))
            bare_runs.append(load(bare_port, path, headers, seconds / rounds, workers))
    finally:
        for server in (mock, bare):
            if server is not None:
                server.terminate()
                server.wait()
    return statistics.median(mock_runs), statistics.median(bare_runs)


def memory(jobs: int) -> float:
    output = subprocess.run(
        [sys.executable, str(MEMORY_PROBE), str(jobs)], check=True, capture_output=True, text=True
    )
    return float(output.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="load duration per server")
    parser.add_argument("--rounds", type=int, default=5, help="alternating load rounds")
    parser.add_argument("--workers", type=int, default=2, help="load generator processes")
    parser.add_argument(
        "--jobs", type=int, default=100_000, help="finished jobs for the memory probe"
    )
    args = parser.parse_args()

    mock_rps, bare_rps = throughput(args.seconds, args.workers, args.rounds)
    ratio = mock_rps / bare_rps
    print(f"status poll      {mock_rps:9.0f} req/s")
    print(f"bare starlette   {bare_rps:9.0f} req/s")
    print(f"ratio            {ratio:9.2f}   (target >= {THROUGHPUT_TARGET:.2f})")
    rss = memory(args.jobs)
    print(f"resident memory  {rss:9.1f} MB with {args.jobs} finished jobs")
    print(f"                           (target < {MEMORY_TARGET_MB} MB)")
    ok = ratio >= THROUGHPUT_TARGET and rss < MEMORY_TARGET_MB
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
