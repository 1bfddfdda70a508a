"""The figures `make bench` reports without asserting them (targets in parentheses).

- SSE fan-out: 1,000 open Neural Draft event streams on one job, and the time from the
  transition (an admin call) until every stream has received the end and closed.
- Memory: resident size of a server holding 100,000 finished jobs (`bench/memory.py`).
- Lifecycle: a 10-minute Neural Analog job as a test of the pytest plugin goes through it:
  in virtual time, created, polled, waited for (the client's `asyncio.sleep(600)` moves the
  clock), polled and downloaded, in-process through the `mockserver_asgi` fixture's async
  transport.
- Client check: the client-check matrix of one API (every outcome and fault) for a client
  flow written with `requests` and `time.sleep`.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.servers import MOCK, server  # as the throughput runs
from mockserver import ServerConfig, create_app
from mockserver.fixtures.server import InProcessMockServer

MEMORY_PROBE = Path(__file__).with_name("memory.py")
STREAMS, FANOUT_TARGET_S = 1_000, 1.0
JOBS, MEMORY_TARGET_MB = 100_000, 300
LIFECYCLE_TARGET_MS = 5.0
CLIENT_CHECK_TARGET_S = 10.0
CLIENT_FLOW = "tests.clients_neuralanalog:robust"
ND_KEY = {"Authorization": "Bearer ndsk_test_fanout"}
CHUNKED_END = b"\r\n0\r\n\r\n"  # the last data chunk's end, then the empty chunk


async def _open_stream(port: int, path: str, opened: asyncio.Event, ready: list[int]) -> float:
    """One SSE client on a raw socket: counts itself ready at the first event, returns the
    time the stream ended."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    auth = ND_KEY["Authorization"]
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: {auth}\r\n\r\n".encode())
    await writer.drain()
    first = True
    seen = b""  # the end of what came before: the end marker may straddle two reads
    while chunk := await reader.read(65536):
        if first and b"event:" in chunk:
            first = False
            ready.append(1)
            if len(ready) == STREAMS:
                opened.set()
        seen = seen[-len(CHUNKED_END) :] + chunk
        if CHUNKED_END in seen:  # the chunked body's end: the job ended
            break
    writer.close()
    return time.perf_counter()


async def _fanout(base: str, port: int) -> float:
    async with httpx.AsyncClient(base_url=base) as client:
        body = {"type": "ai", "topic": "Fan-out"}
        created = await client.post("/neuraldraft/v1/blog-posts", headers=ND_KEY, json=body)
        job_id = created.json()["id"]
        opened, ready = asyncio.Event(), []
        path = f"/neuraldraft/v1/jobs/{job_id}/stream"
        streams = [
            asyncio.create_task(_open_stream(port, path, opened, ready)) for _ in range(STREAMS)
        ]
        await asyncio.wait_for(opened.wait(), 120)
        started = time.perf_counter()
        forced = await client.post(
            f"/__mock__/jobs/{job_id}/transition", json={"outcome": "failed"}
        )
        forced.raise_for_status()
        ended = await asyncio.wait_for(asyncio.gather(*streams), 120)
    return max(ended) - started


def sse_fanout() -> None:
    with server(MOCK) as (base, _):
        port = int(base.rsplit(":", 1)[1])
        seconds = asyncio.run(_fanout(base, port))
    print(
        f"SSE fan-out      {seconds * 1000:8.0f} ms for {STREAMS} open streams to see the end"
        f"  (target < {FANOUT_TARGET_S:g} s)"
    )


def memory() -> None:
    output = subprocess.run(
        [sys.executable, str(MEMORY_PROBE), str(JOBS)], check=True, capture_output=True, text=True
    )
    rss = float(output.stdout.strip())
    print(
        f"memory           {rss:8.1f} MB resident with {JOBS} finished jobs"
        f"  (target < {MEMORY_TARGET_MB} MB)"
    )


async def _lifecycles(server: InProcessMockServer, repeat: int) -> list[float]:
    headers = {"X-API-Key": "bench", "X-Mock-Scenario": "completed; after=600"}
    link = {"url": "https://example.com/track.wav"}
    timings = []
    async with httpx.AsyncClient(transport=server.async_transport, base_url=server.URL) as client:
        for _ in range(repeat):
            started = time.perf_counter()  # real: virtual time is this block's only
            with server.virtual_time():
                created = await client.post("/neuralanalog/from-link", headers=headers, json=link)
                audio_id = created.json()["audio_id"]
                status = f"/neuralanalog/status/audio/{audio_id}"
                assert not (await client.get(status, headers=headers)).json()["is_complete"]
                await asyncio.sleep(600)  # the client waits, and the server clock moves
                assert (await client.get(status, headers=headers)).json()["is_complete"]
                download = await client.get(
                    f"/neuralanalog/download/audio/{audio_id}", headers=headers
                )
                assert download.status_code == 307, download.text
            timings.append(time.perf_counter() - started)
    return sorted(timings)


def lifecycle(repeat: int = 50) -> None:
    server = InProcessMockServer(create_app(ServerConfig(clock="manual")), "bench")
    timings = asyncio.run(_lifecycles(server, repeat))
    server.close()
    print(
        f"lifecycle        {timings[len(timings) // 2] * 1000:8.2f} ms for a 10-minute job:"
        " create, poll, sleep in virtual time, poll, download in-process"
        f"  (target < {LIFECYCLE_TARGET_MS:g} ms)"
    )


def client_check() -> None:
    from mockserver.clientcheck import check_client

    started = time.perf_counter()
    report = check_client("neuralanalog", CLIENT_FLOW)
    seconds = time.perf_counter() - started
    print(
        f"client check     {seconds:8.1f} s  for the neuralanalog matrix, {len(report.rows)} rows"
        f"  (target < {CLIENT_CHECK_TARGET_S:g} s)"
    )


def run_all() -> None:
    sse_fanout()
    memory()
    lifecycle()
    client_check()
